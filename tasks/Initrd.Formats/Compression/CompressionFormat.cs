using System.Buffers.Binary;
using System.IO.Compression;

namespace Initrd.Formats.Compression;

/// <summary>The stream compressions this project reads and writes.</summary>
public enum CompressionFormat
{
    None,
    Gzip,
    Xz,
    Zstd,
}

/// <summary>
/// Opens compressing and decompressing streams by <see cref="CompressionFormat"/>, and recognises a format by its
/// magic bytes or by a file-name suffix. (Not named <c>Compression</c>: inside <c>Initrd.Formats.*</c> that name
/// resolves to this namespace.)
/// </summary>
public static class CompressionStreams
{
    /// <summary>How many leading bytes <see cref="Detect"/> looks at; fewer are fine, but may detect less.</summary>
    public const int MagicLength = 6;

    /// <summary>
    /// A decompressing view of <paramref name="input"/>; for <see cref="CompressionFormat.None"/> the data as is.
    /// Corrupt data throws <see cref="InvalidDataException"/>. Caveat: the BCL's <see cref="GZipStream"/> reports
    /// gzip data that is cut short as a normal end of data (dotnet/runtime reverted its truncation check); xz and zstd
    /// report truncation. Bound or hash gzip input when completeness matters (a .deb's ar layer does).
    /// </summary>
    public static Stream OpenRead(Stream input, CompressionFormat format, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(input);
        return format switch
        {
            CompressionFormat.None => leaveOpen ? new NonClosingStream(input) : input,
            CompressionFormat.Gzip => new GZipStream(input, CompressionMode.Decompress, leaveOpen),
            CompressionFormat.Xz => new XzDecompressStream(input, leaveOpen),
            CompressionFormat.Zstd => new ZstdDecompressStream(input, leaveOpen),
            _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
        };
    }

    /// <summary>
    /// A compressing stream writing into <paramref name="output"/>; dispose it to finish the data. The level means:
    /// gzip 0–9 (zlib), xz preset 0–9, zstd its level (1–22, negative for faster); ignored for
    /// <see cref="CompressionFormat.None"/>. Output is reproducible for all formats (zstd: see
    /// <see cref="ZstdCompressStream"/>; xz checks with CRC32, see <see cref="XzCompressStream"/>).
    /// </summary>
    public static Stream OpenWrite(Stream output, CompressionFormat format, int level, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        switch (format)
        {
            case CompressionFormat.None:
                return leaveOpen ? new NonClosingStream(output) : output;
            case CompressionFormat.Gzip:
                if (level is < 0 or > 9) throw new ArgumentOutOfRangeException(nameof(level), level, "The gzip level must be between 0 and 9.");
                return new GZipStream(output, new ZLibCompressionOptions { CompressionLevel = level }, leaveOpen);
            case CompressionFormat.Xz:
                return new XzCompressStream(output, level, leaveOpen: leaveOpen);
            case CompressionFormat.Zstd:
                return new ZstdCompressStream(output, level, leaveOpen: leaveOpen);
            default:
                throw new ArgumentOutOfRangeException(nameof(format), format, null);
        }
    }

    /// <summary>The level each format's own command-line tool uses by default (gzip 6, xz 6, zstd 3; 0 for none).</summary>
    public static int DefaultLevel(CompressionFormat format) => format switch
    {
        CompressionFormat.None => 0,
        CompressionFormat.Gzip => 6,
        CompressionFormat.Xz => XzCompressStream.DefaultPreset,
        CompressionFormat.Zstd => ZstdCompressStream.DefaultLevel,
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
    };

    /// <summary>
    /// The format whose magic number <paramref name="header"/> starts with (give it <see cref="MagicLength"/> bytes):
    /// gzip <c>1F 8B</c>, xz <c>FD 37 7A 58 5A 00</c>, zstd frame <c>28 B5 2F FD</c> or skippable frame
    /// <c>5? 2A 4D 18</c>; <see cref="CompressionFormat.None"/> otherwise.
    /// </summary>
    public static CompressionFormat Detect(ReadOnlySpan<byte> header)
    {
        if (header.StartsWith((ReadOnlySpan<byte>)[0xFD, (byte)'7', (byte)'z', (byte)'X', (byte)'Z', 0x00])) return CompressionFormat.Xz;
        if (header.Length >= 4)
        {
            var magic = BinaryPrimitives.ReadUInt32LittleEndian(header);
            if (magic == 0xFD2FB528u || (magic & 0xFFFFFFF0u) == 0x184D2A50u) return CompressionFormat.Zstd;
        }
        if (header.StartsWith((ReadOnlySpan<byte>)[0x1F, 0x8B])) return CompressionFormat.Gzip;
        return CompressionFormat.None;
    }

    /// <summary>
    /// The format a file name's suffix names: <c>.gz</c>, <c>.xz</c>, <c>.zst</c>; <see cref="CompressionFormat.None"/>
    /// for a name without a compression suffix (<c>data.tar</c>); null for a compression this project does not read
    /// (<c>.bz2</c>, <c>.lzma</c>, <c>.lz4</c>, <c>.lz</c>, <c>.Z</c>). Suffixes are case-sensitive, as dpkg's are.
    /// </summary>
    public static CompressionFormat? FromFileName(string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        var dot = fileName.LastIndexOf('.');
        var slash = fileName.LastIndexOf('/');
        if (dot < 0 || dot < slash) return CompressionFormat.None;
        return fileName.AsSpan(dot) switch
        {
            ".gz" => CompressionFormat.Gzip,
            ".xz" => CompressionFormat.Xz,
            ".zst" => CompressionFormat.Zstd,
            ".bz2" or ".lzma" or ".lz4" or ".lz" or ".Z" => null,
            _ => CompressionFormat.None,
        };
    }

    /// <summary>The file-name suffix of a format: "", ".gz", ".xz", ".zst".</summary>
    public static string FileSuffix(CompressionFormat format) => format switch
    {
        CompressionFormat.None => "",
        CompressionFormat.Gzip => ".gz",
        CompressionFormat.Xz => ".xz",
        CompressionFormat.Zstd => ".zst",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
    };

    /// <summary>Forwards everything to an inner stream except disposal (for <see cref="CompressionFormat.None"/> with leaveOpen).</summary>
    sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => inner.CanRead;
        public override bool CanSeek => inner.CanSeek;
        public override bool CanWrite => inner.CanWrite;
        public override long Length => inner.Length;
        public override long Position { get => inner.Position; set => inner.Position = value; }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) => inner.ReadAsync(buffer, cancellationToken);
        public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.ReadAsync(buffer, offset, count, cancellationToken);
        public override int ReadByte() => inner.ReadByte();
        public override long Seek(long offset, SeekOrigin origin) => inner.Seek(offset, origin);
        public override void SetLength(long value) => inner.SetLength(value);
        public override void Write(byte[] buffer, int offset, int count) => inner.Write(buffer, offset, count);
        public override void Write(ReadOnlySpan<byte> buffer) => inner.Write(buffer);
        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) => inner.WriteAsync(buffer, cancellationToken);
        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) => inner.WriteAsync(buffer, offset, count, cancellationToken);
        public override void WriteByte(byte value) => inner.WriteByte(value);
    }
}
