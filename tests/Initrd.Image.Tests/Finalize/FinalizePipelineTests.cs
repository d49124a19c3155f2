using Initrd.Formats.Tree;
using Initrd.Image.Finalize;

namespace Initrd.Image.Tests.Finalize;

public class FinalizePipelineTests
{
    const string LibC = "/lib/x86_64-linux-gnu/libc.so.6";

    static TreeFixture InitrdLike()
    {
        var f = new TreeFixture()
            .Dir("usr/bin").Dir("usr/sbin").Dir("usr/lib").Dir("usr/lib64")
            .Link("bin", "usr/bin").Link("sbin", "usr/sbin").Link("lib", "usr/lib").Link("lib64", "usr/lib64")
            .File("usr/lib/os-release", "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nID=debian\nVERSION_ID=\"13\"\n")
            .Dir("etc").Link("etc/os-release", "../usr/lib/os-release")
            .File("usr/lib/systemd/systemd", "ELF", FileModes.Executable)
            .File("usr/lib/sysusers.d/basic.conf", "g tty 5 -\ng shadow 42 -\nu root 0 - /root /bin/bash\nu nobody 65534:65534 - /nonexistent\ng nogroup 65534 -\n")
            .File("usr/lib/sysusers.d/systemd-network.conf", "u systemd-network - \"systemd Network Management\"\n")
            .File("usr/lib/sysusers.d/dbus.conf", "u messagebus - \"System Message Bus\"\n")
            .File("usr/bin/bash", "ELF", FileModes.Executable)
            .File("usr/share/doc/bash/copyright", "GPL").File("usr/share/man/man1/bash.1.gz", "man")
            .File("var/lib/dpkg/status", "Package: bash\n").File("var/log/apt/eipp.log.xz", "x")
            .File("usr/lib/modules/6.12.0/kernel/sound/snd.ko.xz", "snd").File("usr/lib/modules/6.12.0/kernel/fs/ext4.ko.xz", "ext4")
            .File("usr/bin/gzip", "GZ", FileModes.Executable).HardLink("usr/bin/zcat", "usr/bin/gzip");
        if (File.Exists(LibC))
            f.Dir("usr/lib/x86_64-linux-gnu").HostFile("usr/lib/x86_64-linux-gnu/libc.so.6", LibC, FileModes.Executable);
        return f;
    }

    static FinalizeOptions Options(TreeFixture f, List<string>? log = null)
    {
        var hostFile = Path.Combine(f.TempPath, "files", "keep.txt");
        Directory.CreateDirectory(Path.GetDirectoryName(hostFile)!);
        File.WriteAllText(hostFile, "kept\n");
        var sysusers = Path.Combine(f.TempPath, "files", "extra.conf");
        File.WriteAllText(sysusers, "u myservice - \"My service\"\n");
        return new FinalizeOptions
        {
            Kind = ImageKind.Initrd,
            Architecture = "amd64",
            Removes = ["/usr/share/doc/**", "/usr/share/man/**", "/lib/modules/*/kernel/sound/**", "/usr/share/nothing-here/**"],
            Files = [new ImageFileSpec(hostFile, "/usr/share/doc/keep.txt"), new ImageFileSpec(sysusers, "/etc/sysusers.d/extra.conf")],
            InitrdReleaseFields = [new("VARIANT_ID", "initrd")],
            KernelModules = tree =>
            {
                log?.Add("modules: doc present=" + tree.Contains("usr/share/doc/bash/copyright") + ", dpkg present=" + tree.Contains("var/lib/dpkg/status"));
                tree.AddTextFile("usr/lib/modules/6.12.0/modules.dep", "kernel/fs/ext4.ko.xz:\n");
            },
        };
    }

