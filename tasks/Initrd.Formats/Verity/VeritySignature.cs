using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;

namespace Initrd.Formats.Verity;

/// <summary>The fields of a Verity signature partition.</summary>
/// <param name="RootHash">The root hash as lowercase hex.</param>
/// <param name="Signature">The DER-encoded PKCS#7 (CMS) signature of <paramref name="RootHash"/>'s ASCII text.</param>
/// <param name="CertificateFingerprint">SHA-256 of the signing certificate's DER encoding, lowercase hex; optional.</param>
public sealed record VeritySignatureContent(string RootHash, byte[] Signature, string? CertificateFingerprint);

/// <summary>
/// The content of a Verity signature partition (Discoverable Partitions Specification, section "Verity"): a JSON
/// object with <c>rootHash</c>, <c>certificateFingerprint</c> and <c>signature</c>, NUL-padded to a multiple of 4096
/// bytes.
/// </summary>
/// <remarks>
/// <para>The signature is what the kernel's dm-verity root hash signature check (<c>root_hash_sig_key_desc</c>) and
/// systemd verify: a detached PKCS#7 SignedData over the exact text of the root hash (lowercase hex, no newline),
/// SHA-256, the signer identified by issuer and serial number, the signer's certificate included, and no signed
/// attributes — the shape <c>openssl smime -sign -binary -noattr</c> and systemd-repart
/// (<c>PKCS7_DETACHED|PKCS7_NOATTR|PKCS7_BINARY</c>) produce. RSA (PKCS#1 v1.5) signatures are deterministic, so the
/// same root hash and key give the same bytes.</para>
/// <para>Fields are written in systemd-repart 257's order (<c>rootHash</c>, <c>certificateFingerprint</c>,
/// <c>signature</c>), compact, no trailing newline.</para>
/// </remarks>
public static class VeritySignature
{
    /// <summary>The partition content is NUL-padded to a multiple of this.</summary>
    public const int Alignment = 4096;

    public const string RootHashField = "rootHash";
    public const string SignatureField = "signature";
    public const string CertificateFingerprintField = "certificateFingerprint";

    static readonly Oid Sha256 = new("2.16.840.1.101.3.4.2.1");

    /// <summary>Signs <paramref name="rootHashHex"/> and returns the signature partition's content.</summary>
    /// <param name="rootHashHex">The root hash as lowercase hex (<see cref="VerityHashTree.RootHashHex"/>).</param>
    /// <param name="certificate">The signer's certificate, with its private key unless <paramref name="privateKey"/> is given.</param>
    /// <param name="privateKey">The certificate's private key (RSA or ECDSA), when the certificate does not carry it.</param>
    /// <exception cref="ArgumentException">The root hash is not lowercase hex; the certificate has no private key and
    /// none is given; or the key does not belong to the certificate.</exception>
    public static byte[] CreatePartitionContent(string rootHashHex, X509Certificate2 certificate, AsymmetricAlgorithm? privateKey = null)
    {
        var signature = Sign(rootHashHex, certificate, privateKey);
        return CreatePartitionContent(rootHashHex, signature, certificate);
    }

    /// <summary>Builds the partition content from a signature made elsewhere (e.g. by a hardware key).</summary>
    public static byte[] CreatePartitionContent(string rootHashHex, ReadOnlySpan<byte> signature, X509Certificate2 certificate)
    {
        CheckRootHash(rootHashHex);
        ArgumentNullException.ThrowIfNull(certificate);
        if (signature.IsEmpty) throw new ArgumentException("the signature is empty", nameof(signature));

        var json = new System.Buffers.ArrayBufferWriter<byte>();
        using (var writer = new Utf8JsonWriter(json, new JsonWriterOptions { Indented = false }))
        {
            writer.WriteStartObject();
            writer.WriteString(RootHashField, rootHashHex);
            writer.WriteString(CertificateFingerprintField, CertificateFingerprint(certificate));
            writer.WriteString(SignatureField, Convert.ToBase64String(signature));
            writer.WriteEndObject();
        }
        var length = (json.WrittenCount + Alignment - 1) / Alignment * Alignment;
        var content = new byte[length];
        json.WrittenSpan.CopyTo(content);
        return content;
    }

