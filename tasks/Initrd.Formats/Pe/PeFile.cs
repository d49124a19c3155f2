using System.Buffers.Binary;
using System.Text;
using Initrd.Formats.Common;

namespace Initrd.Formats.Pe;

/// <summary>
/// The headers of a PE32+ image (see <see cref="PeLayout"/>): MS-DOS header, PE signature, COFF file header, optional
/// header with its data directories, and the section table, with the file offsets of the fields a writer patches.
/// Parsing reads headers only and keeps no reference to the image. Malformed input throws
/// <see cref="InvalidDataException"/> naming the field, its value and its file offset; a well-formed image of a
/// kind not supported here (PE32) throws <see cref="PeException"/>.
/// </summary>
public sealed class PeFile
{
    PeFile() { }

    /// <summary>Length of the image the headers were read from.</summary>
    public long FileLength { get; private init; }

    /// <summary><c>e_lfanew</c>: file offset of the "PE\0\0" signature.</summary>
    public int PeHeaderOffset { get; private init; }

    /// <summary>File offset of the COFF file header.</summary>
    public int CoffHeaderOffset => PeHeaderOffset + PeLayout.PeSignatureLength;

    /// <summary>File offset of the optional header.</summary>
    public int OptionalHeaderOffset => CoffHeaderOffset + PeLayout.CoffHeaderLength;

    /// <summary>File offset of the section table (right after the optional header).</summary>
    public int SectionTableOffset => OptionalHeaderOffset + SizeOfOptionalHeader;

    /// <summary>First file offset after the last section header.</summary>
    public int SectionTableEnd => SectionTableOffset + NumberOfSections * PeLayout.SectionHeaderLength;

    /// <summary>File offset of the optional header's <c>CheckSum</c>.</summary>
    public int CheckSumFileOffset => OptionalHeaderOffset + PeLayout.CheckSumOffset;

    /// <summary>File offset of data directory <paramref name="index"/>; the directory may lie beyond <see cref="NumberOfRvaAndSizes"/>.</summary>
    public int DataDirectoryFileOffset(int index) => OptionalHeaderOffset + PeLayout.DataDirectoriesOffset + index * PeLayout.DataDirectoryLength;

    /// <summary>File offset of the Certificate Table entry (data directory 4), or -1 when the image has fewer than 5 directories.</summary>
    public int CertificateTableEntryFileOffset =>
        NumberOfRvaAndSizes > PeLayout.CertificateTableIndex ? DataDirectoryFileOffset(PeLayout.CertificateTableIndex) : -1;

    // COFF file header
    public ushort Machine { get; private init; }
    public ushort NumberOfSections { get; private init; }
    public uint TimeDateStamp { get; private init; }
    public uint PointerToSymbolTable { get; private init; }
    public uint NumberOfSymbols { get; private init; }
    public ushort SizeOfOptionalHeader { get; private init; }
    public ushort Characteristics { get; private init; }

    // Optional header (PE32+)
    public ushort Magic { get; private init; }
    public uint SizeOfCode { get; private init; }
    public uint SizeOfInitializedData { get; private init; }
    public uint SizeOfUninitializedData { get; private init; }
    public uint AddressOfEntryPoint { get; private init; }
    public ulong ImageBase { get; private init; }
    public uint SectionAlignment { get; private init; }
    public uint FileAlignment { get; private init; }
    public uint SizeOfImage { get; private init; }
    public uint SizeOfHeaders { get; private init; }
    public uint CheckSum { get; private init; }
    public ushort Subsystem { get; private init; }
    public ushort DllCharacteristics { get; private init; }
    public uint NumberOfRvaAndSizes { get; private init; }

    public IReadOnlyList<PeDataDirectory> DataDirectories { get; private init; } = [];

    public IReadOnlyList<PeSection> Sections { get; private init; } = [];

    /// <summary>Data directory 4; its VirtualAddress is a file offset. Empty when absent.</summary>
    public PeDataDirectory CertificateTable =>
        DataDirectories.Count > PeLayout.CertificateTableIndex ? DataDirectories[PeLayout.CertificateTableIndex] : default;

    /// <summary>True when the image carries an attribute certificate table (an Authenticode signature).</summary>
    public bool IsSigned => !CertificateTable.IsEmpty;

    /// <summary>First file offset after the raw data of every section (at least <see cref="SizeOfHeaders"/>).</summary>
    public ulong EndOfSectionData => Sections.Aggregate((ulong)SizeOfHeaders, (end, s) => s.SizeOfRawData == 0 ? end : Math.Max(end, s.RawEnd));

