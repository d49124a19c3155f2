using System.Text;
using Initrd.Apt.Repositories;

namespace Initrd.Apt.Tests.Repositories;

/// <summary>gpgv status decoding on recorded output, and the seams around the gpgv program.</summary>
public sealed class GpgvTests
{
    // Recorded from gpgv 2.2.40 on trixie's InRelease with a keyring holding only the trixie keys.
    const string TwoGoodOneMissing = """
        [GNUPG:] NEWSIG
        [GNUPG:] ERRSIG 6ED0E7B82643E131 1 8 01 1789199778 9 4CB50190207B4758A3F73A796ED0E7B82643E131
        [GNUPG:] NO_PUBKEY 6ED0E7B82643E131
        [GNUPG:] NEWSIG
        [GNUPG:] KEY_CONSIDERED 04B54C3CDCA79751B16BC6B5225629DF75B188BD 0
        [GNUPG:] GOODSIG 78DBA3BC47EF2265 Debian Archive Automatic Signing Key (13/trixie) <ftpmaster@debian.org>
        [GNUPG:] VALIDSIG B8E5F13176D2A7A75220028078DBA3BC47EF2265 2026-09-12 1789199779 0 4 0 1 8 01 04B54C3CDCA79751B16BC6B5225629DF75B188BD
        """;

    [Fact]
    public void GoodSignature_WithAnotherSignatureByAMissingKey_IsAccepted()
    {
        var s = GpgvStatus.Parse(TwoGoodOneMissing);
        s.ThrowIfNotAccepted("x", "");
        Assert.Equal(["B8E5F13176D2A7A75220028078DBA3BC47EF2265"], s.GoodFingerprints);
    }

    [Theory]
    [InlineData("[GNUPG:] BADSIG 78DBA3BC47EF2265 Someone\n" +
                "[GNUPG:] GOODSIG 6ED0E7B82643E131 Other\n[GNUPG:] VALIDSIG 4CB50190207B4758A3F73A796ED0E7B82643E131 d 1 0 4 0 1 8 01",
        RepositoryErrorKind.SignatureInvalid)]
    [InlineData("[GNUPG:] ERRSIG 6ED0E7B82643E131 1 8 01 1789199778 4\n" +
                "[GNUPG:] GOODSIG 78DBA3BC47EF2265 X\n[GNUPG:] VALIDSIG B8E5F13176D2A7A75220028078DBA3BC47EF2265 d 1 0 4 0 1 8 01",
        RepositoryErrorKind.SignatureInvalid)] // ERRSIG that is not a missing key
    [InlineData("[GNUPG:] ERRSIG 6ED0E7B82643E131 1 8 01 1789199778 9\n[GNUPG:] NO_PUBKEY 6ED0E7B82643E131",
        RepositoryErrorKind.UnknownSigningKey)]
    [InlineData("[GNUPG:] EXPKEYSIG 6DCBDA520A8BDBD2 Old\n[GNUPG:] VALIDSIG DEE73DD662BACDAE08F1DA716DCBDA520A8BDBD2 d 1 0 4 0 22 8 01",
        RepositoryErrorKind.SigningKeyExpired)]
    [InlineData("[GNUPG:] REVKEYSIG 6DCBDA520A8BDBD2 Old\n[GNUPG:] VALIDSIG DEE73DD662BACDAE08F1DA716DCBDA520A8BDBD2 d 1 0 4 0 22 8 01",
        RepositoryErrorKind.SigningKeyExpired)]
    [InlineData("[GNUPG:] GOODSIG 6DCBDA520A8BDBD2 Sha1\n[GNUPG:] VALIDSIG DEE73DD662BACDAE08F1DA716DCBDA520A8BDBD2 d 1 0 4 0 22 2 01",
        RepositoryErrorKind.SignatureInvalid)] // SHA-1 digest
    [InlineData("[GNUPG:] GOODSIG 6DCBDA520A8BDBD2 NoValid", RepositoryErrorKind.Unsigned)] // GOODSIG without VALIDSIG
    [InlineData("[GNUPG:] NODATA 1", RepositoryErrorKind.Unsigned)]
    [InlineData("", RepositoryErrorKind.Unsigned)]
    public void Refused(string status, RepositoryErrorKind kind)
    {
        var e = Assert.Throws<RepositoryException>(() => GpgvStatus.Parse(status).ThrowIfNotAccepted("http://x/InRelease", "stderr text"));
        Assert.Equal(kind, e.Kind);
        Assert.Equal("http://x/InRelease", e.Location);
    }

    [Fact]
    public async Task MissingGpgv_NamesTheDebianPackage()
    {
        var signed = "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\nOrigin: x\n-----BEGIN PGP SIGNATURE-----\n\nAAAA\n-----END PGP SIGNATURE-----\n";
        var verifier = new Gpgv("/nonexistent/gpgv");
        var e = await Assert.ThrowsAsync<RepositoryException>(() =>
            verifier.VerifyAsync(Encoding.UTF8.GetBytes(signed), ["/usr/share/keyrings/debian-archive-keyring.gpg"], "x", TestContext.Current.CancellationToken));
        Assert.Equal(RepositoryErrorKind.ToolMissing, e.Kind);
        Assert.Contains("Debian package 'gpgv'", e.Message);
    }

    [Fact]
    public void Dearmor_ChecksTheCrc()
    {
        // RFC 4880 §6.1 test: "0xB704CE" initial value; a one-byte body.
        var good = "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAQ==\n=" + Crc("AQ==") + "\n-----END PGP PUBLIC KEY BLOCK-----\n";
        Assert.Equal([1], OpenPgpArmor.Dearmor(good));
        Assert.Throws<FormatException>(() => OpenPgpArmor.Dearmor(good.Replace("AQ==\n", "Ag==\n")));
        Assert.Throws<FormatException>(() => OpenPgpArmor.Dearmor("no armour here"));

        static string Crc(string b64)
        {
            uint crc = 0xB704CE;
            foreach (var b in Convert.FromBase64String(b64))
            {
                crc ^= (uint)b << 16;
                for (var i = 0; i < 8; i++) { crc <<= 1; if ((crc & 0x1000000) != 0) crc ^= 0x1864CFB; }
            }
            return Convert.ToBase64String([(byte)(crc >> 16), (byte)(crc >> 8), (byte)crc]);
        }
    }
}
