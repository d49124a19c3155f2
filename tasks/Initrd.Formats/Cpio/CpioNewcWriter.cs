using System.Text;

namespace Initrd.Formats.Cpio;

/// <summary>
/// Streams a newc cpio archive: <see cref="WriteHeader(in CpioHeader, string)"/> for each entry, then exactly
/// <see cref="CpioHeader.FileSize"/> bytes through <c>WriteData</c>, and finally <see cref="WriteTrailer"/>.
/// Padding (after header + name, and after data) is written automatically.
/// </summary>
/// <remarks>
/// <para>Everything goes through one reusable output buffer (<see cref="DefaultBufferSize"/> by default): headers
/// are formatted into it in place (ASCII hex, no strings), and <see cref="WriteData(Stream, long)"/> reads a
/// source straight into it, at least <see cref="MinimumReadSize"/> bytes at a time while the entry has that
/// much left, so the output stream sees large writes and the data is copied once.</para>
/// <para>Offsets (and so alignment) count from the first byte this writer produced; start it at a 4-byte
/// aligned position of the output if other data precedes the archive.</para>
/// <para>This class writes what it is given: it does not sort, renumber or check hard links. See
/// <see cref="CpioArchiveWriter"/> for whole, reproducible archives.</para>
/// </remarks>
public sealed class CpioNewcWriter : IDisposable
{
    /// <summary>Default size of the output buffer.</summary>
    public const int DefaultBufferSize = 1024 * 1024;

    /// <summary>Smallest read <see cref="WriteData(Stream, long)"/> issues while at least this much data is left.</summary>
    public const int MinimumReadSize = 128 * 1024;

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    readonly Stream _output;
    readonly bool _leaveOpen;
    byte[] _buffer;
    int _used;
    long _flushed;

    /// <summary>Data bytes the current entry still expects.</summary>
    long _dataRemaining;

    /// <summary>NULs to write once the current entry's data is complete.</summary>
    int _dataPadding;

    string _entryName = "";
    bool _trailerWritten;
    bool _disposed;

