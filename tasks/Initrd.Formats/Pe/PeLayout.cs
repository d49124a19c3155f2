namespace Initrd.Formats.Pe;

/// <summary>
/// The PE32+ image file format as the Microsoft "PE Format" specification (learn.microsoft.com,
/// windows/win32/debug/pe-format) defines it, reduced to what a UEFI application needs. Field names are the
/// specification's; offsets are derived from the field lengths.
/// </summary>
/// <remarks>
/// An image is:
/// <list type="number">
/// <item>the MS-DOS header (only <c>e_magic</c> "MZ" at 0 and <c>e_lfanew</c> at 0x3C matter), often followed by an
/// MS-DOS stub program;</item>
/// <item>at <c>e_lfanew</c>: the 4-byte signature "PE\0\0";</item>
/// <item>the 20-byte COFF file header;</item>
/// <item>the optional header (<c>SizeOfOptionalHeader</c> bytes): 112 bytes of fixed PE32+ fields, then
/// <c>NumberOfRvaAndSizes</c> data directories of 8 bytes each;</item>
/// <item>the section table: <c>NumberOfSections</c> headers of 40 bytes;</item>
/// <item>free header space up to <c>SizeOfHeaders</c> (a multiple of <c>FileAlignment</c>), then the sections' raw
/// data at <c>PointerToRawData</c> (multiples of <c>FileAlignment</c>), then optional trailing data such as the
/// attribute certificate table.</item>
/// </list>
/// All integers are little-endian. Sections are mapped at <c>VirtualAddress</c> (a multiple of
/// <c>SectionAlignment</c>, relative to the image base) for <c>VirtualSize</c> bytes; raw data beyond
/// <c>VirtualSize</c> is not mapped and memory beyond <c>SizeOfRawData</c> is zero-filled.
/// </remarks>
public static class PeLayout
{
    // --- MS-DOS header -------------------------------------------------------------------------------------------

    /// <summary>"MZ", the MS-DOS header's <c>e_magic</c>.</summary>
    public static ReadOnlySpan<byte> DosMagic => "MZ"u8;

    public const int EMagicOffset = 0;
    public const int EMagicLength = 2;

    /// <summary>File offset of <c>e_lfanew</c>, the 4-byte file offset of the PE signature.</summary>
    public const int ELfanewOffset = 0x3C;
    public const int ELfanewLength = 4;

    /// <summary>The MS-DOS header ends after <c>e_lfanew</c>.</summary>
    public const int DosHeaderLength = ELfanewOffset + ELfanewLength;

    // --- PE signature --------------------------------------------------------------------------------------------

    /// <summary>"PE\0\0" at <c>e_lfanew</c>.</summary>
    public static ReadOnlySpan<byte> PeSignature => "PE\0\0"u8;

    public const int PeSignatureLength = 4;

    // --- COFF file header (offsets from its start, right after the signature) -----------------------------------

    public const int MachineLength = 2;
    public const int NumberOfSectionsLength = 2;
    public const int TimeDateStampLength = 4;
    public const int PointerToSymbolTableLength = 4;
    public const int NumberOfSymbolsLength = 4;
    public const int SizeOfOptionalHeaderLength = 2;
    public const int CharacteristicsLength = 2;

    public const int MachineOffset = 0;
    public const int NumberOfSectionsOffset = MachineOffset + MachineLength;
    public const int TimeDateStampOffset = NumberOfSectionsOffset + NumberOfSectionsLength;
    public const int PointerToSymbolTableOffset = TimeDateStampOffset + TimeDateStampLength;
    public const int NumberOfSymbolsOffset = PointerToSymbolTableOffset + PointerToSymbolTableLength;
    public const int SizeOfOptionalHeaderOffset = NumberOfSymbolsOffset + NumberOfSymbolsLength;
    public const int CharacteristicsOffset = SizeOfOptionalHeaderOffset + SizeOfOptionalHeaderLength;

    /// <summary>20 bytes.</summary>
    public const int CoffHeaderLength = CharacteristicsOffset + CharacteristicsLength;

    /// <summary>IMAGE_FILE_MACHINE_AMD64.</summary>
    public const ushort MachineAmd64 = 0x8664;

    /// <summary>IMAGE_FILE_MACHINE_ARM64.</summary>
    public const ushort MachineArm64 = 0xAA64;

    /// <summary>IMAGE_FILE_MACHINE_RISCV64.</summary>
    public const ushort MachineRiscV64 = 0x5064;

    /// <summary>IMAGE_FILE_MACHINE_LOONGARCH64.</summary>
    public const ushort MachineLoongArch64 = 0x6264;

    // --- Optional header, PE32+ (offsets from its start) --------------------------------------------------------

