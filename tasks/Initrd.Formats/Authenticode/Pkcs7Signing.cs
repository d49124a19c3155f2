using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;

namespace Initrd.Formats.Authenticode;

/// <summary>
/// Produces the PKCS#7 v1.5 SignedData that <see cref="ICmsSigner.Sign"/> describes with .NET's
/// <see cref="SignedCms"/>, which only writes the CMS form (content inside an OCTET STRING, messageDigest over the
/// bytes it is handed).
/// </summary>
/// <remarks>
/// The trick: <see cref="SignedCms"/> is handed the content's contents octets (the SEQUENCE without its tag and
/// length), so its messageDigest is exactly the hash Authenticode wants. It then encodes them as
/// <c>04 len contents</c>; changing that one tag byte to 0x30 gives <c>30 len contents</c>, the original
/// SEQUENCE — same length, so no enclosing length changes and the signature (over the signed attributes only) stays
/// valid. <see cref="SignedCms.Decode(byte[])"/> reads the result as PKCS#7 content and hashes the inner octets again.
/// </remarks>
public static class Pkcs7Signing
{
    /// <summary>Signs <paramref name="content"/> (a DER SEQUENCE) with <paramref name="signer"/>; see <see cref="ICmsSigner.Sign"/>.</summary>
    public static byte[] Sign(CmsSigner signer, string contentType, ReadOnlyMemory<byte> content)
    {
        ArgumentNullException.ThrowIfNull(signer);
        var inner = ContentsOctets(content);
        var cms = new SignedCms(new ContentInfo(new Oid(contentType), inner.ToArray()), detached: false);
        cms.ComputeSignature(signer, silent: true);
        var encoded = cms.Encode();
        RetagContent(encoded, inner.Span);
        return encoded;
    }

    /// <summary>The contents octets of a DER SEQUENCE (its value without tag and length).</summary>
    public static ReadOnlyMemory<byte> ContentsOctets(ReadOnlyMemory<byte> sequence)
    {
        var reader = new AsnReader(sequence, AsnEncodingRules.DER);
        var tag = reader.PeekTag();
        if (!tag.HasSameClassAndValue(Asn1Tag.Sequence))
            throw new ArgumentException($"The content to sign must be a DER SEQUENCE; it starts with tag {tag}.", nameof(sequence));
        var contents = reader.PeekContentBytes();
        var encodedLength = reader.PeekEncodedValue().Length;
        if (encodedLength != sequence.Length)
            throw new ArgumentException($"The content to sign has {sequence.Length - encodedLength} bytes after its SEQUENCE.", nameof(sequence));
        return contents;
    }

    /// <summary>
    /// Finds encapContentInfo's <c>[0] { OCTET STRING }</c> in an encoded ContentInfo(SignedData) and turns the OCTET
    /// STRING tag into a SEQUENCE tag, after checking that it holds <paramref name="inner"/>.
    /// </summary>
    static void RetagContent(byte[] encoded, ReadOnlySpan<byte> inner)
    {
        // ContentInfo ::= SEQUENCE { contentType OID, content [0] EXPLICIT SignedData }
        var contentInfo = new AsnReader(encoded, AsnEncodingRules.DER).ReadSequence();
        contentInfo.ReadObjectIdentifier();
        var explicitSignedData = contentInfo.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
        // SignedData ::= SEQUENCE { version, digestAlgorithms SET, encapContentInfo SEQUENCE, ... }
        var signedData = explicitSignedData.ReadSequence();
        signedData.ReadInteger();
        signedData.ReadSetOf();
        var encapContentInfo = signedData.ReadSequence();
        encapContentInfo.ReadObjectIdentifier();
        var explicitContent = encapContentInfo.ReadSequence(new Asn1Tag(TagClass.ContextSpecific, 0));
        var octetString = explicitContent.PeekEncodedValue();
        if (!explicitContent.PeekTag().HasSameClassAndValue(Asn1Tag.PrimitiveOctetString)
            || !explicitContent.PeekContentBytes().Span.SequenceEqual(inner))
            throw new CryptographicException("SignedCms did not encode the content as one primitive OCTET STRING holding the bytes to sign.");

        // The reader works on the array itself, so the slice's offset is the offset in the encoding.
        if (!System.Runtime.InteropServices.MemoryMarshal.TryGetArray(octetString, out var segment) || segment.Array != encoded)
            throw new CryptographicException("Cannot locate the encoded content in the SignedData.");
        encoded[segment.Offset] = 0x30; // SEQUENCE, constructed
    }
}