    /// <param name="output">Where the archive goes; written sequentially, never sought.</param>
    /// <param name="leaveOpen">Keep <paramref name="output"/> open when this writer is disposed.</param>
    /// <param name="bufferSize">Output buffer size; at least <see cref="MinimumReadSize"/>.</param>
    public CpioNewcWriter(Stream output, bool leaveOpen = false, int bufferSize = DefaultBufferSize)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite) throw new ArgumentException("the output stream is not writable", nameof(output));
        ArgumentOutOfRangeException.ThrowIfLessThan(bufferSize, MinimumReadSize);
        _output = output;
        _leaveOpen = leaveOpen;
        _buffer = GC.AllocateUninitializedArray<byte>(bufferSize);
    }

    /// <summary>Bytes of archive produced so far (handed to the output stream or still buffered).</summary>
    public long Position => _flushed + _used;

    /// <summary>Entries written so far, the trailer not counted.</summary>
    public long EntryCount { get; private set; }

    /// <summary>Data bytes the current entry still expects before the next header.</summary>
    public long RemainingDataLength => _dataRemaining;

    /// <summary>Writes an entry's header and name (UTF-8, NUL-terminated, padded).</summary>
    /// <exception cref="ArgumentException">The name is empty, contains NUL, is not valid UTF-16, is the trailer's name,
    /// or a field does not fit 32 bits (the message names the entry and the value).</exception>
    /// <exception cref="InvalidOperationException">The previous entry's data is incomplete, or the trailer was written.</exception>
    public void WriteHeader(in CpioHeader header, string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (name.Length == 0) throw new ArgumentException("a cpio entry name must not be empty", nameof(name));
        if (name.Contains('\0')) throw new ArgumentException($"cpio entry name '{Printable(name)}' contains a NUL character", nameof(name));
        int length;
        try { length = StrictUtf8.GetByteCount(name); }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"cpio entry name '{Printable(name)}' is not valid Unicode (unpaired surrogate)", nameof(name), e);
        }
        WriteHeaderCore(header, name, default, length, encode: true);
    }

    /// <summary>Writes an entry's header and a name given as raw bytes (without the NUL).</summary>
    /// <inheritdoc cref="WriteHeader(in CpioHeader, string)"/>
    public void WriteHeader(in CpioHeader header, ReadOnlySpan<byte> name)
    {
        if (name.IsEmpty) throw new ArgumentException("a cpio entry name must not be empty", nameof(name));
        if (name.Contains((byte)0)) throw new ArgumentException($"cpio entry name '{Printable(Encoding.UTF8.GetString(name))}' contains a NUL byte", nameof(name));
        WriteHeaderCore(header, Encoding.UTF8.GetString(name), name, name.Length, encode: false);
    }

    /// <summary>For callers that already hold the validated UTF-8 name and its display form.</summary>
    internal void WriteHeader(in CpioHeader header, ReadOnlySpan<byte> utf8Name, string displayName) =>
        WriteHeaderCore(header, displayName, utf8Name, utf8Name.Length, encode: false);

    /// <summary>Writes data of the current entry. The entry's padding follows automatically once its data is complete.</summary>
    /// <exception cref="ArgumentException"><paramref name="data"/> is longer than what the entry still expects.</exception>
    public void WriteData(ReadOnlySpan<byte> data)
    {
        ThrowIfUnusable();
        if (data.Length > _dataRemaining)
            throw new ArgumentException(
                $"cpio entry '{_entryName}': {data.Length} bytes of data exceed the {_dataRemaining} bytes its header still expects", nameof(data));
        if (data.IsEmpty) return;

        var length = data.Length;
        if (length >= _buffer.Length)
        {
            FlushBuffer();
            _output.Write(data);
            _flushed += length;
        }
        else
        {
            while (!data.IsEmpty)
            {
                if (_used == _buffer.Length) FlushBuffer();
                var n = Math.Min(_buffer.Length - _used, data.Length);
                data[..n].CopyTo(_buffer.AsSpan(_used));
                _used += n;
                data = data[n..];
            }
        }
        _dataRemaining -= length;
        if (_dataRemaining == 0) WritePadding(_dataPadding);
    }

    /// <summary>
    /// Copies exactly <paramref name="count"/> bytes from <paramref name="source"/> as data of the current entry,
    /// reading into the output buffer in chunks of at least <see cref="MinimumReadSize"/> bytes while that much is left.
    /// For files, open the source unbuffered (<c>bufferSize: 0</c>) so reads go straight to the kernel.
    /// </summary>
    /// <exception cref="ArgumentException"><paramref name="count"/> is negative or more than the entry still expects.</exception>
    /// <exception cref="InvalidDataException"><paramref name="source"/> ended before <paramref name="count"/> bytes.</exception>
    public void WriteData(Stream source, long count)
    {
        ArgumentNullException.ThrowIfNull(source);
        ThrowIfUnusable();
        if (count < 0 || count > _dataRemaining)
            throw new ArgumentException(
                $"cpio entry '{_entryName}': {count} bytes of data requested but its header still expects {_dataRemaining}", nameof(count));

        var left = count;
        while (left > 0)
        {
            var free = _buffer.Length - _used;
            if (free < MinimumReadSize && free < left)
            {
                FlushBuffer();
                free = _buffer.Length;
            }
            var read = source.Read(_buffer, _used, (int)Math.Min(free, left));
            if (read <= 0)
                throw new InvalidDataException(
                    $"cpio entry '{_entryName}': the content ended after {count - left} of {count} bytes (was it changed while the archive was written?)");
            _used += read;
            left -= read;
            _dataRemaining -= read;
        }
        if (_dataRemaining == 0) WritePadding(_dataPadding);
    }

    /// <summary>Writes the trailer entry and flushes. Nothing can be written after it.</summary>
    public void WriteTrailer()
    {
        WriteHeaderCore(CpioHeader.Trailer, NewcLayout.TrailerName, NewcLayout.TrailerNameBytes, NewcLayout.TrailerNameBytes.Length,
            encode: false, isTrailer: true);
        _trailerWritten = true;
        Flush();
    }

    /// <summary>Hands buffered bytes to the output stream and flushes it.</summary>
    public void Flush()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        FlushBuffer();
        _output.Flush();
    }

    /// <summary>
    /// Flushes (when no entry is half-written) and disposes the output unless it was left open. An entry whose data
    /// is incomplete is not flushed: the archive is broken anyway, and the caller is handling that failure.
    /// </summary>
    public void Dispose()
    {
        if (_disposed) return;
        try
        {
            if (_dataRemaining == 0) Flush();
        }
        finally
        {
            _disposed = true;
            if (!_leaveOpen) _output.Dispose();
        }
    }

    void WriteHeaderCore(in CpioHeader header, string displayName, ReadOnlySpan<byte> utf8Name, int nameLength, bool encode, bool isTrailer = false)
    {
        ThrowIfUnusable();
        if (_dataRemaining != 0)
            throw new InvalidOperationException(
                $"cpio entry '{_entryName}' still expects {_dataRemaining} data bytes; cannot start entry '{displayName}'");
        if (!isTrailer && nameLength == NewcLayout.TrailerNameBytes.Length && displayName == NewcLayout.TrailerName)
            throw new ArgumentException($"'{NewcLayout.TrailerName}' marks the end of a cpio archive and cannot name an entry; use WriteTrailer", nameof(utf8Name));

        CheckField(header.Inode, NewcField.Inode, displayName);
        CheckField(header.Mode, NewcField.Mode, displayName);
        CheckField(header.Uid, NewcField.Uid, displayName);
        CheckField(header.Gid, NewcField.Gid, displayName);
        CheckField(header.LinkCount, NewcField.LinkCount, displayName);
        CheckField(header.ModificationTime, NewcField.ModificationTime, displayName);
        CheckField(header.FileSize, NewcField.FileSize, displayName);
        CheckField(header.DevMajor, NewcField.DevMajor, displayName);
        CheckField(header.DevMinor, NewcField.DevMinor, displayName);
        CheckField(header.RDevMajor, NewcField.RDevMajor, displayName);
        CheckField(header.RDevMinor, NewcField.RDevMinor, displayName);
        CheckField(header.Check, NewcField.Check, displayName);
        var nameSize = nameLength + 1L;
        CheckField(nameSize, NewcField.NameSize, displayName);

        var total = NewcLayout.HeaderAndNameLength((int)nameSize);
        if (total > Array.MaxLength) throw new ArgumentException($"cpio entry name '{Printable(displayName)}' is too long ({nameLength} bytes)", nameof(utf8Name));
        var span = Reserve((int)total);

        NewcLayout.MagicBytes.CopyTo(span);
        WriteHex(span, NewcLayout.InodeOffset, header.Inode);
        WriteHex(span, NewcLayout.ModeOffset, header.Mode);
        WriteHex(span, NewcLayout.UidOffset, header.Uid);
        WriteHex(span, NewcLayout.GidOffset, header.Gid);
        WriteHex(span, NewcLayout.LinkCountOffset, header.LinkCount);
        WriteHex(span, NewcLayout.ModificationTimeOffset, header.ModificationTime);
        WriteHex(span, NewcLayout.FileSizeOffset, header.FileSize);
        WriteHex(span, NewcLayout.DevMajorOffset, header.DevMajor);
        WriteHex(span, NewcLayout.DevMinorOffset, header.DevMinor);
        WriteHex(span, NewcLayout.RDevMajorOffset, header.RDevMajor);
        WriteHex(span, NewcLayout.RDevMinorOffset, header.RDevMinor);
        WriteHex(span, NewcLayout.NameSizeOffset, nameSize);
        WriteHex(span, NewcLayout.CheckOffset, header.Check);

        var nameSpan = span.Slice(NewcLayout.HeaderLength, nameLength);
        if (encode) StrictUtf8.GetBytes(displayName, nameSpan);
        else utf8Name.CopyTo(nameSpan);
        span[(NewcLayout.HeaderLength + nameLength)..].Clear(); // NUL terminator and padding
        _used += (int)total;

        _entryName = displayName;
        _dataRemaining = header.FileSize;
        _dataPadding = NewcLayout.PaddingFor(header.FileSize);
        if (!isTrailer) EntryCount++;
    }

    void WritePadding(int count)
    {
        if (count == 0) return;
        Reserve(count).Clear();
        _used += count;
    }

    /// <summary>A span of <paramref name="length"/> free buffer bytes at <see cref="_used"/> (not yet counted as used).</summary>
    Span<byte> Reserve(int length)
    {
        if (_buffer.Length - _used < length)
        {
            FlushBuffer();
            if (_buffer.Length < length) _buffer = GC.AllocateUninitializedArray<byte>(length);
        }
        return _buffer.AsSpan(_used, length);
    }

    void FlushBuffer()
    {
        if (_used == 0) return;
        _output.Write(_buffer, 0, _used);
        _flushed += _used;
        _used = 0;
    }

    void ThrowIfUnusable()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_trailerWritten) throw new InvalidOperationException("the cpio trailer has been written; the archive is complete");
    }

    static void WriteHex(Span<byte> header, int offset, long value)
    {
        var digits = "0123456789ABCDEF"u8;
        var field = header.Slice(offset, NewcLayout.FieldLength);
        var v = (uint)value;
        for (var i = NewcLayout.FieldLength - 1; i >= 0; i--)
        {
            field[i] = digits[(int)(v & 0xF)];
            v >>= 4;
        }
    }

    static void CheckField(long value, NewcField field, string entry)
    {
        if ((ulong)value <= NewcLayout.MaxFieldValue) return;
        throw new ArgumentException(field switch
        {
            NewcField.FileSize when value > 0 =>
                $"cpio entry '{entry}': size {value} bytes exceeds the 4 GiB limit of the newc format (at most {NewcLayout.MaxFieldValue} bytes)",
            NewcField.ModificationTime =>
                $"cpio entry '{entry}': modification time {value} is outside the newc range 0…{NewcLayout.MaxFieldValue} (1970–2106)",
            _ => $"cpio entry '{entry}': {field} {value} does not fit the newc format's unsigned 32-bit field (0…{NewcLayout.MaxFieldValue})",
        });
    }

    /// <summary>Control characters in names made visible for error messages.</summary>
    static string Printable(string name)
    {
        foreach (var c in name)
            if (char.IsControl(c)) goto escape;
        return name;
    escape:
        var sb = new StringBuilder(name.Length + 8);
        foreach (var c in name) sb.Append(char.IsControl(c) ? $"\\x{(int)c:x2}" : c);
        return sb.ToString();
    }
}
