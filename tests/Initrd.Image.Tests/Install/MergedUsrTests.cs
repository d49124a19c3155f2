using System.Runtime.Versioning;
using Initrd.Formats.Tree;
using Initrd.Image.Install;
using Initrd.Testing;

namespace Initrd.Image.Tests.Install;

/// <summary>
/// Merged /usr: trixie's base-files ships <c>bin → usr/bin</c>, <c>lib → usr/lib</c>, …; packages may still ship
/// <c>./lib/…</c>, which dpkg places through the symlink. Packages built with the real <c>dpkg-deb --build</c>.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class MergedUsrTests
{
    static void BaseFiles(string root)
    {
        Directory.CreateDirectory(Path.Combine(root, "usr", "lib"));
        Directory.CreateDirectory(Path.Combine(root, "usr", "bin"));
        File.CreateSymbolicLink(Path.Combine(root, "lib"), "usr/lib");
        File.CreateSymbolicLink(Path.Combine(root, "bin"), "usr/bin");
        File.CreateSymbolicLink(Path.Combine(root, "lib64"), "usr/lib64"); // dangling until a package ships usr/lib64
        File.WriteAllText(Path.Combine(root, "usr", "lib", "os-release"), "ID=test\n");
    }

    [Fact]
    public void An_entry_under_a_symlinked_directory_lands_in_usr()
    {
        using var temp = new TempDirectory("install-usrmerge");
        var baseFiles = DpkgDebBuild.Build(temp.Path, "base-files", BaseFiles);
        var foo = DpkgDebBuild.Build(temp.Path, "foo", root =>
        {
            Directory.CreateDirectory(Path.Combine(root, "lib", "foo.d"));
            File.WriteAllText(Path.Combine(root, "lib", "foo"), "foo\n");
            File.WriteAllText(Path.Combine(root, "lib", "foo.d", "bar"), "bar\n");
            Directory.CreateDirectory(Path.Combine(root, "bin"));
            File.WriteAllText(Path.Combine(root, "bin", "foo"), "#!/bin/sh\n");
            File.SetUnixFileMode(Path.Combine(root, "bin", "foo"), (UnixFileMode)0x1ED);
            Directory.CreateDirectory(Path.Combine(root, "lib64"));
            File.WriteAllText(Path.Combine(root, "lib64", "ld.so"), "ld\n");
        }, compression: "gzip");

        var tree = InstallTreeBuilder.GetOrBuild([baseFiles, foo], temp.Combine("trees"), "usrmerge", TestContext.Current.CancellationToken);
        var byPath = tree.Entries.ToDictionary(e => e.Path);

        Assert.Equal(TreeEntryKind.Symlink, byPath["lib"].Kind);
        Assert.Equal("usr/lib", byPath["lib"].LinkTarget);
        Assert.Equal(TreeEntryKind.Symlink, byPath["lib64"].Kind);
        Assert.Equal(TreeEntryKind.RegularFile, byPath["usr/lib/foo"].Kind);
        Assert.Equal(TreeEntryKind.RegularFile, byPath["usr/lib/foo.d/bar"].Kind);
        Assert.Equal(TreeEntryKind.RegularFile, byPath["usr/bin/foo"].Kind);
        Assert.Equal(0x1ED, byPath["usr/bin/foo"].Permissions);
        Assert.Equal(TreeEntryKind.RegularFile, byPath["usr/lib64/ld.so"].Kind);
        Assert.DoesNotContain(tree.Entries, e => e.Path.StartsWith("lib/", StringComparison.Ordinal) || e.Path.StartsWith("bin/", StringComparison.Ordinal));
        Assert.Equal("foo", tree.PathOwners["usr/lib/foo"]);
        Assert.Equal("base-files", tree.PathOwners["lib"]);
        Assert.Empty(tree.Overlaps);

        // On disk: the symlinks are symlinks, the files are under usr/.
        Assert.Equal("usr/lib", new FileInfo(Path.Combine(tree.RootDirectory, "lib")).LinkTarget);
        Assert.Equal("foo\n", File.ReadAllText(Path.Combine(tree.RootDirectory, "usr", "lib", "foo")));
        Assert.True(File.Exists(Path.Combine(tree.RootDirectory, "usr", "lib64", "ld.so")));
    }

    [Fact]
    public void A_directory_unpacked_before_the_symlink_is_merged_into_usr()
    {
        // "aaa" sorts before base-files and ships a real /lib: base-files' lib → usr/lib then moves its contents,
        // as usrmerge does.
        using var temp = new TempDirectory("install-usrmerge-late");
        var early = DpkgDebBuild.Build(temp.Path, "aaa", root =>
        {
            Directory.CreateDirectory(Path.Combine(root, "lib", "modules"));
            File.WriteAllText(Path.Combine(root, "lib", "modules", "m.ko"), "module\n");
            File.WriteAllText(Path.Combine(root, "lib", "os-release"), "ID=old\n");
        });
        var baseFiles = DpkgDebBuild.Build(temp.Path, "base-files", BaseFiles);

        var tree = InstallTreeBuilder.GetOrBuild([early, baseFiles], temp.Combine("trees"), "late", TestContext.Current.CancellationToken);
        var byPath = tree.Entries.ToDictionary(e => e.Path);

        Assert.Equal(TreeEntryKind.Symlink, byPath["lib"].Kind);
        Assert.Equal("aaa", tree.PathOwners["usr/lib/modules/m.ko"]);
        Assert.Equal("module\n", File.ReadAllText(Path.Combine(tree.RootDirectory, "usr", "lib", "modules", "m.ko")));
        // Both shipped lib/os-release: the copy already in usr/lib stays, and the clash is reported.
        Assert.Equal("base-files", tree.PathOwners["usr/lib/os-release"]);
        Assert.Equal("ID=test\n", File.ReadAllText(Path.Combine(tree.RootDirectory, "usr", "lib", "os-release")));
        Assert.Contains(new PathOverlap("usr/lib/os-release", "aaa", "base-files"), tree.Overlaps);
        Assert.Contains(new PathOverlap("lib", "aaa", "base-files"), tree.Overlaps);
        Assert.DoesNotContain(tree.Entries, e => e.Path.StartsWith("lib/", StringComparison.Ordinal));
    }
}
