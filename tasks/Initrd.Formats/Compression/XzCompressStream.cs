namespace Initrd.Formats.Compression;

/// <summary>
/// Compresses written data into one .xz stream with the system's liblzma (<c>lzma_easy_encoder</c>, LZMA2, single
/// threaded, hence deterministic). The integrity check is CRC32, the only check besides none that the Linux kernel's
/// xz decoder (initramfs, squashfs) accepts. Disposing finishes the stream. See <see cref="EncoderStream"/>.
/// </summary>
public sealed unsafe class XzCompressStream : EncoderStream
{
    /// <summary>xz's default preset, and this class's.</summary>
    public const int DefaultPreset = 6;

    const int BufferSize = 1 << 20;

    readonly LzmaStreamHandle _stream;

    /// <param name="output">Receives the .xz stream.</param>
    /// <param name="preset">The xz preset, 0 (fast) to 9 (small), as <c>xz -0</c> … <c>xz -9</c>.</param>
    /// <param name="extreme">Adds LZMA_PRESET_EXTREME, as <c>xz -e</c>.</param>
    /// <param name="leaveOpen">Leave <paramref name="output"/> open on dispose.</param>
    public XzCompressStream(Stream output, int preset = DefaultPreset, bool extreme = false, bool leaveOpen = false)
        : base(output, BufferSize, BufferSize, leaveOpen)
    {
        try
        {
            if (preset is < 0 or > 9) throw new ArgumentOutOfRangeException(nameof(preset), preset, "The xz preset must be between 0 and 9.");
            LzmaNative.EnsureAvailable();
            _stream = new LzmaStreamHandle();
            var flags = (uint)preset | (extreme ? LzmaNative.PresetExtreme : 0);
            var ret = LzmaNative.EasyEncoder(_stream, flags, LzmaNative.Check.Crc32);
            if (ret == LzmaNative.Ret.MemError) throw new InsufficientMemoryException($"lzma_easy_encoder failed: {LzmaNative.Describe(ret)}");
            if (ret != LzmaNative.Ret.Ok) throw new IOException($"lzma_easy_encoder(preset {preset}) failed: {LzmaNative.Describe(ret)}");
            Preset = preset;
            Extreme = extreme;
        }
        catch
        {
            AbandonAfterFailedConstruction();
            throw;
        }
    }

    public int Preset { get; }

    public bool Extreme { get; }

    private protected override string FormatName => "xz";

    private protected override bool Encode(ReadOnlySpan<byte> input, Span<byte> output, bool finish, out int consumed, out int produced)
    {
        var ret = LzmaNative.Code(_stream, input, output, finish ? LzmaNative.Action.Finish : LzmaNative.Action.Run, out consumed, out produced);
        switch (ret)
        {
            case LzmaNative.Ret.Ok:
                return false;
            case LzmaNative.Ret.StreamEnd:
                return true;
            case LzmaNative.Ret.MemError:
                throw new InsufficientMemoryException($"lzma_code failed: {LzmaNative.Describe(ret)}");
            default:
                throw new IOException($"xz compression failed: lzma_code returned {LzmaNative.Describe(ret)}");
        }
    }

    private protected override void ReleaseEncoder() => _stream?.Dispose();
}
