using System.Buffers.Binary;
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
        ArgumentNullException.ThrowIfNull(signer);
        var headers = PeFile.Parse(image);
        if (headers.IsSigned)
            throw new PeException(PeErrorKind.AlreadySigned,
                $"The image is already signed (Certificate Table at file offset 0x{headers.CertificateTable.VirtualAddress:X}, {headers.CertificateTable.Size} bytes). " +
                "Sign the unsigned image; adding a second signature is not supported.");
        if (headers.CertificateTableEntryFileOffset < 0)
            throw new PeException(PeErrorKind.Unsupported,
                $"The image has only {headers.NumberOfRvaAndSizes} data directories, so no Certificate Table entry to point at a signature.");

        var padding = (int)(AlignUp(image.Length, PeLayout.CertificateAlignment) - image.Length);
        var digest = AuthenticodeDigest.Compute(image, headers, signer.DigestAlgorithm, padding);
        var content = SpcIndirectDataContent.Encode(digest, signer.DigestAlgorithm);
        var signedData = signer.Sign(SpcIndirectDataContent.ContentTypeOid, content, SpcIndirectDataContent.ExtraSignedAttributes());

        var tableOffset = image.Length + padding;
        var entryLength = PeLayout.BCertificateOffset + signedData.Length;
        var tableSize = AlignUp(entryLength, PeLayout.CertificateAlignment);
        if ((ulong)tableOffset + (ulong)tableSize > (ulong)PeSectionAppender.MaxImageLength)
            throw new PeException(PeErrorKind.ImageTooLarge, $"The signed image would be {(long)tableOffset + tableSize} bytes, more than {PeSectionAppender.MaxImageLength}.");

        var signed = new byte[tableOffset + tableSize];
        image.CopyTo(signed);
        var entry = signed.AsSpan(tableOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(entry[PeLayout.DwLengthOffset..], (uint)entryLength);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[PeLayout.WRevisionOffset..], PeLayout.WinCertRevision2);
        BinaryPrimitives.WriteUInt16LittleEndian(entry[PeLayout.WCertificateTypeOffset..], PeLayout.WinCertTypePkcsSignedData);
        signedData.CopyTo(entry[PeLayout.BCertificateOffset..]);

        var directory = signed.AsSpan(headers.CertificateTableEntryFileOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(directory[PeLayout.DataDirectoryVirtualAddressOffset..], (uint)tableOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(directory[PeLayout.DataDirectorySizeOffset..], (uint)tableSize);
        BinaryPrimitives.WriteUInt32LittleEndian(signed.AsSpan(headers.CheckSumFileOffset), PeChecksum.Compute(signed, headers.CheckSumFileOffset));
        return signed;
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
}