    public const int MagicLength = 2;
    public const int MajorLinkerVersionLength = 1;
    public const int MinorLinkerVersionLength = 1;
    public const int SizeOfCodeLength = 4;
    public const int SizeOfInitializedDataLength = 4;
    public const int SizeOfUninitializedDataLength = 4;
    public const int AddressOfEntryPointLength = 4;
    public const int BaseOfCodeLength = 4;
    /// <summary>8 bytes in PE32+ (PE32 has a 4-byte BaseOfData and a 4-byte ImageBase instead).</summary>
    public const int ImageBaseLength = 8;
    public const int SectionAlignmentLength = 4;
    public const int FileAlignmentLength = 4;
    public const int MajorOperatingSystemVersionLength = 2;
    public const int MinorOperatingSystemVersionLength = 2;
    public const int MajorImageVersionLength = 2;
    public const int MinorImageVersionLength = 2;
    public const int MajorSubsystemVersionLength = 2;
    public const int MinorSubsystemVersionLength = 2;
    public const int Win32VersionValueLength = 4;
    public const int SizeOfImageLength = 4;
    public const int SizeOfHeadersLength = 4;
    public const int CheckSumLength = 4;
    public const int SubsystemLength = 2;
    public const int DllCharacteristicsLength = 2;
    public const int SizeOfStackReserveLength = 8;
    public const int SizeOfStackCommitLength = 8;
    public const int SizeOfHeapReserveLength = 8;
    public const int SizeOfHeapCommitLength = 8;
    public const int LoaderFlagsLength = 4;
    public const int NumberOfRvaAndSizesLength = 4;

    public const int MagicOffset = 0;
    public const int MajorLinkerVersionOffset = MagicOffset + MagicLength;
    public const int MinorLinkerVersionOffset = MajorLinkerVersionOffset + MajorLinkerVersionLength;
    public const int SizeOfCodeOffset = MinorLinkerVersionOffset + MinorLinkerVersionLength;
    public const int SizeOfInitializedDataOffset = SizeOfCodeOffset + SizeOfCodeLength;
    public const int SizeOfUninitializedDataOffset = SizeOfInitializedDataOffset + SizeOfInitializedDataLength;
    public const int AddressOfEntryPointOffset = SizeOfUninitializedDataOffset + SizeOfUninitializedDataLength;
    public const int BaseOfCodeOffset = AddressOfEntryPointOffset + AddressOfEntryPointLength;
    public const int ImageBaseOffset = BaseOfCodeOffset + BaseOfCodeLength;
    public const int SectionAlignmentOffset = ImageBaseOffset + ImageBaseLength;
    public const int FileAlignmentOffset = SectionAlignmentOffset + SectionAlignmentLength;
    public const int MajorOperatingSystemVersionOffset = FileAlignmentOffset + FileAlignmentLength;
    public const int MinorOperatingSystemVersionOffset = MajorOperatingSystemVersionOffset + MajorOperatingSystemVersionLength;
    public const int MajorImageVersionOffset = MinorOperatingSystemVersionOffset + MinorOperatingSystemVersionLength;
    public const int MinorImageVersionOffset = MajorImageVersionOffset + MajorImageVersionLength;
    public const int MajorSubsystemVersionOffset = MinorImageVersionOffset + MinorImageVersionLength;
    public const int MinorSubsystemVersionOffset = MajorSubsystemVersionOffset + MajorSubsystemVersionLength;
    public const int Win32VersionValueOffset = MinorSubsystemVersionOffset + MinorSubsystemVersionLength;
    public const int SizeOfImageOffset = Win32VersionValueOffset + Win32VersionValueLength;
    public const int SizeOfHeadersOffset = SizeOfImageOffset + SizeOfImageLength;
    public const int CheckSumOffset = SizeOfHeadersOffset + SizeOfHeadersLength;
    public const int SubsystemOffset = CheckSumOffset + CheckSumLength;
    public const int DllCharacteristicsOffset = SubsystemOffset + SubsystemLength;
    public const int SizeOfStackReserveOffset = DllCharacteristicsOffset + DllCharacteristicsLength;
    public const int SizeOfStackCommitOffset = SizeOfStackReserveOffset + SizeOfStackReserveLength;
    public const int SizeOfHeapReserveOffset = SizeOfStackCommitOffset + SizeOfStackCommitLength;
    public const int SizeOfHeapCommitOffset = SizeOfHeapReserveOffset + SizeOfHeapReserveLength;
    public const int LoaderFlagsOffset = SizeOfHeapCommitOffset + SizeOfHeapCommitLength;
    public const int NumberOfRvaAndSizesOffset = LoaderFlagsOffset + LoaderFlagsLength;

    /// <summary>Offset of the first data directory: 112 bytes of fixed fields in PE32+.</summary>
    public const int DataDirectoriesOffset = NumberOfRvaAndSizesOffset + NumberOfRvaAndSizesLength;

    /// <summary>The optional header's <c>Magic</c> of a PE32+ image.</summary>
    public const ushort Pe32PlusMagic = 0x20B;

    /// <summary>The optional header's <c>Magic</c> of a PE32 image (not supported here).</summary>
    public const ushort Pe32Magic = 0x10B;

    /// <summary>IMAGE_SUBSYSTEM_EFI_APPLICATION.</summary>
    public const ushort SubsystemEfiApplication = 10;

    // --- Data directories (each an RVA and a size; the certificate table's "RVA" is a file offset) -------------

