using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Initrd.Formats.Authenticode;
using Initrd.Formats.Pe;
using Initrd.Formats.Tests.Pe;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Authenticode;

/// <summary>
/// Signatures made in process, checked by sbverify (sbsigntool) and osslsigncode; our image hash checked against
/// the one sbsign embeds, the one osslsigncode computes, and the one Debian's signature of its kernel carries.
/// </summary>
public partial class AuthenticodeTests(TestSigningKey key, ITestOutputHelper output) : IClassFixture<TestSigningKey>
{
    [GeneratedRegex(@"Calculated message digest\s*:\s*(?<hex>[0-9A-Fa-f]+)")]
    private static partial Regex CalculatedDigest();

    [GeneratedRegex(@"Current message digest\s*:\s*(?<hex>[0-9A-Fa-f]+)")]
    private static partial Regex CurrentDigest();

    /// <summary>What to sign: a UKI, an addon, or a UKI whose stub sections had to move down the file (grown headers).</summary>
    public enum Kind { Uki, Addon, Moved }

    static byte[] Unsigned(TrixieBootFiles files, Kind kind) => Builder(files, kind).Build();

    static UkiBuilder Builder(TrixieBootFiles files, Kind kind) => kind switch
    {
        Kind.Uki => new UkiBuilder(files.Stub).Add(".linux", files.Kernel).AddText(".cmdline", "console=ttyS0").AddText(".osrel", "ID=debian\n")
            .Add(".initrd", TrixieBootFiles.Noise(2_000_000, seed: 7)),
        Kind.Addon => new UkiBuilder(files.AddonStub, UkiKind.Addon).AddText(".cmdline", " quiet"),
        _ => UkiBuilderTests.MovedUkiBuilder(files),
    };

    /// <summary>
    /// The one-pass path (hash taken while the image is written, checksum carried forward from the writer's) gives the
    /// bytes of signing the finished image afterwards, which sbverify and osslsigncode accept above.
    /// </summary>
    [Theory]
    [InlineData(Kind.Uki)]
    [InlineData(Kind.Addon)]
    [InlineData(Kind.Moved)]
    public void SigningWhileWritingGivesTheBytesOfSigningAfterwards(Kind kind)
    {
        var files = TrixieBootFiles.Get();
        using var signer = Signer();
        var afterwards = AuthenticodeSigner.Sign(Unsigned(files, kind), signer);

        using var temp = new TempDirectory("one-pass");
        using (var file = new FileStream(temp.Combine("image.efi"), FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, bufferSize: 0))
        using (var hasher = new AuthenticodeHasher(signer.DigestAlgorithm))
        {
            Builder(files, kind).WriteTo(file, hasher);
            AuthenticodeSigner.Sign(file, signer, hasher);
        }
        Assert.Equal(afterwards, File.ReadAllBytes(temp.Combine("image.efi")));

        // A hasher that saw nothing is not used: the signer reads the file itself.
        using var stream = new MemoryStream();
        using var unused = new AuthenticodeHasher(signer.DigestAlgorithm);
        stream.Write(Unsigned(files, kind));
        AuthenticodeSigner.Sign(stream, signer, unused);
        Assert.Equal(afterwards, stream.ToArray());
    }

    LocalKeySigner Signer() => LocalKeySigner.FromPemFiles(key.Require().CertificatePath, key.KeyPath);

    static ToolResult Sbverify(string certificate, string image) =>
        ReferenceTool.Run(ReferenceTool.Require("sbverify", "sbsigntool"), ["--cert", certificate, image]);

    static ToolResult OsslVerify(string certificate, string image) =>
        ReferenceTool.Run(ReferenceTool.Require("osslsigncode", "osslsigncode"), ["verify", "-CAfile", certificate, "-in", image]);

