using System.Text.Json;
using System.Text.RegularExpressions;
using Initrd.Formats.Gpt;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Boot;

/// <summary>
/// The UKI boots under UEFI: QEMU with OVMF and one GPT disk (laid out by GptWriter) holding an ESP with the UKI
/// project's image as the removable-media loader and the addon project's image in its .extra.d/, and a root partition
/// of the Discoverable Partitions x86-64 root type. The UKI's command line names no root device: the stub reports the ESP it came from, and systemd's
/// gpt-auto generator in the initrd finds the root on the same disk.
/// </summary>
public sealed partial class UkiBootTests(UefiBootFixture fixture, ITestOutputHelper output) : IClassFixture<UefiBootFixture>
{
    [Fact]
    public void DiskIsReadBySfdiskAsWritten()
    {
        var images = fixture.Images;
        var table = UefiDisk.ReadWithSfdisk(images.DiskPath);
        Assert.Equal("gpt", table.Label);
        Assert.Equal(UefiDisk.DiskGuid, table.Id);
        Assert.Equal(2, table.Partitions.Count);
        Assert.Equal(UefiDisk.EspType, table.Partitions[0].Type);
        Assert.Equal(UefiDisk.EspUuid, table.Partitions[0].Uuid);
        Assert.Equal(DiscoverablePartitions.X86_64.Root, table.Partitions[1].Type);
        Assert.Equal(UefiDisk.RootUuid, table.Partitions[1].Uuid);
        Assert.Equal("root-x86-64", table.Partitions[1].Name);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(images.Table.Entries[i].FirstLba, table.Partitions[i].Start);
            Assert.Equal(images.Table.Entries[i].Length / 512, table.Partitions[i].Size);
            Assert.Equal(0, table.Partitions[i].Start % 2048); // 1 MiB aligned
        }
        Assert.Equal(images.Table.Length, new FileInfo(images.DiskPath).Length);

