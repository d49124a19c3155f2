using System.Buffers;
using System.Text;

namespace Initrd.Formats.Ar;

/// <summary>
/// Reads an ar archive (the container of a .deb) member by member, forward only, from any readable stream; on a
/// seekable stream it skips unread data by seeking and checks member sizes against the stream's length up front.
/// See <see cref="ArLayout"/> for the format. GNU long names ("//" table, "/N" references) and BSD long names
/// ("#1/N") are resolved; GNU symbol tables are skipped. Format errors throw <see cref="InvalidDataException"/>
/// naming the member index, the field, its value and the byte offset.
/// </summary>
public sealed class ArArchive : IDisposable
{
    /// <summary>Upper bound for a GNU long-name table kept in memory.</summary>
    const int MaxLongNameTableLength = 16 << 20;

    /// <summary>Upper bound for a BSD long name.</summary>
    const int MaxBsdNameLength = 4096;

    readonly Stream _stream;
    readonly bool _leaveOpen;
    /// <summary>The archive's length when the stream is seekable, else -1.</summary>
    readonly long _length;
    long _position;
    int _nextIndex;
    ArEntry? _current;
    /// <summary>The member whose data is being read or skipped (also GNU tables), for bounds and messages.</summary>
    MemberInfo _member = MemberInfo.None;
    long _remaining;
    byte[]? _longNames;
    bool _ended;
    bool _disposed;

    /// <summary>Reads and checks the archive's magic at the stream's current position.</summary>
    public ArArchive(Stream stream, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(stream);
        if (!stream.CanRead) throw new ArgumentException("The stream is not readable.", nameof(stream));
        _stream = stream;
        _leaveOpen = leaveOpen;
        _length = stream.CanSeek ? stream.Length - stream.Position : -1;

        Span<byte> magic = stackalloc byte[ArLayout.MagicLength];
        var n = ReadFully(magic);
        if (n < magic.Length)
            throw new InvalidDataException(
                $"Not an ar archive: it is {n} bytes long, shorter than the {ArLayout.MagicLength}-byte magic \"!<arch>\\n\".");
        if (magic.SequenceEqual(ArLayout.ThinMagic))
            throw new InvalidDataException("A GNU thin ar archive (magic \"!<thin>\\n\" at offset 0) keeps its members in other files; it cannot be read as a stream.");
        if (!magic.SequenceEqual(ArLayout.Magic))
            throw new InvalidDataException($"Not an ar archive: the magic at offset 0 is {Quote(magic)}, expected \"!<arch>\\n\".");
    }

    /// <summary>Offset from the start of the archive of the next byte this reader will consume.</summary>
    public long Position => _position;

