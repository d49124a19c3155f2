using Initrd.Formats.Tree;
using Initrd.Image.Finalize;

namespace Initrd.Image.Tests.Finalize;

public class ImageTreeTests
{
    static TreeFixture Sample() => new TreeFixture()
        .Dir("etc").Dir("usr").Dir("usr/lib").Dir("usr/bin")
        .File("usr/lib/os-release", "ID=debian\n")
        .Link("etc/os-release", "../usr/lib/os-release")
        .Link("lib", "usr/lib")
        .Link("bin", "/usr/bin")
        .File("usr/bin/bash", "#!bash", FileModes.Executable);

    [Fact]
    public void LoadsEntriesSortedAndSynthesizesMissingParents()
    {
        using var f = new TreeFixture().File("a/b/c.txt", "x");
        var tree = f.Build();
        Assert.Equal(["a", "a/b", "a/b/c.txt"], tree.Entries.Select(e => e.Path));
        var a = tree.Find("/a")!;
        Assert.Equal(TreeEntryKind.Directory, a.Kind);
        Assert.Equal(FileModes.Directory, a.Permissions);
        Assert.Equal(TreeFixture.Timestamp, a.ModificationTime);
        Assert.Equal(0, a.Uid);
    }

    [Fact]
    public void DuplicateManifestPathsAreRejected()
    {
        using var f = new TreeFixture().File("a", "1").File("a", "2");
        var e = Assert.Throws<FinalizeException>(() => f.Build());
        Assert.Equal(FinalizeErrorKind.InvalidManifest, e.Kind);
    }

    [Fact]
    public void EntriesBelowANonDirectoryAreRejected()
    {
        using var f = new TreeFixture().Link("lib", "usr/lib").File("lib/x", "1");
        Assert.Equal(FinalizeErrorKind.InvalidManifest, Assert.Throws<FinalizeException>(() => f.Build()).Kind);
    }

    [Fact]
    public void ResolvesRelativeAndAbsoluteSymlinksInsideTheImage()
    {
        using var f = Sample().Link("usr/bin/sh", "bash").Link("etc/up", "../../../../usr").Link("etc/dangling", "/nowhere/x");
        var tree = f.Build();
        Assert.Equal("usr/lib/os-release", tree.ResolvePath("/etc/os-release"));
        Assert.Equal("etc/os-release", tree.ResolvePath("etc/os-release", followFinalSymlink: false));
        Assert.Equal("usr/bin/bash", tree.ResolvePath("/bin/sh"));          // absolute link, then relative link
        Assert.Equal("usr/lib/os-release", tree.ResolvePath("lib/os-release"));
        Assert.Equal("usr", tree.ResolvePath("etc/up"));                    // ".." at the root stays at the root
        Assert.Equal("", tree.ResolvePath("/"));
        Assert.Null(tree.ResolvePath("etc/dangling"));
        Assert.Null(tree.ResolvePath("usr/bin/bash/x"));                    // through a file
        Assert.Null(tree.ResolvePath("nothing"));
        Assert.Equal("ID=debian\n", tree.ReadAllText("/etc/os-release"));
    }

    [Fact]
    public void DotDotAfterASymlinkIsPhysical()
    {
        using var f = new TreeFixture().Dir("x/y").Dir("a").Link("a/b", "../x/y").File("x/file", "X");
        var tree = f.Build();
        Assert.Equal("x/y", tree.ResolvePath("a/b"));
        Assert.Equal("x", tree.ResolvePath("a/b/.."));        // the kernel's way, not the lexical "a"
        Assert.Equal("X", tree.ReadAllText("a/b/../file"));
    }

    [Fact]
    public void SymlinkLoopsAreReported()
    {
        using var f = new TreeFixture().Link("a", "b").Link("b", "a").Link("self", "self").Dir("d").Link("d/up", "../d/up");
        var tree = f.Build();
        foreach (var path in new[] { "a", "self", "d/up" })
        {
            var e = Assert.Throws<FinalizeException>(() => tree.ResolvePath(path));
            Assert.Equal(FinalizeErrorKind.SymlinkLoop, e.Kind);
        }
        Assert.Equal("a", tree.ResolvePath("a", followFinalSymlink: false));
    }

    [Fact]
    public void AddFileWritesContentAddressedOverlayAndCreatesParents()
    {
        using var f = Sample();
        var tree = f.Build();
        var e1 = tree.AddTextFile("/opt/x/one", "same");
        var e2 = tree.AddTextFile("opt/y/two", "same");
        Assert.Equal(e1.ContentPath, e2.ContentPath);
        Assert.StartsWith(f.OverlayDirectory, e1.ContentPath);
        Assert.Equal(4, e1.Size);
        Assert.Equal(TreeFixture.Timestamp, e1.ModificationTime);
        Assert.Equal(TreeEntryKind.Directory, tree.Find("opt/x")!.Kind);
        Assert.Equal("same", tree.ReadAllText("opt/y/two"));
    }

