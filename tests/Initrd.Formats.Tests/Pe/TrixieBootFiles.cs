using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Initrd.Formats.Compression;
using Initrd.Formats.Deb;
using Initrd.Formats.Pe;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Pe;

/// <summary>
/// The real inputs of a UKI, from Debian trixie: systemd-stub and the addon stub (<c>systemd-boot-efi</c>) and the
/// generic amd64 kernel (<c>linux-image-6.12.*-amd64</c>, whose vmlinuz is an EFI-stub PE image signed by Debian).
/// The newest of each is looked up in the Packages index of the host's archive (<see cref="DebianMirror"/>),
/// downloaded into the test cache, checked against the index's SHA-256 and unpacked once with <c>dpkg-deb -x</c>
/// into the cache (the kernel under the same names as Initrd.Image.Tests' TrixieKernel, so they share it).
/// Skipped locally, failed under CI, when the archive cannot be reached.
/// </summary>
public sealed partial class TrixieBootFiles
{
    const string PackagesIndex = "dists/trixie/main/binary-amd64/Packages.xz";
    const string KernelPool = "pool/main/l/linux-signed-amd64";

    [GeneratedRegex(@"^linux-image-(6\.12\.[0-9]+\+deb13-amd64)$")]
    private static partial Regex KernelPackage();

    [GeneratedRegex(@"^linux-image-(6\.12\.[0-9]+\+deb13-amd64)_([^_]+)_amd64\.deb$")]
    private static partial Regex CachedKernelDeb();

    static readonly Lazy<TrixieBootFiles> Shared = new(() => new TrixieBootFiles(), LazyThreadSafetyMode.ExecutionAndPublication);

    TrixieBootFiles()
    {
        var bootEfi = Extract(Download(p => p == "systemd-boot-efi", cachedPool: null));
        StubPath = Path.Combine(bootEfi, "usr/lib/systemd/boot/efi/linuxx64.efi.stub");
        AddonStubPath = Path.Combine(bootEfi, "usr/lib/systemd/boot/efi/addonx64.efi.stub");
        Assert.True(File.Exists(StubPath), $"{StubPath} is missing");
        Assert.True(File.Exists(AddonStubPath), $"{AddonStubPath} is missing");

        var kernelRoot = Extract(Download(p => KernelPackage().IsMatch(p), KernelPool));
        var kernels = Directory.GetFiles(Path.Combine(kernelRoot, "boot"), "vmlinuz-*");
        Assert.Single(kernels);
        KernelPath = kernels[0];
        Stub = File.ReadAllBytes(StubPath);
        AddonStub = File.ReadAllBytes(AddonStubPath);
        Kernel = File.ReadAllBytes(KernelPath);
    }

    /// <summary>The shared instance; skips the test (fails it under CI) when the packages cannot be had.</summary>
    public static TrixieBootFiles Get()
    {
        ReferenceTool.Require("dpkg-deb", "dpkg");
        return Shared.Value;
    }

    public string StubPath { get; }
    public string AddonStubPath { get; }
    public string KernelPath { get; }

    /// <summary>linuxx64.efi.stub.</summary>
    public byte[] Stub { get; }

    /// <summary>addonx64.efi.stub.</summary>
    public byte[] AddonStub { get; }

    /// <summary>boot/vmlinuz-*.</summary>
    public byte[] Kernel { get; }

    /// <summary>Finds the newest matching package (or a cached copy in <paramref name="cachedPool"/>) and downloads it.</summary>
    static string Download(Func<string, bool> packageName, string? cachedPool)
    {
        if (cachedPool is not null && Directory.Exists(Path.Combine(DebianMirror.CacheDirectory, cachedPool)))
        {
            var cached = Directory.GetFiles(Path.Combine(DebianMirror.CacheDirectory, cachedPool), "*.deb")
                .Select(f => (Path: f, Match: CachedKernelDeb().Match(Path.GetFileName(f))))
                .Where(x => x.Match.Success)
                .OrderByDescending(x => DebianVersion.Parse(x.Match.Groups[2].Value))
                .FirstOrDefault();
            if (cached.Path is not null) return cached.Path;
        }

        var index = DebianMirror.GetCachedFile(PackagesIndex);
        Deb822Paragraph? best = null;
        using (var file = File.OpenRead(index))
        using (var xz = new XzDecompressStream(file))
        using (var reader = new StreamReader(xz))
        {
            foreach (var p in Deb822.Parse(reader, index))
            {
                if (!packageName(p.GetValueOrDefault("Package") ?? "")) continue;
                if (best is null || DebianVersion.Parse(p["Version"]) > DebianVersion.Parse(best["Version"])) best = p;
            }
        }
        Assert.NotNull(best);
        var relative = best["Filename"];
        var local = DebianMirror.GetCachedFile(relative, TimeSpan.MaxValue);
        using (var stream = File.OpenRead(local))
        {
            var sha = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (sha != best["SHA256"].Trim().ToLowerInvariant())
            {
                File.Delete(local);
                Assert.Fail($"{relative}: SHA-256 {sha} differs from the index's {best["SHA256"]}; the download was deleted");
            }
        }
        return local;
    }

    /// <summary>Unpacks into the cache once: into a temporary folder, then renamed, so a half unpack is never used.</summary>
    static string Extract(string deb)
    {
        var target = Path.Combine(DebianMirror.CacheDirectory, "unpacked", Path.GetFileNameWithoutExtension(deb));
        if (File.Exists(Path.Combine(target, ".complete"))) return target;
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true);
        var temporary = $"{target}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        Directory.CreateDirectory(temporary);
        try
        {
            var result = ReferenceTool.Run(ReferenceTool.Require("dpkg-deb", "dpkg"), ["-x", deb, temporary]);
            Assert.True(result.ExitCode == 0, $"dpkg-deb -x failed: {result}");
            File.WriteAllText(Path.Combine(temporary, ".complete"), "");
            try
            {
                Directory.Move(temporary, target);
            }
            catch (IOException) when (File.Exists(Path.Combine(target, ".complete")))
            {
                // Another test process was faster.
            }
        }
        finally
        {
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        }
        return target;
    }

    /// <summary>Deterministic pseudo-random bytes (a stand-in initrd that does not compress).</summary>
    public static byte[] Noise(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>The release of the kernel, read from its x86 boot header.</summary>
    public string KernelRelease => LinuxKernelImage.TryReadRelease(Kernel) ?? throw new InvalidOperationException("no kernel release");
}