        // The ESP, read back from the disk with mtools at the partition's offset.
        var esp = EspImage.List($"{images.DiskPath}@@{images.Table.Entries[0].Offset}");
        Assert.Contains("::/EFI/BOOT/BOOTX64.EFI", esp);
        Assert.Contains("::/EFI/BOOT/BOOTX64.EFI.extra.d/Marker.addon.efi", esp);
    }

    [Fact]
    public void UkiProjectPutsItsAddonInExtraD()
    {
        var images = fixture.Images;
        Assert.DoesNotContain(": warning ", fixture.UkiBuild!.Output);
        Assert.Equal(["EFI/BOOT/BOOTX64.EFI", "EFI/BOOT/BOOTX64.EFI.extra.d/Marker.addon.efi"], images.EspFiles.Select(f => f.EspPath));
        // systemd-stub loads only *.addon.efi from .extra.d/.
        Assert.True(File.ReadAllBytes(Path.Combine(fixture.Addon.OutputDirectory, "Marker.addon.efi"))
            .AsSpan().SequenceEqual(File.ReadAllBytes(images.EspFiles[1].HostFile)));
        // The UKI's kernel (its own lock) is the one the initrd's modules were taken from (the initrd's lock).
        Assert.Equal(LockedVersion(fixture.Base.Initrd.Directory, IsKernel), LockedVersion(fixture.Uki.Directory, IsKernel));
    }

    [Fact]
    public void BootsUnderUefiFindingTheRootThroughDiscoverablePartitions()
    {
        var images = fixture.Images;
        var log = fixture.Work.Combine("uefi-console.log");
        var boot = QemuBoot.Run(Ovmf.MachineArguments(fixture.Work.Path, [images.DiskPath]),
            DefaultInitrd.RootMarker, TimeSpan.FromMinutes(10), log);
        var console = DefaultInitrd.AnsiEscape().Replace(boot.Console, "").Replace("\r", "");
        output.WriteLine($"UEFI boot: {boot.Elapsed.TotalSeconds:F1} s wall to the test root; marker seen: {boot.MarkerSeen}; console log {log}");
        foreach (var line in console.Split('\n').Where(l =>
                     l.Contains("BdsDxe", StringComparison.Ordinal) || l.Contains("Kernel command line", StringComparison.Ordinal) ||
                     l.Contains("initrd.target", StringComparison.Ordinal) || l.Contains("efivar ", StringComparison.Ordinal) ||
                     l.Contains("root mount", StringComparison.Ordinal) || l.Contains("final cmdline", StringComparison.Ordinal)))
            output.WriteLine(line.TrimEnd());

        Assert.True(boot.MarkerSeen, boot.ToString());
        try
        {
            AssertConsole(console);
        }
        catch
        {
            output.WriteLine("--- console");
            output.WriteLine(console);
            throw;
        }
    }

    void AssertConsole(string console)
    {
        // The firmware found no boot entry and started the disk's removable-media path (\EFI\BOOT\BOOTX64.EFI).
        Assert.Matches(@"BdsDxe: starting Boot[0-9A-F]{4} ""UEFI Misc Device""", console);

        // systemd-stub ran (the kernel runs after it, so it reports itself through the boot loader interface), and
        // told the OS which partition it was loaded from: the ESP.
        Assert.Contains($"efivar StubInfo=systemd-stub {LockedVersion(fixture.Uki.Directory, n => n == "systemd-boot-efi")}", console);
        // The kernel's EFI stub took the initrd from systemd-stub's LINUX_EFI_INITRD_MEDIA device path.
        Assert.Contains("EFI stub: Loaded initrd from LINUX_EFI_INITRD_MEDIA_GUID device path", console);
        Assert.Matches(new Regex($"efivar LoaderDevicePartUUID={UefiDisk.EspUuid}", RegexOptions.IgnoreCase), console);

        // The command line: the UKI's, with the addon's parameter appended by the stub; no root= anywhere.
        var commandLine = KernelCommandLine().Match(console);
        Assert.True(commandLine.Success, "the kernel printed no command line");
        Assert.Equal($"{UefiBootFixture.UkiCommandLine} {UefiBootFixture.AddonParameter}", commandLine.Groups[1].Value.Trim());
        Assert.DoesNotContain("root=", commandLine.Groups[1].Value);

        // systemd in the initrd: the root found by gpt-auto, initrd.target, switch root, the test root.
        Assert.Contains("Found device dev-gpt\\x2dauto\\x2droot.device - /dev/gpt-auto-root.", console);
        Assert.Contains("Mounted sysroot.mount - Root Partition.", console);
        Assert.Contains("Reached target initrd.target", console);
        Assert.Contains("Reached target initrd-switch-root.target", console);
        Assert.Contains("Starting initrd-switch-root.service", console);
        Assert.Matches(@"root mount: /dev/vda2 / ext4 ", console);
        Assert.DoesNotContain("[FAILED]", console);
        Assert.DoesNotContain("Kernel panic", console);
    }

    [Fact]
    public void SignedUkiAndAddonBootWithSecureBootEnforced()
    {
        var images = fixture.SecureBoot;
        var sbverify = ReferenceTool.Require("sbverify", "sbsigntool");
        foreach (var (espPath, file) in images.EspFiles)
        {
            var verify = ReferenceTool.Run(sbverify, ["--cert", Ovmf.SnakeoilCertificatePath, file]);
            Assert.True(verify.ExitCode == 0, $"{espPath}: {verify}");
        }

        var log = fixture.Work.Combine("secure-boot-console.log");
        var boot = QemuBoot.Run(Ovmf.MachineArguments(fixture.Work.Path, [images.DiskPath], Ovmf.SnakeoilVarsPath, secureBoot: true),
            DefaultInitrd.RootMarker, TimeSpan.FromMinutes(10), log);
        var console = DefaultInitrd.AnsiEscape().Replace(boot.Console, "").Replace("\r", "");
        output.WriteLine($"Secure Boot: {boot.Elapsed.TotalSeconds:F1} s wall to the test root; marker seen: {boot.MarkerSeen}");
        Assert.True(boot.MarkerSeen, boot.ToString());
        try
        {
            // The firmware enforced Secure Boot, so it verified the UKI against db, and the stub verified the addon
            // (an addon that fails verification is skipped, and its parameter would be missing).
            Assert.Contains("secureboot: Secure boot enabled", console);
            AssertConsole(console);
        }
        catch
        {
            output.WriteLine("--- console");
            output.WriteLine(console);
            throw;
        }
    }

    [Fact]
    public void UnsignedUkiIsRefusedWithSecureBootEnforced()
    {
        var images = fixture.Images;
        var boot = QemuBoot.Run(Ovmf.MachineArguments(fixture.Work.Path, [images.DiskPath], Ovmf.SnakeoilVarsPath, secureBoot: true),
            "BdsDxe: failed to load", TimeSpan.FromMinutes(5));
        var console = DefaultInitrd.AnsiEscape().Replace(boot.Console, "").Replace("\r", "");
        output.WriteLine($"{boot.Elapsed.TotalSeconds:F1} s wall");
        foreach (var line in console.Split('\n').Where(l => l.Contains("BdsDxe", StringComparison.Ordinal)))
            output.WriteLine(line.TrimEnd());
        Assert.True(boot.MarkerSeen, boot.ToString());
        Assert.Matches(@"BdsDxe: failed to load Boot[0-9A-F]{4} ""UEFI Misc Device"" .*: Access Denied", console);
        Assert.DoesNotContain("Linux version", console);
    }

    static bool IsKernel(string name) => name.StartsWith("linux-image-", StringComparison.Ordinal) && name != "linux-image-amd64";

    /// <summary>The version packages.lock.json in <paramref name="projectDirectory"/> pins for the one package named so.</summary>
    static string LockedVersion(string projectDirectory, Func<string, bool> name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(projectDirectory, "packages.lock.json")));
        var matches = doc.RootElement.GetProperty("packages").EnumerateObject().Where(p => name(p.Name.Split(':')[0])).ToList();
        Assert.Single(matches);
        return matches[0].Value.GetProperty("version").GetString()!;
    }

    [GeneratedRegex(@"Kernel command line: ([^\n]*)")]
    private static partial Regex KernelCommandLine();
}