    [Fact]
    public void FinalizesAnInitrdTree()
    {
        using var f = InitrdLike();
        var installTree = f.WriteInstallTree();
        var before = f.HashInstallTree();
        var log = new List<string>();

        var result = FinalizePipeline.Run(installTree, f.OverlayDirectory, TreeFixture.Timestamp, Options(f, log));
        var tree = result.Tree;

        Assert.Equal(before, f.HashInstallTree()); // the shared install tree is never modified
        Assert.Equal(["modules: doc present=True, dpkg present=True"], log); // hook before removals
        Assert.Equal("usr/lib/systemd/systemd", tree.Find("init")!.LinkTarget);
        Assert.Contains("VARIANT_ID=initrd\n", tree.ReadAllText("etc/initrd-release"));
        Assert.Contains("ID=debian\n", tree.ReadAllText("etc/initrd-release"));
        Assert.Equal("kept\n", tree.ReadAllText("usr/share/doc/keep.txt"));           // ImageFile after removals
        Assert.False(tree.Contains("usr/share/doc/bash"));
        Assert.True(tree.Contains("usr/lib/modules/6.12.0/modules.dep"));
        Assert.False(tree.Contains("usr/lib/modules/6.12.0/kernel/sound/snd.ko.xz"));
        Assert.True(tree.Contains("usr/lib/modules/6.12.0/kernel/fs/ext4.ko.xz"));
        Assert.Empty(tree.GetChildren("var/lib/dpkg"));
        Assert.Equal(TreeEntryKind.CharacterDevice, tree.Find("dev/console")!.Kind);
        Assert.Equal(0, tree.Find("etc/machine-id")!.Size);

        var passwd = tree.ReadAllText("etc/passwd");
        Assert.Contains("root:x:0:0::/root:/bin/bash\n", passwd);
        Assert.Contains("myservice:x:", passwd); // a sysusers.d file from an ImageFile counts
        Assert.Contains("shadow:x:42:", tree.ReadAllText("etc/group"));
        var shadow = tree.Find("etc/shadow")!;
        Assert.Equal((FileModes.OwnerWriteGroupRead, 0, 42), (shadow.Permissions, shadow.Uid, shadow.Gid));

        var cache = tree.Find("etc/ld.so.cache")!;
        Assert.Equal(TreeEntryKind.RegularFile, cache.Kind);
        if (File.Exists(LibC))
            Assert.Contains(LdSoCache.Scan(tree, "amd64"), e => e.Key == "libc.so.6" && e.Value == "/lib/x86_64-linux-gnu/libc.so.6");

        var warning = Assert.Single(result.Warnings);
        Assert.Equal(FinalizeWarningKind.RemoveMatchedNothing, warning.Kind);
        Assert.Equal("/usr/share/nothing-here/**", warning.Location);

        Assert.All(tree.Entries.Where(e => e.ContentPath is not null),
            e => Assert.True(e.ContentPath!.StartsWith(f.InstallDirectory, StringComparison.Ordinal) || e.ContentPath.StartsWith(f.OverlayDirectory, StringComparison.Ordinal) || e.ContentPath == LibC));
        Assert.All(tree.Entries.Where(e => !f.Entries.Any(o => o.Path == e.Path)), e => Assert.Equal(TreeFixture.Timestamp, e.ModificationTime));
    }

    [Fact]
    public void SameInputGivesIdenticalManifestBytes()
    {
        using var f = InitrdLike();
        var installTree = f.WriteInstallTree();
        var first = Path.Combine(f.TempPath, "first.tree");
        var second = Path.Combine(f.TempPath, "second.tree");

        FinalizePipeline.Run(installTree, f.OverlayDirectory, TreeFixture.Timestamp, Options(f)).Tree.WriteManifest(first);
        var overlayFiles = Directory.GetFiles(f.OverlayDirectory).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList();
        Directory.Delete(f.OverlayDirectory, recursive: true);
        FinalizePipeline.Run(installTree, f.OverlayDirectory, TreeFixture.Timestamp, Options(f)).Tree.WriteManifest(second);

        Assert.Equal(File.ReadAllBytes(first), File.ReadAllBytes(second));
        Assert.Equal(overlayFiles, Directory.GetFiles(f.OverlayDirectory).Order(StringComparer.Ordinal).Select(File.ReadAllBytes).ToList());
    }

    [Fact]
    public void ATimestampChangeOnlyChangesTimes()
    {
        using var f = InitrdLike();
        var installTree = f.WriteInstallTree();
        var a = FinalizePipeline.Run(installTree, f.OverlayDirectory, TreeFixture.Timestamp, Options(f)).Tree;
        var b = FinalizePipeline.Run(installTree, f.OverlayDirectory, TreeFixture.Timestamp + 86400 * 3, Options(f)).Tree;
        Assert.Equal(a.Entries.Select(e => e.Path), b.Entries.Select(e => e.Path));
        Assert.NotEqual(a.ReadAllText("etc/shadow"), b.ReadAllText("etc/shadow")); // last-change day follows the timestamp
    }

    [Fact]
    public void ASysextRunsOnlyTheContentSteps()
    {
        using var f = new TreeFixture().File("usr/lib/os-release", "ID=debian\n").File("usr/share/doc/x/copyright", "c")
            .File("var/lib/dpkg/status", "s").File("usr/lib/systemd/systemd", "ELF");
        var result = FinalizePipeline.Run(f.Build(), new FinalizeOptions { Kind = ImageKind.Sysext, Removes = ["/usr/share/doc/**"] });
        var tree = result.Tree;
        Assert.False(tree.Contains("init"));
        Assert.False(tree.Contains("etc/initrd-release"));
        Assert.False(tree.Contains("bin"));
        Assert.False(tree.Contains("usr/share/doc/x"));
        Assert.Empty(tree.GetChildren("var/lib/dpkg"));
        Assert.Equal(FinalizePipeline.StepsFor(ImageKind.Sysext), ["KernelModules", "PackageMetadata", "ImageRemove", "ImageFiles"]);
    }

    [Theory]
    [InlineData("cpio", ImageKind.Initrd)]
    [InlineData("directory", ImageKind.Tree)]
    [InlineData("sysext", ImageKind.Sysext)]
    [InlineData("confext", ImageKind.Confext)]
    [InlineData("uki", null)]
    public void KindForFormat(string format, ImageKind? kind) => Assert.Equal(kind, FinalizePipeline.KindForFormat(format));

    [Fact]
    public void AnInvalidPatternFailsBeforeAnythingChanges()
    {
        using var f = InitrdLike();
        var tree = f.Build();
        var count = tree.Count;
        var e = Assert.Throws<FinalizeException>(() => FinalizePipeline.Run(tree, new FinalizeOptions { Removes = ["/usr/../etc"] }));
        Assert.Equal(FinalizeErrorKind.InvalidGlob, e.Kind);
        Assert.Equal(count, tree.Count);
    }
}
