using System.Buffers;
using System.Buffers.Binary;
using Initrd.Formats.Common;
using Initrd.Formats.Pe;

namespace Initrd.Formats.Authenticode;

/// <summary>
/// Signs a PE32+ image for UEFI Secure Boot: computes the Authenticode image hash (<see cref="AuthenticodeDigest"/>),
/// has an <see cref="ICmsSigner"/> sign an SpcIndirectDataContent holding it, and appends the signature as the
/// image's attribute certificate table.
/// </summary>
/// <remarks>
/// Layout of the signed file (as sbsign writes it): the image, zero padding to an 8-byte boundary (hashed as part of
/// the image), then one WIN_CERTIFICATE — <c>dwLength</c> (8 + the signature's length), <c>wRevision</c> 0x0200,
/// <c>wCertificateType</c> 0x0002 (PKCS_SIGNED_DATA), the DER SignedData — padded with zeros to a multiple of 8.
/// The Certificate Table entry (data directory 4) gets the entry's file offset and its padded size, and
/// <c>CheckSum</c> is recomputed over the signed file (neither field is covered by the hash).
/// </remarks>
public static class AuthenticodeSigner
{
    /// <summary>
    /// Signs an image that will be embedded as a PE section (a UKI's <c>.linux</c>): the signed file's length is made
    /// a multiple of <paramref name="alignment"/> (the container's FileAlignment) by zero padding before the signature,
    /// which the hash covers, so the section's raw data, padded to FileAlignment, is exactly the signed file.
    /// </summary>
    public static byte[] SignAligned(ReadOnlySpan<byte> image, ICmsSigner signer, int alignment)
    {
        if (alignment <= PeLayout.CertificateAlignment || alignment % PeLayout.CertificateAlignment != 0) return Sign(image, signer);
        var padded = image.ToArray();
        // The signature's length can vary by a few bytes (DER integers), so sign, measure, pad, and sign again.
        for (var attempt = 0; attempt < 8; attempt++)
        {
            var signed = Sign(padded, signer);
            if (signed.Length % alignment == 0) return signed;
            var missing = alignment - signed.Length % alignment;
            Array.Resize(ref padded, padded.Length + missing);
        }
        throw new PeException(PeErrorKind.Unsupported, $"The signature's length keeps changing; the signed image cannot be aligned to {alignment} bytes.");
    }

    /// <summary>Returns the signed image; <paramref name="image"/> is not modified.</summary>
    public static byte[] Sign(ReadOnlySpan<byte> image, ICmsSigner signer)
    {
        using var signed = new MemoryStream(image.Length + 4096);
        signed.Write(image);
        Sign(signed, signer);
        return signed.ToArray();
    }

