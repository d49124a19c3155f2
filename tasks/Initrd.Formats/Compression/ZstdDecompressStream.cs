namespace Initrd.Formats.Compression;

/// <summary>
/// Decompresses Zstandard data with the system's libzstd: one or more concatenated frames (skippable frames are
/// skipped), checksums verified when present. Corrupt, truncated or empty input, and trailing bytes that are not a
/// frame, throw <see cref="InvalidDataException"/> naming libzstd's error and the compressed offset reached.
/// Frames that need a window larger than 128 MiB (zstd's default limit, <c>--long=28</c> and above) are rejected.
/// </summary>
public sealed unsafe class ZstdDecompressStream : DecoderStream
{
    readonly ZstdDecompressionContextHandle _context;
    bool _betweenFrames;

    /// <param name="input">The compressed data, read in large chunks up to its end (bound it when other data follows).</param>
    /// <param name="leaveOpen">Leave <paramref name="input"/> open on dispose.</param>
    public ZstdDecompressStream(Stream input, bool leaveOpen = false)
        : base(input, 256 * 1024, leaveOpen)
    {
        try
        {
            ZstdNative.EnsureAvailable();
            _context = ZstdNative.CreateDCtx();
            if (_context.IsInvalid) throw new InsufficientMemoryException("ZSTD_createDCtx failed to allocate a decompression context.");
        }
        catch
        {
            AbandonAfterFailedConstruction();
            throw;
        }
    }

    private protected override string FormatName => "zstd";

    private protected override bool Decode(ReadOnlySpan<byte> input, Span<byte> output, bool inputEnded, out int consumed, out int produced)
    {
        if (inputEnded && input.IsEmpty && _betweenFrames)
        {
            consumed = produced = 0;
            return true;
        }
        nuint result;
        fixed (byte* inPtr = input)
        fixed (byte* outPtr = output)
        {
            var inBuffer = new ZstdNative.InBuffer { Source = inPtr, Size = (nuint)input.Length };
            var outBuffer = new ZstdNative.OutBuffer { Destination = outPtr, Size = (nuint)output.Length };
            result = ZstdNative.DecompressStream(_context, &outBuffer, &inBuffer);
            consumed = (int)inBuffer.Position;
            produced = (int)outBuffer.Position;
        }
        if (ZstdNative.Failed(result))
        {
            var name = ZstdNative.ErrorName(result);
            if (ZstdNative.GetErrorCode(result) == ZstdNative.ErrorMemoryAllocation)
                throw new InsufficientMemoryException($"ZSTD_decompressStream failed: {name}");
            throw new InvalidDataException(
                $"The zstd data is invalid: {name} (libzstd, while decoding compressed bytes from offset {BytesIn}).");
        }
        // 0: a frame has been decoded and fully flushed; the data may end here or another frame may follow.
        _betweenFrames = result == 0;
        return _betweenFrames && inputEnded && consumed == input.Length;
    }

    private protected override void ReleaseDecoder() => _context?.Dispose();
}
