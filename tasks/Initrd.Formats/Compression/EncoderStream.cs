using System.Buffers;

namespace Initrd.Formats.Compression;

/// <summary>
/// A write-only stream that compresses into another stream through a native encoder. Small writes are gathered in
/// an input buffer and compressed output is gathered in an output buffer, so the encoder sees large chunks and the
/// underlying stream sees large writes whatever the caller's write pattern; no allocation per call.
/// <para>
/// <see cref="Flush"/> does not end a compressed block: the output bytes depend only on the data and the encoder
/// settings, never on when or how often a caller flushed. Disposing finishes the compressed stream; an encoder that
/// failed (an exception escaped a write) is not finished, since its output is unusable anyway.
/// </para>
/// </summary>
public abstract class EncoderStream : Stream
{
    readonly Stream _output;
    readonly bool _leaveOpen;
    byte[]? _in;
    int _inCount;
    byte[]? _out;
    int _outCount;
    bool _faulted;
    long _bytesIn;
    long _bytesOut;

    private protected EncoderStream(Stream output, int inputBufferSize, int outputBufferSize, bool leaveOpen)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite) throw new ArgumentException("The output stream is not writable.", nameof(output));
        _output = output;
        _leaveOpen = leaveOpen;
        _in = ArrayPool<byte>.Shared.Rent(inputBufferSize);
        _out = ArrayPool<byte>.Shared.Rent(outputBufferSize);
    }

    /// <summary>Uncompressed bytes accepted so far.</summary>
    public long BytesIn => _bytesIn;

    /// <summary>Compressed bytes written to the underlying stream so far (complete after dispose).</summary>
    public long BytesOut => _bytesOut;

    /// <summary>The compressor's name for messages ("zstd", "xz").</summary>
    private protected abstract string FormatName { get; }

    /// <summary>
    /// One call into the native encoder: consumes from <paramref name="input"/>, produces into
    /// <paramref name="output"/>. With <paramref name="finish"/> the stream is being ended and the call returns
    /// true once everything, including the trailer, has been produced.
    /// </summary>
    private protected abstract bool Encode(ReadOnlySpan<byte> input, Span<byte> output, bool finish, out int consumed, out int produced);

    /// <summary>Releases the native encoder (called once, from Dispose).</summary>
    private protected abstract void ReleaseEncoder();

    public override bool CanRead => false;
    public override bool CanSeek => false;
    public override bool CanWrite => _in is not null;
    public override long Length => throw new NotSupportedException();
    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
    public override void SetLength(long value) => throw new NotSupportedException();
    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count)
    {
        ValidateBufferArguments(buffer, offset, count);
        Write(buffer.AsSpan(offset, count));
    }

    public override void WriteByte(byte value)
    {
        var input = InputBuffer;
        if (_inCount == input.Length) CompressBuffered(finish: false);
        input[_inCount++] = value;
        _bytesIn++;
    }

    public override void Write(ReadOnlySpan<byte> buffer)
    {
        var input = InputBuffer;
        _bytesIn += buffer.Length;
        while (!buffer.IsEmpty)
        {
            if (_inCount == 0 && buffer.Length >= input.Length)
            {
                // Large write: hand the caller's memory to the encoder directly, no copy.
                CompressDirect(buffer);
                return;
            }
            var n = Math.Min(buffer.Length, input.Length - _inCount);
            buffer[..n].CopyTo(input.AsSpan(_inCount));
            _inCount += n;
            buffer = buffer[n..];
            if (_inCount == input.Length) CompressBuffered(finish: false);
        }
    }

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken)
    {
        ValidateBufferArguments(buffer, offset, count);
        return WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var input = InputBuffer;
        _bytesIn += buffer.Length;
        while (!buffer.IsEmpty)
        {
            cancellationToken.ThrowIfCancellationRequested();
            if (_inCount == 0 && buffer.Length >= input.Length)
            {
                await CompressAsync(buffer, finish: false, cancellationToken).ConfigureAwait(false);
                return;
            }
            var n = Math.Min(buffer.Length, input.Length - _inCount);
            buffer.Span[..n].CopyTo(input.AsSpan(_inCount));
            _inCount += n;
            buffer = buffer[n..];
            if (_inCount == input.Length)
                await CompressAsync(ReadOnlyMemory<byte>.Empty, finish: false, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Writes compressed output gathered so far to the underlying stream and flushes it; see the class remarks.</summary>
    public override void Flush()
    {
        _ = InputBuffer;
        WriteOutput();
        _output.Flush();
    }

    public override async Task FlushAsync(CancellationToken cancellationToken)
    {
        _ = InputBuffer;
        await WriteOutputAsync(cancellationToken).ConfigureAwait(false);
        await _output.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    byte[] InputBuffer
    {
        get
        {
            ObjectDisposedException.ThrowIf(_in is null, this);
            if (_faulted) throw new InvalidOperationException($"The {FormatName} encoder failed earlier; its output is incomplete.");
            return _in;
        }
    }

    /// <summary>Feeds the buffered input to the encoder (and, with <paramref name="finish"/>, ends the stream).</summary>
    void CompressBuffered(bool finish)
    {
        var input = _in.AsSpan(0, _inCount);
        _inCount = 0;
        CompressDirect(input, finish);
    }

    void CompressDirect(ReadOnlySpan<byte> input, bool finish = false)
    {
        var ok = false;
        try
        {
            while (true)
            {
                var done = Encode(input, _out.AsSpan(_outCount), finish, out var consumed, out var produced);
                input = input[consumed..];
                _outCount += produced;
                if (_outCount == _out!.Length) WriteOutput();
                if (finish ? done : input.IsEmpty) break;
            }
            if (finish) WriteOutput();
            ok = true;
        }
        finally
        {
            if (!ok) _faulted = true;
        }
    }

    /// <summary>Feeds the buffered input, or <paramref name="extra"/> when nothing is buffered, to the encoder.</summary>
    async ValueTask CompressAsync(ReadOnlyMemory<byte> extra, bool finish, CancellationToken cancellationToken)
    {
        var input = _inCount > 0 ? _in.AsMemory(0, _inCount) : extra;
        _inCount = 0;
        var ok = false;
        try
        {
            while (true)
            {
                var done = Encode(input.Span, _out.AsSpan(_outCount), finish, out var consumed, out var produced);
                input = input[consumed..];
                _outCount += produced;
                if (_outCount == _out!.Length) await WriteOutputAsync(cancellationToken).ConfigureAwait(false);
                if (finish ? done : input.IsEmpty) break;
            }
            if (finish) await WriteOutputAsync(cancellationToken).ConfigureAwait(false);
            ok = true;
        }
        finally
        {
            if (!ok) _faulted = true;
        }
    }

    void WriteOutput()
    {
        if (_outCount == 0) return;
        var ok = false;
        try
        {
            _output.Write(_out!, 0, _outCount);
            ok = true;
        }
        finally
        {
            if (!ok) _faulted = true;
        }
        _bytesOut += _outCount;
        _outCount = 0;
    }

    async ValueTask WriteOutputAsync(CancellationToken cancellationToken)
    {
        if (_outCount == 0) return;
        var ok = false;
        try
        {
            await _output.WriteAsync(_out.AsMemory(0, _outCount), cancellationToken).ConfigureAwait(false);
            ok = true;
        }
        finally
        {
            if (!ok) _faulted = true;
        }
        _bytesOut += _outCount;
        _outCount = 0;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing && _in is not null)
        {
            try
            {
                if (!_faulted) CompressBuffered(finish: true);
            }
            finally
            {
                Release();
                if (!_leaveOpen) _output.Dispose();
            }
        }
        base.Dispose(disposing);
    }

    public override async ValueTask DisposeAsync()
    {
        if (_in is not null)
        {
            try
            {
                if (!_faulted) await CompressAsync(ReadOnlyMemory<byte>.Empty, finish: true, CancellationToken.None).ConfigureAwait(false);
            }
            finally
            {
                Release();
                if (!_leaveOpen) await _output.DisposeAsync().ConfigureAwait(false);
            }
        }
        base.Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>For a constructor that failed: releases what was allocated, neither finishing nor closing the output.</summary>
    private protected void AbandonAfterFailedConstruction()
    {
        if (_in is null) return;
        _faulted = true;
        Release();
        GC.SuppressFinalize(this);
    }

    void Release()
    {
        ReleaseEncoder();
        ArrayPool<byte>.Shared.Return(_in!);
        ArrayPool<byte>.Shared.Return(_out!);
        _in = null;
        _out = null;
    }
}