    /// <summary>The first section called <paramref name="name"/>, or null.</summary>
    public PeSection? FindSection(string name) => Sections.FirstOrDefault(s => s.Name == name);

    /// <summary>The mapped file bytes of <paramref name="section"/> (<see cref="PeSection.ContentLength"/> bytes).</summary>
    public static ReadOnlySpan<byte> GetContent(ReadOnlySpan<byte> image, PeSection section) =>
        section.SizeOfRawData == 0 ? [] : image.Slice(checked((int)section.PointerToRawData), checked((int)section.ContentLength));

    /// <summary>True when <paramref name="image"/> starts like a PE image ("MZ", and "PE\0\0" at <c>e_lfanew</c>).</summary>
    public static bool LooksLikePe(ReadOnlySpan<byte> image)
    {
        if (image.Length < PeLayout.DosHeaderLength || !image.StartsWith(PeLayout.DosMagic)) return false;
        var lfanew = BinaryPrimitives.ReadUInt32LittleEndian(image[PeLayout.ELfanewOffset..]);
        return lfanew <= (uint)(image.Length - PeLayout.PeSignatureLength)
               && image.Slice((int)lfanew, PeLayout.PeSignatureLength).SequenceEqual(PeLayout.PeSignature);
    }

    /// <summary>How much of a file <see cref="Read"/> reads: PE headers (section table included) must end within it.</summary>
    public const int MaxHeaderLength = 64 * 1024;

    /// <summary>Reads and checks the headers of a PE32+ image.</summary>
    /// <param name="image">The whole file (section bounds are checked against its length).</param>
    public static PeFile Parse(ReadOnlySpan<byte> image) => Parse(image, image.Length);

    /// <summary>Reads and checks the headers of a PE32+ image from its first <see cref="MaxHeaderLength"/> bytes.</summary>
    public static PeFile Read(ByteSource image) => Parse(image.ReadHead(MaxHeaderLength), image.Length);