    [Fact]
    public void AddFollowsSymlinkedParentsButReplacesTheFinalSymlink()
    {
        using var f = Sample();
        var tree = f.Build();
        var placed = tree.AddTextFile("lib/modules-load.d/x.conf", "virtio\n");
        Assert.Equal("usr/lib/modules-load.d/x.conf", placed.Path);
        Assert.False(tree.Contains("lib/modules-load.d"));

        var replaced = tree.AddTextFile("etc/os-release", "ID=mine\n");
        Assert.Equal("etc/os-release", replaced.Path);
        Assert.Equal(TreeEntryKind.RegularFile, replaced.Kind);
        Assert.Equal("ID=debian\n", tree.ReadAllText("usr/lib/os-release"));
    }

    [Fact]
    public void ReplacingADirectoryOrWritingBelowAFileIsAConflict()
    {
        using var f = Sample();
        var tree = f.Build();
        Assert.Equal(FinalizeErrorKind.PathConflict, Assert.Throws<FinalizeException>(() => tree.AddTextFile("usr/lib", "x")).Kind);
        Assert.Equal(FinalizeErrorKind.PathConflict, Assert.Throws<FinalizeException>(() => tree.AddTextFile("usr/bin/bash/x", "x")).Kind);
        Assert.Equal(FinalizeErrorKind.InvalidPath, Assert.Throws<FinalizeException>(() => tree.AddTextFile("usr/../etc/x", "x")).Kind);
        // A directory over a directory only updates its metadata.
        tree.AddDirectory("usr/lib", FileModes.OwnerOnly);
        Assert.Equal(FileModes.OwnerOnly, tree.Find("usr/lib")!.Permissions);
        Assert.True(tree.Contains("usr/lib/os-release"));
    }

    [Fact]
    public void RemoveTakesTheSubtree()
    {
        using var f = Sample().File("usr/lib/a/b/c", "1").File("usr/lib/a-b", "2");
        var tree = f.Build();
        Assert.Equal(3, tree.Remove("/usr/lib/a"));
        Assert.False(tree.Contains("usr/lib/a/b/c"));
        Assert.True(tree.Contains("usr/lib/a-b"));
        Assert.DoesNotContain(tree.GetChildren("usr/lib"), e => e.Path == "usr/lib/a");
        Assert.Equal(0, tree.Remove("usr/lib/a"));
    }

    [Fact]
    public void RemoveGlobRemovesMatchedDirectoriesWithTheirContent()
    {
        using var f = new TreeFixture()
            .File("usr/share/doc/bash/copyright", "c").File("usr/share/doc/bash/README", "r").Dir("usr/share/doc/empty")
            .File("usr/lib/python3/m.pyc", "p").File("usr/lib/python3/pkg/__pycache__/n.pyc", "p").File("usr/lib/python3/m.py", "s")
            .File("usr/share/locale/de/LC_MESSAGES/a.mo", "m").File("usr/share/locale/de/LC_TIME", "t")
            .File("usr/share/locale/locale.alias", "a");
        var tree = f.Build();
        Assert.Equal(4, tree.RemoveGlob("/usr/share/doc/**")); // bash, bash/copyright, bash/README, empty
        Assert.True(tree.Contains("usr/share/doc"));
        Assert.Empty(tree.GetChildren("usr/share/doc"));
        Assert.Equal(2, tree.RemoveGlob("**/*.pyc"));
        Assert.True(tree.Contains("usr/lib/python3/m.py"));
        Assert.Equal(1, tree.RemoveGlob("/usr/share/locale/*/LC_MESSAGES/**"));
        Assert.True(tree.Contains("usr/share/locale/de/LC_MESSAGES"));
        Assert.True(tree.Contains("usr/share/locale/de/LC_TIME"));
        Assert.Equal(3, tree.RemoveGlob("/usr/share/locale/de")); // de, LC_MESSAGES, LC_TIME
        Assert.True(tree.Contains("usr/share/locale/locale.alias"));
    }

    [Fact]
    public void GlobPrefixIsResolvedThroughSymlinks()
    {
        using var f = new TreeFixture().Link("lib", "usr/lib").File("usr/lib/modules/6.1/kernel/sound/snd.ko", "k")
            .File("usr/lib/modules/6.1/kernel/fs/ext4.ko", "k");
        var tree = f.Build();
        Assert.Equal(["usr/lib/modules/6.1/kernel/sound"], tree.Match("/lib/modules/*/kernel/sound"));
        Assert.Equal(2, tree.RemoveGlob("/lib/modules/*/kernel/sound"));
        Assert.True(tree.Contains("usr/lib/modules/6.1/kernel/fs/ext4.ko"));
        Assert.Equal(1, tree.RemoveGlob("/lib")); // the symlink itself, not its target
        Assert.True(tree.Contains("usr/lib/modules"));
    }

