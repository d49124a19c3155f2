using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;

namespace Initrd.Formats.Authenticode;

/// <summary>
/// An <see cref="ICmsSigner"/> with the private key in this process: a PEM certificate (optionally followed by its
/// chain) and a PEM private key (PKCS#1 or PKCS#8; RSA for UEFI db keys). The signature is RSA PKCS#1 v1.5 (or
/// ECDSA), which is deterministic for RSA; no signing time is added, so the same image and key give the same bytes.
/// </summary>
public sealed class LocalKeySigner : ICmsSigner, IDisposable
{
    readonly X509Certificate2Collection _chain;

    /// <param name="certificateWithKey">The signing certificate with its private key.</param>
    /// <param name="chain">Further certificates to include (intermediates), or none.</param>
    /// <param name="digestAlgorithm">Default SHA-256.</param>
    public LocalKeySigner(X509Certificate2 certificateWithKey, IEnumerable<X509Certificate2>? chain = null, HashAlgorithmName? digestAlgorithm = null)
    {
        ArgumentNullException.ThrowIfNull(certificateWithKey);
        if (!certificateWithKey.HasPrivateKey)
            throw new ArgumentException($"The certificate {certificateWithKey.Subject} has no private key attached.", nameof(certificateWithKey));
        Certificate = certificateWithKey;
        _chain = [.. (chain ?? []).Where(c => !c.RawDataMemory.Span.SequenceEqual(certificateWithKey.RawDataMemory.Span))];
        DigestAlgorithm = digestAlgorithm ?? HashAlgorithmName.SHA256;
        SpcIndirectDataContent.DigestOid(DigestAlgorithm); // refuses what Authenticode cannot name
    }

    /// <summary>
    /// Loads the certificate file (the first certificate signs, the others are included as its chain) and the key
    /// file (<paramref name="keyPassword"/> for an encrypted PKCS#8 key).
    /// </summary>
    public static LocalKeySigner FromPemFiles(string certificatePath, string keyPath, string? keyPassword = null)
    {
        var certificate = keyPassword is null
            ? X509Certificate2.CreateFromPemFile(certificatePath, keyPath)
            : X509Certificate2.CreateFromEncryptedPemFile(certificatePath, keyPassword, keyPath);
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certificatePath);
        return WithChain(certificate, all);
    }

    /// <summary>As <see cref="FromPemFiles"/>, from PEM text.</summary>
    public static LocalKeySigner FromPem(string certificatePem, string keyPem)
    {
        var certificate = X509Certificate2.CreateFromPem(certificatePem, keyPem);
        var all = new X509Certificate2Collection();
        all.ImportFromPem(certificatePem);
        return WithChain(certificate, all);
    }

    /// <summary>The file's first certificate is the signer's (already loaded with its key); the rest is its chain.</summary>
    static LocalKeySigner WithChain(X509Certificate2 certificate, X509Certificate2Collection all)
    {
        if (all.Count > 0) all[0].Dispose();
        return new LocalKeySigner(certificate, all.Skip(1));
    }

    public X509Certificate2 Certificate { get; }

    public HashAlgorithmName DigestAlgorithm { get; }

    public byte[] Sign(string contentType, ReadOnlyMemory<byte> content, IReadOnlyList<AsnEncodedData> signedAttributes)
    {
        var signer = new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, Certificate)
        {
            DigestAlgorithm = new Oid(SpcIndirectDataContent.DigestOid(DigestAlgorithm)),
            // No chain building: include exactly the signer and the configured chain (deterministic, no system store).
            IncludeOption = X509IncludeOption.EndCertOnly,
        };
        signer.Certificates.AddRange(_chain);
        foreach (var attribute in signedAttributes) signer.SignedAttributes.Add(attribute);
        return Pkcs7Signing.Sign(signer, contentType, content);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var c in _chain) c.Dispose();
    }
}
