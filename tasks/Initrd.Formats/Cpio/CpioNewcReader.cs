using System.Globalization;
using System.Text;
using Initrd.Formats.Compression;
using Initrd.Formats.Tree;

namespace Initrd.Formats.Cpio;

/// <summary>One member of a newc archive; <see cref="Content"/> is filled only for the members the caller asked for.</summary>
public sealed record CpioMember(string Path, int Mode, long Size, string? LinkTarget, byte[]? Content)
{
    public bool IsRegularFile => (Mode & 0xF000) == 0x8000;

    public bool IsSymlink => (Mode & 0xF000) == 0xA000;

    /// <summary>The member as a tree entry (directories, regular files, symlinks), for path lookups; null for other kinds.</summary>
    public TreeEntry? ToTreeEntry()
    {
        TreeEntryKind? kind = (Mode & 0xF000) switch
        {
            0x4000 => TreeEntryKind.Directory,
            0x8000 => TreeEntryKind.RegularFile,
            0xA000 => TreeEntryKind.Symlink,
            _ => null,
        };
        return kind is { } k ? new TreeEntry { Path = Path, Kind = k, Permissions = Mode & 0xFFF, Size = Size, LinkTarget = LinkTarget } : null;
    }
}

/// <summary>
/// Reads an initrd the way the kernel unpacks it: one or more newc ("070701") archives, each uncompressed or
/// compressed (zstd, xz, gzip), one after another with zero padding between them (an early-microcode archive first,
/// then the compressed main archive, as initrds are usually made). Streaming: only the contents asked for are kept.
/// </summary>
public static class CpioNewcReader
{
    const string Trailer = "TRAILER!!!";

    /// <summary>Every member of every archive in the file, in order; paths without a leading "./" or "/".</summary>
    /// <param name="wantContent">Which regular files to return the contents of (by normalized path).</param>
    /// <param name="maxContentLength">Larger wanted files are returned without content.</param>
    public static List<CpioMember> ReadAll(Stream input, Func<string, bool>? wantContent = null, int maxContentLength = 1 << 20)
    {
        var members = new List<CpioMember>();
        var peek = new PeekStream(input, ownsInner: false);
        while (true)
        {
            SkipZeros(peek);
            var magic = peek.Peek(CompressionStreams.MagicLength);
            if (magic.Length == 0) return members;
            var format = CompressionStreams.Detect(magic);
            if (format == CompressionFormat.None)
            {
                if (Encoding.ASCII.GetString(magic) != NewcLayout.Magic)
                    throw new InvalidDataException("not a newc cpio archive (no 070701 magic) and not zstd, xz or gzip data");
                ReadArchive(peek, members, wantContent, maxContentLength);
                continue;
            }
            // A compressed segment runs to the end of the file (what follows a compressed stream is not reachable
            // without its length); it may itself hold several archives.
            using var decompressed = new PeekStream(CompressionStreams.OpenRead(peek, format, leaveOpen: true), ownsInner: true);
            while (true)
            {
                SkipZeros(decompressed);
                if (decompressed.Peek(1).Length == 0) return members;
                ReadArchive(decompressed, members, wantContent, maxContentLength);
            }
        }
    }

    static void ReadArchive(PeekStream input, List<CpioMember> members, Func<string, bool>? wantContent, int maxContentLength)
    {
        var header = new byte[NewcLayout.HeaderLength];
        while (true)
        {
            input.ReadExactlyOrThrow(header, "a cpio header");
            if (Encoding.ASCII.GetString(header, 0, NewcLayout.MagicLength) != NewcLayout.Magic)
                throw new InvalidDataException("a cpio header does not start with 070701");
            var mode = (int)Field(header, NewcLayout.ModeOffset);
            var size = Field(header, NewcLayout.FileSizeOffset);
            var nameSize = (int)Field(header, NewcLayout.NameSizeOffset);
            if (nameSize is <= 0 or > 4096) throw new InvalidDataException($"a cpio name size of {nameSize} bytes");
            var nameBytes = new byte[nameSize];
            input.ReadExactlyOrThrow(nameBytes, "a cpio name");
            input.Skip(Pad(NewcLayout.HeaderLength + nameSize));
            var name = Encoding.UTF8.GetString(nameBytes, 0, nameSize - 1);
            if (name == Trailer) return;
            var path = name.StartsWith("./", StringComparison.Ordinal) ? name[2..] : name.TrimStart('/');

            byte[]? content = null;
            string? linkTarget = null;
            var isLink = (mode & 0xF000) == 0xA000;
            var isFile = (mode & 0xF000) == 0x8000;
            if ((isLink && size <= 4096) || (isFile && size <= maxContentLength && wantContent?.Invoke(path) == true))
            {
                content = new byte[size];
                input.ReadExactlyOrThrow(content, $"the data of {path}");
                if (isLink)
                {
                    linkTarget = Encoding.UTF8.GetString(content);
                    content = null;
                }
            }
            else input.Skip(size);
            input.Skip(Pad(size));
            members.Add(new CpioMember(path, mode, size, linkTarget, content));
        }
    }

    static long Field(byte[] header, int offset) =>
        long.Parse(Encoding.ASCII.GetString(header, offset, NewcLayout.FieldLength), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture);

    static int Pad(long length) => (int)((4 - length % 4) % 4);

    static void SkipZeros(PeekStream input)
    {
        while (input.Peek(1) is [0]) input.Skip(1);
    }

    /// <summary>A forward-only stream with a small look-ahead buffer; disposes <paramref name="inner"/> only when it owns it.</summary>
    sealed class PeekStream(Stream inner, bool ownsInner) : Stream
    {
        readonly byte[] _buffer = new byte[1 << 16];
        int _start, _end;

        public ReadOnlySpan<byte> Peek(int count)
        {
            if (_end - _start < count)
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
                while (_end < count)
                {
                    var n = inner.Read(_buffer, _end, _buffer.Length - _end);
                    if (n == 0) break;
                    _end += n;
                }
            }
            return _buffer.AsSpan(_start, Math.Min(count, _end - _start));
        }

        public override int Read(byte[] buffer, int offset, int count) => Read(buffer.AsSpan(offset, count));

        public override int Read(Span<byte> destination)
        {
            if (_start < _end)
            {
                var n = Math.Min(destination.Length, _end - _start);
                _buffer.AsSpan(_start, n).CopyTo(destination);
                _start += n;
                return n;
            }
            return inner.Read(destination);
        }

        public void ReadExactlyOrThrow(Span<byte> destination, string what)
        {
            var done = 0;
            while (done < destination.Length)
            {
                var n = Read(destination[done..]);
                if (n == 0) throw new InvalidDataException($"the archive ends inside {what}");
                done += n;
            }
        }

        public void Skip(long count)
        {
            Span<byte> scratch = stackalloc byte[4096];
            while (count > 0)
            {
                var n = Read(scratch[..(int)Math.Min(count, scratch.Length)]);
                if (n == 0) throw new InvalidDataException("the archive ends inside a member's data");
                count -= n;
            }
        }

        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing && ownsInner) inner.Dispose();
            base.Dispose(disposing);
        }
    }
}
