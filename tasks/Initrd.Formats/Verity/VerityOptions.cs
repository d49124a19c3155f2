namespace Initrd.Formats.Verity;

/// <summary>Choices for <see cref="VerityHashTree.Compute(Stream, VerityOptions?, CancellationToken)"/>.</summary>
public sealed record VerityOptions
{
    /// <summary>
    /// The salt (1 to <see cref="VerityLayout.SaltLength"/> bytes), or null to derive it from the content with
    /// <see cref="VerityHashTree.DeriveSalt(Stream, int, CancellationToken)"/> (which needs a seekable stream: it is a
    /// second pass over the data). Give one when the data's identity is already known cheaply (e.g. a hash of the
    /// tree the file system was made from) to save that pass.
    /// </summary>
    public ReadOnlyMemory<byte>? Salt { get; init; }

    /// <summary>The superblock's UUID, or null to derive it from the root hash with
    /// <see cref="VerityHashTree.DeriveUuid(ReadOnlySpan{byte})"/>.</summary>
    public Guid? Uuid { get; init; }

    /// <summary>Threads hashing data blocks; the calling thread reads. Default: the processor count.</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;
}