    /// <summary>
    /// Signs the image that <paramref name="image"/> (readable, writable, seekable) holds from offset 0 to its end, in
    /// place: the certificate table is appended, the Certificate Table entry and <c>CheckSum</c> are rewritten.
    /// </summary>
    /// <param name="image">The stream holding the image.</param>
    /// <param name="signer">Signs the SpcIndirectDataContent.</param>
    /// <param name="written">
    /// A hasher that saw this image being written by <see cref="PeSectionAppender.WriteTo"/>: its digest is used, and
    /// the image's <c>CheckSum</c> (exact, as that writer leaves it) carried forward, instead of reading the image again.
    /// Ignored when it used another algorithm or did not see the image whole.
    /// </param>
    public static void Sign(Stream image, ICmsSigner signer, AuthenticodeHasher? written = null)
    {
        ArgumentNullException.ThrowIfNull(signer);
        var source = ByteSource.FromStream(image);
        var headers = PeFile.Read(source);
        if (headers.IsSigned)
            throw new PeException(PeErrorKind.AlreadySigned,
                $"The image is already signed (Certificate Table at file offset 0x{headers.CertificateTable.VirtualAddress:X}, {headers.CertificateTable.Size} bytes). " +
                "Sign the unsigned image; adding a second signature is not supported.");
        if (headers.CertificateTableEntryFileOffset < 0)
            throw new PeException(PeErrorKind.Unsupported,
                $"The image has only {headers.NumberOfRvaAndSizes} data directories, so no Certificate Table entry to point at a signature.");

        var length = source.Length;
        var entryOffset = headers.CertificateTableEntryFileOffset;
        var padding = (int)(AlignUp(length, PeLayout.CertificateAlignment) - length);
        var seen = written?.Algorithm == signer.DigestAlgorithm ? written.Finish(headers, padding) : null;
        // The checksum of the signed file: the image as it is but for the Certificate Table entry, which is added with
        // its new value below, as is the appended table. An image the hasher saw written carries its exact sum in
        // CheckSum (its Certificate Table entry is zero, as it is unsigned); another is summed on another core while
        // the digest is computed.
        var checksum = seen is not null ? Task.FromResult(PeChecksum.Accumulator.Resume(headers.CheckSum, length, headers.CheckSumFileOffset)) : Task.Run(() =>
        {
            var sum = new PeChecksum.Accumulator(headers.CheckSumFileOffset);
            var buffer = ArrayPool<byte>.Shared.Rent(AuthenticodeDigest.ChunkLength);
            source.ForEachChunk(0, entryOffset, buffer, (chunk, offset) => sum.Add(chunk, offset));
            source.ForEachChunk(entryOffset + PeLayout.DataDirectoryLength, length - entryOffset - PeLayout.DataDirectoryLength, buffer, (chunk, offset) => sum.Add(chunk, offset));
            ArrayPool<byte>.Shared.Return(buffer);
            return sum;
        });
        byte[] signedData;
        try
        {
            var digest = seen ?? AuthenticodeDigest.Compute(source, headers, signer.DigestAlgorithm, padding);
            var content = SpcIndirectDataContent.Encode(digest, signer.DigestAlgorithm);
            signedData = signer.Sign(SpcIndirectDataContent.ContentTypeOid, content, SpcIndirectDataContent.ExtraSignedAttributes());
        }
        catch
        {
            checksum.ContinueWith(static _ => { }, TaskScheduler.Default).Wait();   // no reader left on the caller's stream
            throw;
        }

        var tableOffset = length + padding;
        var entryLength = PeLayout.BCertificateOffset + signedData.Length;
        var tableSize = AlignUp(entryLength, PeLayout.CertificateAlignment);
        if ((ulong)tableOffset + (ulong)tableSize > (ulong)PeSectionAppender.MaxImageLength)
            throw new PeException(PeErrorKind.ImageTooLarge, $"The signed image would be {tableOffset + tableSize} bytes, more than {PeSectionAppender.MaxImageLength}.");

        // Zero padding, then the WIN_CERTIFICATE padded to a multiple of 8.
        var tail = new byte[padding + tableSize];
        var entry = tail.AsSpan(padding);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[PeLayout.DwLengthOffset..], (uint)entryLength);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[PeLayout.WRevisionOffset..], PeLayout.WinCertRevision2);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[PeLayout.WCertificateTypeOffset..], PeLayout.WinCertTypePkcsSignedData);
        signedData.CopyTo(entry[PeLayout.BCertificateOffset..]);
        var directory = new byte[PeLayout.DataDirectoryLength];
        BinaryPrimitives.WriteUInt32LittleEndian(directory.AsSpan(PeLayout.DataDirectoryVirtualAddressOffset), (uint)tableOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(directory.AsSpan(PeLayout.DataDirectorySizeOffset), (uint)tableSize);
        var sum = checksum.GetAwaiter().GetResult();
        sum.Add(directory, entryOffset);
        sum.Add(tail, length);
        var checksumField = new byte[PeLayout.CheckSumLength];
        BinaryPrimitives.WriteUInt32LittleEndian(checksumField, sum.Finish(length + tail.Length));

        image.Position = length;
        image.Write(tail);
        image.Position = entryOffset;
        image.Write(directory);
        image.Position = headers.CheckSumFileOffset;
        image.Write(checksumField);
        image.Seek(0, SeekOrigin.End);
    }

    /// <summary>
    /// The image without its attribute certificate table (e.g. Debian's signature on its kernel, before the image is
    /// signed with the vendor's own key): the table is cut off the end of the file, the Certificate Table entry cleared
    /// and the checksum recomputed. An unsigned image is returned as it is.
    /// </summary>
    public static byte[] RemoveSignature(ReadOnlySpan<byte> image)
    {
        var headers = PeFile.Parse(image);
        if (!headers.IsSigned) return image.ToArray();
        var table = headers.CertificateTable;
        if ((long)table.VirtualAddress + table.Size != image.Length)
            throw new PeException(PeErrorKind.Unsupported,
                $"The image's certificate table (file offset 0x{table.VirtualAddress:X}, {table.Size} bytes) is not at the end of the file; " +
                "its signature cannot be removed without moving other data.");
        var unsigned = image[..(int)table.VirtualAddress].ToArray();
        var directory = unsigned.AsSpan(headers.CertificateTableEntryFileOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(directory[PeLayout.DataDirectoryVirtualAddressOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(directory[PeLayout.DataDirectorySizeOffset..], 0);
        BinaryPrimitives.WriteUInt32LittleEndian(unsigned.AsSpan(headers.CheckSumFileOffset), PeChecksum.Compute(unsigned, headers.CheckSumFileOffset));
        return unsigned;
    }

    static int AlignUp(int value, int alignment) => (value + alignment - 1) & ~(alignment - 1);

    static long AlignUp(long value, int alignment) => (value + alignment - 1) & ~(long)(alignment - 1);
}
