namespace Initrd.Formats.Gpt;

/// <summary>
/// The GUID Partition Table as the UEFI Specification (chapter 5, "GUID Partition Table (GPT) Disk Layout")
/// defines it, for 512-byte logical blocks. Field names are the specification's.
/// </summary>
/// <remarks>
/// <para>A disk of <c>n</c> logical blocks (LBAs) is laid out as:</para>
/// <list type="bullet">
/// <item>LBA 0: the Protective MBR (5.2.3; the "Legacy MBR" layout of 5.2.1): no boot code, one partition record of type
/// <see cref="ProtectiveOsType"/> covering LBA 1 to the end of the disk, the <see cref="MbrSignature"/>.</item>
/// <item>LBA 1: the primary GPT Header (5.3.2); LBA 2 to 33: the primary GUID Partition Entry Array,
/// <see cref="EntryCount"/> entries of <see cref="EntrySize"/> bytes (5.3.3).</item>
/// <item>LBA 34 (<c>FirstUsableLBA</c>) to <c>n − 34</c> (<c>LastUsableLBA</c>): partitions.</item>
/// <item>LBA <c>n − 33</c> to <c>n − 2</c>: the backup Entry Array; LBA <c>n − 1</c>: the backup GPT Header, whose
/// <c>MyLBA</c> and <c>AlternateLBA</c> are swapped and whose <c>PartitionEntryLBA</c> points at the backup array.</item>
/// </list>
/// <para>All integers are little-endian. GUIDs are stored in the EFI_GUID layout (5.3.1): the first three fields
/// little-endian, the last eight bytes in order — .NET's <see cref="Guid.TryWriteBytes(Span{byte})"/> layout.</para>
/// </remarks>
public static class GptLayout
{
    /// <summary>Logical block size. Images are written for 512-byte sectors, as systemd-repart does by default.</summary>
    public const int SectorSize = 512;

    // ---- Protective MBR (5.2.3: the Legacy MBR layout and its partition record) ----

    public const int BootCodeOffset = 0;
    public const int BootCodeLength = 440;
    public const int UniqueMbrDiskSignatureOffset = BootCodeOffset + BootCodeLength;
    public const int UniqueMbrDiskSignatureLength = 4;
    public const int UnknownOffset = UniqueMbrDiskSignatureOffset + UniqueMbrDiskSignatureLength;
    public const int UnknownLength = 2;
    public const int PartitionRecordOffset = UnknownOffset + UnknownLength;
    public const int PartitionRecordLength = 16;
    public const int PartitionRecordCount = 4;
    public const int SignatureOffset = PartitionRecordOffset + PartitionRecordLength * PartitionRecordCount;

    /// <summary>0xAA55, stored as the bytes 0x55 0xAA at offset 510.</summary>
    public const ushort MbrSignature = 0xAA55;

    // Fields of a partition record, relative to its start.
    public const int BootIndicatorOffset = 0;
    public const int StartingChsOffset = 1;
    public const int OsTypeOffset = 4;
    public const int EndingChsOffset = 5;
    public const int StartingLbaOffset = 8;
    public const int SizeInLbaOffset = 12;
    public const int ChsLength = 3;

    /// <summary>OSType of the protective partition record: GPT protective.</summary>
    public const byte ProtectiveOsType = 0xEE;

    /// <summary>StartingCHS of the protective record: 0x000200 (head 0, sector 2, cylinder 0), stored as 00 02 00.</summary>
    public static ReadOnlySpan<byte> ProtectiveStartingChs => [0x00, 0x02, 0x00];

    /// <summary>
    /// EndingCHS of the protective record: 0xFFFFFF, "if it is not possible to represent the value in this field".
    /// libfdisk (and so systemd-repart) always writes this; CHS addressing means nothing to a disk image.
    /// </summary>
    public static ReadOnlySpan<byte> ProtectiveEndingChs => [0xFF, 0xFF, 0xFF];

    // ---- GPT Header (5.3.2) ----

    /// <summary>"EFI PART".</summary>
    public static ReadOnlySpan<byte> HeaderSignature => "EFI PART"u8;

    public const int HeaderSignatureOffset = 0;
    public const int RevisionOffset = 8;
    public const int HeaderSizeOffset = 12;
    public const int HeaderCrc32Offset = 16;
    public const int ReservedOffset = 20;
    public const int MyLbaOffset = 24;
    public const int AlternateLbaOffset = 32;
    public const int FirstUsableLbaOffset = 40;
    public const int LastUsableLbaOffset = 48;
    public const int DiskGuidOffset = 56;
    public const int PartitionEntryLbaOffset = 72;
    public const int NumberOfPartitionEntriesOffset = 80;
    public const int SizeOfPartitionEntryOffset = 84;
    public const int PartitionEntryArrayCrc32Offset = 88;

    /// <summary>92 bytes: the range HeaderCRC32 covers; the rest of the block is zero.</summary>
    public const int HeaderSize = PartitionEntryArrayCrc32Offset + 4;

    /// <summary>Revision 1.0: 0x00010000.</summary>
    public const uint Revision = 0x00010000;

    // ---- GPT Partition Entry (5.3.3) ----

    public const int PartitionTypeGuidOffset = 0;
    public const int UniquePartitionGuidOffset = 16;
    public const int StartingLbaEntryOffset = 32;
    public const int EndingLbaEntryOffset = 40;
    public const int AttributesOffset = 48;
    public const int PartitionNameOffset = 56;

    /// <summary>72 bytes: 36 UTF-16LE code units, NUL-padded (no terminator when all 36 are used).</summary>
    public const int PartitionNameLength = EntrySize - PartitionNameOffset;

    /// <summary>Longest partition name, in UTF-16 code units.</summary>
    public const int MaxPartitionNameLength = PartitionNameLength / 2;

    /// <summary>SizeOfPartitionEntry: 128 bytes.</summary>
    public const int EntrySize = 128;

    /// <summary>NumberOfPartitionEntries: 128, what every tool writes (and the minimum array of 16 KiB).</summary>
    public const int EntryCount = 128;

    /// <summary>16384 bytes.</summary>
    public const int EntryArrayLength = EntrySize * EntryCount;

    /// <summary>32 sectors.</summary>
    public const int EntryArraySectors = EntryArrayLength / SectorSize;

    public const long ProtectiveMbrLba = 0;
    public const long PrimaryHeaderLba = 1;
    public const long PrimaryEntryArrayLba = PrimaryHeaderLba + 1;

    /// <summary>LBA 34: the first block after the primary array.</summary>
    public const long FirstUsableLba = PrimaryEntryArrayLba + EntryArraySectors;

    /// <summary>Blocks the backup structures take at the end of the disk: the array and the header (33).</summary>
    public const int BackupSectors = EntryArraySectors + 1;
}
