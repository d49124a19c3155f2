using System.Security.Cryptography;
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
    public static byte[] Compute(ReadOnlySpan<byte> image, HashAlgorithmName? algorithm = null) =>
        Compute(image, PeFile.Parse(image), algorithm ?? HashAlgorithmName.SHA256);

    /// <summary>The image hash of <paramref name="image"/>, whose headers were read as <paramref name="headers"/>.</summary>
    public static byte[] Compute(ReadOnlySpan<byte> image, PeFile headers, HashAlgorithmName algorithm) =>
        Compute(image, headers, algorithm, appendedZeros: 0);

    /// <summary>
    /// The image hash of <paramref name="image"/> followed by <paramref name="appendedZeros"/> zero bytes (the padding a
    /// signer adds so that the certificate table starts on an 8-byte boundary), without copying the image.
    /// </summary>
    internal static byte[] Compute(ReadOnlySpan<byte> image, PeFile headers, HashAlgorithmName algorithm, int appendedZeros)
    {
        var entry = headers.CertificateTableEntryFileOffset;
        if (entry < 0)
            throw new PeException(PeErrorKind.Unsupported,
                $"The image has {headers.NumberOfRvaAndSizes} data directories, so no Certificate Table entry (directory 4); it cannot carry an Authenticode signature.");

        // 1. Load the image header into memory.  2. Initialize a hash algorithm context.
        using var hash = IncrementalHash.CreateHash(algorithm);

        // 3. Hash the image header from its base to immediately before the start of the checksum address.
        var checksum = headers.CheckSumFileOffset;
        hash.AppendData(image[..checksum]);

        // 4. Skip over the checksum, which is a 4-byte field.
        // 5. Hash everything from the end of the checksum field to immediately before the start of the Certificate Table entry.
        hash.AppendData(image[(checksum + PeLayout.CheckSumLength)..entry]);

        // 6. Get the Attribute Certificate Table address and size from the Certificate Table entry.
        var certificateTable = headers.CertificateTable;

        // 7. Exclude the Certificate Table entry (8 bytes) and hash everything from its end to the end of the image
        //    header, including the section table (the headers end at SizeOfHeaders).
        var headerEnd = (int)headers.SizeOfHeaders;
        hash.AppendData(image[(entry + PeLayout.DataDirectoryLength)..headerEnd]);

        // 8. SUM_OF_BYTES_HASHED starts as SizeOfHeaders.
        var sumOfBytesHashed = (long)headers.SizeOfHeaders;

        // 9. Build a table of the section headers.  10. Sort it by PointerToRawData, ascending.
        var sections = headers.Sections.Where(s => s.SizeOfRawData != 0).OrderBy(s => s.PointerToRawData).ThenBy(s => s.Index);

        // 11. Hash each section's raw data (SizeOfRawData bytes at PointerToRawData).
        // 12. Add SizeOfRawData to SUM_OF_BYTES_HASHED.  13. Repeat for every section.
        foreach (var section in sections)
        {
            hash.AppendData(image.Slice((int)section.PointerToRawData, (int)section.SizeOfRawData));
            sumOfBytesHashed += section.SizeOfRawData;
        }

        // 14. FILE_SIZE beyond SUM_OF_BYTES_HASHED is extra data, hashed from offset SUM_OF_BYTES_HASHED for
        //     FILE_SIZE - (size of the attribute certificate table + SUM_OF_BYTES_HASHED) bytes.
        var fileSize = (long)image.Length + appendedZeros;
        var extra = fileSize - (certificateTable.Size + sumOfBytesHashed);
        if (extra > 0)
        {
            var fromImage = (int)Math.Clamp(image.Length - sumOfBytesHashed, 0, extra);
            if (fromImage > 0) hash.AppendData(image.Slice((int)sumOfBytesHashed, fromImage));
            var zeros = extra - fromImage;
            Span<byte> zero = stackalloc byte[PeLayout.CertificateAlignment];
            zero.Clear();
            while (zeros > 0)
            {
                var n = (int)Math.Min(zeros, zero.Length);
                hash.AppendData(zero[..n]);
                zeros -= n;
            }
        }

        // 15. Finalize the hash.
        return hash.GetHashAndReset();
    }
}
