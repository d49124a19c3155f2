using System.Formats.Tar;
using Initrd.Formats.Tree;
using Initrd.Image.Install;
using Initrd.Testing;
using static Initrd.Image.Tests.Install.HandMadeDeb;

namespace Initrd.Image.Tests.Install;

/// <summary>
/// Hand-made packages that try to write outside the tree, or are broken: each either fails with an
/// <see cref="InstallException"/> naming the package and the entry, leaving nothing in the cache, or lands inside
/// the tree; a later build with good input succeeds.
/// </summary>
public sealed class HostileDebTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Builds a tree from a good base package and <paramref name="hostile"/>; expects the failure.</summary>
    static InstallException AssertRejected(TempDirectory temp, TarEntry[] hostile, string entry, string reasonPart)
    {
        var good = Write(temp.Path, "good", Dir("./"), Dir("./usr/"), Dir("./usr/lib/"), File("./usr/lib/good", "good\n"));
        var bad = Write(temp.Path, "hostile", hostile);
        var trees = temp.Combine("trees");
        var e = Assert.Throws<InstallException>(() => InstallTreeBuilder.GetOrBuild([good, bad], trees, "k", Ct));
        Assert.Equal("hostile", e.Package);
        Assert.Equal(entry, e.Entry);
        Assert.Contains(reasonPart, e.Reason, StringComparison.Ordinal);
        Assert.Contains("hostile", e.Message, StringComparison.Ordinal);
        Assert.Contains(entry, e.Message, StringComparison.Ordinal);
        TreesRoot.AssertNoTrees(trees);

        var tree = InstallTreeBuilder.GetOrBuild([good], trees, "k", Ct);
        Assert.True(tree.Built);
        Assert.Contains(tree.Entries, x => x.Path == "usr/lib/good");
        return e;
    }

    [Fact]
    public void Dot_dot_leaving_the_root_is_rejected()
    {
        using var temp = new TempDirectory("install-hostile");
        AssertRejected(temp, [Dir("./"), File("../../etc/evil", "evil\n")], "../../etc/evil", "climbs above the root");
        Assert.False(System.IO.File.Exists(Path.Combine(Path.GetDirectoryName(temp.Path)!, "etc", "evil")));
    }

    [Fact]
    public void Dot_dot_inside_a_path_leaving_the_root_is_rejected()
    {
        using var temp = new TempDirectory("install-hostile");
        AssertRejected(temp, [Dir("./usr/"), File("./usr/../../evil", "evil\n")], "./usr/../../evil", "climbs above the root");
    }

    [Fact]
    public void An_absolute_name_is_taken_relative_to_the_root()
    {
        // tar and dpkg strip the leading '/': the entry is inside the tree.
        using var temp = new TempDirectory("install-hostile");
        var deb = Write(temp.Path, "abs", File("/etc/abs", "abs\n"), File("./usr/lib/../share/x", "x\n"));
        var tree = InstallTreeBuilder.GetOrBuild([deb], temp.Combine("trees"), "k", Ct);
        Assert.Equal(["etc", "etc/abs", "usr", "usr/share", "usr/share/x"], tree.Entries.Select(e => e.Path));
        Assert.Equal("abs\n", System.IO.File.ReadAllText(Path.Combine(tree.RootDirectory, "etc", "abs")));
    }

    [Fact]
    public void A_relative_symlink_escaping_the_root_is_rejected()
    {
        using var temp = new TempDirectory("install-hostile");
        AssertRejected(temp, [Dir("./usr/"), Symlink("./usr/evil", "../../../etc")], "./usr/evil", "climbs above the root");
    }

    [Fact]
    public void A_symlink_to_an_absolute_host_path_is_followed_inside_the_tree()
    {
        using var temp = new TempDirectory("install-hostile");
        var name = "initrd-install-test-" + Guid.NewGuid().ToString("N");
        var deb = Write(temp.Path, "sneaky",
            Symlink("./lib", "/tmp"),
            File($"./lib/{name}", "x\n"),
            Symlink("./a", "/b"),
            Symlink("./b", "/tmp"),
            File($"./a/{name}.2", "y\n"));
        var tree = InstallTreeBuilder.GetOrBuild([deb], temp.Combine("trees"), "k", Ct);

        Assert.False(System.IO.File.Exists(Path.Combine("/tmp", name)));
        Assert.False(System.IO.File.Exists(Path.Combine("/tmp", name + ".2")));
        var byPath = tree.Entries.ToDictionary(e => e.Path);
        Assert.Equal(TreeEntryKind.Symlink, byPath["lib"].Kind);
        Assert.Equal("/tmp", byPath["lib"].LinkTarget);
        Assert.Equal(TreeEntryKind.RegularFile, byPath[$"tmp/{name}"].Kind);
        Assert.Equal(TreeEntryKind.RegularFile, byPath[$"tmp/{name}.2"].Kind);
        Assert.Equal("x\n", System.IO.File.ReadAllText(Path.Combine(tree.RootDirectory, "tmp", name)));
        // The symlink on disk points at the host's /tmp; the tree's own file must not be reached through it.
        Assert.Equal("/tmp", new FileInfo(Path.Combine(tree.RootDirectory, "lib")).LinkTarget);
        Assert.True(new DirectoryInfo(Path.Combine(tree.RootDirectory, "tmp")).LinkTarget is null);
    }

    [Fact]
    public void A_symlink_escaping_through_a_chain_is_rejected()
    {
        using var temp = new TempDirectory("install-hostile");
        AssertRejected(temp, [Dir("./usr/"), Symlink("./usr/up", ".."), Symlink("./usr/esc", "up/../../..")], "./usr/esc", "climbs above the root");
    }

    [Fact]
    public void A_hard_link_to_a_missing_file_is_rejected()
    {
        using var temp = new TempDirectory("install-hostile");
        AssertRejected(temp, [Dir("./usr/"), HardLink("./usr/link", "./usr/missing")], "./usr/link", "has not shipped before it");
    }

    [Fact]
    public void A_hard_link_to_another_package_s_file_is_rejected()
    {
        using var temp = new TempDirectory("install-hostile");
        AssertRejected(temp, [HardLink("./usr/link", "./usr/lib/good")], "./usr/link", "not a file of this package");
    }

    [Fact]
    public void A_hard_link_to_a_directory_is_rejected()
    {
        using var temp = new TempDirectory("install-hostile");
        AssertRejected(temp, [Dir("./usr/share/"), HardLink("./usr/link", "./usr/share")], "./usr/link", "not a regular file");
    }

    [Fact]
    public void A_symlink_loop_is_rejected()
    {
        using var temp = new TempDirectory("install-hostile");
        AssertRejected(temp, [Symlink("./a", "b"), Symlink("./b", "a"), File("./a/x", "x\n")], "./a/x", "too many levels of symlinks");
    }

    [Fact]
    public void A_file_below_a_file_is_rejected()
    {
        using var temp = new TempDirectory("install-hostile");
        AssertRejected(temp, [File("./f", "f\n"), File("./f/x", "x\n")], "./f/x", "not a directory");
    }

    [Fact]
    public void A_file_replacing_a_directory_is_rejected()
    {
        using var temp = new TempDirectory("install-hostile");
        AssertRejected(temp, [File("./usr/lib", "x\n")], "./usr/lib", "cannot replace the directory");
    }

    [Fact]
    public void A_truncated_package_is_rejected_and_named()
    {
        using var temp = new TempDirectory("install-hostile");
        var good = Write(temp.Path, "good", File("./usr/lib/good", "good\n"));
        var big = string.Concat(Enumerable.Range(0, 20000).Select(i => $"line {i} {Guid.NewGuid()}\n"));
        var bad = Write(temp.Path, "truncated", File("./usr/share/big", big));
        var length = new FileInfo(bad.Path).Length;
        using (var stream = new FileStream(bad.Path, FileMode.Open)) stream.SetLength(length / 2);

        var trees = temp.Combine("trees");
        var e = Assert.Throws<InstallException>(() => InstallTreeBuilder.GetOrBuild([good, bad], trees, "k", Ct));
        Assert.Equal("truncated", e.Package);
        Assert.Contains(bad.Path, e.Message, StringComparison.Ordinal);
        TreesRoot.AssertNoTrees(trees);
        Assert.True(InstallTreeBuilder.GetOrBuild([good], trees, "k", Ct).Built);
    }

    [Fact]
    public void A_package_truncated_inside_the_data_archive_names_the_entry()
    {
        using var temp = new TempDirectory("install-hostile");
        var content = string.Concat(Enumerable.Range(0, 20000).Select(i => $"line {i} {Guid.NewGuid()}\n"));
        var bad = Write(temp.Path, "cut", Dir("./usr/"), File("./usr/a", content));
        // Rewrite the ar size fields as they are, but cut the gzip data: a truncated data.tar.gz inside a valid ar.
        var bytes = System.IO.File.ReadAllBytes(bad.Path);
        var dataHeader = IndexOf(bytes, "data.tar.gz"u8);
        var size = int.Parse(System.Text.Encoding.ASCII.GetString(bytes, dataHeader + 48, 10).Trim());
        var keep = size - 200;
        var header = System.Text.Encoding.ASCII.GetBytes(keep.ToString().PadRight(10));
        header.CopyTo(bytes, dataHeader + 48);
        System.IO.File.WriteAllBytes(bad.Path, bytes.AsSpan(0, dataHeader + 60 + keep).ToArray());

        var trees = temp.Combine("trees");
        var e = Assert.Throws<InstallException>(() => InstallTreeBuilder.GetOrBuild([bad], trees, "k", Ct));
        Assert.Equal("cut", e.Package);
        TreesRoot.AssertNoTrees(trees);
    }

    [Fact]
    public void A_missing_package_file_is_reported()
    {
        using var temp = new TempDirectory("install-hostile");
        var missing = new PackageArchive("ghost", "1", "all", temp.Combine("ghost.deb"));
        var trees = temp.Combine("trees");
        var e = Assert.Throws<InstallException>(() => InstallTreeBuilder.GetOrBuild([missing], trees, "k", Ct));
        Assert.Equal("ghost", e.Package);
        Assert.Contains("ghost.deb", e.Message, StringComparison.Ordinal);
        TreesRoot.AssertNoTrees(trees);
    }

    [Fact]
    public void With_several_bad_packages_the_first_in_order_is_reported()
    {
        // "a-slow" is large (read last-finishing) and fails late; "b-fast" fails at once while "a-slow" is still
        // being read. The report must not depend on timing: the first package in order wins.
        using var temp = new TempDirectory("install-hostile");
        var noise = new byte[4 << 20];
        new Random(42).NextBytes(noise);
        var big = Convert.ToBase64String(noise);
        var slowInStaging = Write(temp.Path, "a-slow", File("./usr/big", big), File("../late", "x\n"));
        var slowInMerge = Write(temp.Path, "a-slow", File("./usr/big", big), HardLink("./usr/late", "./usr/missing"));
        var fast = Write(temp.Path, "b-fast", File("../early", "x\n"));
        var trees = temp.Combine("trees");
        foreach (var slow in new[] { slowInStaging, slowInMerge })
        {
            var e = Assert.Throws<InstallException>(() =>
                InstallTreeBuilder.GetOrBuild([slow, fast], trees, "k", new InstallTreeOptions { MaxParallelism = 2 }, Ct));
            Assert.Equal("a-slow", e.Package);
            TreesRoot.AssertNoTrees(trees);
        }
    }

    static int IndexOf(byte[] haystack, ReadOnlySpan<byte> needle)
    {
        var i = haystack.AsSpan().IndexOf(needle);
        Assert.True(i >= 0);
        return i;
    }
}
