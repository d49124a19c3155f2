using Initrd.Formats.Tree;
using Initrd.Image.Finalize;

namespace Initrd.Image.Tests.Finalize;

public class MergedUsrTests
{
    [Fact]
    public void AddsTheLinksWhenTheTreeHasNone()
    {
        using var f = new TreeFixture().File("usr/bin/bash", "b").File("usr/lib/x86_64-linux-gnu/libc.so.6", "c");
        var tree = f.Build();
        Assert.Equal(["bin", "sbin", "lib", "lib64"], MergedUsr.Apply(tree, "amd64"));
        Assert.Equal("usr/bin", tree.Find("bin")!.LinkTarget);
        Assert.Equal("usr/lib64", tree.Find("lib64")!.LinkTarget);
        Assert.Equal(TreeEntryKind.Directory, tree.Find("usr/sbin")!.Kind);
        Assert.Equal(TreeEntryKind.Directory, tree.Find("usr/lib64")!.Kind);
        Assert.Equal("usr/bin/bash", tree.ResolvePath("/bin/bash"));
        Assert.Empty(MergedUsr.Apply(tree, "amd64"));
    }

    [Fact]
    public void NoLib64OnArm64UnlessTheTreeHasIt()
    {
        using var f = new TreeFixture().Dir("usr/lib");
        Assert.DoesNotContain("lib64", MergedUsr.Apply(f.Build(), "arm64"));
        using var g = new TreeFixture().Dir("usr/lib64");
        Assert.Contains("lib64", MergedUsr.Apply(g.Build(), "arm64"));
    }

    [Fact]
    public void KeepsExistingLinksEvenAbsoluteOnesAndReplacesEmptyDirectories()
    {
        using var f = new TreeFixture().Dir("usr/bin").Dir("usr/sbin").Dir("usr/lib").Dir("usr/lib64")
            .Link("bin", "usr/bin").Link("sbin", "/usr/sbin").Dir("lib").Link("lib64", "usr/lib64");
        var tree = f.Build();
        Assert.Equal(["lib"], MergedUsr.Apply(tree, "amd64"));
        Assert.Equal("/usr/sbin", tree.Find("sbin")!.LinkTarget);
        Assert.Equal(TreeEntryKind.Symlink, tree.Find("lib")!.Kind);
    }

    [Fact]
    public void ARealDirectoryWithContentIsAnErrorNamingThePaths()
    {
        using var f = new TreeFixture().Dir("usr/bin").File("bin/busybox", "x").File("bin/sh", "y");
        var e = Assert.Throws<FinalizeException>(() => MergedUsr.Apply(f.Build(), "amd64"));
        Assert.Equal(FinalizeErrorKind.MergedUsrConflict, e.Kind);
        Assert.Equal("/bin", e.Location);
        Assert.Contains("/bin/busybox", e.Message);
        Assert.Contains("/bin/sh", e.Message);
    }

    [Fact]
    public void ALinkElsewhereIsAnError()
    {
        using var f = new TreeFixture().Dir("usr/bin").Dir("opt/bin").Link("bin", "opt/bin");
        Assert.Equal(FinalizeErrorKind.MergedUsrConflict, Assert.Throws<FinalizeException>(() => MergedUsr.Apply(f.Build(), "amd64")).Kind);
    }
}

public class InitrdReleaseTests
{
    [Fact]
    public void CopiesOsReleaseThroughTheSymlink()
    {
        using var f = new TreeFixture().File("usr/lib/os-release", "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\n")
            .Link("etc/os-release", "../usr/lib/os-release");
        var tree = f.Build();
        InitrdRelease.Apply(tree);
        var entry = tree.Find("etc/initrd-release")!;
        Assert.Equal(TreeEntryKind.RegularFile, entry.Kind);
        Assert.Equal(FileModes.Regular, entry.Permissions);
        Assert.Equal((0, 0), (entry.Uid, entry.Gid));
        Assert.Equal(tree.ReadAllText("usr/lib/os-release"), tree.ReadAllText("etc/initrd-release"));
    }

