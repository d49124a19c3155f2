using System.Text;
using System.Text.RegularExpressions;
using Initrd.Formats.Cpio;
using Initrd.Formats.Tree;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Cpio;

/// <summary>Independent readers (GNU cpio, libarchive's bsdtar) as the oracle for what the archive writer produces.</summary>
public partial class CpioReferenceToolTests
{
    static readonly Dictionary<string, string> Utf8Locale = new() { ["LC_ALL"] = "C.UTF-8" };

    // "-rwsr-xr-x   1 0        0              14 Nov 14  2023 usr/bin/su" / "crw-------   1 0  0   5,   1 Nov 14  2023 dev/console"
    [GeneratedRegex(@"^(?<mode>\S{10})\s+(?<nlink>\d+)\s+(?<uid>\d+)\s+(?<gid>\d+)\s+(?<size>\d+|\d+,\s*\d+)\s+\S+\s+\d+\s+\S+ (?<rest>.*)$")]
    private static partial Regex ListingLine();

    sealed record Listed(string Mode, int LinkCount, int Uid, int Gid, string Size, string Rest);

    static List<Listed> ParseListing(string text) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(line =>
        {
            var m = ListingLine().Match(line);
            Assert.True(m.Success, $"unexpected listing line: {line}");
            return new Listed(m.Groups["mode"].Value, int.Parse(m.Groups["nlink"].Value), int.Parse(m.Groups["uid"].Value),
                int.Parse(m.Groups["gid"].Value), Regex.Replace(m.Groups["size"].Value, @"\s", ""), m.Groups["rest"].Value);
        }).ToList();

    /// <summary>What a listing should say about each entry, in archive order; derived from the tree, not from the archive.</summary>
    static List<(string Path, TreeEntry Meta, TreeEntry Entry, int LinkCount, string Size, string? Symlink, string? HardLinkTo)> Expected(SampleTree tree)
    {
        var order = tree.SortedPaths();
        var byPath = tree.Entries.ToDictionary(e => e.Path);
        string GroupOf(TreeEntry e) => e.Kind == TreeEntryKind.HardLink ? e.LinkTarget!.TrimStart('/') : e.Path;
        var groups = tree.Entries.Where(e => e.Kind is TreeEntryKind.RegularFile or TreeEntryKind.HardLink)
            .GroupBy(GroupOf).ToDictionary(g => g.Key, g => g.Select(e => e.Path).OrderBy(p => p, Utf8Order.Instance).ToList());
        return order.Select(path =>
        {
            var e = byPath[path];
            var meta = e.Kind == TreeEntryKind.HardLink ? byPath[GroupOf(e)] : e;
            var group = e.Kind is TreeEntryKind.RegularFile or TreeEntryKind.HardLink ? groups[GroupOf(e)] : null;
            var nlink = e.Kind == TreeEntryKind.Directory
                ? 2 + tree.Entries.Count(c => c.Kind == TreeEntryKind.Directory && c.Path.StartsWith(path + "/", StringComparison.Ordinal) && !c.Path[(path.Length + 1)..].Contains('/'))
                : group?.Count ?? 1;
            var size = e.Kind switch
            {
                TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice => $"{e.DeviceMajor},{e.DeviceMinor}",
                TreeEntryKind.Symlink => Encoding.UTF8.GetByteCount(e.LinkTarget!).ToString(),
                TreeEntryKind.RegularFile or TreeEntryKind.HardLink => (group![^1] == path ? meta.Size : 0).ToString(),
                _ => "0",
            };
            var hardLinkTo = group is not null && group[0] != path ? group[0] : null;
            return (path, meta, e, nlink, size, e.Kind == TreeEntryKind.Symlink ? e.LinkTarget : null, hardLinkTo);
        }).ToList();
    }

    [Fact]
    public void GnuCpioListsEveryEntryAsDescribed()
    {
        var cpio = ReferenceTool.Require("cpio", "cpio");
        using var tree = new SampleTree();
        var archive = tree.Entries.WriteToBytes();
        var result = ReferenceTool.Run(cpio, ["-itv", "--numeric-uid-gid"], standardInput: archive, environment: Utf8Locale);
        Assert.True(result.ExitCode == 0, result.ToString());

        var listed = ParseListing(result.StandardOutput);
        var expected = Expected(tree);
        Assert.Equal(expected.Count, listed.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var (path, meta, entry, nlink, size, symlink, _) = expected[i];
            var l = listed[i];
            Assert.Equal(path + (symlink is null ? "" : " -> " + symlink), l.Rest);
            Assert.Equal(ModeStrings.Of(entry.Kind == TreeEntryKind.HardLink ? TreeEntryKind.RegularFile : entry.Kind, meta.Permissions), l.Mode);
            Assert.Equal(nlink, l.LinkCount);
            Assert.Equal(meta.Uid, l.Uid);
            Assert.Equal(meta.Gid, l.Gid);
            Assert.Equal(size, l.Size);
        }
    }

