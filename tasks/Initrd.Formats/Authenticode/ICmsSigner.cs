using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Initrd.Formats.Authenticode;

/// <summary>
/// Makes a PKCS#7 SignedData over given content: the one step of Authenticode signing that needs the private key.
/// <see cref="LocalKeySigner"/> signs with a key from a PEM file; a PKCS#11/HSM signer implements this interface
/// (for example with <see cref="Pkcs7Signing.Sign"/> and a <see cref="System.Security.Cryptography.Pkcs.CmsSigner"/>
/// over an <see cref="RSA"/> that forwards to the token) without any change to <see cref="AuthenticodeSigner"/>.
/// </summary>
public interface ICmsSigner
{
    /// <summary>The signer's certificate (its issuer and serial number identify the signer in the SignerInfo).</summary>
    X509Certificate2 Certificate { get; }

    /// <summary>The digest algorithm of the signature and of the messageDigest attribute (SHA-256 for UEFI).</summary>
    HashAlgorithmName DigestAlgorithm { get; }

    /// <summary>
    /// Signs <paramref name="content"/> and returns the DER encoding of a ContentInfo of type signedData, PKCS#7 v1.5
    /// style as Authenticode needs it:
    /// <list type="bullet">
    /// <item>encapContentInfo is <paramref name="contentType"/> with <paramref name="content"/> (a DER SEQUENCE) as its
    /// [0] EXPLICIT content, NOT wrapped in an OCTET STRING;</item>
    /// <item>one SignerInfo (issuerAndSerialNumber) with signed attributes contentType, messageDigest — the hash of
    /// the content's contents octets, i.e. without its outer tag and length — and <paramref name="signedAttributes"/>;</item>
    /// <item>the signer's certificate (and any chain certificates the signer is configured with).</item>
    /// </list>
    /// </summary>
    byte[] Sign(string contentType, ReadOnlyMemory<byte> content, IReadOnlyList<AsnEncodedData> signedAttributes);
}
