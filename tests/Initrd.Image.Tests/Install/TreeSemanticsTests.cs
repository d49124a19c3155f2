using System.Runtime.Versioning;
using Initrd.Formats.Tree;
using Initrd.Image.Install;
using Initrd.Testing;
using static Initrd.Image.Tests.Install.HandMadeDeb;

namespace Initrd.Image.Tests.Install;

/// <summary>How entries from several packages combine: dpkg's rules, kept without root.</summary>
[SupportedOSPlatform("linux")]
public sealed class TreeSemanticsTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void A_later_package_wins_a_shared_path_and_the_overlap_is_reported()
    {
        using var temp = new TempDirectory("install-overlap");
        var first = Write(temp.Path, "first", Dir("./etc/", 0x1E8 /* 0750 */, 0, 4), File("./etc/shared", "first\n"), Symlink("./etc/link", "a"));
        var second = Write(temp.Path, "second", Dir("./etc/"), File("./etc/shared", "second\n", 0x180), Symlink("./etc/link", "b"));
        var tree = InstallTreeBuilder.GetOrBuild([first, second], temp.Combine("trees"), "k", Ct);
        var byPath = tree.Entries.ToDictionary(e => e.Path);

        Assert.Equal("second\n", System.IO.File.ReadAllText(byPath["etc/shared"].ContentPath!));
        Assert.Equal(0x180, byPath["etc/shared"].Permissions);
        Assert.Equal("b", byPath["etc/link"].LinkTarget);
        Assert.Equal("b", new FileInfo(Path.Combine(tree.RootDirectory, "etc", "link")).LinkTarget);
        Assert.Equal("second", tree.PathOwners["etc/shared"]);
        // A directory keeps its first definition (mode 0750, group 4), as with dpkg.
        Assert.Equal(0x1E8, byPath["etc"].Permissions);
        Assert.Equal(4, byPath["etc"].Gid);
        Assert.Equal("first", tree.PathOwners["etc"]);
        Assert.Equal([new PathOverlap("etc/shared", "first", "second"), new PathOverlap("etc/link", "first", "second")], tree.Overlaps);
    }

    [Fact]
    public void Modes_owners_and_times_live_in_the_manifest_not_on_disk()
    {
        using var temp = new TempDirectory("install-modes");
        var deb = Write(temp.Path, "modes",
            File("./usr/bin/su", "su\n", 0x9ED /* 04755 */),
            File("./usr/bin/chage", "chage\n", 0x5ED /* 02755 */, 0, 42),
            File("./etc/shadow", "shadow\n", 0x1A0 /* 0640 */, 0, 42),
            File("./usr/share/private", "p\n", 0x100 /* 0400 */, 1000, 1000),
            Dir("./tmp/", 0x3FF /* 01777 */),
            CharDevice("./dev/null", 1, 3),
            Fifo("./run/initctl"));
        var tree = InstallTreeBuilder.GetOrBuild([deb], temp.Combine("trees"), "k", Ct);
        var byPath = tree.Entries.ToDictionary(e => e.Path);

        Assert.Equal(0x9ED, byPath["usr/bin/su"].Permissions);
        Assert.Equal(0x5ED, byPath["usr/bin/chage"].Permissions);
        Assert.Equal(42, byPath["usr/bin/chage"].Gid);
        Assert.Equal(1000, byPath["usr/share/private"].Uid);
        Assert.Equal(0x3FF, byPath["tmp"].Permissions);
        Assert.Equal(Time.ToUnixTimeSeconds(), byPath["usr/bin/su"].ModificationTime);
        Assert.Equal((TreeEntryKind.CharacterDevice, 1, 3, 0x1B6), (byPath["dev/null"].Kind, byPath["dev/null"].DeviceMajor, byPath["dev/null"].DeviceMinor, byPath["dev/null"].Permissions));
        Assert.Equal(TreeEntryKind.Fifo, byPath["run/initctl"].Kind);
        // Implied parents: 0755 root:root.
        Assert.Equal((0x1ED, 0, 0, 0L), (byPath["usr/bin"].Permissions, byPath["usr/bin"].Uid, byPath["usr/bin"].Gid, byPath["usr/bin"].ModificationTime));
        Assert.False(tree.PathOwners.ContainsKey("usr/bin"));

        // On disk: plain 0755/0644 files, no setuid, no devices.
        Assert.Equal((UnixFileMode)0x1ED, System.IO.File.GetUnixFileMode(Path.Combine(tree.RootDirectory, "usr/bin/su")));
        Assert.Equal((UnixFileMode)0x1A4, System.IO.File.GetUnixFileMode(Path.Combine(tree.RootDirectory, "etc/shadow")));
        Assert.Equal((UnixFileMode)0x1A4, System.IO.File.GetUnixFileMode(Path.Combine(tree.RootDirectory, "usr/share/private")));
        Assert.False(Path.Exists(Path.Combine(tree.RootDirectory, "dev/null")));
        Assert.False(Path.Exists(Path.Combine(tree.RootDirectory, "run/initctl")));
    }

    [Fact]
    public void Hard_links_are_links_on_disk_and_survive_their_file_being_replaced()
    {
        using var temp = new TempDirectory("install-hardlinks");
        var perl = Write(temp.Path, "perl", File("./usr/bin/perl5", "perl\n", 0x1ED), HardLink("./usr/bin/perl", "./usr/bin/perl5", 0x1ED),
            HardLink("./usr/bin/perl-again", "usr/bin/perl", 0x1ED));
        var tree = InstallTreeBuilder.GetOrBuild([perl], temp.Combine("trees"), "k", Ct);
        var byPath = tree.Entries.ToDictionary(e => e.Path);
        Assert.Equal((TreeEntryKind.HardLink, "usr/bin/perl5"), (byPath["usr/bin/perl"].Kind, byPath["usr/bin/perl"].LinkTarget));
        Assert.Equal((TreeEntryKind.HardLink, "usr/bin/perl5"), (byPath["usr/bin/perl-again"].Kind, byPath["usr/bin/perl-again"].LinkTarget));
        Assert.Equal(3, LinkCount(Path.Combine(tree.RootDirectory, "usr/bin/perl5")));

        // A later package replaces the linked file: the links keep the old data, one of them becomes the file.
        var other = Write(temp.Path, "other", File("./usr/bin/perl5", "other\n", 0x1ED));
        var tree2 = InstallTreeBuilder.GetOrBuild([perl, other], temp.Combine("trees"), "k2", Ct);
        var byPath2 = tree2.Entries.ToDictionary(e => e.Path);
        Assert.Equal("other\n", System.IO.File.ReadAllText(byPath2["usr/bin/perl5"].ContentPath!));
        Assert.Equal(TreeEntryKind.RegularFile, byPath2["usr/bin/perl"].Kind);
        Assert.Equal(5, byPath2["usr/bin/perl"].Size);
        Assert.Equal("perl\n", System.IO.File.ReadAllText(byPath2["usr/bin/perl"].ContentPath!));
        Assert.Equal((TreeEntryKind.HardLink, "usr/bin/perl"), (byPath2["usr/bin/perl-again"].Kind, byPath2["usr/bin/perl-again"].LinkTarget));
        Assert.Equal([new PathOverlap("usr/bin/perl5", "perl", "other")], tree2.Overlaps);
    }

    [Fact]
    public void A_directory_entry_meeting_a_symlink_keeps_the_symlink()
    {
        using var temp = new TempDirectory("install-dir-symlink");
        var a = Write(temp.Path, "a", Dir("./usr/lib/"), Symlink("./lib", "usr/lib"));
        var b = Write(temp.Path, "b", Dir("./lib/", 0x1C0 /* 0700 */), Dir("./lib/sub/"), File("./lib/sub/f", "f\n"));
        var tree = InstallTreeBuilder.GetOrBuild([a, b], temp.Combine("trees"), "k", Ct);
        var byPath = tree.Entries.ToDictionary(e => e.Path);
        Assert.Equal(TreeEntryKind.Symlink, byPath["lib"].Kind);
        Assert.Equal(0x1ED, byPath["usr/lib"].Permissions); // a's definition, not b's 0700
        Assert.Equal("b", tree.PathOwners["usr/lib/sub/f"]);
        Assert.Empty(tree.Overlaps);
    }

    [Fact]
    public void Merging_a_directory_into_a_symlink_target_follows_symlinks_there()
    {
        // "aaa" ships a real lib/x/; base's lib → usr/lib arrives later, where x is a symlink to y: the files
        // end up in usr/lib/y, where dpkg would have put them had the symlinks been there first.
        using var temp = new TempDirectory("install-merge-follow");
        var aaa = Write(temp.Path, "aaa", Dir("./lib/"), Dir("./lib/x/"), File("./lib/x/file", "file\n"), File("./lib/top", "top\n"));
        var base_ = Write(temp.Path, "base", Dir("./usr/"), Dir("./usr/lib/"), Dir("./usr/lib/y/"), Symlink("./usr/lib/x", "y"),
            Symlink("./lib", "usr/lib"));
        var tree = InstallTreeBuilder.GetOrBuild([aaa, base_], temp.Combine("trees"), "k", Ct);
        var byPath = tree.Entries.ToDictionary(e => e.Path);
        Assert.Equal(TreeEntryKind.Symlink, byPath["lib"].Kind);
        Assert.Equal(TreeEntryKind.Symlink, byPath["usr/lib/x"].Kind);
        Assert.Equal("aaa", tree.PathOwners["usr/lib/y/file"]);
        Assert.Equal("aaa", tree.PathOwners["usr/lib/top"]);
        Assert.Equal("file\n", System.IO.File.ReadAllText(byPath["usr/lib/y/file"].ContentPath!));
        Assert.DoesNotContain(tree.Entries, e => e.Path.StartsWith("lib/", StringComparison.Ordinal));
        Assert.Equal([new PathOverlap("lib", "aaa", "base")], tree.Overlaps);
    }

    [Fact]
    public void An_empty_package_list_gives_an_empty_tree()
    {
        using var temp = new TempDirectory("install-empty");
        var tree = InstallTreeBuilder.GetOrBuild([], temp.Combine("trees"), "k", Ct);
        Assert.Empty(tree.Entries);
        Assert.Empty(tree.PathOwners);
        Assert.True(Directory.Exists(tree.RootDirectory));
    }

    static long LinkCount(string path)
    {
        var stat = ReferenceTool.Run(ReferenceTool.Require("stat", "coreutils"), ["-c", "%h", path]);
        return long.Parse(stat.StandardOutput.Trim(), System.Globalization.CultureInfo.InvariantCulture);
    }
}
