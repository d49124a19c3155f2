namespace Initrd.Formats.Gpt;

/// <summary>A partition to write: its entry's fields and its content.</summary>
public sealed record GptPartition
{
    /// <summary>PartitionTypeGUID, e.g. <see cref="DiscoverableArchitecture.Root"/>. Must not be all zeros (unused entry).</summary>
    public required Guid Type { get; init; }

    /// <summary>UniquePartitionGUID. Must not be all zeros, and unique within the disk.</summary>
    public required Guid Uuid { get; init; }

    /// <summary>PartitionName: at most 36 UTF-16 code units, no NUL.</summary>
    public string Name { get; init; } = "";

    /// <summary>Attributes, e.g. <see cref="GptPartitionAttributes.ReadOnly"/>.</summary>
    public GptPartitionAttributes Attributes { get; init; }

    /// <summary>What the partition starts with; the rest of the partition is zero.</summary>
    public required GptPartitionContent Content { get; init; }

    /// <summary>
    /// Partition size in bytes (a multiple of 512, at least the content's length), or null for the content's length
    /// rounded up to <see cref="GptWriteOptions.Alignment"/>.
    /// </summary>
    public long? Size { get; init; }
}
