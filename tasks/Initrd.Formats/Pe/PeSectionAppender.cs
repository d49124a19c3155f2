using System.Buffers;
using System.Buffers.Binary;
using System.Text;
using Initrd.Formats.Common;

namespace Initrd.Formats.Pe;

/// <summary>
/// Adds sections to an unsigned PE32+ image (a systemd-stub) and replaces the content of existing ones, the way
/// ukify does, without a clock and without touching anything else: the same inputs give the same bytes.
/// </summary>
/// <remarks>
/// <para>New sections follow the stub's last section: each at the next <c>SectionAlignment</c> multiple in memory
/// (right after the previous section's memory size) and the next <c>FileAlignment</c> multiple in the file, with
/// <c>SizeOfRawData</c> the content length rounded up to <c>FileAlignment</c> (zero padding) and <c>VirtualSize</c>
/// the content length unless given. Their headers extend the section table into the free header space.</para>
/// <para>When that space is too small (systemd 257's addon stub has room for one header only), the header area
/// grows by whole <c>FileAlignment</c> units and every section's raw data moves down the file by the same amount;
/// memory addresses do not change. This is refused when the headers would then reach the first section in memory,
/// or when the image holds file offsets this writer does not rewrite (a debug directory).</para>
/// <para>A replaced section keeps its memory address; its content may grow up to the next section's address, its
/// raw data then growing in the file and later sections' raw data moving down.</para>
/// <para>Updated header fields: <c>NumberOfSections</c>, <c>SizeOfHeaders</c>, <c>SizeOfImage</c> (the end of the
/// last section in memory, aligned), <c>SizeOfCode</c> / <c>SizeOfInitializedData</c> (plus the virtual sizes of
/// new code / initialized-data sections, as the stub's linker counted them) and <c>CheckSum</c> (recomputed,
/// <see cref="PeChecksum"/>). <c>TimeDateStamp</c> and everything else stay as in the stub.</para>
/// </remarks>
public sealed class PeSectionAppender
{
    /// <summary>Characteristics of a new data section: initialized data, readable (ukify's choice).</summary>
    public const uint DataCharacteristics = PeLayout.ScnCntInitializedData | PeLayout.ScnMemRead;

    /// <summary>Characteristics ukify gives <c>.linux</c>: code, readable (old kernels run in place via the EFI handover protocol).</summary>
    public const uint CodeCharacteristics = PeLayout.ScnCntCode | PeLayout.ScnMemRead;

    /// <summary>The largest image produced: PE32+ sizes and offsets are 32-bit, and the image is one .NET array.</summary>
    public static long MaxImageLength => Math.Min(uint.MaxValue, Array.MaxLength);

    readonly ReadOnlyMemory<byte> _stub;
    readonly List<NewSection> _added = [];
    readonly Dictionary<int, ByteSource> _replaced = [];

    sealed record NewSection(string Name, byte[] NameBytes, ByteSource Content, uint VirtualSize, uint Characteristics);

    /// <summary>Reads the stub's headers and checks that sections can be added to it.</summary>
    /// <param name="stub">The stub image (kept by reference; do not modify it until <see cref="WriteTo"/> returned).</param>
    /// <param name="stubName">Names the stub in messages ("linuxx64.efi.stub").</param>
    public PeSectionAppender(ReadOnlyMemory<byte> stub, string stubName = "the stub")
    {
        _stub = stub;
        StubName = stubName;
        Stub = PeFile.Parse(stub.Span);
        if (Stub.IsSigned)
            throw new PeException(PeErrorKind.StubSigned,
                $"{stubName} is signed (its Certificate Table entry points at file offset 0x{Stub.CertificateTable.VirtualAddress:X}, {Stub.CertificateTable.Size} bytes). " +
                "Adding sections would invalidate that signature, and the UKI is signed as a whole afterwards: use the unsigned stub " +
                "(systemd-boot-efi's linuxx64.efi.stub or addonx64.efi.stub, not a .signed copy).");
        if (Stub.PointerToSymbolTable != 0)
            throw new PeException(PeErrorKind.StubTrailingData,
                $"{stubName} still has a COFF symbol table (PointerToSymbolTable 0x{Stub.PointerToSymbolTable:X}); image files should not. " +
                "Strip it (objcopy --strip-all) or use a stub from systemd 254 or later.");
        var end = Stub.EndOfSectionData;
        var trailing = stub.Span[(int)Math.Min(end, (ulong)stub.Length)..];
        var nonZero = trailing.IndexOfAnyExcept((byte)0);
        if (nonZero >= 0)
            throw new PeException(PeErrorKind.StubTrailingData,
                $"{stubName} has {trailing.Length} bytes after its last section (from file offset 0x{end:X}; the first non-zero one at 0x{end + (ulong)nonZero:X}). " +
                "They would sit between sections where the signature does not cover them: use a stub without trailing data.");
    }