    [Fact]
    public void FallsBackToUsrLibAndAppliesFields()
    {
        using var f = new TreeFixture().File("usr/lib/os-release", "ID=debian\nVARIANT_ID=old\nNAME=Debian\nVARIANT_ID=dup\n");
        var tree = f.Build();
        InitrdRelease.Apply(tree, [new("VARIANT_ID", "initrd"), new("VARIANT", "Initial RAM disk"), new("NAME", null)]);
        var text = tree.ReadAllText("etc/initrd-release");
        Assert.Equal("ID=debian\nVARIANT_ID=initrd\nVARIANT=\"Initial RAM disk\"\n", text);
        var parsed = InitrdRelease.Parse(text);
        Assert.Equal("Initial RAM disk", parsed["VARIANT"]);
        Assert.Equal("ID=debian\nVARIANT_ID=old\nNAME=Debian\nVARIANT_ID=dup\n", tree.ReadAllText("usr/lib/os-release"));
    }

    [Fact]
    public void MissingOsReleaseNamesThePathsLookedAt()
    {
        using var f = new TreeFixture().Dir("etc").Link("etc/os-release", "../usr/lib/os-release");
        var e = Assert.Throws<FinalizeException>(() => InitrdRelease.Apply(f.Build()));
        Assert.Equal(FinalizeErrorKind.OsReleaseMissing, e.Kind);
        Assert.Contains("/etc/os-release", e.Message);
        Assert.Contains("/usr/lib/os-release", e.Message);
        Assert.Contains("base-files", e.Message);
    }

    [Fact]
    public void AnExistingInitrdReleaseIsKeptOrEdited()
    {
        using var f = new TreeFixture().File("usr/lib/os-release", "ID=debian\n").File("etc/initrd-release", "ID=custom\n");
        var tree = f.Build();
        var before = tree.Find("etc/initrd-release");
        InitrdRelease.Apply(tree);
        Assert.Same(before, tree.Find("etc/initrd-release"));
        InitrdRelease.Apply(tree, [new("VARIANT_ID", "x y")]);
        Assert.Equal("ID=custom\nVARIANT_ID=\"x y\"\n", tree.ReadAllText("etc/initrd-release"));
    }

    [Theory]
    [InlineData("variant_id", "x")]
    [InlineData("A-B", "x")]
    [InlineData("OK", "line\nbreak")]
    public void InvalidFieldsAreRejected(string key, string value)
    {
        using var f = new TreeFixture().File("usr/lib/os-release", "ID=debian\n");
        var e = Assert.Throws<FinalizeException>(() => InitrdRelease.Apply(f.Build(), [new(key, value)]));
        Assert.Equal(FinalizeErrorKind.InvalidOsReleaseField, e.Kind);
    }
}

public class InitSymlinkTests
{
    [Fact]
    public void PointsInitAtSystemd()
    {
        using var f = new TreeFixture().File("usr/lib/systemd/systemd", "ELF", FileModes.Executable);
        var tree = f.Build();
        Assert.True(InitSymlink.Apply(tree));
        var init = tree.Find("init")!;
        Assert.Equal(TreeEntryKind.Symlink, init.Kind);
        Assert.Equal("usr/lib/systemd/systemd", init.LinkTarget);
        Assert.Equal(TreeFixture.Timestamp, init.ModificationTime);
        Assert.Equal("usr/lib/systemd/systemd", tree.ResolvePath("/init"));
    }

