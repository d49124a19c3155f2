namespace Initrd.Formats.Ar;

/// <summary>
/// One member of an ar archive, as returned by <see cref="ArArchive.GetNextEntry"/>. Its <see cref="DataStream"/> is
/// valid until the next call to <see cref="ArArchive.GetNextEntry"/> or until the archive is disposed.
/// </summary>
public sealed class ArEntry
{
    internal ArEntry(ArArchive archive, int index, string name, long headerOffset, long dataOffset, long length,
        long modificationTime, int uid, int gid, int mode)
    {
        Index = index;
        Name = name;
        HeaderOffset = headerOffset;
        DataOffset = dataOffset;
        Length = length;
        ModificationTime = modificationTime;
        Uid = uid;
        Gid = gid;
        Mode = mode;
        DataStream = new ArMemberStream(archive, this);
    }

    /// <summary>Position of the member in the archive, counting from 0 and including GNU symbol and name tables.</summary>
    public int Index { get; }

    /// <summary>The member name, without GNU's trailing '/' and with long names resolved.</summary>
    public string Name { get; }

    /// <summary>Offset of the member's header from the start of the archive (its magic).</summary>
    public long HeaderOffset { get; }

    /// <summary>Offset of the member's data from the start of the archive.</summary>
    public long DataOffset { get; }

    /// <summary>Length of the member's data in bytes (without a BSD long name stored in front of it).</summary>
    public long Length { get; }

    /// <summary>Modification time, seconds since the Unix epoch (0 when the field is blank).</summary>
    public long ModificationTime { get; }

    public int Uid { get; }

    public int Gid { get; }

    /// <summary>The st_mode stored in the header (octal field), e.g. 0100644; 0 when blank.</summary>
    public int Mode { get; }

    /// <summary>The member's data: read-only, forward-only, exactly <see cref="Length"/> bytes.</summary>
    public Stream DataStream { get; }

    public override string ToString() => $"#{Index} {Name} ({Length} bytes at offset {DataOffset})";
}

/// <summary>Reads one member's data through its archive, which enforces the bounds and notices truncation.</summary>
sealed class ArMemberStream(ArArchive archive, ArEntry entry) : Stream
{
    public override bool CanRead => true;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => entry.Length;
    public override long Position { get => archive.MemberPosition(entry); set => throw new NotSupportedException(); }
    public override void Flush() { }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return archive.ReadMemberData(entry, buffer.AsSpan(offset, count));
    }

    public override int Read(Span<byte> buffer) => archive.ReadMemberData(entry, buffer);

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return archive.ReadMemberData(entry, one) == 1 ? one[0] : -1;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return archive.ReadMemberDataAsync(entry, buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        archive.ReadMemberDataAsync(entry, buffer, cancellationToken);
}
