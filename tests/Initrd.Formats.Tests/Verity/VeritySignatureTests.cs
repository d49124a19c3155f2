using System.Security.Cryptography;
using System.Security.Cryptography.Pkcs;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using System.Text.Json;
using Initrd.Formats.Verity;
using Initrd.Testing;
using static Initrd.Formats.Tests.Verity.VerityTestSupport;

namespace Initrd.Formats.Tests.Verity;

public class VeritySignatureTests
{
    const string RootHash = "2d429389d9fa7113bb31e6b17b33e1bf88b7308ea1a368b844b5af8acf561e69";

    [Fact]
    public void PartitionContentIsCompactJsonPaddedWithNulsTo4096()
    {
        using var cert = RsaCertificate();
        var content = VeritySignature.CreatePartitionContent(RootHash, cert);

        Assert.Equal(0, content.Length % 4096);
        var end = Array.IndexOf(content, (byte)0);
        Assert.True(end > 0);
        Assert.All(content[end..], b => Assert.Equal(0, b));
        var text = Encoding.UTF8.GetString(content, 0, end);
        Assert.StartsWith("{\"rootHash\":\"" + RootHash + "\",\"certificateFingerprint\":\"", text);
        Assert.DoesNotContain("\n", text);

        using var json = JsonDocument.Parse(text);
        Assert.Equal(["rootHash", "certificateFingerprint", "signature"], json.RootElement.EnumerateObject().Select(p => p.Name));
        Assert.Equal(Convert.ToHexStringLower(SHA256.HashData(cert.RawData)), json.RootElement.GetProperty("certificateFingerprint").GetString());

        var parsed = VeritySignature.Parse(content);
        Assert.Equal(RootHash, parsed.RootHash);
        Assert.Equal(VeritySignature.CertificateFingerprint(cert), parsed.CertificateFingerprint);
        Assert.Equal(Convert.FromBase64String(json.RootElement.GetProperty("signature").GetString()!), parsed.Signature);
    }

    [Fact]
    public void SignatureIsDetachedSha256WithTheCertificateAndNoSignedAttributes()
    {
        using var cert = RsaCertificate();
        var der = VeritySignature.Sign(RootHash, cert);
        var cms = new SignedCms(new ContentInfo(Encoding.ASCII.GetBytes(RootHash)), detached: true);
        cms.Decode(der);
        cms.CheckSignature(verifySignatureOnly: true);
        Assert.True(cms.Detached);
        var signer = Assert.Single(cms.SignerInfos.Cast<SignerInfo>());
        Assert.Equal(SubjectIdentifierType.IssuerAndSerialNumber, signer.SignerIdentifier.Type);
        Assert.Equal("2.16.840.1.101.3.4.2.1", signer.DigestAlgorithm.Value);
        Assert.Empty(signer.SignedAttributes);
        Assert.Equal(cert.RawData, Assert.Single(cms.Certificates).RawData);
        Assert.Equal(1, cms.Version);
    }

    [Fact]
    public void RsaSignatureIsDeterministic()
    {
        using var cert = RsaCertificate();
        Assert.Equal(VeritySignature.CreatePartitionContent(RootHash, cert), VeritySignature.CreatePartitionContent(RootHash, cert));
    }

    [Theory]
    [InlineData("rsa")]
    [InlineData("ecdsa")]
    public void OpenSslCmsVerifyAcceptsTheSignatureAndRejectsAnotherHash(string algorithm)
    {
        var openssl = ReferenceTool.Require("openssl", "openssl");
        using var dir = new TempDirectory("verity-sig");
        using var cert = algorithm == "rsa" ? RsaCertificate() : EcdsaCertificate();
        var parsed = VeritySignature.Parse(VeritySignature.CreatePartitionContent(RootHash, cert));
        File.WriteAllBytes(dir.Combine("sig.der"), parsed.Signature);
        File.WriteAllText(dir.Combine("cert.pem"), cert.ExportCertificatePem());
        File.WriteAllText(dir.Combine("roothash.txt"), RootHash);
        File.WriteAllText(dir.Combine("other.txt"), RootHash.Replace('2', '3'));

        string[] Args(string content) => ["cms", "-verify", "-binary", "-inform", "DER", "-in", dir.Combine("sig.der"), "-content", dir.Combine(content),
            "-CAfile", dir.Combine("cert.pem"), "-purpose", "any", "-out", "/dev/null"];
        var ok = ReferenceTool.Run(openssl, Args("roothash.txt"));
        Assert.True(ok.ExitCode == 0, ok.ToString());
        Assert.Contains("Verification successful", ok.StandardError);
        var bad = ReferenceTool.Run(openssl, Args("other.txt"));
        Assert.NotEqual(0, bad.ExitCode);

        var fingerprint = ReferenceTool.Run(openssl, ["x509", "-in", dir.Combine("cert.pem"), "-noout", "-fingerprint", "-sha256"]);
        Assert.True(fingerprint.ExitCode == 0, fingerprint.ToString());
        var hex = fingerprint.StandardOutput.Trim().Split('=')[1].Replace(":", "").ToLowerInvariant();
        Assert.Equal(hex, parsed.CertificateFingerprint);
    }

