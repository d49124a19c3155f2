namespace Initrd.Formats.Compression;

/// <summary>
/// Compresses written data into one Zstandard frame (with an XXH64 content checksum) using the system's libzstd.
/// <para>
/// Reproducible: the encoder always runs in zstd's multi-threaded mode (ZSTD_c_nbWorkers ≥ 1), whose output bytes
/// are the same for any number of workers, any write pattern and any flush pattern (for a given libzstd version). (Single-threaded mode,
/// nbWorkers = 0, produces different bytes and is therefore never used.) The frame header carries no content size,
/// since the length is not known up front.
/// </para>
/// Disposing finishes the frame. See <see cref="EncoderStream"/> for buffering and <see cref="EncoderStream.Flush"/>.
/// </summary>
public sealed unsafe class ZstdCompressStream : EncoderStream
{
    /// <summary>The zstd default level, and this class's.</summary>
    public const int DefaultLevel = 3;

    const int BufferSize = 1 << 20;

    readonly ZstdCompressionContextHandle _context;

    /// <param name="output">Receives the compressed frame.</param>
    /// <param name="level">Compression level, from ZSTD_minCLevel() (negative: fast) to ZSTD_maxCLevel() (22).</param>
    /// <param name="workers">Compression threads, at least 1; -1 means <see cref="Environment.ProcessorCount"/>. The output does not depend on it.</param>
    /// <param name="leaveOpen">Leave <paramref name="output"/> open on dispose.</param>
    public ZstdCompressStream(Stream output, int level = DefaultLevel, int workers = -1, bool leaveOpen = false)
        : base(output, BufferSize, BufferSize, leaveOpen)
    {
        try
        {
            ZstdNative.EnsureAvailable();
            int min = ZstdNative.MinCLevel(), max = ZstdNative.MaxCLevel();
            if (level < min || level > max || level == 0)
                throw new ArgumentOutOfRangeException(nameof(level), level, $"The zstd level must be between {min} and {max}, and not 0.");
            if (workers == -1) workers = Environment.ProcessorCount;
            if (workers < 1)
                throw new ArgumentOutOfRangeException(nameof(workers), workers,
                    "At least one zstd worker is required (or -1 for one per processor): single-threaded mode (0) produces different bytes.");

            _context = ZstdNative.CreateCCtx();
            if (_context.IsInvalid) throw new InsufficientMemoryException("ZSTD_createCCtx failed to allocate a compression context.");
            ZstdNative.ThrowIfFailed(ZstdNative.CCtxSetParameter(_context, ZstdNative.CParameter.CompressionLevel, level), "ZSTD_CCtx_setParameter(compressionLevel)");
            ZstdNative.ThrowIfFailed(ZstdNative.CCtxSetParameter(_context, ZstdNative.CParameter.ChecksumFlag, 1), "ZSTD_CCtx_setParameter(checksumFlag)");
            var set = ZstdNative.CCtxSetParameter(_context, ZstdNative.CParameter.NbWorkers, workers);
            if (ZstdNative.Failed(set))
                throw new NotSupportedException(
                    $"{ZstdNative.LibraryName} rejected nbWorkers={workers} ({ZstdNative.ErrorName(set)}); it was built without multi-threading, " +
                    "which reproducible output needs. Use the Debian package " + ZstdNative.DebianPackage + ".");
            Level = level;
            Workers = workers;
        }
        catch
        {
            AbandonAfterFailedConstruction();
            throw;
        }
    }

    /// <summary>The compression level in use.</summary>
    public int Level { get; }

    /// <summary>The number of worker threads (≥ 1).</summary>
    public int Workers { get; }

    private protected override string FormatName => "zstd";

    private protected override bool Encode(ReadOnlySpan<byte> input, Span<byte> output, bool finish, out int consumed, out int produced)
    {
        fixed (byte* inPtr = input)
        fixed (byte* outPtr = output)
        {
            var inBuffer = new ZstdNative.InBuffer { Source = inPtr, Size = (nuint)input.Length };
            var outBuffer = new ZstdNative.OutBuffer { Destination = outPtr, Size = (nuint)output.Length };
            var remaining = ZstdNative.CompressStream2(_context, &outBuffer, &inBuffer,
                finish ? ZstdNative.EndDirective.End : ZstdNative.EndDirective.Continue);
            ZstdNative.ThrowIfFailed(remaining, "ZSTD_compressStream2");
            consumed = (int)inBuffer.Position;
            produced = (int)outBuffer.Position;
            return remaining == 0;
        }
    }

    private protected override void ReleaseEncoder() => _context?.Dispose();
}
