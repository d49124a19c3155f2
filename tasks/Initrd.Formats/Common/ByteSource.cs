using Microsoft.Win32.SafeHandles;

namespace Initrd.Formats.Common;

/// <summary>
/// Bytes read at offsets: held in memory, a file's, or a seekable stream's. Writers take their large inputs this way so
/// that a kernel or an initrd goes from the page cache to the output through one reused buffer, never whole in
/// memory. Reads may come from several threads at once. Disposing releases what the source opened (a file handle),
/// never a stream or handle it was given.
/// </summary>
public abstract class ByteSource : IDisposable
{
    /// <summary>Number of bytes.</summary>
    public abstract long Length { get; }

    /// <summary>Fills <paramref name="destination"/> with the bytes from <paramref name="offset"/> on.</summary>
    /// <exception cref="IOException">A file is now shorter than when it was opened.</exception>
    public abstract void ReadAt(long offset, Span<byte> destination);

    /// <summary>The first <paramref name="count"/> bytes (fewer when shorter).</summary>
    public byte[] ReadHead(int count)
    {
        var head = new byte[(int)Math.Min(count, Length)];
        ReadAt(0, head);
        return head;
    }

    /// <summary>All bytes in one array (for small sections).</summary>
    public byte[] ToArray() => ReadHead(checked((int)Length));

    public virtual void Dispose() => GC.SuppressFinalize(this);

    public static implicit operator ByteSource(ReadOnlyMemory<byte> bytes) => new Bytes(bytes);

    public static implicit operator ByteSource(byte[] bytes) => new Bytes(bytes);

    /// <summary>The file's bytes; the file is opened here (and must exist) and read when asked.</summary>
    public static ByteSource FromFile(string path) => new FileData(path);

    /// <summary>
    /// A readable, seekable stream's bytes, up to its length now. A file stream is flushed and then read through its
    /// handle (its position stays); another stream's position is moved. The stream is not disposed.
    /// </summary>
    public static ByteSource FromStream(Stream stream)
    {
        switch (stream)
        {
            case FileStream file:
                file.Flush();
                return new FileData(file.SafeFileHandle, file.Name);
            case MemoryStream memory when memory.TryGetBuffer(out var buffer):
                return new Bytes(buffer.AsMemory(0, (int)memory.Length));
            default:
                return new StreamData(stream);
        }
    }

    /// <summary>Reads <paramref name="count"/> bytes from <paramref name="offset"/> on in pieces of at most <paramref name="buffer"/>'s length.</summary>
    public void ForEachChunk(long offset, long count, byte[] buffer, Action<ReadOnlySpan<byte>, long> chunk)
    {
        while (count > 0)
        {
            var n = (int)Math.Min(count, buffer.Length);
            ReadAt(offset, buffer.AsSpan(0, n));
            chunk(buffer.AsSpan(0, n), offset);
            offset += n;
            count -= n;
        }
    }

    /// <summary>
    /// The parts one after another, each followed by zeros up to a multiple of <paramref name="alignment"/> (initrds
    /// joined into one <c>.initrd</c>, each padded to 4 bytes); a single part as it is. The parts stay the caller's
    /// to dispose.
    /// </summary>
    public static ByteSource Concatenate(IReadOnlyList<ByteSource> parts, int alignment) =>
        parts.Count == 1 ? parts[0] : new Joined(parts, alignment);

    sealed class Bytes(ReadOnlyMemory<byte> bytes) : ByteSource
    {
        public override long Length => bytes.Length;

        public override void ReadAt(long offset, Span<byte> destination) => bytes.Span.Slice((int)offset, destination.Length).CopyTo(destination);
    }

    sealed class FileData : ByteSource
    {
        readonly SafeFileHandle _handle;
        readonly string _path;
        readonly bool _ownsHandle;

        public FileData(string path) : this(File.OpenHandle(path), path) => _ownsHandle = true;

        public FileData(SafeFileHandle handle, string path)
        {
            _handle = handle;
            _path = path;
            Length = RandomAccess.GetLength(handle);
        }

        public override long Length { get; }

        public override void ReadAt(long offset, Span<byte> destination)
        {
            while (destination.Length > 0)
            {
                var n = RandomAccess.Read(_handle, destination, offset);
                if (n == 0)
                    throw new IOException($"'{_path}' became shorter while it was read (it was {Length} bytes; nothing at offset {offset}). Rebuild once nothing writes to it.");
                destination = destination[n..];
                offset += n;
            }
        }

        public override void Dispose()
        {
            if (_ownsHandle) _handle.Dispose();
            base.Dispose();
        }
    }

    sealed class StreamData(Stream stream) : ByteSource
    {
        public override long Length { get; } = stream.Length;

        public override void ReadAt(long offset, Span<byte> destination)
        {
            lock (stream)
            {
                stream.Position = offset;
                stream.ReadExactly(destination);
            }
        }
    }

    sealed class Joined : ByteSource
    {
        readonly IReadOnlyList<ByteSource> _parts;
        readonly long[] _starts;

        public Joined(IReadOnlyList<ByteSource> parts, int alignment)
        {
            _parts = parts;
            _starts = new long[parts.Count + 1];
            for (var i = 0; i < parts.Count; i++)
                _starts[i + 1] = _starts[i] + (parts[i].Length + alignment - 1) / alignment * alignment;
        }

        public override long Length => _starts[^1];

        public override void ReadAt(long offset, Span<byte> destination)
        {
            var i = Array.BinarySearch(_starts, offset);
            if (i < 0) i = ~i - 1;
            while (destination.Length > 0)
            {
                var within = offset - _starts[i];
                var room = (int)Math.Min(destination.Length, _starts[i + 1] - offset);
                var data = (int)Math.Clamp(_parts[i].Length - within, 0, room);
                if (data > 0) _parts[i].ReadAt(within, destination[..data]);
                destination[data..room].Clear();
                destination = destination[room..];
                offset += room;
                i++;
            }
        }

    }
}
