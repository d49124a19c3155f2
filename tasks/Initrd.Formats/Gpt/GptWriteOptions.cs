namespace Initrd.Formats.Gpt;

/// <summary>Disk-wide choices for <see cref="GptWriter"/>.</summary>
public sealed record GptWriteOptions
{
    /// <summary>systemd-repart's grain: partitions start and end on 4096-byte boundaries, and so does the disk.</summary>
    public const int DefaultAlignment = 4096;

    /// <summary>DiskGUID. Must not be all zeros; derive it from the content for reproducible images.</summary>
    public required Guid DiskGuid { get; init; }

    /// <summary>
    /// Partition starts, default partition sizes and the disk size are multiples of this many bytes: a power of two
    /// from 4096 to 1 GiB. The default 4096 is what systemd-repart uses (the first partition at LBA 40); 1 MiB (the
    /// first partition at LBA 2048, as fdisk and sgdisk place it) suits disks that are later grown or written to
    /// flash. Never less than 4096: a dm-verity data partition must hold whole 4096-byte blocks, and a default-sized
    /// partition is its content rounded up to this.
    /// </summary>
    public int Alignment { get; init; } = DefaultAlignment;

    /// <summary>Smallest <see cref="Alignment"/>: dm-verity's 4096-byte data block.</summary>
    public const int MinimumAlignment = 4096;
}
