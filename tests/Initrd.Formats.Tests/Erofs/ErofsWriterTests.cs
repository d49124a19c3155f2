using System.Buffers.Binary;
using Initrd.Formats.Erofs;
using Initrd.Formats.Tree;
using Initrd.Testing;
using static Initrd.Formats.Tests.Erofs.ErofsOracle;

namespace Initrd.Formats.Tests.Erofs;

/// <summary>
/// The native erofs writer against its oracles: fsck.erofs (check and extract), the kernel (a loop mount, when the
/// machine allows it) and dump.erofs (superblock); plus determinism and the errors it reports.
/// </summary>
public class ErofsWriterTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static readonly Guid FixedUuid = Guid.Parse("6d8ad7f5-1f4e-4a50-9a8d-0a1b2c3d4e5f");

    static ErofsWriteOptions Options(bool uniform = true) => new() { BuildTime = ErofsTree.Time, UniformTime = uniform, Uuid = FixedUuid, VolumeName = "test-volume" };

    /// <summary>Every kind of entry, the block-size edges, a directory over several blocks, long names and targets,
    /// owners that need extended inodes, and parents only implied by deeper paths.</summary>
    internal static ErofsTree EveryKind()
    {
        var t = new ErofsTree();
        t.Dir("usr").Dir("usr/bin").Dir("usr/lib").Dir("usr/share", 0x1FD).Dir("srv", 0x3FF /* 1777 sticky */).Dir("home/user", 0x1C0, 1000, 1000);
        t.File("usr/empty", []);
        foreach (var size in new[] { 1, 31, 32, 33, 2000, 2048, 4000, 4064, 4095, 4096, 4097, 8191, 8192, 8193, 12289, 65536, 1_048_699 })
            t.Sized($"usr/lib/size-{size}", size, seed: size);
        t.File("usr/bin/tool", "#!/bin/sh\necho tool\n", 0x1ED);
        t.File("usr/bin/suid", "setuid\n", 0x9ED /* 4755 */);
        t.File("usr/bin/sgid", "setgid\n", 0x5ED /* 2755 */, gid: 42);
        t.File("usr/bin/owned", "owned\n", 0x1A4, 1000, 100);
        t.File("usr/bin/big-owner", "uid beyond 16 bits\n", 0x1A4, 70000, 70001);
        t.HardLink("usr/bin/tool-again", "usr/bin/tool");
        t.HardLink("usr/lib/tool-third", "usr/bin/tool");
        t.HardLink("usr/lib/size-4096-link", "/usr/lib/size-4096");
        t.HardLink("usr/lib/chained", "usr/bin/tool-again");
        t.Link("usr/bin/short", "tool");
        t.Link("usr/bin/absolute", "/usr/bin/tool");
        t.Link("usr/bin/long-target", "../" + string.Concat(Enumerable.Repeat("very-long-component/", 150)) + "end");
        t.Link("usr/bin/dangling", "does/not/exist");
        t.File("usr/share/" + new string('n', 255), "the longest name\n");
        t.Link("usr/share/" + new string('s', 254) + "L", new string('t', 255));
        t.File("usr/share/grüße-ünïcødé", "utf-8 name\n");
        for (var i = 0; i < 700; i++)
            t.File($"usr/share/many/entry-{i:D4}-{new string('x', i % 40)}", i % 3 == 0 ? "" : $"file {i}\n");
        t.Dir("usr/share/many/sub", 0x1ED).Dir("usr/share/many/sub2", 0x1ED);
        t.Node("dev/null", TreeEntryKind.CharacterDevice, 1, 3);
        t.Node("dev/sda", TreeEntryKind.BlockDevice, 8, 0, 0x1B0, 0, 6);
        t.Node("dev/big", TreeEntryKind.CharacterDevice, 4095, 0xFFFFF);
        t.Node("dev/nvme", TreeEntryKind.BlockDevice, 259, 300);
        t.Node("run/fifo", TreeEntryKind.Fifo, permissions: 0x180);
        t.Node("run/socket", TreeEntryKind.Socket, permissions: 0x1FF);
        t.Dir("empty-dir");
        t.File("implied/deeper/still/file", "parents never listed\n");
        return t;
    }

    [Fact]
    public void EveryKindRoundTripsThroughFsckExtract()
    {
        using var tree = EveryKind();
        var image = tree.Temp("every.erofs");
        var result = Write(tree.Entries, image, Options());
        Assert.Equal(0, new FileInfo(image).Length % 4096);
        Assert.Equal(result.Bytes, new FileInfo(image).Length);
        Assert.True(result.ExtendedInodes >= 1, "uid 70000 needs an extended inode");
        Assert.True(result.InlineTails > 450, $"small files and directories are tail-packed ({result.InlineTails})");
        Fsck(image);
        var extracted = Extract(image, tree.Temp("extracted"));
        // fsck.erofs 1.5 extracting as root changes a file's owner after its mode, which clears setuid/setgid (and
        // dump.erofs 1.5 shows only 0777): those two bits are checked by the kernel (the mount test).
        AssertSameTree(tree.Entries, extracted, inodesShared: false, time: null, ownersKept: IsRoot, specialBitsKept: false);
    }

    [Fact]
    public void KernelMountShowsEveryEntryExactly()
    {
        using var tree = EveryKind();
        var image = tree.Temp("every.erofs");
        Write(tree.Entries, image, Options());
        using var mounted = MountOrSkip(image, tree.Temp("mnt"));
        AssertSameTree(tree.Entries, mounted.Path, inodesShared: true, time: ErofsTree.Time);
    }

    [Fact]
    public void OwnTimesUseExtendedInodesAndReachTheKernel()
    {
        using var tree = new ErofsTree();
        tree.Dir("a", time: 1_000_000).File("a/old", "old\n", time: 1_000_000).File("a/now", "now\n").Link("a/l", "old", time: 5);
        var image = tree.Temp("times.erofs");
        var result = Write(tree.Entries, image, Options(uniform: false));
        Assert.Equal(3, result.ExtendedInodes);   // a, a/old, a/l (the root and a/now have the build time)
        Fsck(image);
        using var mounted = MountOrSkip(image, tree.Temp("mnt"));
        Assert.Equal(1_000_000, new DateTimeOffset(File.GetLastWriteTimeUtc(Path.Combine(mounted.Path, "a/old"))).ToUnixTimeSeconds());
        Assert.Equal(ErofsTree.Time, new DateTimeOffset(File.GetLastWriteTimeUtc(Path.Combine(mounted.Path, "a/now"))).ToUnixTimeSeconds());
        Assert.Equal(1_000_000, new DateTimeOffset(Directory.GetLastWriteTimeUtc(Path.Combine(mounted.Path, "a"))).ToUnixTimeSeconds());
    }

    [Fact]
    public void SuperblockAsDumpErofsReadsIt()
    {
        var dump = ReferenceTool.Require("dump.erofs", "erofs-utils");
        using var tree = EveryKind();
        var image = tree.Temp("sb.erofs");
        var result = Write(tree.Entries, image, Options());
        var run = ReferenceTool.Run(dump, ["-s", image]);
        Assert.True(run.ExitCode == 0, run.ToString());
        var lines = run.StandardOutput.Split('\n').Select(l => l.Split(':', 2)).Where(p => p.Length == 2).ToDictionary(p => p[0].Trim(), p => p[1].Trim());
        Assert.Equal("0xE0F5E1E2", lines["Filesystem magic number"]);
        Assert.Equal((result.Bytes / 4096).ToString(System.Globalization.CultureInfo.InvariantCulture), lines["Filesystem blocks"]);
        Assert.Equal("36", lines["Filesystem root nid"]);
        Assert.Equal(result.Inodes.ToString(System.Globalization.CultureInfo.InvariantCulture), lines["Filesystem inode count"]);
        Assert.Equal(FixedUuid.ToString("D"), lines["Filesystem UUID"]);
        Assert.Contains("sb_csum", lines["Filesystem features"]);

        var bytes = File.ReadAllBytes(image);
        Assert.Equal("test-volume"u8.ToArray(), bytes.AsSpan(1024 + 64, 11).ToArray());
        Assert.Equal(ErofsTree.Time, BinaryPrimitives.ReadInt64LittleEndian(bytes.AsSpan(1024 + 24)));

        // The kernel checks the checksum (over the superblock to the end of block 0; fsck.erofs 1.5 does not): the
        // image mounts, and the same image with one bit of an inode in block 0 flipped does not.
        using (MountOrSkip(image, tree.Temp("mnt"))) { }
        bytes[2000] ^= 0x40;
        var corrupt = tree.Temp("corrupt.erofs");
        File.WriteAllBytes(corrupt, bytes);
        using var mounted = TryMount(corrupt, tree.Temp("mnt-corrupt"));
        Assert.Null(mounted);
    }

    [Fact]
    public void SameEntriesInAnyOrderGiveTheSameBytes()
    {
        using var tree = EveryKind();
        var a = tree.Temp("a.erofs");
        var b = tree.Temp("b.erofs");
        Write(tree.Entries, a, Options());
        var shuffled = tree.Entries.OrderBy(e => e.Path.GetHashCode(StringComparison.Ordinal)).Reverse().ToList();
        Write(shuffled, b, Options());
        Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));

        // Written into a stream that already holds bytes, at an offset: the same image.
        using var stream = new MemoryStream();
        stream.Write(new byte[12345]);
        ErofsWriter.Write(stream, tree.Entries, Options(), Ct);
        Assert.Equal(File.ReadAllBytes(a), stream.ToArray()[12345..]);
    }

    [Fact]
    public void WithoutChecksumTheKernelStillReadsIt()
    {
        using var tree = new ErofsTree();
        tree.Dir("d").File("d/f", "content\n").Sized("d/g", 5000);
        var image = tree.Temp("nocsum.erofs");
        Write(tree.Entries, image, Options() with { SuperblockChecksum = false });
        Assert.Equal(0u, BinaryPrimitives.ReadUInt32LittleEndian(File.ReadAllBytes(image).AsSpan(1024 + 4)));
        Fsck(image);
        AssertSameTree(tree.Entries, Extract(image, tree.Temp("x")), inodesShared: false, time: null);
    }

    [Fact]
    public void AnEmptyTreeIsAnEmptyRoot()
    {
        using var tree = new ErofsTree();
        var image = tree.Temp("empty.erofs");
        var result = Write([], image, Options());
        Assert.Equal(4096, result.Bytes);
        Assert.Equal(1, result.Inodes);
        Fsck(image);
        Assert.Empty(Directory.EnumerateFileSystemEntries(Extract(image, tree.Temp("x"))));
    }

    [Fact]
    public void ARootEntryGivesTheRootItsOwnerAndMode()
    {
        using var tree = new ErofsTree();
        tree.Dir("", 0x1C0, 5, 6).File("f", "x");
        var image = tree.Temp("root.erofs");
        Write(tree.Entries, image, Options());
        Fsck(image);
        using var mounted = MountOrSkip(image, tree.Temp("mnt"));
        var root = ReadBack(Path.GetDirectoryName(mounted.Path)!)["mnt"];
        Assert.Equal((0x1C0, 5, 6), (root.Permissions, root.Uid, root.Gid));
    }

    [Fact]
    public void EntriesItCannotRepresentAreRefusedWithTheirPath()
    {
        using var tree = new ErofsTree();
        tree.File("a", "x");
        Assert.Contains("/a: listed twice", Refused([.. tree.Entries, tree.Entries[0]]));
        Assert.Contains("/b", Refused([new TreeEntry { Path = "b", Kind = TreeEntryKind.HardLink, Permissions = 0x1A4, LinkTarget = "missing" }]));
        var link = new TreeEntry { Path = "c", Kind = TreeEntryKind.HardLink, Permissions = 0x1A4, LinkTarget = "a" };
        Assert.Contains("/c: listed twice", Refused([tree.Entries[0], link, link]));
        Assert.Contains("256 bytes", Refused([new TreeEntry { Path = new string('n', 256), Kind = TreeEntryKind.Directory, Permissions = 0x1ED }]));
        Assert.Contains("out of range", Refused([new TreeEntry { Path = "dev/x", Kind = TreeEntryKind.CharacterDevice, Permissions = 0x1B6, DeviceMajor = 4096 }]));
        Assert.Contains("not a directory", Refused([tree.Entries[0], new TreeEntry { Path = "a/b", Kind = TreeEntryKind.Directory, Permissions = 0x1ED }]));
        Assert.Contains("not a normalized", Refused([new TreeEntry { Path = "a/../b", Kind = TreeEntryKind.Directory, Permissions = 0x1ED }]));
        // The content changed after the manifest was written.
        Assert.Contains("the manifest says 5", Refused([tree.Entries[0] with { Size = 5 }]));
        Assert.Contains("the manifest says 0", Refused([tree.Entries[0] with { Size = 0 }]));

        string Refused(List<TreeEntry> entries) =>
            Assert.Throws<ErofsEntryException>(() => ErofsWriter.Write(new MemoryStream(), entries, Options(), Ct)).Message;
    }

    internal static ErofsWriteResult Write(IReadOnlyList<TreeEntry> entries, string path, ErofsWriteOptions options)
    {
        using var output = File.Create(path);
        return ErofsWriter.Write(output, entries, options, TestContext.Current.CancellationToken);
    }
}
