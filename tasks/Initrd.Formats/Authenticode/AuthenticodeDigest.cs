using System.Buffers;
using System.Security.Cryptography;
using Initrd.Formats.Common;
using Initrd.Formats.Pe;

namespace Initrd.Formats.Authenticode;

/// <summary>
/// The PE image hash of Microsoft's "Windows Authenticode Portable Executable Signature Format" ("Calculating the
/// PE Image Hash"): what the SpcIndirectDataContent of a signature holds, and what UEFI firmware, shim, sbverify and
/// osslsigncode recompute. The comments below carry the specification's step numbers.
/// </summary>
public static class AuthenticodeDigest
{
    /// <summary>The image hash of <paramref name="image"/> (signed or not) with <paramref name="algorithm"/> (default SHA-256).</summary>
    public static byte[] Compute(ReadOnlyMemory<byte> image, HashAlgorithmName? algorithm = null) =>
        Compute(image, PeFile.Parse(image.Span), algorithm ?? HashAlgorithmName.SHA256);

    /// <summary>The image hash of <paramref name="image"/>, whose headers were read as <paramref name="headers"/>.</summary>
    public static byte[] Compute(ReadOnlyMemory<byte> image, PeFile headers, HashAlgorithmName algorithm) =>
        Compute(image, headers, algorithm, appendedZeros: 0);

    /// <summary>
    /// The image hash of <paramref name="image"/> followed by <paramref name="appendedZeros"/> zero bytes (the padding a
    /// signer adds so that the certificate table starts on an 8-byte boundary), without copying the image.
    /// </summary>
    internal static byte[] Compute(ByteSource image, PeFile headers, HashAlgorithmName algorithm, int appendedZeros)
    {
        // 2. Initialize a hash algorithm context.
        using var hash = IncrementalHash.CreateHash(algorithm);
        var buffer = ArrayPool<byte>.Shared.Rent(ChunkLength);
        try
        {
            foreach (var (offset, length) in HashedRanges(headers, image.Length + appendedZeros))
            {
                // Bytes past the image are the signer's zero padding.
                var fromImage = Math.Clamp(image.Length - offset, 0, length);
                image.ForEachChunk(offset, fromImage, buffer, (chunk, _) => hash.AppendData(chunk));
                AppendZeros(hash, length - fromImage);
            }
            // 15. Finalize the hash.
            return hash.GetHashAndReset();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>
    /// The file ranges the image hash covers, in the order they are hashed, for a file of <paramref name="fileSize"/>
    /// bytes (the image and any padding a signer appends) whose headers are <paramref name="headers"/>.
    /// </summary>
    internal static List<(long Offset, long Length)> HashedRanges(PeFile headers, long fileSize)
    {
        var entry = headers.CertificateTableEntryFileOffset;
        if (entry < 0)
            throw new PeException(PeErrorKind.Unsupported,
                $"The image has {headers.NumberOfRvaAndSizes} data directories, so no Certificate Table entry (directory 4); it cannot carry an Authenticode signature.");
        var ranges = new List<(long Offset, long Length)>();

        // 1. Load the image header into memory.
        // 3. Hash the image header from its base to immediately before the start of the checksum address.
        var checksum = headers.CheckSumFileOffset;
        ranges.Add((0, checksum));

        // 4. Skip over the checksum, which is a 4-byte field.
        // 5. Hash everything from the end of the checksum field to immediately before the start of the Certificate Table entry.
        ranges.Add((checksum + PeLayout.CheckSumLength, entry - (checksum + PeLayout.CheckSumLength)));

        // 6. Get the Attribute Certificate Table address and size from the Certificate Table entry.
        var certificateTable = headers.CertificateTable;

        // 7. Exclude the Certificate Table entry (8 bytes) and hash everything from its end to the end of the image
        //    header, including the section table (the headers end at SizeOfHeaders).
        ranges.Add((entry + PeLayout.DataDirectoryLength, headers.SizeOfHeaders - (entry + PeLayout.DataDirectoryLength)));

        // 8. SUM_OF_BYTES_HASHED starts as SizeOfHeaders.
        var sumOfBytesHashed = (long)headers.SizeOfHeaders;

        // 9. Build a table of the section headers.  10. Sort it by PointerToRawData, ascending.
        // 11. Hash each section's raw data (SizeOfRawData bytes at PointerToRawData).
        // 12. Add SizeOfRawData to SUM_OF_BYTES_HASHED.  13. Repeat for every section.
        foreach (var section in headers.Sections.Where(s => s.SizeOfRawData != 0).OrderBy(s => s.PointerToRawData).ThenBy(s => s.Index))
        {
            ranges.Add((section.PointerToRawData, section.SizeOfRawData));
            sumOfBytesHashed += section.SizeOfRawData;
        }

        // 14. FILE_SIZE beyond SUM_OF_BYTES_HASHED is extra data, hashed from offset SUM_OF_BYTES_HASHED for
        //     FILE_SIZE - (size of the attribute certificate table + SUM_OF_BYTES_HASHED) bytes.
        var extra = fileSize - (certificateTable.Size + sumOfBytesHashed);
        if (extra > 0) ranges.Add((sumOfBytesHashed, extra));
        return ranges;
    }

    /// <summary>Hashes <paramref name="count"/> zero bytes (a signer's padding: fewer than 8 in practice).</summary>
    internal static void AppendZeros(IncrementalHash hash, long count)
    {
        Span<byte> zeros = stackalloc byte[PeLayout.CertificateAlignment];
        zeros.Clear();
        for (; count > 0; count -= zeros.Length) hash.AppendData(zeros[..(int)Math.Min(count, zeros.Length)]);
    }

    /// <summary>How much of the image is read at once.</summary>
    internal const int ChunkLength = 1 << 20;
}
