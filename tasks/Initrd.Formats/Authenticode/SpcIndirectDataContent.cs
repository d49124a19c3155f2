using System.Formats.Asn1;
using System.Security.Cryptography;
using System.Text;

namespace Initrd.Formats.Authenticode;

/// <summary>
/// The content an Authenticode signature signs ("Windows Authenticode Portable Executable Signature Format"):
/// <code>
/// SpcIndirectDataContent ::= SEQUENCE {
///     data          SpcAttributeTypeAndOptionalValue,   -- type SPC_PE_IMAGE_DATAOBJ, value SpcPeImageData
///     messageDigest DigestInfo }                        -- the PE image hash (AuthenticodeDigest)
/// SpcPeImageData ::= SEQUENCE {
///     flags SpcPeImageFlags DEFAULT { includeResources },   -- written as an empty BIT STRING
///     file  [0] EXPLICIT SpcLink }                           -- [2] file: SpcString [0] unicode "&lt;&lt;&lt;Obsolete&gt;&gt;&gt;"
/// DigestInfo ::= SEQUENCE { digestAlgorithm AlgorithmIdentifier, digest OCTET STRING }
/// </code>
/// It is carried PKCS#7-style: directly as the [0] EXPLICIT content of the SignedData's contentInfo (no OCTET STRING
/// around it), and the signer's messageDigest attribute is the hash of its contents octets, without the outer
/// SEQUENCE tag and length.
/// </summary>
public static class SpcIndirectDataContent
{
    /// <summary>SPC_INDIRECT_DATA_OBJID, the SignedData content type of an Authenticode signature.</summary>
    public const string ContentTypeOid = "1.3.6.1.4.1.311.2.1.4";

    /// <summary>SPC_PE_IMAGE_DATAOBJ, the type of <c>data</c> for a PE image.</summary>
    public const string PeImageDataOid = "1.3.6.1.4.1.311.2.1.15";

    /// <summary>SPC_SP_OPUS_INFO_OBJID, a signed attribute (program name and URL; written empty).</summary>
    public const string SpOpusInfoOid = "1.3.6.1.4.1.311.2.1.12";

    /// <summary>SPC_STATEMENT_TYPE_OBJID, a signed attribute naming the kind of signing key.</summary>
    public const string StatementTypeOid = "1.3.6.1.4.1.311.2.1.11";

    /// <summary>SPC_INDIVIDUAL_SP_KEY_PURPOSE_OBJID, the statement type of an individual (not commercial) signer.</summary>
    public const string IndividualKeyPurposeOid = "1.3.6.1.4.1.311.2.1.21";

    /// <summary>The file name the specification says to put in SpcPeImageData, as everybody does.</summary>
    public const string ObsoleteFileName = "<<<Obsolete>>>";

    /// <summary>The DER encoding of an SpcIndirectDataContent for a PE image hash.</summary>
    public static byte[] Encode(ReadOnlySpan<byte> digest, HashAlgorithmName algorithm)
    {
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(PeImageDataOid);
                using (writer.PushSequence())
                {
                    writer.WriteBitString([]);
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 0, isConstructed: true)))
                    using (writer.PushSequence(new Asn1Tag(TagClass.ContextSpecific, 2, isConstructed: true)))
                    {
                        writer.WriteOctetString(Encoding.BigEndianUnicode.GetBytes(ObsoleteFileName), new Asn1Tag(TagClass.ContextSpecific, 0));
                    }
                }
            }
            WriteDigestInfo(writer, digest, algorithm);
        }
        return writer.Encode();
    }

    /// <summary>Reads the digest algorithm and the image hash from an encoded SpcIndirectDataContent.</summary>
    public static (string DigestAlgorithmOid, byte[] Digest) Decode(ReadOnlyMemory<byte> encoded)
    {
        try
        {
            var reader = new AsnReader(encoded, AsnEncodingRules.BER);
            var content = reader.ReadSequence();
            reader.ThrowIfNotEmpty();
            var data = content.ReadSequence();
            var type = data.ReadObjectIdentifier();
            if (type != PeImageDataOid)
                throw new InvalidDataException($"Authenticode: SpcIndirectDataContent's data has type {type}, expected SPC_PE_IMAGE_DATAOBJ ({PeImageDataOid}).");
            var digestInfo = content.ReadSequence();
            var algorithm = digestInfo.ReadSequence();
            var oid = algorithm.ReadObjectIdentifier();
            var digest = digestInfo.ReadOctetString();
            return (oid, digest);
        }
        catch (AsnContentException e)
        {
            throw new InvalidDataException($"Authenticode: the SpcIndirectDataContent is not valid DER: {e.Message}", e);
        }
    }

    /// <summary>The signed attributes an Authenticode signer adds besides contentType and messageDigest.</summary>
    public static IReadOnlyList<AsnEncodedData> ExtraSignedAttributes()
    {
        var opus = new AsnWriter(AsnEncodingRules.DER);
        opus.PushSequence().Dispose(); // SpcSpOpusInfo with neither programName nor moreInfo
        var statement = new AsnWriter(AsnEncodingRules.DER);
        using (statement.PushSequence()) statement.WriteObjectIdentifier(IndividualKeyPurposeOid);
        return
        [
            new AsnEncodedData(new Oid(SpOpusInfoOid), opus.Encode()),
            new AsnEncodedData(new Oid(StatementTypeOid), statement.Encode()),
        ];
    }

    /// <summary>The OID of a digest algorithm (SHA-256, SHA-384, SHA-512).</summary>
    public static string DigestOid(HashAlgorithmName algorithm) => algorithm.Name switch
    {
        "SHA256" => "2.16.840.1.101.3.4.2.1",
        "SHA384" => "2.16.840.1.101.3.4.2.2",
        "SHA512" => "2.16.840.1.101.3.4.2.3",
        _ => throw new ArgumentException($"Authenticode digest algorithm {algorithm.Name} is not supported; use SHA-256.", nameof(algorithm)),
    };

    /// <summary>The digest algorithm of an OID from <see cref="DigestOid"/>.</summary>
    public static HashAlgorithmName DigestAlgorithm(string oid) => oid switch
    {
        "2.16.840.1.101.3.4.2.1" => HashAlgorithmName.SHA256,
        "2.16.840.1.101.3.4.2.2" => HashAlgorithmName.SHA384,
        "2.16.840.1.101.3.4.2.3" => HashAlgorithmName.SHA512,
        "1.3.14.3.2.26" => HashAlgorithmName.SHA1,
        _ => throw new InvalidDataException($"Authenticode: digest algorithm {oid} is not known."),
    };

    static void WriteDigestInfo(AsnWriter writer, ReadOnlySpan<byte> digest, HashAlgorithmName algorithm)
    {
        using (writer.PushSequence())
        {
            using (writer.PushSequence())
            {
                writer.WriteObjectIdentifier(DigestOid(algorithm));
                writer.WriteNull();
            }
            writer.WriteOctetString(digest);
        }
    }
}
