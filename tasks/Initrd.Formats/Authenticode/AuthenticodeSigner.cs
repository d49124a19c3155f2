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

    static int AlignUp(int value, int alignment) => (value + alignment - 1) & ~(alignment - 1);
}