    [Fact]
    public void WithoutSystemdTheErrorNamesTheFix()
    {
        using var f = new TreeFixture().Dir("usr/lib");
        var e = Assert.Throws<FinalizeException>(() => InitSymlink.Apply(f.Build()));
        Assert.Equal(FinalizeErrorKind.SystemdMissing, e.Kind);
        Assert.Contains("add ImagePackage systemd", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void AnExistingInitIsKept()
    {
        using var f = new TreeFixture().File("init", "#!/bin/sh\n", FileModes.Executable);
        var tree = f.Build();
        Assert.False(InitSymlink.Apply(tree));
        Assert.Equal(TreeEntryKind.RegularFile, tree.Find("init")!.Kind);
    }
}

public class MachineIdAndDeviceNodesTests
{
    [Fact]
    public void MachineIdIsEmptyAndReadOnly()
    {
        using var f = new TreeFixture().Dir("usr");
        var tree = f.Build();
        Assert.True(MachineId.Apply(tree));
        var e = tree.Find("etc/machine-id")!;
        Assert.Equal(TreeEntryKind.RegularFile, e.Kind);
        Assert.Equal(0, e.Size);
        Assert.Equal(FileModes.ReadOnly, e.Permissions);
        Assert.Equal("", tree.ReadAllText("etc/machine-id"));
        Assert.False(MachineId.Apply(tree));
    }

    [Fact]
    public void DeviceNodesAreManifestEntries()
    {
        using var f = new TreeFixture().Dir("dev");
        var tree = f.Build();
        DeviceNodes.Apply(tree);
        var console = tree.Find("dev/console")!;
        Assert.Equal((TreeEntryKind.CharacterDevice, 5, 1, FileModes.OwnerOnly), (console.Kind, console.DeviceMajor, console.DeviceMinor, console.Permissions));
        var nul = tree.Find("dev/null")!;
        Assert.Equal((TreeEntryKind.CharacterDevice, 1, 3, FileModes.EverybodyReadWrite), (nul.Kind, nul.DeviceMajor, nul.DeviceMinor, nul.Permissions));
        var kmsg = tree.Find("dev/kmsg")!;
        Assert.Equal((TreeEntryKind.CharacterDevice, 1, 11, FileModes.Regular), (kmsg.Kind, kmsg.DeviceMajor, kmsg.DeviceMinor, kmsg.Permissions));
        Assert.All(new[] { console, nul, kmsg }, e => Assert.Null(e.ContentPath));
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(f.TempPath, "*", SearchOption.AllDirectories), p => p.Contains("/dev/"));
        Assert.Equal("c\t600\t0\t0\t1700000000\t0\t5\t1\tdev/console\t-\t-",
            tree.ToManifestText().Split('\n').Single(l => l.Contains("dev/console")));
    }
}

public class PackageMetadataTests
{
    [Fact]
    public void EmptiesTheStateDirectoriesButKeepsThem()
    {
        using var f = new TreeFixture()
            .File("var/lib/dpkg/status", "s").File("var/lib/dpkg/info/bash.list", "l").File("var/lib/apt/extended_states", "e")
            .Dir("var/cache/apt").File("var/cache/debconf/config.dat", "c").File("var/log/apt/history.log", "h").Dir("var/log/journal")
            .File("var/lib/systemd/catalog", "keep");
        var tree = f.Build();
        Assert.Equal(8, PackageMetadata.Apply(tree));
        foreach (var dir in PackageMetadata.Directories)
        {
            Assert.Equal(TreeEntryKind.Directory, tree.Find(dir)!.Kind);
            Assert.Empty(tree.GetChildren(dir));
        }
        Assert.True(tree.Contains("var/lib/systemd/catalog"));
    }
}

public class RealBaseFilesTests(DownloadedPackages packages) : IClassFixture<DownloadedPackages>
{
    [Fact]
    public void InitrdReleaseFromDebiansBaseFiles()
    {
        var root = packages.Get("base-files");
        using var overlay = new Initrd.Testing.TempDirectory("initrd-finalize-overlay");
        var tree = new ImageTree(TreeFixture.FromHostDirectory(root), overlay.Path, TreeFixture.Timestamp);
        Assert.Equal(TreeEntryKind.Symlink, tree.Find("etc/os-release")!.Kind); // "../usr/lib/os-release" in the package
        InitrdRelease.Apply(tree, [new("VARIANT_ID", "initrd")]);
        var release = InitrdRelease.Parse(tree.ReadAllText("etc/initrd-release"));
        var os = InitrdRelease.Parse(File.ReadAllText(Path.Combine(root, "usr/lib/os-release")));
        Assert.Equal("debian", release["ID"]);
        Assert.Equal(os["PRETTY_NAME"], release["PRETTY_NAME"]);
        Assert.Equal("initrd", release["VARIANT_ID"]);
        Assert.Equal(os.Count + 1, release.Count);
    }
}