    [Theory]
    [InlineData(Kind.Uki)]
    [InlineData(Kind.Addon)]
    [InlineData(Kind.Moved)]
    public void SbverifyAndOsslsigncodeAcceptTheSignedImage(Kind kind)
    {
        var files = TrixieBootFiles.Get();
        using var temp = new TempDirectory("signed");
        using var signer = Signer();
        var signed = AuthenticodeSigner.Sign(Unsigned(files, kind), signer);
        var path = temp.Combine("signed.efi");
        File.WriteAllBytes(path, signed);

        var sbverify = Sbverify(key.CertificatePath, path);
        Assert.True(sbverify.ExitCode == 0, $"sbverify rejected our signature: {sbverify}");
        Assert.Contains("Signature verification OK", sbverify.StandardOutput + sbverify.StandardError);
        var ossl = OsslVerify(key.CertificatePath, path);
        Assert.True(ossl.ExitCode == 0, $"osslsigncode rejected our signature: {ossl}");
        Assert.Contains("Succeeded", ossl.StandardOutput);
        output.WriteLine(ossl.StandardOutput);

        // osslsigncode's recomputed hash is ours, and so is the one it found in the signature.
        Assert.Equal(Convert.ToHexString(AuthenticodeDigest.Compute(signed)), CalculatedDigest().Match(ossl.StandardOutput).Groups["hex"].Value.ToUpperInvariant());
        Assert.Equal(Convert.ToHexString(AuthenticodeDigest.Compute(signed)), CurrentDigest().Match(ossl.StandardOutput).Groups["hex"].Value.ToUpperInvariant());

        var verification = AuthenticodeVerifier.Verify(signed, X509Certificate2.CreateFromPem(File.ReadAllText(key.CertificatePath)));
        Assert.True(verification.IsValid, verification.ToString());

        // Layout: one WIN_CERTIFICATE at the 8-aligned end of the image, the directory pointing at it, checksum updated.
        var headers = PeFile.Parse(signed);
        Assert.Equal(0u, headers.CertificateTable.VirtualAddress % 8);
        Assert.Equal((uint)signed.Length, headers.CertificateTable.VirtualAddress + headers.CertificateTable.Size);
        var certificate = Assert.Single(AuthenticodeVerifier.ReadCertificates(signed));
        Assert.Equal((ushort)0x0200, certificate.Revision);
        Assert.Equal((ushort)0x0002, certificate.CertificateType);
        Assert.Equal(PeChecksum.Compute(signed), headers.CheckSum);
    }

    [Theory]
    [InlineData(Kind.Uki, ".cmdline")]
    [InlineData(Kind.Uki, ".linux")]
    [InlineData(Kind.Addon, ".cmdline")]
    public void AByteFlippedInASectionAfterSigningIsRejectedByBoth(Kind kind, string section)
    {
        var files = TrixieBootFiles.Get();
        using var temp = new TempDirectory("tampered");
        using var signer = Signer();
        var signed = AuthenticodeSigner.Sign(Unsigned(files, kind), signer);
        var target = PeFile.Parse(signed).FindSection(section)!;
        signed[target.PointerToRawData + target.ContentLength / 2] ^= 0x01;
        var path = temp.Combine("tampered.efi");
        File.WriteAllBytes(path, signed);

        var sbverify = Sbverify(key.CertificatePath, path);
        Assert.True(sbverify.ExitCode != 0, $"sbverify accepted a modified image: {sbverify}");
        var ossl = OsslVerify(key.CertificatePath, path);
        Assert.True(ossl.ExitCode != 0, $"osslsigncode accepted a modified image: {ossl}");
        var verification = AuthenticodeVerifier.Verify(signed, X509Certificate2.CreateFromPem(File.ReadAllText(key.CertificatePath)));
        Assert.False(verification.IsValid);
        Assert.Contains("changed after signing", verification.Problem);
    }