    /// <summary>Reads and checks the headers of a PE32+ image of <paramref name="fileLength"/> bytes from its beginning.</summary>
    /// <param name="head">The file's first bytes, at least up to the end of its section table.</param>
    /// <param name="fileLength">The whole file's length (section bounds are checked against it).</param>
    public static PeFile Parse(ReadOnlySpan<byte> head, long fileLength)
    {
        var image = head;
        var length = fileLength;
        if (length < PeLayout.DosHeaderLength)
            throw new InvalidDataException(
                $"Not a PE image: it is {length} bytes long, shorter than the {PeLayout.DosHeaderLength}-byte MS-DOS header that holds e_lfanew at 0x{PeLayout.ELfanewOffset:X}.");
        if (image.Length < PeLayout.DosHeaderLength) throw HeadersTooLong(PeLayout.DosHeaderLength, image.Length);
        if (!image.StartsWith(PeLayout.DosMagic))
            throw new InvalidDataException(
                $"Not a PE image: e_magic at offset 0 is {Hex(image[..PeLayout.EMagicLength])}, expected \"MZ\" (4D 5A).");

        var lfanew = BinaryPrimitives.ReadUInt32LittleEndian(image[PeLayout.ELfanewOffset..]);
        var fixedEnd = (ulong)lfanew + PeLayout.PeSignatureLength + PeLayout.CoffHeaderLength + PeLayout.DataDirectoriesOffset;
        if (lfanew < PeLayout.DosHeaderLength || fixedEnd > (ulong)length)
            throw new InvalidDataException(
                $"PE: e_lfanew at offset 0x{PeLayout.ELfanewOffset:X} is 0x{lfanew:X}; the PE headers starting there would end at 0x{fixedEnd:X}, " +
                $"but the file is {length} bytes long (and e_lfanew must be at least 0x{PeLayout.DosHeaderLength:X}).");
        if (fixedEnd > (ulong)image.Length) throw HeadersTooLong(fixedEnd, image.Length);
        var pe = (int)lfanew;
        if (!image.Slice(pe, PeLayout.PeSignatureLength).SequenceEqual(PeLayout.PeSignature))
            throw new InvalidDataException(
                $"PE: the signature at offset 0x{pe:X} (e_lfanew) is {Hex(image.Slice(pe, PeLayout.PeSignatureLength))}, expected \"PE\\0\\0\" (50 45 00 00).");

        var coff = image[(pe + PeLayout.PeSignatureLength)..];
        var numberOfSections = U16(coff, PeLayout.NumberOfSectionsOffset);
        var sizeOfOptionalHeader = U16(coff, PeLayout.SizeOfOptionalHeaderOffset);
        var optionalOffset = pe + PeLayout.PeSignatureLength + PeLayout.CoffHeaderLength;
        var optional = image[optionalOffset..];

        var magic = U16(optional, PeLayout.MagicOffset);
        if (magic == PeLayout.Pe32Magic)
            throw new PeException(PeErrorKind.Unsupported,
                $"The image is PE32 (Magic 0x{magic:X3} at offset 0x{optionalOffset:X}), a 32-bit image; only PE32+ (0x20B) images are supported. Use the 64-bit stub or kernel.");
        if (magic != PeLayout.Pe32PlusMagic)
            throw new InvalidDataException(
                $"PE: the optional header's Magic at offset 0x{optionalOffset + PeLayout.MagicOffset:X} is 0x{magic:X}, expected 0x20B (PE32+).");

        if (sizeOfOptionalHeader < PeLayout.DataDirectoriesOffset)
            throw new InvalidDataException(
                $"PE: SizeOfOptionalHeader at offset 0x{pe + PeLayout.PeSignatureLength + PeLayout.SizeOfOptionalHeaderOffset:X} is {sizeOfOptionalHeader}, " +
                $"smaller than the {PeLayout.DataDirectoriesOffset} bytes of fixed PE32+ fields.");

        var numberOfRvaAndSizes = U32(optional, PeLayout.NumberOfRvaAndSizesOffset);
        var directoriesEnd = (ulong)PeLayout.DataDirectoriesOffset + (ulong)numberOfRvaAndSizes * PeLayout.DataDirectoryLength;
        if (numberOfRvaAndSizes > PeLayout.MaxDataDirectories || directoriesEnd > sizeOfOptionalHeader)
            throw new InvalidDataException(
                $"PE: NumberOfRvaAndSizes at offset 0x{optionalOffset + PeLayout.NumberOfRvaAndSizesOffset:X} is {numberOfRvaAndSizes}; " +
                $"at most {PeLayout.MaxDataDirectories} directories fit, and they must fit in SizeOfOptionalHeader ({sizeOfOptionalHeader}).");

        var sectionAlignment = U32(optional, PeLayout.SectionAlignmentOffset);
        var fileAlignment = U32(optional, PeLayout.FileAlignmentOffset);
        if (fileAlignment == 0 || !uint.IsPow2(fileAlignment))
            throw new InvalidDataException(
                $"PE: FileAlignment at offset 0x{optionalOffset + PeLayout.FileAlignmentOffset:X} is 0x{fileAlignment:X}, not a power of two.");
        if (sectionAlignment < fileAlignment || !uint.IsPow2(sectionAlignment))
            throw new InvalidDataException(
                $"PE: SectionAlignment at offset 0x{optionalOffset + PeLayout.SectionAlignmentOffset:X} is 0x{sectionAlignment:X}; " +
                $"it must be a power of two and at least FileAlignment (0x{fileAlignment:X}).");

        var sizeOfHeaders = U32(optional, PeLayout.SizeOfHeadersOffset);
        var sectionTableOffset = optionalOffset + sizeOfOptionalHeader;
        var sectionTableEnd = (long)sectionTableOffset + (long)numberOfSections * PeLayout.SectionHeaderLength;
        if (sectionTableEnd > length)
            throw new InvalidDataException(
                $"PE: the section table at offset 0x{sectionTableOffset:X} holds NumberOfSections = {numberOfSections} headers and would end at 0x{sectionTableEnd:X}, " +
                $"past the end of the {length}-byte file.");
        if (sectionTableEnd > image.Length) throw HeadersTooLong((ulong)sectionTableEnd, image.Length);
        if (sizeOfHeaders > length || sizeOfHeaders < sectionTableEnd)
            throw new InvalidDataException(
                $"PE: SizeOfHeaders at offset 0x{optionalOffset + PeLayout.SizeOfHeadersOffset:X} is 0x{sizeOfHeaders:X}; " +
                $"it must cover the section table (which ends at 0x{sectionTableEnd:X}) and lie within the {length}-byte file.");

        var directories = new PeDataDirectory[numberOfRvaAndSizes];
        for (var i = 0; i < directories.Length; i++)
        {
            var at = PeLayout.DataDirectoriesOffset + i * PeLayout.DataDirectoryLength;
            directories[i] = new PeDataDirectory(
                U32(optional, at + PeLayout.DataDirectoryVirtualAddressOffset), U32(optional, at + PeLayout.DataDirectorySizeOffset));
        }
        if (directories.Length > PeLayout.CertificateTableIndex && directories[PeLayout.CertificateTableIndex] is { IsEmpty: false } certificates)
        {
            var entry = optionalOffset + PeLayout.CertificateTableEntryOffset;
            var end = (ulong)certificates.VirtualAddress + certificates.Size;
            if (certificates.VirtualAddress < sizeOfHeaders || end > (ulong)length)
                throw new InvalidDataException(
                    $"PE: the Certificate Table entry at offset 0x{entry:X} names file offset 0x{certificates.VirtualAddress:X} and size 0x{certificates.Size:X} " +
                    $"(end 0x{end:X}), which is not within the {length}-byte file after the headers.");
        }

        var sections = new PeSection[numberOfSections];
        for (var i = 0; i < numberOfSections; i++)
        {
            var at = sectionTableOffset + i * PeLayout.SectionHeaderLength;
            var header = image.Slice(at, PeLayout.SectionHeaderLength);
            var section = new PeSection(
                DecodeName(header[..PeLayout.NameLength], at),
                U32(header, PeLayout.VirtualSizeOffset),
                U32(header, PeLayout.VirtualAddressOffset),
                U32(header, PeLayout.SizeOfRawDataOffset),
                U32(header, PeLayout.PointerToRawDataOffset),
                U32(header, PeLayout.SectionCharacteristicsOffset),
                i,
                at);
            if (section.SizeOfRawData != 0 && section.RawEnd > (ulong)length)
                throw new InvalidDataException(
                    $"PE: section {i} ('{section.Name}', header at offset 0x{at:X}) has PointerToRawData 0x{section.PointerToRawData:X} and SizeOfRawData 0x{section.SizeOfRawData:X}, " +
                    $"ending at 0x{section.RawEnd:X}, past the end of the {length}-byte file.");
            if (section.SizeOfRawData != 0 && section.PointerToRawData < sizeOfHeaders)
                throw new InvalidDataException(
                    $"PE: section {i} ('{section.Name}', header at offset 0x{at:X}) has PointerToRawData 0x{section.PointerToRawData:X}, inside the headers (SizeOfHeaders 0x{sizeOfHeaders:X}).");
            sections[i] = section;
        }

        return new PeFile
        {
            FileLength = length,
            PeHeaderOffset = pe,
            Machine = U16(coff, PeLayout.MachineOffset),
            NumberOfSections = numberOfSections,
            TimeDateStamp = U32(coff, PeLayout.TimeDateStampOffset),
            PointerToSymbolTable = U32(coff, PeLayout.PointerToSymbolTableOffset),
            NumberOfSymbols = U32(coff, PeLayout.NumberOfSymbolsOffset),
            SizeOfOptionalHeader = sizeOfOptionalHeader,
            Characteristics = U16(coff, PeLayout.CharacteristicsOffset),
            Magic = magic,
            SizeOfCode = U32(optional, PeLayout.SizeOfCodeOffset),
            SizeOfInitializedData = U32(optional, PeLayout.SizeOfInitializedDataOffset),
            SizeOfUninitializedData = U32(optional, PeLayout.SizeOfUninitializedDataOffset),
            AddressOfEntryPoint = U32(optional, PeLayout.AddressOfEntryPointOffset),
            ImageBase = BinaryPrimitives.ReadUInt64LittleEndian(optional[PeLayout.ImageBaseOffset..]),
            SectionAlignment = sectionAlignment,
            FileAlignment = fileAlignment,
            SizeOfImage = U32(optional, PeLayout.SizeOfImageOffset),
            SizeOfHeaders = sizeOfHeaders,
            CheckSum = U32(optional, PeLayout.CheckSumOffset),
            Subsystem = U16(optional, PeLayout.SubsystemOffset),
            DllCharacteristics = U16(optional, PeLayout.DllCharacteristicsOffset),
            NumberOfRvaAndSizes = numberOfRvaAndSizes,
            DataDirectories = directories,
            Sections = sections,
        };
    }

    static InvalidDataException HeadersTooLong(ulong end, int read) => new(
        $"PE: the headers end at 0x{end:X}, past the first {read} bytes that were read; images with headers longer than {MaxHeaderLength} bytes are not supported.");

    static string DecodeName(ReadOnlySpan<byte> raw, int offset)
    {
        var end = raw.IndexOf((byte)0);
        var name = end < 0 ? raw : raw[..end];
        foreach (var b in name)
        {
            if (b is < 0x20 or > 0x7E)
                throw new InvalidDataException($"PE: the section name at offset 0x{offset:X} is {Hex(raw)}, which is not printable ASCII.");
        }
        return Encoding.ASCII.GetString(name);
    }

    static ushort U16(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt16LittleEndian(s[offset..]);

    static uint U32(ReadOnlySpan<byte> s, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(s[offset..]);

    internal static string Hex(ReadOnlySpan<byte> bytes) => string.Join(' ', bytes.ToArray().Select(b => b.ToString("X2")));
}