    /// <summary>
    /// Moves to the next member, skipping what is left of the current one, and returns it; null at the end of the
    /// archive. The previous entry's <see cref="ArEntry.DataStream"/> stops working.
    /// </summary>
    public ArEntry? GetNextEntry()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_ended) return null;
        SkipCurrent();

        Span<byte> header = stackalloc byte[ArLayout.HeaderLength];
        while (true)
        {
            var headerOffset = _position;
            var index = _nextIndex;
            var n = ReadFully(header);
            if (n == 0)
            {
                _ended = true;
                return null;
            }
            if (n < header.Length)
                throw new InvalidDataException(
                    $"ar member #{index}: the archive ends inside its header at offset {headerOffset} ({n} of {ArLayout.HeaderLength} bytes present).");
            _nextIndex++;

            var terminator = header.Slice(ArLayout.TerminatorOffset, ArLayout.TerminatorLength);
            if (!terminator.SequenceEqual(ArLayout.Terminator))
                throw FieldError(index, headerOffset, "terminator", ArLayout.TerminatorOffset, terminator, "\"`\\n\"");

            var rawName = Field(header, ArLayout.NameOffset, ArLayout.NameLength);
            var size = ParseNumber(header, index, headerOffset, "size", ArLayout.SizeOffset, ArLayout.SizeLength, 10, allowBlank: false);
            var mtime = ParseNumber(header, index, headerOffset, "mtime", ArLayout.ModificationTimeOffset, ArLayout.ModificationTimeLength, 10, allowBlank: true);
            var uid = ParseNumber(header, index, headerOffset, "uid", ArLayout.UidOffset, ArLayout.UidLength, 10, allowBlank: true);
            var gid = ParseNumber(header, index, headerOffset, "gid", ArLayout.GidOffset, ArLayout.GidLength, 10, allowBlank: true);
            var mode = ParseNumber(header, index, headerOffset, "mode", ArLayout.ModeOffset, ArLayout.ModeLength, 8, allowBlank: true);

            var dataOffset = _position;
            if (_length >= 0 && size > _length - dataOffset)
                throw new InvalidDataException(
                    $"ar member #{index} ({Quote(rawName)}, header at offset {headerOffset}): field 'size' is {size}, " +
                    $"but only {_length - dataOffset} bytes follow its header at offset {dataOffset} (the archive is {_length} bytes).");

            var name = Encoding.UTF8.GetString(rawName);
            _current = null;
            _remaining = size;
            _member = new MemberInfo(index, name, dataOffset, size);

            if (name is ArLayout.GnuSymbolTableName or ArLayout.GnuSymbolTable64Name)
            {
                SkipCurrent();
                continue;
            }
            if (name == ArLayout.GnuLongNameTableName)
            {
                if (size > MaxLongNameTableLength)
                    throw new InvalidDataException(
                        $"ar member #{index} (GNU long-name table, header at offset {headerOffset}): field 'size' is {size}, more than the {MaxLongNameTableLength} bytes accepted.");
                var table = new byte[size];
                ReadDataFully(table);
                _longNames = table;
                SkipCurrent();
                continue;
            }

            if (name.StartsWith(ArLayout.BsdLongNamePrefix, StringComparison.Ordinal))
            {
                var lengthText = name[ArLayout.BsdLongNamePrefix.Length..];
                if (!int.TryParse(lengthText, System.Globalization.NumberStyles.None, null, out var nameLength) || nameLength > MaxBsdNameLength || nameLength > size)
                    throw FieldError(index, headerOffset, "name", ArLayout.NameOffset, rawName,
                        $"a BSD long-name length of at most {Math.Min(size, MaxBsdNameLength)} bytes");
                var nameBytes = new byte[nameLength];
                ReadDataFully(nameBytes);
                name = Encoding.UTF8.GetString(nameBytes).TrimEnd('\0');
                dataOffset += nameLength;
                size -= nameLength;
            }
            else if (name.Length > 1 && name[0] == '/' && IsDigits(name.AsSpan(1)))
            {
                name = LongName(index, headerOffset, rawName, name);
            }
            else if (name.Length > 1 && name[^1] == '/')
            {
                name = name[..^1];
            }
            if (name.Length == 0 || name.Contains('\0'))
                throw FieldError(index, headerOffset, "name", ArLayout.NameOffset, rawName, "a member name");

            var entry = new ArEntry(this, index, name, headerOffset, dataOffset, size, mtime, (int)uid, (int)gid, (int)mode);
            _current = entry;
            _member = new MemberInfo(index, name, dataOffset, size);
            return entry;
        }
    }

    /// <summary>Reads the current member's data into <paramref name="destination"/> (at most what is left of it).</summary>
    internal int ReadMemberData(ArEntry entry, Span<byte> destination)
    {
        CheckCurrent(entry);
        return ReadData(destination);
    }

    internal async ValueTask<int> ReadMemberDataAsync(ArEntry entry, Memory<byte> destination, CancellationToken cancellationToken)
    {
        CheckCurrent(entry);
        if (_remaining == 0 || destination.IsEmpty) return 0;
        if (destination.Length > _remaining) destination = destination[..(int)_remaining];
        var n = await _stream.ReadAsync(destination, cancellationToken).ConfigureAwait(false);
        return Advance(n);
    }

    internal long MemberPosition(ArEntry entry)
    {
        CheckCurrent(entry);
        return entry.Length - _remaining;
    }

    int ReadData(Span<byte> destination)
    {
        if (_remaining == 0 || destination.IsEmpty) return 0;
        if (destination.Length > _remaining) destination = destination[..(int)_remaining];
        return Advance(_stream.Read(destination));
    }

    void ReadDataFully(Span<byte> destination)
    {
        while (!destination.IsEmpty)
            destination = destination[ReadData(destination)..];
    }

    int Advance(int n)
    {
        if (n == 0)
            throw new InvalidDataException(
                $"ar member #{_member.Index} ('{_member.Name}', data at offset {_member.DataOffset}): the archive ends at offset {_position}, " +
                $"{_remaining} of the {_member.Length} bytes of field 'size' are missing.");
        _remaining -= n;
        _position += n;
        return n;
    }

    void CheckCurrent(ArEntry entry)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (!ReferenceEquals(entry, _current))
            throw new InvalidOperationException(
                $"The data of ar member #{entry.Index} ('{entry.Name}') can no longer be read: the archive has moved past it.");
    }

    /// <summary>Skips the rest of the current member's data and its padding byte.</summary>
    void SkipCurrent()
    {
        if (_remaining > 0)
        {
            if (_stream.CanSeek)
            {
                // The size was checked against the stream's length when the header was read.
                _stream.Seek(_remaining, SeekOrigin.Current);
                _position += _remaining;
                _remaining = 0;
            }
            else
            {
                var scratch = ArrayPool<byte>.Shared.Rent(81920);
                try
                {
                    while (_remaining > 0)
                        ReadData(scratch);
                }
                finally
                {
                    ArrayPool<byte>.Shared.Return(scratch);
                }
            }
        }
        _current = null;
        if (_member.Index < 0) return;
        _member = MemberInfo.None;
        if ((_position & (ArLayout.Alignment - 1)) != 0)
        {
            // One padding byte ('\n'); an archive that ends right after odd-sized data is tolerated, as by GNU ar.
            Span<byte> pad = stackalloc byte[1];
            _position += _stream.Read(pad);
        }
    }

    string LongName(int index, long headerOffset, ReadOnlySpan<byte> rawName, string name)
    {
        if (_longNames is null)
            throw FieldError(index, headerOffset, "name", ArLayout.NameOffset, rawName, "a plain name (the archive has no GNU long-name table \"//\" before this member)");
        if (!int.TryParse(name.AsSpan(1), System.Globalization.NumberStyles.None, null, out var offset) || offset >= _longNames.Length)
            throw FieldError(index, headerOffset, "name", ArLayout.NameOffset, rawName, $"an offset below {_longNames.Length} into the GNU long-name table");
        var rest = _longNames.AsSpan(offset);
        var end = rest.IndexOf((byte)'\n');
        var value = end < 0 ? rest : rest[..end];
        if (!value.IsEmpty && value[^1] == (byte)'/') value = value[..^1];
        return Encoding.UTF8.GetString(value);
    }

    int ReadFully(Span<byte> buffer)
    {
        var total = _stream.ReadAtLeast(buffer, buffer.Length, throwOnEndOfStream: false);
        _position += total;
        return total;
    }

    static long ParseNumber(ReadOnlySpan<byte> header, int index, long headerOffset, string field, int offset, int length, int radix, bool allowBlank)
    {
        var raw = header.Slice(offset, length);
        var digits = raw.Trim((byte)' ');
        if (digits.IsEmpty)
        {
            if (allowBlank) return 0;
            throw FieldError(index, headerOffset, field, offset, raw, "a decimal number");
        }
        long value = 0;
        foreach (var c in digits)
        {
            var digit = c - '0';
            if (digit < 0 || digit >= radix)
                throw FieldError(index, headerOffset, field, offset, raw, radix == 8 ? "an octal number" : "a decimal number");
            value = value * radix + digit;
        }
        // Widest field: 12 decimal digits (mtime); uid/gid (6 digits) and mode (8 octal digits) fit in an int.
        return value;
    }

    static InvalidDataException FieldError(int index, long headerOffset, string field, int fieldOffset, ReadOnlySpan<byte> raw, string expected) =>
        new($"ar member #{index} (header at offset {headerOffset}): field '{field}' at offset {headerOffset + fieldOffset} is {Quote(raw)}, expected {expected}.");

    static ReadOnlySpan<byte> Field(ReadOnlySpan<byte> header, int offset, int length) =>
        header.Slice(offset, length).TrimEnd((byte)' ');

    static bool IsDigits(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
            if (c is < '0' or > '9') return false;
        return !text.IsEmpty;
    }

    /// <summary>Bytes as a quoted, escaped ASCII string for messages.</summary>
    internal static string Quote(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder(bytes.Length + 2).Append('"');
        foreach (var b in bytes)
        {
            switch (b)
            {
                case (byte)'"': sb.Append("\\\""); break;
                case (byte)'\\': sb.Append("\\\\"); break;
                case (byte)'\n': sb.Append("\\n"); break;
                case >= 0x20 and < 0x7F: sb.Append((char)b); break;
                default: sb.Append($"\\x{b:X2}"); break;
            }
        }
        return sb.Append('"').ToString();
    }

    readonly record struct MemberInfo(int Index, string Name, long DataOffset, long Length)
    {
        public static readonly MemberInfo None = new(-1, "", 0, 0);
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        _current = null;
        if (!_leaveOpen) _stream.Dispose();
    }
}