    /// <summary>The stub's headers as read.</summary>
    public PeFile Stub { get; }

    public string StubName { get; }

    /// <summary>Adds a section after the stub's last one (and after the sections added before).</summary>
    /// <param name="name">1 to 8 printable ASCII characters, not a section the stub has or one added before.</param>
    /// <param name="content">Not empty; kept by reference and read by <see cref="WriteTo"/>.</param>
    /// <param name="virtualSize">Memory size; default the content length. It may exceed the content (zero-filled).</param>
    /// <param name="characteristics">Section flags; default <see cref="DataCharacteristics"/>.</param>
    /// <param name="repeatable">Whether the name may be added more than once (".dtb" in a UKI); never one the stub has.</param>
    public void Add(string name, ByteSource content, uint? virtualSize = null, uint characteristics = DataCharacteristics, bool repeatable = false)
    {
        var nameBytes = CheckName(name);
        if (content.Length == 0)
            throw new PeException(PeErrorKind.EmptySection, $"Section {name} is empty; leave it out instead.", name);
        if (Stub.FindSection(name) is not null)
            throw new PeException(PeErrorKind.DuplicateSection,
                $"{StubName} already has a section {name}; a PE image must not have two sections of that name. Leave it out.", name);
        if (!repeatable && _added.Any(a => a.Name == name))
            throw new PeException(PeErrorKind.DuplicateSection, $"Section {name} is given twice; give it once.", name);
        if ((ulong)content.Length > uint.MaxValue)
            throw new PeException(PeErrorKind.ImageTooLarge, $"Section {name} is {content.Length} bytes, more than a PE section can hold (4 GiB).", name);
        var size = virtualSize ?? (uint)content.Length;
        if (size == 0)
            throw new PeException(PeErrorKind.EmptySection, $"Section {name} would have a VirtualSize of 0.", name);
        _added.Add(new NewSection(name, nameBytes, content, size, characteristics));
    }

    /// <summary>Replaces the content of the stub's section <paramref name="name"/> (systemd-stub's <c>.sbat</c>).</summary>
    public void Replace(string name, ByteSource content)
    {
        var section = Stub.FindSection(name)
            ?? throw new ArgumentException($"{StubName} has no section {name} to replace.", nameof(name));
        if (content.Length == 0)
            throw new PeException(PeErrorKind.EmptySection, $"Section {name} is empty; leave it out instead.", name);
        if (!_replaced.TryAdd(section.Index, content))
            throw new PeException(PeErrorKind.DuplicateSection, $"Section {name} is replaced twice; give it once.", name);
    }