    [Fact]
    public void BsdtarListsEveryEntryAsDescribed()
    {
        var bsdtar = ReferenceTool.Require("bsdtar", "libarchive-tools");
        using var tree = new SampleTree();
        using var dir = new TempDirectory("cpio-bsdtar");
        var path = dir.Combine("initrd.cpio");
        File.WriteAllBytes(path, tree.Entries.WriteToBytes());
        var result = ReferenceTool.Run(bsdtar, ["-tvf", path, "--numeric-owner"], environment: Utf8Locale);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.True(result.StandardError.Length == 0, result.StandardError);

        var listed = ParseListing(result.StandardOutput);
        var expected = Expected(tree);
        Assert.Equal(expected.Count, listed.Count);
        for (var i = 0; i < expected.Count; i++)
        {
            var (p, meta, entry, nlink, size, symlink, hardLinkTo) = expected[i];
            var l = listed[i];
            // libarchive reports later names of a hard-link group as links to the first one.
            var suffix = symlink is not null ? " -> " + symlink : hardLinkTo is not null ? " link to " + hardLinkTo : "";
            Assert.Equal(p + suffix, l.Rest);
            Assert.Equal(ModeStrings.Of(entry.Kind == TreeEntryKind.HardLink ? TreeEntryKind.RegularFile : entry.Kind, meta.Permissions), l.Mode);
            Assert.Equal(nlink, l.LinkCount);
            Assert.Equal(meta.Uid, l.Uid);
            Assert.Equal(meta.Gid, l.Gid);
            Assert.Equal(size, l.Size);
        }
    }

    [Fact]
    public void GnuCpioExtractsContentLinksOwnersAndDevices()
    {
        var cpio = ReferenceTool.Require("cpio", "cpio");
        var stat = ReferenceTool.Require("stat", "coreutils");
        using var tree = new SampleTree();
        var root = HostFiles.IsRoot;
        // Device nodes, and ownership, need root; without it only that part is left out.
        var entries = root ? tree.Entries : tree.WithoutDevices.ToList();
        var archive = entries.WriteToBytes();
        using var target = new TempDirectory("cpio-extract");
        var result = ReferenceTool.Run(cpio, ["-idm", "--no-absolute-filenames", "--quiet"], target.Path, archive, environment: Utf8Locale);
        Assert.True(result.ExitCode == 0, result.ToString());

        var paths = entries.Select(e => e.Path).ToList();
        var statResult = ReferenceTool.Run(stat, ["-c", "%i|%h|%a|%u|%g|%F|%t|%T|%Y", "--", .. paths], target.Path);
        Assert.True(statResult.ExitCode == 0, statResult.ToString());
        var lines = statResult.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(paths.Count, lines.Length);
        var stats = paths.Zip(lines).ToDictionary(x => x.First, x => x.Second.Split('|'));

        var byPath = entries.ToDictionary(e => e.Path);
        foreach (var e in entries)
        {
            var s = stats[e.Path];
            var full = target.Combine(e.Path);
            var meta = e.Kind == TreeEntryKind.HardLink ? byPath[e.LinkTarget!.TrimStart('/')] : e;
            var expectedType = e.Kind switch
            {
                TreeEntryKind.Directory => "directory",
                TreeEntryKind.Symlink => "symbolic link",
                TreeEntryKind.CharacterDevice => "character special file",
                TreeEntryKind.BlockDevice => "block special file",
                TreeEntryKind.Fifo => "fifo",
                TreeEntryKind.Socket => "socket",
                _ => meta.Size == 0 ? "regular empty file" : "regular file",
            };
            Assert.True(expectedType == s[5], $"{e.Path}: {s[5]}");
            if (e.Kind != TreeEntryKind.Symlink)
                Assert.True(Convert.ToString(meta.Permissions, 8) == s[2], $"{e.Path}: mode {s[2]}");
            if (root)
            {
                Assert.True($"{meta.Uid}|{meta.Gid}" == $"{s[3]}|{s[4]}", $"{e.Path}: owner {s[3]}:{s[4]}");
            }
            switch (e.Kind)
            {
                case TreeEntryKind.RegularFile or TreeEntryKind.HardLink:
                    Assert.Equal(tree.ContentOf(e.Path), File.ReadAllBytes(full));
                    Assert.Equal(meta.ModificationTime.ToString(), s[8]);
                    break;
                case TreeEntryKind.Symlink:
                    Assert.Equal(e.LinkTarget, new FileInfo(full).LinkTarget);
                    break;
                case TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice:
                    Assert.Equal((e.DeviceMajor.ToString("x"), e.DeviceMinor.ToString("x")), (s[6], s[7]));
                    break;
            }
        }
        // Hard links share an inode, and the inode counts all names.
        Assert.Single(new[] { "usr/bin/busybox", "usr/bin/cat", "usr/bin/ls" }.Select(p => stats[p][0]).Distinct());
        Assert.Equal("3", stats["usr/bin/ls"][1]);
        Assert.Equal(stats["usr/lib/z-data"][0], stats["usr/lib/a-link"][0]);
        Assert.NotEqual(stats["usr/lib/z-data"][0], stats["usr/bin/ls"][0]);
        // The 255-byte component and the UTF-8 names came through.
        Assert.True(File.Exists(target.Combine("usr/share/odd", SampleTree.LongComponent)));
        Assert.True(File.Exists(target.Combine(SampleTree.SupplementaryName)));
    }

