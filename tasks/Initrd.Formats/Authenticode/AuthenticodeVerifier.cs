using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using Initrd.Formats.Pe;

namespace Initrd.Formats.Authenticode;

/// <summary>One WIN_CERTIFICATE entry of an image's attribute certificate table.</summary>
/// <param name="FileOffset">File offset of the entry (its dwLength).</param>
/// <param name="Revision">wRevision (0x0200).</param>
/// <param name="CertificateType">wCertificateType (0x0002 for PKCS#7 SignedData).</param>
/// <param name="Certificate">bCertificate: dwLength - 8 bytes (for PKCS_SIGNED_DATA, the DER ContentInfo).</param>
public sealed record WinCertificate(long FileOffset, ushort Revision, ushort CertificateType, byte[] Certificate);

/// <summary>The outcome of <see cref="AuthenticodeVerifier.Verify"/>; <see cref="Problem"/> says why it failed.</summary>
public sealed record AuthenticodeVerification(bool IsValid, string? Problem, byte[] SignedDigest, byte[] ImageDigest, X509Certificate2? SignerCertificate)
{
    public override string ToString() => IsValid
        ? $"valid: digest {Convert.ToHexStringLower(ImageDigest)}, signer {SignerCertificate?.Subject}"
        : $"invalid: {Problem}";
}

/// <summary>
/// Reads and checks Authenticode signatures in process: the image hash is recomputed and compared with the one in
/// the signed SpcIndirectDataContent, and the CMS signature is checked against a given certificate. This is a
/// self-check for builds and tests, not a Secure Boot policy: there is no chain building, revocation or time check.
/// </summary>
public static class AuthenticodeVerifier
{
    /// <summary>The entries of the image's attribute certificate table (none when unsigned).</summary>
    public static IReadOnlyList<WinCertificate> ReadCertificates(ReadOnlySpan<byte> image)
    {
        var headers = PeFile.Parse(image);
        var table = headers.CertificateTable;
        var result = new List<WinCertificate>();
        if (table.IsEmpty) return result;
        var offset = (long)table.VirtualAddress;
        var end = offset + table.Size;
        while (offset < end)
        {
            if (end - offset < PeLayout.BCertificateOffset)
                throw new InvalidDataException($"Authenticode: {end - offset} bytes left at file offset 0x{offset:X} in the certificate table, too few for a WIN_CERTIFICATE header.");
            var entry = image[(int)offset..(int)end];
            var length = BinaryPrimitives.ReadUInt32LittleEndian(entry[PeLayout.DwLengthOffset..]);
            if (length < PeLayout.BCertificateOffset || length > entry.Length)
                throw new InvalidDataException(
                    $"Authenticode: dwLength at file offset 0x{offset + PeLayout.DwLengthOffset:X} is {length}; it must be 8 to {entry.Length} (the rest of the certificate table).");
            result.Add(new WinCertificate(
                offset,
                BinaryPrimitives.ReadUInt16LittleEndian(entry[PeLayout.WRevisionOffset..]),
                BinaryPrimitives.ReadUInt16LittleEndian(entry[PeLayout.WCertificateTypeOffset..]),
                entry[PeLayout.BCertificateOffset..(int)length].ToArray()));
            offset += (length + PeLayout.CertificateAlignment - 1) & ~(PeLayout.CertificateAlignment - 1);
        }
        return result;
    }

    /// <summary>The digest algorithm OID and image hash in a SignedData's SpcIndirectDataContent.</summary>
    public static (string DigestAlgorithmOid, byte[] Digest) ReadSignedDigest(byte[] signedData)
    {
        var cms = new SignedCms();
        cms.Decode(signedData);
        return ReadSignedDigest(cms);
    }

    static (string, byte[]) ReadSignedDigest(SignedCms cms)
    {
        if (cms.ContentInfo.ContentType.Value != SpcIndirectDataContent.ContentTypeOid)
            throw new InvalidDataException(
                $"Authenticode: the SignedData's content type is {cms.ContentInfo.ContentType.Value}, expected SPC_INDIRECT_DATA_OBJID ({SpcIndirectDataContent.ContentTypeOid}).");
        return SpcIndirectDataContent.Decode(cms.ContentInfo.Content);
    }

    /// <summary>
    /// Checks the image's (first) signature: a PKCS_SIGNED_DATA WIN_CERTIFICATE, its signed image hash equal to the
    /// recomputed one, its signature valid, and its signer <paramref name="trusted"/> itself or a certificate that
    /// <paramref name="trusted"/> signed directly.
    /// </summary>
    public static AuthenticodeVerification Verify(ReadOnlyMemory<byte> image, X509Certificate2 trusted)
    {
        ArgumentNullException.ThrowIfNull(trusted);
        var certificates = ReadCertificates(image.Span);
        if (certificates.Count == 0) return Fail("the image has no certificate table (it is not signed)");
        var first = certificates[0];
        if (first.Revision != PeLayout.WinCertRevision2 || first.CertificateType != PeLayout.WinCertTypePkcsSignedData)
            return Fail($"the WIN_CERTIFICATE has revision 0x{first.Revision:X4} and type 0x{first.CertificateType:X4}, expected 0x0200 and 0x0002");

        var cms = new SignedCms();
        try
        {
            cms.Decode(first.Certificate);
        }
        catch (CryptographicException e)
        {
            return Fail($"the signature is not a valid PKCS#7 SignedData: {e.Message}");
        }
        var (oid, signedDigest) = ReadSignedDigest(cms);
        var imageDigest = AuthenticodeDigest.Compute(image, PeFile.Parse(image.Span), SpcIndirectDataContent.DigestAlgorithm(oid));
        if (!CryptographicOperations.FixedTimeEquals(signedDigest, imageDigest))
            return new AuthenticodeVerification(false,
                $"the image hash {Convert.ToHexStringLower(imageDigest)} differs from the signed one {Convert.ToHexStringLower(signedDigest)} (the file changed after signing)",
                signedDigest, imageDigest, null);

        if (cms.SignerInfos.Count != 1)
            return new AuthenticodeVerification(false, $"the SignedData has {cms.SignerInfos.Count} signers, expected 1", signedDigest, imageDigest, null);
        var signerInfo = cms.SignerInfos[0];
        try
        {
            signerInfo.CheckSignature(new X509Certificate2Collection(trusted), verifySignatureOnly: true);
        }
        catch (CryptographicException e)
        {
            return new AuthenticodeVerification(false, $"the CMS signature does not verify: {e.Message}", signedDigest, imageDigest, signerInfo.Certificate);
        }
        var signer = signerInfo.Certificate;
        if (signer is null)
            return new AuthenticodeVerification(false, "the signer's certificate is not in the SignedData", signedDigest, imageDigest, null);
        if (!signer.RawDataMemory.Span.SequenceEqual(trusted.RawDataMemory.Span) && !IsIssuedBy(signer, trusted))
            return new AuthenticodeVerification(false, $"the signer {signer.Subject} is neither the trusted certificate {trusted.Subject} nor issued by it",
                signedDigest, imageDigest, signer);
        return new AuthenticodeVerification(true, null, signedDigest, imageDigest, signer);

        AuthenticodeVerification Fail(string problem) => new(false, problem, [], [], null);
    }

    static bool IsIssuedBy(X509Certificate2 certificate, X509Certificate2 issuer)
    {
        if (!certificate.IssuerName.RawData.AsSpan().SequenceEqual(issuer.SubjectName.RawData)) return false;
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(issuer);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.IgnoreNotTimeValid | X509VerificationFlags.IgnoreWrongUsage;
        return chain.Build(certificate);
    }
}
