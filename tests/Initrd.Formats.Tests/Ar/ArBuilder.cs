using System.Text;

namespace Initrd.Formats.Tests.Ar;

/// <summary>Writes ar archives byte by byte for tests, including deliberately broken headers.</summary>
public sealed class ArBuilder
{
    readonly MemoryStream _bytes = new();

    public ArBuilder(string magic = "!<arch>\n") => Raw(magic);

    /// <summary>Appends a member with a well-formed header (unless a field is overridden) and its padding.</summary>
    public ArBuilder Add(string name, byte[] data, string? size = null, string mtime = "1700000000", string uid = "0",
        string gid = "0", string mode = "100644", string terminator = "`\n", bool pad = true)
    {
        Raw(Field(name, 16) + Field(mtime, 12) + Field(uid, 6) + Field(gid, 6) + Field(mode, 8) +
            Field(size ?? data.Length.ToString(), 10) + terminator);
        _bytes.Write(data);
        if (pad && data.Length % 2 == 1) _bytes.WriteByte((byte)'\n');
        return this;
    }

    public ArBuilder Add(string name, string text, string? size = null, string mtime = "1700000000", string uid = "0",
        string gid = "0", string mode = "100644", string terminator = "`\n", bool pad = true) =>
        Add(name, Encoding.UTF8.GetBytes(text), size, mtime, uid, gid, mode, terminator, pad);

    public ArBuilder Raw(string text)
    {
        _bytes.Write(Encoding.ASCII.GetBytes(text));
        return this;
    }

    public byte[] ToArray() => _bytes.ToArray();

    static string Field(string value, int width) => value.Length >= width ? value[..width] : value.PadRight(width);
}

/// <summary>Hides seeking and length, like a pipe or a download.</summary>
public sealed class NonSeekableStream(Stream inner) : Stream
{
    public override bool CanRead => inner.CanRead;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, count);
    public override int Read(Span<byte> buffer) => inner.Read(buffer);
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing) inner.Dispose();
        base.Dispose(disposing);
    }
}
