using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Initrd.Formats.Authenticode;
using Initrd.Formats.Pe;
using Initrd.Formats.Tests.Authenticode;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Pe;

/// <summary>
/// How long building and signing a UKI takes (printed, not asserted): trixie's systemd-stub, its ~12 MB kernel and a
/// 30 MB stand-in initrd, all already in memory; then signing, and the in-process check of the signature.
/// </summary>
public class UkiThroughputTests(TestSigningKey key, ITestOutputHelper output) : IClassFixture<TestSigningKey>
{
    [Fact]
    [Trait("Category", "Benchmark")]
    public void BuildAndSignAUkiWithAThirtyMegabyteInitrd()
    {
        Measurement.RequireEnabled();
        var files = TrixieBootFiles.Get();
        var initrd = TrixieBootFiles.Noise(30 << 20, seed: 30);
        using var signer = LocalKeySigner.FromPemFiles(key.Require().CertificatePath, key.KeyPath);

        byte[] Build() => new UkiBuilder(files.Stub).Add(".linux", files.Kernel).Add(".initrd", initrd)
            .AddText(".cmdline", "console=ttyS0").AddText(".osrel", "ID=debian\n").AddText(".uname", files.KernelRelease).Build();

        // Warm up (JIT, page cache), then measure the best of three.
        var signed = AuthenticodeSigner.Sign(Build(), signer);
        var build = TimeSpan.MaxValue;
        var sign = TimeSpan.MaxValue;
        var digest = TimeSpan.MaxValue;
        byte[] uki = [];
        for (var round = 0; round < 3; round++)
        {
            var watch = Stopwatch.StartNew();
            uki = Build();
            build = Min(build, watch.Elapsed);
            watch.Restart();
            signed = AuthenticodeSigner.Sign(uki, signer);
            sign = Min(sign, watch.Elapsed);
            watch.Restart();
            AuthenticodeDigest.Compute(signed);
            digest = Min(digest, watch.Elapsed);
        }
        var verification = AuthenticodeVerifier.Verify(signed, X509Certificate2.CreateFromPem(File.ReadAllText(key.CertificatePath)));
        Assert.True(verification.IsValid, verification.ToString());

        static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
        static string Rate(long bytes, TimeSpan t) => $"{bytes / 1e6 / t.TotalSeconds,7:F0} MB/s";
        output.WriteLine($"inputs: stub {files.Stub.Length} B, kernel {files.Kernel.Length / 1e6:F1} MB, initrd {initrd.Length / 1e6:F1} MB; UKI {uki.Length / 1e6:F1} MB");
        output.WriteLine($"build (layout, copy, PE checksum):       {build.TotalMilliseconds,7:F1} ms {Rate(uki.Length, build)}");
        output.WriteLine($"sign (image hash, CMS, copy, checksum): {sign.TotalMilliseconds,7:F1} ms {Rate(uki.Length, sign)}");
        output.WriteLine($"  of which the SHA-256 image hash:        {digest.TotalMilliseconds,7:F1} ms {Rate(uki.Length, digest)}");
        output.WriteLine($"build + sign:                           {(build + sign).TotalMilliseconds,7:F1} ms");
    }
}