    [Fact]
    public void BsdtarExtractsTheSameContent()
    {
        var bsdtar = ReferenceTool.Require("bsdtar", "libarchive-tools");
        using var tree = new SampleTree();
        using var dir = new TempDirectory("cpio-bsdtar-x");
        var archivePath = dir.Combine("initrd.cpio");
        File.WriteAllBytes(archivePath, tree.WithoutDevices.WriteToBytes());
        var outDir = dir.Combine("out");
        Directory.CreateDirectory(outDir);
        var result = ReferenceTool.Run(bsdtar, ["-xpf", archivePath, "-C", outDir], environment: Utf8Locale);
        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var e in tree.WithoutDevices.Where(e => e.Kind is TreeEntryKind.RegularFile or TreeEntryKind.HardLink))
            Assert.Equal(tree.ContentOf(e.Path), File.ReadAllBytes(Path.Combine(outDir, e.Path)));
    }

    /// <summary>
    /// Our archive of a host tree against <c>cpio -o -H newc --reproducible -R 0:0</c> of the same tree, header by
    /// header and byte by byte. They differ in exactly two ways, both by design:
    /// <list type="bullet">
    /// <item>inode numbers: GNU's --renumber-inodes counts from 0, ours from 1 (0 is what the trailer uses); both
    /// number in output order and give a hard-link group one number, so ours = GNU's + 1;</item>
    /// <item>the end: GNU cpio pads the archive with NULs to its 512-byte block size; ours ends after the trailer's
    /// 4-byte padding (the kernel skips NULs between archives, and does not need blocks).</item>
    /// </list>
    /// </summary>
    [Fact]
    public void HeadersMatchGnuCpioReproducibleOutput()
    {
        var cpio = ReferenceTool.Require("cpio", "cpio");
        var sh = ReferenceTool.Require("sh", "dash");
        using var dir = new TempDirectory("cpio-gnu");
        var root = dir.Combine("root");
        Directory.CreateDirectory(root);
        void Mk(string p) => Directory.CreateDirectory(Path.Combine(root, p));
        Mk("etc"); Mk("usr/bin"); Mk("usr/lib/modules"); Mk("usr/share/odd dir"); Mk("dev"); Mk("empty");
        File.WriteAllText(Path.Combine(root, "etc/hostname"), "initrd\n");
        File.WriteAllBytes(Path.Combine(root, "etc/empty"), []);
        File.WriteAllBytes(Path.Combine(root, "usr/lib/blob.bin"), Enumerable.Range(0, 70_001).Select(i => (byte)(i * 7)).ToArray());
        File.WriteAllText(Path.Combine(root, "usr/bin/busybox"), "busybox!");
        var chmod = ReferenceTool.Require("chmod", "coreutils");
        Assert.Equal(0, ReferenceTool.Run(chmod, ["4755", Path.Combine(root, "usr/bin/busybox")]).ExitCode);
        var ln = ReferenceTool.Require("ln", "coreutils");
        foreach (var name in new[] { "usr/bin/ls", "usr/bin/cat" })
            Assert.Equal(0, ReferenceTool.Run(ln, [Path.Combine(root, "usr/bin/busybox"), Path.Combine(root, name)]).ExitCode);
        File.WriteAllText(Path.Combine(root, "usr/share/odd dir/ünï 名前"), "utf8");
        File.CreateSymbolicLink(Path.Combine(root, "bin"), "usr/bin");
        File.CreateSymbolicLink(Path.Combine(root, "usr/bin/sh"), "/usr/bin/busybox");
        File.CreateSymbolicLink(Path.Combine(root, "dangling"), "nowhere/at/all");
        var mkfifo = ReferenceTool.Require("mkfifo", "coreutils");
        Assert.Equal(0, ReferenceTool.Run(mkfifo, [Path.Combine(root, "dev/initctl")]).ExitCode);
        if (HostFiles.IsRoot)
        {
            var mknod = ReferenceTool.Require("mknod", "coreutils");
            Assert.Equal(0, ReferenceTool.Run(mknod, ["-m", "600", Path.Combine(root, "dev/console"), "c", "5", "1"]).ExitCode);
            Assert.Equal(0, ReferenceTool.Run(mknod, ["-m", "660", Path.Combine(root, "dev/loop0"), "b", "7", "0"]).ExitCode);
        }
        // Fixed times (deepest first, so setting a child does not move its directory's mtime afterwards).
        var touch = ReferenceTool.Require("touch", "coreutils");
        var all = Directory.EnumerateFileSystemEntries(root, "*", SearchOption.AllDirectories).OrderByDescending(p => p.Length).ToList();
        var times = ReferenceTool.Run(touch, ["-h", "-d", "@1700000000", "--", .. all]);
        Assert.True(times.ExitCode == 0, times.ToString());

        var entries = HostFiles.Walk(root, out var skipped);
        Assert.Equal(0, skipped);
        foreach (var i in Enumerable.Range(0, entries.Count)) entries[i] = entries[i] with { Uid = 0, Gid = 0 }; // as -R 0:0
        var ours = entries.WriteToBytes();

        var gnu = ReferenceTool.Run(sh, ["-c", "find . -mindepth 1 -printf '%P\\n' | LC_ALL=C sort | cpio -o -H newc --reproducible -R 0:0 --quiet"], root);
        Assert.True(gnu.ExitCode == 0, gnu.ToString());
        var theirs = gnu.StandardOutputBytes;

        var (ourEntries, ourTrailer, ourEnd) = NewcReader.Parse(ours);
        var (gnuInItsOrder, gnuTrailer, gnuEnd) = NewcReader.Parse(theirs);
        // GNU cpio defers the names of a hard-link group until its last one and then writes the deferred names in
        // reverse (cpio 2.13: usr/bin/cat, usr/bin/busybox, usr/bin/ls); everything else keeps the sorted input order.
        // Ours keeps the group in sorted order too; the data goes with the last name in both.
        var gnuEntries = gnuInItsOrder.OrderBy(e => e.NameBytes, Comparer<byte[]>.Create((a, b) => a.AsSpan().SequenceCompareTo(b))).ToList();
        Assert.Equal(gnuEntries.Select(e => e.Name), ourEntries.Select(e => e.Name));
        var dirLinkCountsAreUnix = entries.Where(e => e.Kind == TreeEntryKind.Directory)
            .All(e => HostFiles.LStat(Path.Combine(root, e.Path)).LinkCount ==
                      2 + entries.Count(c => c.Kind == TreeEntryKind.Directory && Path.GetDirectoryName(c.Path) == e.Path));
        Assert.SkipUnless(dirLinkCountsAreUnix, "this file system does not count subdirectories in a directory's nlink (btrfs?)");

        foreach (var (o, g) in ourEntries.Zip(gnuEntries))
        {
            foreach (var field in Enum.GetValues<NewcField>())
            {
                var expected = field == NewcField.Inode ? g[field] + 1 : g[field];
                Assert.True(expected == o[field], $"{o.Name}: {field} is {o[field]:X}, GNU cpio wrote {g[field]:X}");
            }
            Assert.Equal(g.Data, o.Data);
        }
        Assert.Equal(gnuTrailer.Fields, ourTrailer.Fields);

        // Byte level: GNU's entries, each as GNU wrote it, put into sorted order, then its trailer; ours with GNU's
        // inode numbers patched in is exactly that, and GNU's block padding after it is all NULs.
        var gnuSorted = gnuEntries.SelectMany(e => theirs[(int)e.Offset..(int)e.End])
            .Concat(theirs[(int)gnuTrailer.Offset..(int)gnuEnd]).ToArray();
        var patched = (byte[])ours.Clone();
        foreach (var (o, g) in ourEntries.Zip(gnuEntries))
            Encoding.ASCII.GetBytes(g[NewcField.Inode].ToString("X8")).CopyTo(patched, o.Offset + NewcLayout.InodeOffset);
        Assert.Equal(ourEnd, ours.Length);
        Assert.Equal(gnuSorted, patched);
        Assert.Equal(0, theirs.Length % 512);
        Assert.All(theirs[(int)gnuEnd..], b => Assert.Equal(0, b));
    }
}