    [Fact]
    public void KeyGivenSeparatelyMustBelongToTheCertificate()
    {
        using var key = RSA.Create(2048);
        using var withKey = new CertificateRequest("CN=separate key", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
        using var publicOnly = X509CertificateLoader.LoadCertificate(withKey.RawData);
        Assert.False(publicOnly.HasPrivateKey);

        var der = VeritySignature.Sign(RootHash, publicOnly, key);
        var cms = new SignedCms(new ContentInfo(Encoding.ASCII.GetBytes(RootHash)), detached: true);
        cms.Decode(der);
        cms.CheckSignature(verifySignatureOnly: true);

        var noKey = Assert.Throws<ArgumentException>(() => VeritySignature.Sign(RootHash, publicOnly));
        Assert.Contains("carries no private key", noKey.Message);

        using var otherKey = RSA.Create(2048);
        var mismatch = Assert.Throws<ArgumentException>(() => VeritySignature.Sign(RootHash, publicOnly, otherKey));
        Assert.Contains("does not belong to certificate 'CN=separate key'", mismatch.Message);

        using var ecKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.Throws<ArgumentException>(() => VeritySignature.Sign(RootHash, publicOnly, ecKey));
    }

    [Theory]
    [InlineData("")]
    [InlineData("2D429389D9FA7113BB31E6B17B33E1BF88B7308EA1A368B844B5AF8ACF561E69")]
    [InlineData("2d429389d9fa7113bb31e6b17b33e1bf88b7308ea1a368b844b5af8acf561e6")]
    [InlineData("2d429389d9fa7113bb31e6b17b33e1bf88b7308ea1a368b844b5af8acf561e69\n")]
    public void RootHashMustBeLowercaseHex(string rootHash)
    {
        using var cert = RsaCertificate();
        Assert.Contains("lowercase hexadecimal", Assert.Throws<ArgumentException>(() => VeritySignature.Sign(rootHash, cert)).Message);
    }

    [Fact]
    public void ParseRejectsMalformedContent()
    {
        byte[] Padded(string s) { var b = new byte[4096]; Encoding.UTF8.GetBytes(s).CopyTo(b, 0); return b; }
        Assert.Contains("no 'signature' field", Assert.Throws<InvalidDataException>(() => VeritySignature.Parse(Padded("{\"rootHash\":\"ab\"}"))).Message);
        Assert.Contains("'rootHash' is a JSON Number", Assert.Throws<InvalidDataException>(() => VeritySignature.Parse(Padded("{\"rootHash\":1,\"signature\":\"AA==\"}"))).Message);
        Assert.Contains("not base64", Assert.Throws<InvalidDataException>(() => VeritySignature.Parse(Padded("{\"rootHash\":\"ab\",\"signature\":\"***\"}"))).Message);
        Assert.Contains("not valid JSON", Assert.Throws<InvalidDataException>(() => VeritySignature.Parse(Padded("{\"rootHash\":"))).Message);
        Assert.Contains("empty", Assert.Throws<InvalidDataException>(() => VeritySignature.Parse(new byte[4096])).Message);
        var trailing = Padded("{\"rootHash\":\"ab\",\"signature\":\"AA==\"}");
        trailing[4000] = 1;
        Assert.Contains("offset 4000", Assert.Throws<InvalidDataException>(() => VeritySignature.Parse(trailing)).Message);
    }
}