    /// <summary>Checks a section name: 1 to 8 bytes of printable ASCII (systemd-stub does not read longer names).</summary>
    public static byte[] CheckName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var bytes = Encoding.UTF8.GetBytes(name);
        if (bytes.Length == 0 || bytes.Length > PeLayout.NameLength)
            throw new PeException(PeErrorKind.InvalidSectionName,
                $"Section name '{name}' is {bytes.Length} bytes long; a PE section name holds 1 to {PeLayout.NameLength} bytes " +
                "(longer names need a COFF string table, which images do not have and systemd-stub does not read). Choose a shorter name.", name);
        if (bytes.Any(b => b is < 0x21 or > 0x7E))
            throw new PeException(PeErrorKind.InvalidSectionName,
                $"Section name '{name}' contains a character that is not printable ASCII; use letters, digits and punctuation only.", name);
        return bytes;
    }

    /// <summary>Lays out and writes the image into a new array.</summary>
    public byte[] Build()
    {
        using var image = new MemoryStream();
        WriteTo(image);
        return image.ToArray();
    }

    /// <summary>
    /// Lays out the image and writes it to <paramref name="output"/> (writable and seekable; the image starts at its
    /// current position), reading the sections' sources in pieces and showing the image to <paramref name="observer"/>.
    /// Returns the headers of the image written.
    /// </summary>
    public PeFile WriteTo(Stream output, IPeImageObserver? observer = null)
    {
        if (!output.CanWrite || !output.CanSeek) throw new ArgumentException("The output must be writable and seekable.", nameof(output));
        var stub = _stub.Span;
        var fileAlignment = Stub.FileAlignment;
        var sectionAlignment = Stub.SectionAlignment;
        var existing = Stub.Sections;
        var sectionCount = existing.Count + _added.Count;
        if (sectionCount > ushort.MaxValue)
            throw new PeException(PeErrorKind.HeaderRoomExhausted, $"{sectionCount} sections are more than NumberOfSections can count.");

        // Header room: the table grows by one 40-byte header per new section.
        var tableEnd = (long)Stub.SectionTableOffset + (long)sectionCount * PeLayout.SectionHeaderLength;
        var slackEnd = (int)Math.Min(tableEnd, Stub.SizeOfHeaders);
        if (Stub.SectionTableEnd < slackEnd && stub[Stub.SectionTableEnd..slackEnd].IndexOfAnyExcept((byte)0) is var used and >= 0)
            throw new PeException(PeErrorKind.HeaderRoomExhausted,
                $"{StubName} keeps data in its header space after the section table (a non-zero byte at file offset 0x{Stub.SectionTableEnd + used:X}), " +
                "where the new section headers would go. Use a stub whose header space after the section table is free (zero).");
        var sizeOfHeaders = (ulong)Stub.SizeOfHeaders;
        var firstRaw = existing.Where(s => s.SizeOfRawData != 0).Select(s => (ulong)s.PointerToRawData).DefaultIfEmpty((ulong)stub.Length).Min();
        ulong shift = 0;
        if ((ulong)tableEnd > sizeOfHeaders)
        {
            // Grow the header area: up to where the section data starts, if the table fits there (no gap is left
            // between headers and data, where the signature would not reach); else past it, moving the data down.
            var needed = AlignUp((ulong)tableEnd, fileAlignment);
            if (needed <= firstRaw && firstRaw % fileAlignment == 0)
            {
                sizeOfHeaders = firstRaw;
            }
            else
            {
                shift = needed > firstRaw ? AlignUp(needed - firstRaw, fileAlignment) : 0;
                sizeOfHeaders = Math.Max(needed, firstRaw + shift);
            }
            var lowestAddress = existing.Where(s => s.MemorySize != 0).Select(s => (ulong)s.VirtualAddress).DefaultIfEmpty(AlignUp(Stub.SizeOfImage, sectionAlignment)).Min();
            if (sizeOfHeaders > lowestAddress)
            {
                var room = ((long)Math.Min(lowestAddress, (ulong)int.MaxValue) - Stub.SectionTableOffset) / PeLayout.SectionHeaderLength - existing.Count;
                throw new PeException(PeErrorKind.HeaderRoomExhausted,
                    $"{StubName} has room for {Math.Max(room, 0)} more section headers (the headers may grow up to its first section at RVA 0x{lowestAddress:X}; " +
                    $"SizeOfHeaders is 0x{Stub.SizeOfHeaders:X} and the section table ends at 0x{Stub.SectionTableEnd:X}); {_added.Count} were asked for. " +
                    "Add fewer sections (join initrds into one .initrd), or use a stub built with more header room.");
            }
            if (shift > 0)
                RefuseMovingFileData($"grow its headers to 0x{sizeOfHeaders:X} bytes for {_added.Count} more section headers", PeErrorKind.HeaderRoomExhausted);
        }

        // Existing sections in file order: move their raw data by the running shift; replaced ones may grow.
        var layout = existing.Select(s => new Placed(s.Name, s.VirtualSize, s.VirtualAddress, s.SizeOfRawData, s.PointerToRawData, s.Characteristics)).ToArray();
        var byAddress = existing.OrderBy(s => s.VirtualAddress).ToList();
        long codeDelta = 0, dataDelta = 0;
        foreach (var s in existing.Where(s => s.SizeOfRawData != 0).OrderBy(s => s.PointerToRawData).ThenBy(s => s.Index))
        {
            var placed = layout[s.Index];
            placed.PointerToRawData = checked((ulong)s.PointerToRawData + shift);
            if (_replaced.TryGetValue(s.Index, out var content))
            {
                var next = byAddress.SkipWhile(x => x.Index != s.Index).Skip(1).FirstOrDefault(x => x.MemorySize != 0);
                var limit = next is null ? ulong.MaxValue : (ulong)next.VirtualAddress - s.VirtualAddress;
                if ((ulong)content.Length > limit)
                    throw new PeException(PeErrorKind.SectionTooLarge,
                        $"The new {s.Name} is {content.Length} bytes, but {StubName} has room for {limit} bytes there (its {s.Name} is at RVA 0x{s.VirtualAddress:X}, " +
                        $"the next section {next!.Name} at 0x{next.VirtualAddress:X}). Shorten it.", s.Name);
                var raw = Math.Max(s.SizeOfRawData, AlignUp((ulong)content.Length, fileAlignment));
                if (raw > s.SizeOfRawData)
                {
                    RefuseMovingFileData($"grow its {s.Name} from {s.SizeOfRawData} to {raw} bytes in the file", PeErrorKind.SectionTooLarge);
                    shift += raw - s.SizeOfRawData;
                }
                placed.SizeOfRawData = raw;
                var delta = content.Length - (long)s.VirtualSize;
                placed.VirtualSize = (ulong)content.Length;
                if ((s.Characteristics & PeLayout.ScnCntCode) != 0) codeDelta += delta;
                else if ((s.Characteristics & PeLayout.ScnCntInitializedData) != 0) dataDelta += delta;
            }
        }
        foreach (var index in _replaced.Keys.Where(i => existing[i].SizeOfRawData == 0))
            throw new PeException(PeErrorKind.SectionTooLarge, $"{StubName}'s {existing[index].Name} has no file data to replace.", existing[index].Name);

        // New sections after the last one, in the file and in memory.
        // (The stub's trailing zeros, if any, are dropped: a gap between sections would be left out of the signature.)
        var fileCursor = AlignUp(Math.Max(layout.Where(p => p.SizeOfRawData != 0).Select(p => p.PointerToRawData + p.SizeOfRawData).DefaultIfEmpty(0UL).Max(),
            sizeOfHeaders), fileAlignment);
        // After every section in memory, and after the stub's SizeOfImage (which may cover more than its sections).
        var memoryCursor = AlignUp(Math.Max(Math.Max(layout.Select(p => p.VirtualAddress + (p.VirtualSize != 0 ? p.VirtualSize : p.SizeOfRawData)).DefaultIfEmpty(0UL).Max(),
            sizeOfHeaders), Stub.SizeOfImage), sectionAlignment);
        var added = new List<Placed>();
        foreach (var a in _added)
        {
            var raw = AlignUp((ulong)a.Content.Length, fileAlignment);
            var placed = new Placed(a.Name, a.VirtualSize, memoryCursor, raw, fileCursor, a.Characteristics);
            fileCursor += raw;
            memoryCursor = AlignUp(memoryCursor + a.VirtualSize, sectionAlignment);
            if (fileCursor > (ulong)MaxImageLength || memoryCursor > uint.MaxValue)
                throw new PeException(PeErrorKind.ImageTooLarge,
                    $"With section {a.Name} ({a.Content.Length} bytes) the image would be {fileCursor} bytes long and {memoryCursor} bytes in memory; " +
                    $"a PE32+ image built here holds at most {MaxImageLength} bytes (32-bit offsets and sizes). Make the section smaller (compress the initrd harder, drop modules).",
                    a.Name);
            if ((a.Characteristics & PeLayout.ScnCntCode) != 0) codeDelta += a.VirtualSize;
            else if ((a.Characteristics & PeLayout.ScnCntInitializedData) != 0) dataDelta += a.VirtualSize;
            added.Add(placed);
        }
        var sizeOfImage = memoryCursor;
        var sizeOfCode = (ulong)Math.Clamp(Stub.SizeOfCode + codeDelta, 0, uint.MaxValue);
        var sizeOfInitializedData = (ulong)Math.Clamp(Stub.SizeOfInitializedData + dataDelta, 0, uint.MaxValue);

        // The headers: the stub's, the section table, the patched fields (CheckSum last, once the file was summed).
        var headers = new byte[(int)sizeOfHeaders];
        stub[..(int)Math.Min(Stub.SizeOfHeaders, firstRaw)].CopyTo(headers);
        var tableOffset = Stub.SectionTableOffset;
        for (var i = 0; i < layout.Length; i++)
        {
            // The stub's own header, with only what moved or grew patched (other fields such as line numbers stay).
            var header = headers.AsSpan(tableOffset + i * PeLayout.SectionHeaderLength, PeLayout.SectionHeaderLength);
            stub.Slice(existing[i].HeaderOffset, PeLayout.SectionHeaderLength).CopyTo(header);
            WriteHeader(header, layout[i]);
        }
        for (var i = 0; i < added.Count; i++)
        {
            var header = headers.AsSpan(tableOffset + (layout.Length + i) * PeLayout.SectionHeaderLength, PeLayout.SectionHeaderLength);
            _added[i].NameBytes.CopyTo(header[PeLayout.NameOffset..]);
            BinaryPrimitives.WriteUInt32LittleEndian(header[PeLayout.SectionCharacteristicsOffset..], added[i].Characteristics);
            WriteHeader(header, added[i]);
        }
        var optional = headers.AsSpan(Stub.OptionalHeaderOffset);
        BinaryPrimitives.WriteUInt16LittleEndian(headers.AsSpan(Stub.CoffHeaderOffset + PeLayout.NumberOfSectionsOffset), (ushort)sectionCount);
        BinaryPrimitives.WriteUInt32LittleEndian(optional[PeLayout.SizeOfCodeOffset..], (uint)sizeOfCode);
        BinaryPrimitives.WriteUInt32LittleEndian(optional[PeLayout.SizeOfInitializedDataOffset..], (uint)sizeOfInitializedData);
        BinaryPrimitives.WriteUInt32LittleEndian(optional[PeLayout.SizeOfImageOffset..], (uint)sizeOfImage);
        BinaryPrimitives.WriteUInt32LittleEndian(optional[PeLayout.SizeOfHeadersOffset..], (uint)sizeOfHeaders);
        BinaryPrimitives.WriteUInt32LittleEndian(optional[PeLayout.CheckSumOffset..], 0);

        // The sections' raw data in file order, each padded with zeros to its SizeOfRawData; zeros in any gap.
        var runs = existing.Where(s => s.SizeOfRawData != 0)
            .Select(s => (Placed: layout[s.Index], Data: _replaced.TryGetValue(s.Index, out var content) ? content : (ByteSource)_stub.Slice((int)s.PointerToRawData, (int)s.SizeOfRawData)))
            .Concat(added.Select((p, i) => (Placed: p, Data: _added[i].Content)))
            .OrderBy(r => r.Placed.PointerToRawData)
            .ToList();
        var fileLength = (long)fileCursor;
        var written = PeFile.Parse(headers, fileLength);
        observer?.Headers(written);
        var start = output.Position;
        using (var sink = new ImageSink(output, Stub.CheckSumFileOffset, observer))
        {
            sink.Write(headers, 0, headers.Length);
            var position = (ulong)headers.Length;
            foreach (var (placed, data) in runs)
            {
                if (placed.PointerToRawData < position)
                    throw new PeException(PeErrorKind.Unsupported,
                        $"{StubName}'s sections overlap in the file (section {placed.Name} starts at file offset 0x{placed.PointerToRawData:X}, before 0x{position:X}); such a stub cannot be extended.", placed.Name);
                sink.WriteZeros((long)(placed.PointerToRawData - position));
                sink.Copy(data);
                sink.WriteZeros((long)placed.SizeOfRawData - data.Length);
                position = placed.PointerToRawData + placed.SizeOfRawData;
            }
            sink.WriteZeros(fileLength - (long)position);
            BinaryPrimitives.WriteUInt32LittleEndian(optional[PeLayout.CheckSumOffset..], sink.Checksum.Finish(fileLength));
        }
        var end = output.Position;
        output.Position = start + Stub.CheckSumFileOffset;
        output.Write(headers, Stub.CheckSumFileOffset, PeLayout.CheckSumLength);
        output.Position = end;
        return PeFile.Parse(headers, fileLength);
    }

    /// <summary>
    /// Writes the image in order, summing its checksum and showing every byte to the observer; each piece is written
    /// to the output on another thread while it is summed and observed on this one (two cores: write ∥ hash).
    /// </summary>
    sealed class ImageSink(Stream output, int checkSumFileOffset, IPeImageObserver? observer) : IDisposable
    {
        const int ChunkLength = 1 << 20;
        readonly byte[] _buffer = ArrayPool<byte>.Shared.Rent(ChunkLength);
        long _position;

        public PeChecksum.Accumulator Checksum = new(checkSumFileOffset);

        public void Write(byte[] data, int offset, int count)
        {
            var piece = data.AsSpan(offset, count);
            var at = _position;
            if (count < 64 * 1024)
            {
                output.Write(piece);
                Checksum.Add(piece, at);
                observer?.Data(piece, at);
            }
            else if (observer is null)
            {
                var write = Task.Run(() => output.Write(data, offset, count));
                Checksum.Add(piece, at);
                write.GetAwaiter().GetResult();
            }
            else
            {
                // The observer (a SHA-256) is the slowest: the write and the checksum share the other core.
                var write = Task.Run(() =>
                {
                    output.Write(data, offset, count);
                    Checksum.Add(data.AsSpan(offset, count), at);
                });
                observer.Data(piece, at);
                write.GetAwaiter().GetResult();
            }
            _position += count;
        }

        public void Copy(ByteSource data)
        {
            for (long at = 0; at < data.Length; at += _buffer.Length)
            {
                var n = (int)Math.Min(_buffer.Length, data.Length - at);
                data.ReadAt(at, _buffer.AsSpan(0, n));
                Write(_buffer, 0, n);
            }
        }

        public void WriteZeros(long count)
        {
            if (count <= 0) return;
            _buffer.AsSpan(0, (int)Math.Min(count, _buffer.Length)).Clear();
            for (; count > 0; count -= _buffer.Length) Write(_buffer, 0, (int)Math.Min(count, _buffer.Length));
        }

        public void Dispose() => ArrayPool<byte>.Shared.Return(_buffer);
    }

    void RefuseMovingFileData(string what, PeErrorKind kind)
    {
        if (Stub.DataDirectories.Count > PeLayout.DebugIndex && !Stub.DataDirectories[PeLayout.DebugIndex].IsEmpty)
            throw new PeException(kind,
                $"To add the sections, {StubName}'s section data would have to move down the file to {what}, but its debug directory holds file offsets " +
                "that would then be wrong. Use a stub without a debug directory, or one with more header room.");
    }

    static void WriteHeader(Span<byte> header, Placed p)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(header[PeLayout.VirtualSizeOffset..], (uint)p.VirtualSize);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PeLayout.VirtualAddressOffset..], (uint)p.VirtualAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PeLayout.SizeOfRawDataOffset..], (uint)p.SizeOfRawData);
        BinaryPrimitives.WriteUInt32LittleEndian(header[PeLayout.PointerToRawDataOffset..], p.SizeOfRawData == 0 ? 0 : (uint)p.PointerToRawData);
    }

    static ulong AlignUp(ulong value, uint alignment) => (value + alignment - 1) & ~((ulong)alignment - 1);

    sealed class Placed(string name, ulong virtualSize, ulong virtualAddress, ulong sizeOfRawData, ulong pointerToRawData, uint characteristics)
    {
        public string Name { get; } = name;
        public ulong VirtualSize { get; set; } = virtualSize;
        public ulong VirtualAddress { get; } = virtualAddress;
        public ulong SizeOfRawData { get; set; } = sizeOfRawData;
        public ulong PointerToRawData { get; set; } = pointerToRawData;
        public uint Characteristics { get; } = characteristics;
    }
}