    [Theory]
    [InlineData(Kind.Uki, 0)]
    [InlineData(Kind.Addon, 0)]
    [InlineData(Kind.Moved, 0)]
    [InlineData(Kind.Addon, 3)] // an image whose length is not a multiple of 8: the signer's padding is hashed
    public void OurDigestIsTheOneSbsignEmbeds(Kind kind, int trailingBytes)
    {
        var files = TrixieBootFiles.Get();
        using var temp = new TempDirectory("sbsign");
        var image = Unsigned(files, kind);
        if (trailingBytes > 0) image = [.. image, .. new byte[trailingBytes]];
        var path = temp.Combine("unsigned.efi");
        File.WriteAllBytes(path, image);
        var sbsign = ReferenceTool.Run(ReferenceTool.Require("sbsign", "sbsigntool"),
            ["--key", key.Require().KeyPath, "--cert", key.CertificatePath, "--output", temp.Combine("sbsigned.efi"), path]);
        Assert.True(sbsign.ExitCode == 0, $"sbsign failed: {sbsign}");
        var sbsigned = File.ReadAllBytes(temp.Combine("sbsigned.efi"));

        var (oid, theirs) = AuthenticodeVerifier.ReadSignedDigest(Assert.Single(AuthenticodeVerifier.ReadCertificates(sbsigned)).Certificate);
        Assert.Equal("2.16.840.1.101.3.4.2.1", oid);
        using var signer = Signer();
        var ours = AuthenticodeSigner.Sign(image, signer);
        var (_, embedded) = AuthenticodeVerifier.ReadSignedDigest(AuthenticodeVerifier.ReadCertificates(ours)[0].Certificate);
        Assert.Equal(Convert.ToHexString(theirs), Convert.ToHexString(embedded));
        Assert.Equal(Convert.ToHexString(theirs), Convert.ToHexString(AuthenticodeDigest.Compute(sbsigned)));

        // Both files lay the image out the same way up to the signature, and both checksums are the standard one.
        Assert.Equal(PeFile.Parse(sbsigned).CertificateTable.VirtualAddress, PeFile.Parse(ours).CertificateTable.VirtualAddress);
        Assert.Equal(PeChecksum.Compute(sbsigned), PeFile.Parse(sbsigned).CheckSum);
        output.WriteLine($"sbsign's and our digest: {Convert.ToHexStringLower(theirs)}");
    }

    [Fact]
    public void OurDigestOfDebiansSignedKernelIsTheOneItsSignatureCarries()
    {
        var files = TrixieBootFiles.Get();
        var signature = Assert.Single(AuthenticodeVerifier.ReadCertificates(files.Kernel));
        var (oid, signedDigest) = AuthenticodeVerifier.ReadSignedDigest(signature.Certificate);
        var ours = AuthenticodeDigest.Compute(files.Kernel, SpcIndirectDataContent.DigestAlgorithm(oid));
        Assert.Equal(Convert.ToHexString(signedDigest), Convert.ToHexString(ours));
        // And the checksum Debian's signing tool stored is the one we compute.
        Assert.Equal(PeFile.Parse(files.Kernel).CheckSum, PeChecksum.Compute(files.Kernel));
    }

    [Fact]
    public void SigningIsDeterministicAndRefusesASignedImage()
    {
        var files = TrixieBootFiles.Get();
        var image = Unsigned(files, Kind.Addon);
        using var signer = Signer();
        var first = AuthenticodeSigner.Sign(image, signer);
        using var again = Signer();
        Assert.Equal(first, AuthenticodeSigner.Sign(image, again));
        var e = Assert.Throws<PeException>(() => AuthenticodeSigner.Sign(first, signer));
        Assert.Equal(PeErrorKind.AlreadySigned, e.Kind);
    }

    [Fact]
    public void TheInProcessVerifierRejectsAnotherSignersCertificate()
    {
        var files = TrixieBootFiles.Get();
        using var signer = Signer();
        var signed = AuthenticodeSigner.Sign(Unsigned(files, Kind.Addon), signer);
        using var other = System.Security.Cryptography.RSA.Create(2048);
        var request = new CertificateRequest("CN=other", other, System.Security.Cryptography.HashAlgorithmName.SHA256, System.Security.Cryptography.RSASignaturePadding.Pkcs1);
        using var otherCertificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        var verification = AuthenticodeVerifier.Verify(signed, otherCertificate);
        Assert.False(verification.IsValid);
        output.WriteLine(verification.ToString());
        Assert.False(AuthenticodeVerifier.Verify(Unsigned(files, Kind.Addon), otherCertificate).IsValid);
    }
}