    /// <summary>
    /// The detached PKCS#7 signature (DER) of the ASCII text <paramref name="rootHashHex"/> (see the remarks on
    /// <see cref="VeritySignature"/> for its shape).
    /// </summary>
    public static byte[] Sign(string rootHashHex, X509Certificate2 certificate, AsymmetricAlgorithm? privateKey = null)
    {
        CheckRootHash(rootHashHex);
        ArgumentNullException.ThrowIfNull(certificate);
        if (privateKey is null && !certificate.HasPrivateKey)
            throw new ArgumentException($"certificate '{certificate.Subject}' carries no private key; pass the key that belongs to it", nameof(privateKey));
        if (privateKey is not null) CheckKeyMatches(certificate, privateKey);

        var content = new ContentInfo(Encoding.ASCII.GetBytes(rootHashHex));
        var cms = new SignedCms(content, detached: true);
        var signer = privateKey is null
            ? new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, certificate)
            : new CmsSigner(SubjectIdentifierType.IssuerAndSerialNumber, certificate, privateKey);
        signer.DigestAlgorithm = Sha256;
        signer.IncludeOption = X509IncludeOption.EndCertOnly;
        // No signed attributes (no signing time): the kernel's PKCS#7 parser and systemd need none, and the output
        // stays a function of the inputs.
        cms.ComputeSignature(signer, silent: true);
        return cms.Encode();
    }

    /// <summary>SHA-256 of the certificate's DER encoding, lowercase hex without separators.</summary>
    public static string CertificateFingerprint(X509Certificate2 certificate)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        return Convert.ToHexStringLower(SHA256.HashData(certificate.RawDataMemory.Span));
    }

    /// <summary>Reads a signature partition's content (JSON, then NUL padding).</summary>
    /// <exception cref="InvalidDataException">Not JSON, a mandatory field missing or of the wrong kind, bytes other than
    /// NUL after the JSON, or a signature that is not base64 (the message names the field and offset).</exception>
    public static VeritySignatureContent Parse(ReadOnlySpan<byte> partition)
    {
        var end = partition.IndexOf((byte)0);
        var json = end < 0 ? partition : partition[..end];
        if (end >= 0)
        {
            var trailing = partition[end..].IndexOfAnyExcept((byte)0);
            if (trailing >= 0)
                throw new InvalidDataException($"Verity signature partition: byte 0x{partition[end + trailing]:X2} at offset {end + trailing} after the JSON's NUL padding");
        }
        if (json.IsEmpty) throw new InvalidDataException("Verity signature partition is empty (all NUL)");

        try
        {
            using var document = JsonDocument.Parse(json.ToArray());
            var root = document.RootElement;
            if (root.ValueKind != JsonValueKind.Object)
                throw new InvalidDataException($"Verity signature partition holds a JSON {root.ValueKind}, expected an object");
            var rootHash = RequiredString(root, RootHashField);
            var signatureText = RequiredString(root, SignatureField);
            string? fingerprint = null;
            if (root.TryGetProperty(CertificateFingerprintField, out var f))
                fingerprint = f.ValueKind == JsonValueKind.String ? f.GetString()
                    : throw new InvalidDataException($"Verity signature field '{CertificateFingerprintField}' is a JSON {f.ValueKind}, expected a string");
            byte[] signature;
            try { signature = Convert.FromBase64String(signatureText); }
            catch (FormatException)
            {
                throw new InvalidDataException($"Verity signature field '{SignatureField}' is not base64");
            }
            return new VeritySignatureContent(rootHash, signature, fingerprint);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Verity signature partition is not valid JSON at byte {e.BytePositionInLine}: {e.Message}", e);
        }
    }

    static string RequiredString(JsonElement root, string name) =>
        root.TryGetProperty(name, out var v)
            ? v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new InvalidDataException($"Verity signature field '{name}' is a JSON {v.ValueKind}, expected a string")
            : throw new InvalidDataException($"Verity signature partition has no '{name}' field");

    static void CheckRootHash(string rootHashHex)
    {
        ArgumentNullException.ThrowIfNull(rootHashHex);
        if (rootHashHex.Length < 2 * VerityLayout.DigestLength || rootHashHex.Length % 2 != 0 || rootHashHex.Length > 128
            || rootHashHex.AsSpan().IndexOfAnyExcept("0123456789abcdef") >= 0)
            throw new ArgumentException($"'{rootHashHex}' is not a root hash: expected 64 to 128 lowercase hexadecimal digits (VerityHashTree.RootHashHex)", nameof(rootHashHex));
    }

    /// <summary>The key must be the one the certificate's public key belongs to; otherwise nothing would verify.</summary>
    static void CheckKeyMatches(X509Certificate2 certificate, AsymmetricAlgorithm privateKey)
    {
        bool matches;
        switch (privateKey)
        {
            case RSA rsa:
                using (var pub = certificate.GetRSAPublicKey())
                {
                    if (pub is null) { matches = false; break; }
                    var a = pub.ExportParameters(false);
                    var b = rsa.ExportParameters(false);
                    matches = a.Modulus.AsSpan().SequenceEqual(b.Modulus) && a.Exponent.AsSpan().SequenceEqual(b.Exponent);
                }
                break;
            case ECDsa ec:
                using (var pub = certificate.GetECDsaPublicKey())
                {
                    if (pub is null) { matches = false; break; }
                    var a = pub.ExportParameters(false);
                    var b = ec.ExportParameters(false);
                    matches = a.Q.X.AsSpan().SequenceEqual(b.Q.X) && a.Q.Y.AsSpan().SequenceEqual(b.Q.Y);
                }
                break;
            default:
                throw new ArgumentException($"a {privateKey.GetType().Name} key cannot sign a Verity root hash; use an RSA or ECDSA key", nameof(privateKey));
        }
        if (!matches)
            throw new ArgumentException($"the private key does not belong to certificate '{certificate.Subject}' (SHA-256 fingerprint {CertificateFingerprint(certificate)}); give the key the certificate was issued for, or the certificate of this key", nameof(privateKey));
    }
}
