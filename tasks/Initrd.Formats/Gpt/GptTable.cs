namespace Initrd.Formats.Gpt;

/// <summary>One used entry of a partition table, as written or read.</summary>
/// <param name="Index">Position in the partition entry array, from 0 (the kernel's partition number is Index + 1).</param>
/// <param name="FirstLba">StartingLBA.</param>
/// <param name="LastLba">EndingLBA, inclusive.</param>
public sealed record GptEntry(
    int Index,
    Guid Type,
    Guid Uuid,
    long FirstLba,
    long LastLba,
    GptPartitionAttributes Attributes,
    string Name)
{
    /// <summary>Byte offset of the partition in the disk image.</summary>
    public long Offset => FirstLba * GptLayout.SectorSize;

    /// <summary>Partition size in bytes.</summary>
    public long Length => (LastLba - FirstLba + 1) * GptLayout.SectorSize;
}

/// <summary>A GUID partition table: the header fields that matter and the used entries, in array order.</summary>
/// <param name="DiskGuid">DiskGUID.</param>
/// <param name="SectorCount">Size of the disk in 512-byte sectors; the backup header is at SectorCount − 1.</param>
/// <param name="FirstUsableLba">FirstUsableLBA.</param>
/// <param name="LastUsableLba">LastUsableLBA.</param>
/// <param name="Entries">Used entries (PartitionTypeGUID not zero).</param>
public sealed record GptTable(
    Guid DiskGuid,
    long SectorCount,
    long FirstUsableLba,
    long LastUsableLba,
    IReadOnlyList<GptEntry> Entries)
{
    /// <summary>Size of the disk image in bytes.</summary>
    public long Length => SectorCount * GptLayout.SectorSize;
}
