using Initrd.Formats.Deb;
using Initrd.Formats.Pe;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Pe;

/// <summary>
/// The real inputs of a UKI, from Debian trixie: systemd-stub and the addon stub (<c>systemd-boot-efi</c>) and the
/// generic amd64 kernel (<c>linux-image-6.12.*-amd64</c>, whose vmlinuz is an EFI-stub PE image signed by Debian).
/// The newest of each is looked up, downloaded, verified and unpacked into the test cache by <see cref="TrixiePackages"/>
/// (the kernel under the same names as Initrd.Image.Tests' TrixieKernel, so they share it).
/// Skipped locally, failed under CI, when the archive cannot be reached.
/// </summary>
public sealed class TrixieBootFiles
{
    static readonly Lazy<TrixieBootFiles> Shared = new(() => new TrixieBootFiles(), LazyThreadSafetyMode.ExecutionAndPublication);

    TrixieBootFiles()
    {
        var bootEfi = TrixiePackages.Extract(TrixiePackages.Download(p => p == "systemd-boot-efi", CompareVersions));
        StubPath = Path.Combine(bootEfi, "usr/lib/systemd/boot/efi/linuxx64.efi.stub");
        AddonStubPath = Path.Combine(bootEfi, "usr/lib/systemd/boot/efi/addonx64.efi.stub");
        Assert.True(File.Exists(StubPath), $"{StubPath} is missing");
        Assert.True(File.Exists(AddonStubPath), $"{AddonStubPath} is missing");

        var kernelRoot = TrixiePackages.Extract(TrixiePackages.DownloadGenericKernel(CompareVersions));
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

    static int CompareVersions(string a, string b) => DebianVersion.Parse(a).CompareTo(DebianVersion.Parse(b));

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