    public const int DataDirectoryVirtualAddressLength = 4;
    public const int DataDirectorySizeLength = 4;
    public const int DataDirectoryVirtualAddressOffset = 0;
    public const int DataDirectorySizeOffset = DataDirectoryVirtualAddressOffset + DataDirectoryVirtualAddressLength;

    /// <summary>8 bytes.</summary>
    public const int DataDirectoryLength = DataDirectorySizeOffset + DataDirectorySizeLength;

    /// <summary>The specification defines 16 data directories.</summary>
    public const int MaxDataDirectories = 16;

    public const int ExportTableIndex = 0;
    public const int ImportTableIndex = 1;
    public const int ResourceTableIndex = 2;
    public const int ExceptionTableIndex = 3;
    /// <summary>The Certificate Table (attribute certificates, i.e. Authenticode signatures): a FILE OFFSET and size.</summary>
    public const int CertificateTableIndex = 4;
    public const int BaseRelocationTableIndex = 5;
    public const int DebugIndex = 6;

    /// <summary>Offset of the Certificate Table entry from the start of the optional header (144 in PE32+).</summary>
    public const int CertificateTableEntryOffset = DataDirectoriesOffset + CertificateTableIndex * DataDirectoryLength;

    // --- Section header ------------------------------------------------------------------------------------------

    /// <summary>A section name is 8 bytes of UTF-8, NUL-padded, not necessarily NUL-terminated.</summary>
    public const int NameLength = 8;
    public const int VirtualSizeLength = 4;
    public const int VirtualAddressLength = 4;
    public const int SizeOfRawDataLength = 4;
    public const int PointerToRawDataLength = 4;
    public const int PointerToRelocationsLength = 4;
    public const int PointerToLinenumbersLength = 4;
    public const int NumberOfRelocationsLength = 2;
    public const int NumberOfLinenumbersLength = 2;
    public const int SectionCharacteristicsLength = 4;

    public const int NameOffset = 0;
    public const int VirtualSizeOffset = NameOffset + NameLength;
    public const int VirtualAddressOffset = VirtualSizeOffset + VirtualSizeLength;
    public const int SizeOfRawDataOffset = VirtualAddressOffset + VirtualAddressLength;
    public const int PointerToRawDataOffset = SizeOfRawDataOffset + SizeOfRawDataLength;
    public const int PointerToRelocationsOffset = PointerToRawDataOffset + PointerToRawDataLength;
    public const int PointerToLinenumbersOffset = PointerToRelocationsOffset + PointerToRelocationsLength;
    public const int NumberOfRelocationsOffset = PointerToLinenumbersOffset + PointerToLinenumbersLength;
    public const int NumberOfLinenumbersOffset = NumberOfRelocationsOffset + NumberOfRelocationsLength;
    public const int SectionCharacteristicsOffset = NumberOfLinenumbersOffset + NumberOfLinenumbersLength;

    /// <summary>40 bytes.</summary>
    public const int SectionHeaderLength = SectionCharacteristicsOffset + SectionCharacteristicsLength;

    /// <summary>IMAGE_SCN_CNT_CODE.</summary>
    public const uint ScnCntCode = 0x00000020;

    /// <summary>IMAGE_SCN_CNT_INITIALIZED_DATA.</summary>
    public const uint ScnCntInitializedData = 0x00000040;

    /// <summary>IMAGE_SCN_CNT_UNINITIALIZED_DATA.</summary>
    public const uint ScnCntUninitializedData = 0x00000080;

    /// <summary>IMAGE_SCN_MEM_DISCARDABLE.</summary>
    public const uint ScnMemDiscardable = 0x02000000;

    /// <summary>IMAGE_SCN_MEM_EXECUTE.</summary>
    public const uint ScnMemExecute = 0x20000000;

    /// <summary>IMAGE_SCN_MEM_READ.</summary>
    public const uint ScnMemRead = 0x40000000;

    /// <summary>IMAGE_SCN_MEM_WRITE.</summary>
    public const uint ScnMemWrite = 0x80000000;

    // --- Attribute certificate table (WIN_CERTIFICATE) -----------------------------------------------------------

    public const int DwLengthLength = 4;
    public const int WRevisionLength = 2;
    public const int WCertificateTypeLength = 2;

    public const int DwLengthOffset = 0;
    public const int WRevisionOffset = DwLengthOffset + DwLengthLength;
    public const int WCertificateTypeOffset = WRevisionOffset + WRevisionLength;

    /// <summary>Offset of <c>bCertificate</c>: 8 bytes of header.</summary>
    public const int BCertificateOffset = WCertificateTypeOffset + WCertificateTypeLength;

    /// <summary>WIN_CERT_REVISION_2_0.</summary>
    public const ushort WinCertRevision2 = 0x0200;

    /// <summary>WIN_CERT_TYPE_PKCS_SIGNED_DATA.</summary>
    public const ushort WinCertTypePkcsSignedData = 0x0002;

    /// <summary>Attribute certificate entries start, and are padded to, a multiple of 8 bytes (a quadword).</summary>
    public const int CertificateAlignment = 8;
}