    [Fact]
    public void RemovingAHardLinkTargetPromotesTheFirstRemainingLink()
    {
        using var f = new TreeFixture().File("usr/bin/gzip", "GZIP", FileModes.Executable)
            .HardLink("usr/bin/zcat", "usr/bin/gzip").HardLink("usr/bin/gunzip", "/usr/bin/gzip");
        var tree = f.Build();
        var content = tree.Find("usr/bin/gzip")!.ContentPath;
        tree.Remove("usr/bin/gzip");
        var gunzip = tree.Find("usr/bin/gunzip")!;
        Assert.Equal(TreeEntryKind.RegularFile, gunzip.Kind);
        Assert.Equal(content, gunzip.ContentPath);
        Assert.Equal(4, gunzip.Size);
        Assert.Null(gunzip.LinkTarget);
        var zcat = tree.Find("usr/bin/zcat")!;
        Assert.Equal(TreeEntryKind.HardLink, zcat.Kind);
        Assert.Equal("usr/bin/gunzip", zcat.LinkTarget);
        Assert.Equal("GZIP", tree.ReadAllText("usr/bin/zcat"));

        tree.Remove("usr/bin/gunzip");
        Assert.Equal(TreeEntryKind.RegularFile, tree.Find("usr/bin/zcat")!.Kind);
        Assert.Equal("GZIP", tree.ReadAllText("usr/bin/zcat"));
    }

    [Fact]
    public void RemovingASubtreeKeepsDataForLinksOutsideIt()
    {
        using var f = new TreeFixture().File("a/file", "DATA").HardLink("a/inside", "a/file").HardLink("b/outside", "a/file");
        var tree = f.Build();
        Assert.Equal(3, tree.Remove("a"));
        var outside = tree.Find("b/outside")!;
        Assert.Equal(TreeEntryKind.RegularFile, outside.Kind);
        Assert.Equal("DATA", tree.ReadAllText("b/outside"));

        using var g = new TreeFixture().File("a/file", "DATA").HardLink("a/inside", "a/file");
        var tree2 = g.Build();
        Assert.Equal(3, tree2.RemoveGlob("/a"));
        Assert.Equal(0, tree2.Count);
    }

    [Fact]
    public void ReplacingAHardLinkTargetLeavesTheLinksWithTheOldData()
    {
        using var f = new TreeFixture().File("x/a", "OLD").HardLink("x/b", "x/a");
        var tree = f.Build();
        tree.AddTextFile("x/a", "NEW");
        Assert.Equal("NEW", tree.ReadAllText("x/a"));
        Assert.Equal("OLD", tree.ReadAllText("x/b"));
        Assert.Equal(TreeEntryKind.RegularFile, tree.Find("x/b")!.Kind);
    }

    [Fact]
    public void HardLinkChainsInTheManifestPointAtTheFile()
    {
        using var f = new TreeFixture().File("f", "1").HardLink("h1", "f").HardLink("h2", "h1");
        var tree = f.Build();
        Assert.Equal("f", tree.Find("h2")!.LinkTarget);
        using var g = new TreeFixture().HardLink("h", "missing");
        Assert.Equal(FinalizeErrorKind.InvalidManifest, Assert.Throws<FinalizeException>(() => g.Build()).Kind);
    }

    [Fact]
    public void ManifestRoundTripsAndTheInstallTreeIsNotTouched()
    {
        using var f = Sample().HardLink("usr/bin/rbash", "usr/bin/bash");
        var dir = f.WriteInstallTree();
        var before = f.HashInstallTree();
        var tree = ImageTree.LoadInstallTree(dir, f.OverlayDirectory, TreeFixture.Timestamp);
        tree.AddTextFile("etc/hostname", "initrd\n");
        tree.Remove("usr/bin/bash");
        tree.AddNode("dev/null", TreeEntryKind.CharacterDevice, 1, 3, FileModes.EverybodyReadWrite);
        var output = Path.Combine(f.TempPath, "out", "initrd.tree");
        tree.WriteManifest(output);
        Assert.Equal(before, f.HashInstallTree());

        var reread = TreeManifest.Read(output);
        Assert.Equal(tree.Entries, reread);
        Assert.Equal(tree.ToManifestText(), File.ReadAllText(output));
        Assert.Contains(reread, e => e.Path == "usr/bin/rbash" && e.Kind == TreeEntryKind.RegularFile);
    }

    [Fact]
    public void EnsureDirectoryFollowsSymlinksAndRefusesFiles()
    {
        using var f = Sample();
        var tree = f.Build();
        Assert.Equal("usr/lib", tree.EnsureDirectory("lib").Path);
        Assert.Equal("usr/lib/new", tree.EnsureDirectory("lib/new").Path);
        Assert.Equal(FinalizeErrorKind.PathConflict, Assert.Throws<FinalizeException>(() => tree.EnsureDirectory("usr/bin/bash")).Kind);
    }
}
