using System.Buffers;

namespace Initrd.Formats.Compression;

/// <summary>
/// A read-only stream that decompresses another stream through a native decoder. Compressed input is read in large
/// chunks; decompressed data goes straight into the caller's buffer. Corrupt, truncated or empty input throws
/// <see cref="InvalidDataException"/>.
/// </summary>
public abstract class DecoderStream : Stream
{
    readonly Stream _input;
    readonly bool _leaveOpen;
    byte[]? _in;
    int _inPos;
    int _inLength;
    bool _inputEnded;
    bool _ended;
    long _bytesIn;
    long _bytesOut;

    private protected DecoderStream(Stream input, int inputBufferSize, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (!input.CanRead) throw new ArgumentException("The input stream is not readable.", nameof(input));
        _input = input;
        _leaveOpen = leaveOpen;
        _in = ArrayPool<byte>.Shared.Rent(inputBufferSize);
    }

    /// <summary>Compressed bytes consumed by the decoder so far.</summary>
    public long BytesIn => _bytesIn;

    /// <summary>Decompressed bytes returned so far.</summary>
    public long BytesOut => _bytesOut;

    /// <summary>The compressor's name for messages ("zstd", "xz").</summary>
    private protected abstract string FormatName { get; }

    /// <summary>
    /// One call into the native decoder: consumes from <paramref name="input"/>, produces into
    /// <paramref name="output"/>. <paramref name="inputEnded"/> says no input follows what is passed. Returns true
    /// when the compressed data has ended cleanly (after the last byte was produced). Throws
    /// <see cref="InvalidDataException"/> for corrupt data; <see cref="BytesIn"/> is the offset reached before this call.
    /// </summary>
    private protected abstract bool Decode(ReadOnlySpan<byte> input, Span<byte> output, bool inputEnded, out int consumed, out int produced);

    /// <summary>Releases the native decoder (called once, from Dispose).</summary>
    private protected abstract void ReleaseDecoder();

    public override bool CanRead => _in is not null;
    public override bool CanSeek => false;
    public override bool CanWrite => false;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    public override void Flush() { }

    public override int Read(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        return Read(buffer.AsSpan(offset, count));
    }

    public override int ReadByte()
    {
        Span<byte> one = stackalloc byte[1];
        return Read(one) == 1 ? one[0] : -1;
    }

    public override int Read(Span<byte> buffer)
    {
        var input = InputBuffer;
        if (buffer.IsEmpty) return 0;
        while (!_ended)
        {
            if (_inPos == _inLength && !_inputEnded)
            {
                _inPos = 0;
                _inLength = _input.Read(input, 0, input.Length);
                _inputEnded = _inLength == 0;
            }
            if (Step(buffer, out var produced)) return produced;
        }
        return 0;
    }

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var input = InputBuffer;
        if (buffer.IsEmpty) return 0;
        while (!_ended)
        {
            if (_inPos == _inLength && !_inputEnded)
            {
                _inPos = 0;
                _inLength = await _input.ReadAsync(input, cancellationToken).ConfigureAwait(false);
                _inputEnded = _inLength == 0;
            }
            if (Step(buffer.Span, out var produced)) return produced;
        }
        return 0;
    }

    /// <summary>Decodes once from the buffered input; true when the read call should return <paramref name="produced"/>.</summary>
    bool Step(Span<byte> buffer, out int produced)
    {
        var noInput = _inPos == _inLength; // only after the input has ended
        if (noInput && _bytesIn == 0)
            throw new InvalidDataException($"The {FormatName} data is empty (0 bytes): expected at least one compressed frame.");

        var end = Decode(_in.AsSpan(_inPos, _inLength - _inPos), buffer, noInput, out var consumed, out produced);
        _inPos += consumed;
        _bytesIn += consumed;
        _bytesOut += produced;
        if (end)
        {
            _ended = true;
            return true;
        }
        if (produced > 0) return true;
        if (noInput && consumed == 0)
            throw new InvalidDataException(
                $"The {FormatName} data is truncated: the input ends after {_bytesIn} compressed bytes before the end of the compressed data.");
        return false;
    }

    byte[] InputBuffer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_in is null, this);
            return _in;
        }
    }

    /// <summary>For a constructor that failed: releases what was allocated without closing the input.</summary>
    private protected void AbandonAfterFailedConstruction()
    {
        if (_in is null) return;
        ReleaseDecoder();
        ArrayPool<byte>.Shared.Return(_in);
        _in = null;
        GC.SuppressFinalize(this);
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _in is not null)
        {
            try
            {
                ReleaseDecoder();
                ArrayPool<byte>.Shared.Return(_in);
                _in = null;
            }
            finally
            {
                if (!_leaveOpen) _input.Dispose();
            }
        }
        base.Dispose(disposing);
    }
}
