using Initrd.Sdk.Tests.Common;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Boot;

/// <summary>
/// The main job, end to end: the default Debian trixie initrd is built from the mirror, read by the
/// reference tools, and boots the trixie kernel from its own lock under QEMU to a test root.
/// </summary>
public sealed class DefaultInitrdTests(DefaultInitrd image, ITestOutputHelper output) : IClassFixture<DefaultInitrd>
{
    void RequireBuilt()
    {
        Assert.True(image.InitrdBuild.Succeeded, image.InitrdBuild.ToString());
        Assert.True(image.RootBuild.Succeeded, image.RootBuild.ToString());
    }

    [Fact]
    public void BuildsWithoutWarningsOrCrashes()
    {
        RequireBuilt();
        Assert.DoesNotContain("MSB4018", image.InitrdBuild.Output);
        Assert.DoesNotContain(": warning ", image.InitrdBuild.Output);
        Assert.True(File.Exists(image.InitrdPath));
        Assert.True(File.Exists(image.KernelPath));
        Assert.True(File.Exists(Path.Combine(image.Initrd.Directory, "packages.lock.json")));
    }

    [Fact]
    public void ReferenceReadersAcceptTheInitrd()
    {
        RequireBuilt();
        var zstd = ReferenceTool.Require("zstd", "zstd");
        var cpio = ReferenceTool.Require("cpio", "cpio");
        var bsdtar = ReferenceTool.Require("bsdtar", "libarchive-tools");
        var test = ReferenceTool.Run(zstd, ["-t", image.InitrdPath]);
        Assert.True(test.ExitCode == 0, test.ToString());

        var raw = ReferenceTool.Run(zstd, ["-dc", image.InitrdPath]).StandardOutputBytes;
        var listing = ReferenceTool.Run(cpio, ["-itv", "--numeric-uid-gid", "--quiet"], standardInput: raw);
        Assert.True(listing.ExitCode == 0, listing.StandardError);
        var lines = listing.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        output.WriteLine($"{lines.Length} entries, {raw.Length / 1048576.0:F1} MiB uncompressed, {new FileInfo(image.InitrdPath).Length / 1048576.0:F1} MiB compressed");

        // What an unpack-only Debian initrd needs to boot (FACTS.md), as the kernel will see it.
        Assert.Contains(lines, l => l.StartsWith("lrwxrwxrwx", StringComparison.Ordinal) && l.EndsWith(" init -> usr/lib/systemd/systemd", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" etc/initrd-release", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("crw-------", StringComparison.Ordinal) && l.EndsWith(" dev/console", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" etc/passwd", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.EndsWith(" etc/ld.so.cache", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("/modules.dep.bin", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("/virtio_blk.ko", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(" boot/vmlinuz", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, l => l.Contains(" usr/share/doc/", StringComparison.Ordinal) && !l.StartsWith('d'));
        Assert.DoesNotContain(lines, l => l.Contains(" var/lib/dpkg/status", StringComparison.Ordinal));
        // Owners are the manifest's, not the build user's: everything here is root's or a system account's.
        Assert.All(lines, l => Assert.True(int.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2]) < 1000, l));

        var tar = ReferenceTool.Run(bsdtar, ["-tvf", "-"], standardInput: raw);
        Assert.True(tar.ExitCode == 0, tar.StandardError);
        Assert.Equal(lines.Length, tar.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
    }

    [Fact]
    public void BootsToTheTestRootWithNoFailedUnit()
    {
        RequireBuilt();
        ReferenceTool.Require("qemu-system-x86_64", "qemu-system-x86");
        var disk = image.MakeRootDisk();
        var log = image.Root.Folder.Combine("console.log");
        var boot = QemuBoot.Run(
        [
            "-kernel", image.KernelPath,
            "-initrd", image.InitrdPath,
            "-append", "console=ttyS0 root=/dev/vda rw panic=-1 systemd.show_status=true",
            "-drive", $"file={disk},if=virtio,format=raw",
        ], DefaultInitrd.RootMarker, TimeSpan.FromMinutes(8), log);
        var console = DefaultInitrd.AnsiEscape().Replace(boot.Console, "");
        output.WriteLine($"boot: {boot.Elapsed.TotalSeconds:F1} s wall; marker seen: {boot.MarkerSeen}");
        foreach (var line in console.Split('\n').Where(l => l.Contains("initrd", StringComparison.Ordinal) && l.Contains("target", StringComparison.Ordinal)))
            output.WriteLine(line.TrimEnd());

        Assert.True(boot.MarkerSeen, boot.ToString());
        Assert.Contains("Reached target initrd.target", console);
        Assert.Contains("Reached target initrd-switch-root.target", console);
        Assert.DoesNotContain("[FAILED]", console);
        Assert.DoesNotContain("Kernel panic", console);
    }
}
