namespace Initrd.Formats.Gpt;

/// <summary>The bytes a partition starts with: a length known up front, and a way to read them once.</summary>
public abstract class GptPartitionContent
{
    /// <summary>Number of bytes <see cref="Open"/> yields.</summary>
    public abstract long Length { get; }

    /// <summary>A stream positioned at the first byte. The writer disposes it after reading <see cref="Length"/> bytes.</summary>
    public abstract Stream Open();

    /// <summary>A file's content; its length is taken now, and checked again when it is copied.</summary>
    public static GptPartitionContent FromFile(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return new FileContent(Path.GetFullPath(path), new FileInfo(path).Length);
    }

    /// <summary>Bytes in memory (a signature partition, a small file system).</summary>
    public static GptPartitionContent FromBytes(ReadOnlyMemory<byte> bytes) => new BytesContent(bytes);

    /// <summary>
    /// <paramref name="length"/> bytes read from <paramref name="stream"/>'s current position. The stream is left open
    /// (the caller owns it) and read once, so the image can be written only once with this content.
    /// </summary>
    public static GptPartitionContent FromStream(Stream stream, long length)
    {
        ArgumentNullException.ThrowIfNull(stream);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (!stream.CanRead) throw new ArgumentException("the partition content stream is not readable", nameof(stream));
        return new StreamContent(stream, length);
    }

    sealed class FileContent(string path, long length) : GptPartitionContent
    {
        public override long Length => length;

        public override Stream Open()
        {
            var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
            if (stream.Length != length)
            {
                stream.Dispose();
                throw new InvalidDataException($"partition content '{path}' is now {stream.Length} bytes, but was {length} when the table was laid out; it changed while the image was written");
            }
            return stream;
        }

        public override string ToString() => path;
    }

    sealed class BytesContent(ReadOnlyMemory<byte> bytes) : GptPartitionContent
    {
        public override long Length => bytes.Length;

        public override Stream Open() =>
            System.Runtime.InteropServices.MemoryMarshal.TryGetArray(bytes, out var segment)
                ? new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false)
                : new MemoryStream(bytes.ToArray(), writable: false);

        public override string ToString() => $"{bytes.Length} bytes in memory";
    }

    sealed class StreamContent(Stream stream, long length) : GptPartitionContent
    {
        int _opened;

        public override long Length => length;

        public override Stream Open()
        {
            if (Interlocked.Exchange(ref _opened, 1) != 0)
                throw new InvalidOperationException("partition content from a stream can be read only once; use FromFile or FromBytes to write an image twice");
            return new NonClosingStream(stream);
        }

        public override string ToString() => $"{length} bytes from a stream";
    }

    /// <summary>Reads through to a stream the caller owns, without disposing it.</summary>
    sealed class NonClosingStream(Stream inner) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
        public override int Read(Span<byte> buffer) => inner.Read(buffer);
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
