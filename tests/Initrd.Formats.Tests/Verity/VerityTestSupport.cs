using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Initrd.Formats.Verity;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Verity;

/// <summary>Test data, keys and a deliberately naive dm-verity reference (independent of the library's code path).</summary>
static partial class VerityTestSupport
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>The library's entry points with the test's cancellation token.</summary>
    public static VerityHashTree Compute(Stream data, VerityOptions? options = null) => VerityHashTree.Compute(data, options, Ct);

    public static VerityHashTree Compute(string dataPath, VerityOptions? options = null) => VerityHashTree.Compute(dataPath, options, Ct);

    public static byte[] DeriveSalt(Stream data) => VerityHashTree.DeriveSalt(data, 0, Ct);

    public static void WriteHashDevice(VerityHashTree tree, string path)
    {
        using var file = File.Create(path);
        tree.WriteHashDevice(file, Ct);
    }

    /// <summary>Pseudo-random bytes from a seed: the same test always sees the same data.</summary>
    public static byte[] Data(int length, int seed)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Writes <paramref name="length"/> pseudo-random bytes to a file in 1 MiB pieces.</summary>
    public static void WriteDataFile(string path, long length, int seed)
    {
        var random = new Random(seed);
        var buffer = new byte[1 << 20];
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 0);
        for (long written = 0; written < length; written += buffer.Length)
        {
            random.NextBytes(buffer);
            file.Write(buffer, 0, (int)Math.Min(buffer.Length, length - written));
        }
    }

    /// <summary>
    /// The dm-verity format 1 tree as the kernel documentation describes it, written the obvious way: hash every
    /// block of a level into a byte list, pad the list to whole blocks, repeat until one block remains.
    /// Returns the root hash and the hash area (levels top first, without the superblock block).
    /// </summary>
    public static (byte[] Root, byte[] Tree) NaiveTree(byte[] data, byte[] salt)
    {
        const int block = 4096;
        var padded = new byte[(data.Length + block - 1) / block * block];
        data.CopyTo(padded, 0);
        byte[] Digest(ReadOnlySpan<byte> b) => SHA256.HashData([.. salt, .. b]);
        if (padded.Length == block) return (Digest(padded), []);

        var levels = new List<byte[]>();
        var current = padded;
        while (true)
        {
            var digests = new List<byte>();
            for (var i = 0; i < current.Length; i += block) digests.AddRange(Digest(current.AsSpan(i, block)));
            var level = new byte[(digests.Count + block - 1) / block * block];
            digests.CopyTo(level);
            levels.Add(level);
            if (level.Length == block) break;
            current = level;
        }
        levels.Reverse();
        return (Digest(levels[0]), levels.SelectMany(l => l).ToArray());
    }

    /// <summary>A self-signed RSA 2048 certificate with its key, valid from yesterday for a year.</summary>
    public static X509Certificate2 RsaCertificate(string subject = "CN=Initrd.Sdk verity test")
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    /// <summary>A self-signed ECDSA P-256 certificate with its key.</summary>
    public static X509Certificate2 EcdsaCertificate(string subject = "CN=Initrd.Sdk verity test (ECDSA)")
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    [GeneratedRegex(@"^Root hash:\s+([0-9a-f]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex RootHashLine();

    /// <summary>Runs <c>veritysetup format</c> with our salt and UUID; returns its root hash.</summary>
    public static string VeritysetupFormat(string veritysetup, string dataPath, string hashPath, ReadOnlySpan<byte> salt, Guid uuid)
    {
        var result = ReferenceTool.Run(veritysetup, ["format", dataPath, hashPath, $"--salt={Convert.ToHexStringLower(salt)}", $"--uuid={uuid}"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        var m = RootHashLine().Match(result.StandardOutput);
        Assert.True(m.Success, $"no root hash in veritysetup's output:\n{result}");
        return m.Groups[1].Value;
    }
}
