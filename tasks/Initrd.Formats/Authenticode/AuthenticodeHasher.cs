using System.Security.Cryptography;
using Initrd.Formats.Pe;

namespace Initrd.Formats.Authenticode;

/// <summary>
/// Takes the Authenticode image hash (<see cref="AuthenticodeDigest"/>'s ranges) while the image is being written
/// (<see cref="IPeImageObserver"/>), for <see cref="AuthenticodeSigner.Sign(Stream, ICmsSigner, AuthenticodeHasher?)"/>:
/// a signed image is then written and hashed in one pass. When the ranges are not in file order (an image whose
/// sections overlap in the file) it does nothing, and the signer reads the file again.
/// </summary>
public sealed class AuthenticodeHasher(HashAlgorithmName algorithm) : IPeImageObserver, IDisposable
{
    readonly IncrementalHash _hash = IncrementalHash.CreateHash(algorithm);
    List<(long Offset, long Length)> _ranges = [];
    int _range;
    long _position;
    bool _sequential;
    PeFile? _headers;

    public HashAlgorithmName Algorithm { get; } = algorithm;

    void IPeImageObserver.Headers(PeFile headers)
    {
        _headers = headers;
        _ranges = AuthenticodeDigest.HashedRanges(headers, headers.FileLength);
        _sequential = _ranges.Zip(_ranges.Skip(1)).All(p => p.First.Offset + p.First.Length <= p.Second.Offset);
        _range = 0;
        _position = 0;
    }

    void IPeImageObserver.Data(ReadOnlySpan<byte> data, long fileOffset)
    {
        if (!_sequential) return;
        if (fileOffset != _position)
        {
            _sequential = false;   // not the promised order: give up, the signer reads the file
            return;
        }
        _position += data.Length;

        // The parts of the data inside the ranges, in order.
        while (data.Length > 0 && _range < _ranges.Count)
        {
            var (offset, length) = _ranges[_range];
            var end = offset + length;
            if (fileOffset >= end) { _range++; continue; }
            var start = (int)Math.Max(0, offset - fileOffset);
            if (start >= data.Length) return;
            var stop = (int)Math.Min(data.Length, end - fileOffset);
            _hash.AppendData(data[start..stop]);
            data = data[stop..];
            fileOffset += stop;
            if (fileOffset >= end) _range++;
        }
    }

    /// <summary>
    /// The image hash of the image written (followed by <paramref name="appendedZeros"/> zeros); null when this hasher
    /// did not see that whole image in order.
    /// </summary>
    internal byte[]? Finish(PeFile headers, int appendedZeros)
    {
        if (!_sequential || _headers is null || _position != headers.FileLength || _headers.FileLength != headers.FileLength) return null;
        // Every byte of the image was hashed where a range covers it; what the ranges cover past the image is the
        // signer's zero padding (the ranges are in file order, so it comes last).
        foreach (var (offset, length) in AuthenticodeDigest.HashedRanges(headers, headers.FileLength + appendedZeros))
            AuthenticodeDigest.AppendZeros(_hash, offset + length - Math.Max(offset, _position));
        return _hash.GetHashAndReset();
    }

    public void Dispose() => _hash.Dispose();
}
