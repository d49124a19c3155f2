namespace Initrd.Formats.Compression;

/// <summary>
/// Decompresses .xz data with the system's liblzma (<c>lzma_stream_decoder</c> with LZMA_CONCATENATED and no memory
/// limit): one or more concatenated .xz streams, with stream padding, integrity checks verified. Corrupt, truncated
/// or empty input throws <see cref="InvalidDataException"/> naming liblzma's error and the compressed offset reached.
/// </summary>
public sealed unsafe class XzDecompressStream : DecoderStream
{
    readonly LzmaStreamHandle _stream;

    /// <param name="input">The compressed data, read in large chunks up to its end (bound it when other data follows).</param>
    /// <param name="leaveOpen">Leave <paramref name="input"/> open on dispose.</param>
    public XzDecompressStream(Stream input, bool leaveOpen = false)
        : base(input, 256 * 1024, leaveOpen)
    {
        try
        {
            LzmaNative.EnsureAvailable();
            _stream = new LzmaStreamHandle();
            var ret = LzmaNative.StreamDecoder(_stream, ulong.MaxValue, LzmaNative.Concatenated);
            if (ret == LzmaNative.Ret.MemError) throw new InsufficientMemoryException($"lzma_stream_decoder failed: {LzmaNative.Describe(ret)}");
            if (ret != LzmaNative.Ret.Ok) throw new IOException($"lzma_stream_decoder failed: {LzmaNative.Describe(ret)}");
        }
        catch
        {
            AbandonAfterFailedConstruction();
            throw;
        }
    }

    private protected override string FormatName => "xz";

    private protected override bool Decode(ReadOnlySpan<byte> input, Span<byte> output, bool inputEnded, out int consumed, out int produced)
    {
        // With LZMA_CONCATENATED the decoder reports the end only when told that no more input follows.
        var ret = LzmaNative.Code(_stream, input, output, inputEnded ? LzmaNative.Action.Finish : LzmaNative.Action.Run, out consumed, out produced);
        switch (ret)
        {
            case LzmaNative.Ret.Ok:
                return false;
            case LzmaNative.Ret.StreamEnd:
                return true;
            case LzmaNative.Ret.MemError:
                throw new InsufficientMemoryException($"lzma_code failed: {LzmaNative.Describe(ret)}");
            case LzmaNative.Ret.BufError:
                throw new InvalidDataException(
                    $"The xz data is truncated: {LzmaNative.Describe(ret)} after {BytesIn + consumed} compressed bytes.");
            default:
                throw new InvalidDataException(
                    $"The xz data is invalid: {LzmaNative.Describe(ret)} (liblzma, while decoding compressed bytes from offset {BytesIn}).");
        }
    }

    private protected override void ReleaseDecoder() => _stream?.Dispose();
}
