using System.Text;
using Initrd.Formats.Cpio;
using Initrd.Formats.Tree;
using Initrd.Testing;
using static Initrd.Formats.Tests.Cpio.Octal;

namespace Initrd.Formats.Tests.Cpio;

/// <summary>The archive writer's own rules, checked with the tests' strict reader.</summary>
public class CpioArchiveWriterTests
{
    [Fact]
    public void EntriesAreSortedByUtf8BytesWithInodesFromOneAndExpectedLinkCounts()
    {
        using var tree = new SampleTree();
        var (entries, trailer, end) = NewcReader.Parse(tree.Entries.WriteToBytes());

        Assert.Equal(tree.SortedPaths(), entries.Select(e => e.Name));
        // UTF-16 ordinal order would put the emoji (D83D…) before U+FF21; UTF-8 byte order (and LC_ALL=C sort) the reverse.
        Assert.True(entries.FindIndex(e => e.Name == SampleTree.FullwidthName) < entries.FindIndex(e => e.Name == SampleTree.SupplementaryName));
        Assert.Equal(0u, trailer[NewcField.Inode]);
        Assert.Equal(1u, trailer[NewcField.LinkCount]);

        var byName = entries.ToDictionary(e => e.Name);
        // Inodes: 1, 2, 3… in order; a hard-link group takes its number at its first name.
        var expectedInode = 1u;
        var groupInode = new Dictionary<string, uint>();
        foreach (var e in entries)
        {
            var src = tree.Entries.Single(x => x.Path == e.Name);
            var group = src.Kind == TreeEntryKind.HardLink ? src.LinkTarget!.TrimStart('/')
                : tree.Entries.Any(x => x.Kind == TreeEntryKind.HardLink && x.LinkTarget!.TrimStart('/') == src.Path) ? src.Path : null;
            if (group is null) Assert.Equal(expectedInode++, e[NewcField.Inode]);
            else if (groupInode.TryGetValue(group, out var ino)) Assert.Equal(ino, e[NewcField.Inode]);
            else { groupInode[group] = expectedInode; Assert.Equal(expectedInode++, e[NewcField.Inode]); }
            Assert.Equal(0u, e[NewcField.DevMajor]);
            Assert.Equal(0u, e[NewcField.DevMinor]);
            Assert.Equal(0u, e[NewcField.Check]);
        }

        // Directories: 2 + subdirectories.
        Assert.Equal(2u + 3, byName["usr"][NewcField.LinkCount]);    // usr/bin, usr/lib, usr/share
        Assert.Equal(2u + 1, byName["home"][NewcField.LinkCount]);
        Assert.Equal(2u, byName["dev"][NewcField.LinkCount]);
        Assert.Equal(0x41FFu | 0x200, byName["tmp"][NewcField.Mode]);   // 041777

        // Hard links: one inode, nlink = group size, the data once with the last name, the file's metadata everywhere.
        foreach (var name in new[] { "usr/bin/busybox", "usr/bin/cat", "usr/bin/ls" })
        {
            Assert.Equal(3u, byName[name][NewcField.LinkCount]);
            Assert.Equal(0x81EDu, byName[name][NewcField.Mode]);
            Assert.Equal((uint)SampleTree.OldMtime, byName[name][NewcField.ModificationTime]);
        }
        Assert.Equal(0u, byName["usr/bin/busybox"][NewcField.FileSize]);
        Assert.Equal(0u, byName["usr/bin/cat"][NewcField.FileSize]);
        Assert.Equal(1001u, byName["usr/bin/ls"][NewcField.FileSize]);
        Assert.Equal(tree.ContentOf("usr/bin/busybox"), byName["usr/bin/ls"].Data);
        // The other group ends with the RegularFile itself; both names take its mode and group.
        Assert.Equal(0u, byName["usr/lib/a-link"][NewcField.FileSize]);
        Assert.Equal("zzz"u8.ToArray(), byName["usr/lib/z-data"].Data);
        Assert.Equal(0x81A0u, byName["usr/lib/a-link"][NewcField.Mode]);
        Assert.Equal(1000u, byName["usr/lib/a-link"][NewcField.Gid]);

        // Symlinks: data is the target without NUL.
        Assert.Equal("/usr/bin/busybox"u8.ToArray(), byName["usr/bin/sh"].Data);
        Assert.Equal(0xA1FFu, byName["usr/bin/sh"][NewcField.Mode]);
        // Devices.
        Assert.Equal(0x2180u, byName["dev/console"][NewcField.Mode]);
        Assert.Equal((5u, 1u), (byName["dev/console"][NewcField.RDevMajor], byName["dev/console"][NewcField.RDevMinor]));
        Assert.Equal(0x61B0u, byName["dev/loop0"][NewcField.Mode]);
        Assert.Equal(0x1180u, byName["dev/initctl"][NewcField.Mode]);
        Assert.Equal(0xC1B6u, byName["dev/log"][NewcField.Mode]);
        Assert.Equal(0x89EDu, byName["usr/bin/su"][NewcField.Mode]);
        Assert.Equal(tree.ContentOf("usr/lib/big.bin"), byName["usr/lib/big.bin"].Data);
        Assert.Equal(end, end / 4 * 4);
    }

    [Fact]
    public void SameTreeInAnotherOrderFromAnotherFolderGivesIdenticalBytes()
    {
        using var a = new SampleTree("first");
        using var b = new SampleTree("second-elsewhere");
        Assert.NotEqual(a.ContentFolder, b.ContentFolder);
        var shuffled = b.Entries.OrderBy(_ => Random.Shared.Next()).ToList();
        var reversed = Enumerable.Reverse(a.Entries).ToList();
        var first = a.Entries.WriteToBytes();
        Assert.Equal(first, shuffled.WriteToBytes());
        Assert.Equal(first, reversed.WriteToBytes());
        Assert.Equal(first, a.Entries.WriteToBytes()); // and again
    }

    [Fact]
    public void SourceDateEpochClampsNewerTimesOnly()
    {
        using var tree = new SampleTree();
        const long epoch = 1_650_000_000; // between OldMtime and Mtime
        var (entries, _, _) = NewcReader.Parse(tree.Entries.WriteToBytes(new CpioWriteOptions { SourceDateEpoch = epoch }));
        foreach (var e in entries)
        {
            // The busybox group is older than the epoch (its links take the file's mtime); everything else is newer.
            var expected = e.Name is "usr/bin/busybox" or "usr/bin/cat" or "usr/bin/ls" ? SampleTree.OldMtime : epoch;
            Assert.Equal((uint)expected, e[NewcField.ModificationTime]);
        }
        var (unclamped, _, _) = NewcReader.Parse(tree.Entries.WriteToBytes());
        Assert.Equal((uint)SampleTree.Mtime, unclamped.Single(e => e.Name == "etc").Fields[(int)NewcField.ModificationTime]);
        Assert.Throws<ArgumentException>(() => tree.Entries.WriteToBytes(new CpioWriteOptions { SourceDateEpoch = -1 }));
    }

    [Fact]
    public void WithoutTrailerTheArchiveCanBeContinued()
    {
        using var tree = new SampleTree();
        using var ms = new MemoryStream();
        var summary = CpioArchiveWriter.Write(ms, tree.Entries, new CpioWriteOptions { WriteTrailer = false }, TestContext.Current.CancellationToken);
        Assert.Equal(tree.Entries.Count, summary.EntryCount);
        Assert.Equal(ms.Length, summary.BytesWritten);
        using (var w = new CpioNewcWriter(ms, leaveOpen: true)) w.WriteTrailer();
        var (entries, _, end) = NewcReader.Parse(ms.ToArray());
        Assert.Equal(tree.Entries.Count, entries.Count);
        Assert.Equal(ms.Length, end);
        var withTrailer = tree.Entries.WriteToBytes();
        Assert.Equal(withTrailer, ms.ToArray());
    }

    [Fact]
    public void SummaryCountsEntriesBytesAndContent()
    {
        using var tree = new SampleTree();
        using var ms = new MemoryStream();
        var summary = CpioArchiveWriter.Write(ms, tree.Entries, cancellationToken: TestContext.Current.CancellationToken);
        Assert.Equal(tree.Entries.Count, summary.EntryCount);
        Assert.Equal(ms.Length, summary.BytesWritten);
        var (entries, _, _) = NewcReader.Parse(ms.ToArray());
        Assert.Equal(entries.Sum(e => (long)e.Data.Length), summary.ContentBytes);
    }

    [Fact]
    public void EarlyMicrocodeArchiveIsPlainTreeInput()
    {
        using var dir = new TempDirectory("ucode");
        var intel = dir.WriteFile("GenuineIntel.bin", new string('I', 4099));
        var amd = dir.WriteFile("AuthenticAMD.bin", new string('A', 6));
        TreeEntry D(string p) => new() { Path = p, Kind = TreeEntryKind.Directory, Permissions = O(0755) };
        TreeEntry F(string p, string host) => new()
        {
            Path = p, Kind = TreeEntryKind.RegularFile, Permissions = O(0644), Size = new FileInfo(host).Length, ContentPath = host,
        };
        var archive = new[]
        {
            F("kernel/x86/microcode/GenuineIntel.bin", intel), D("kernel"), D("kernel/x86/microcode"), D("kernel/x86"),
            F("kernel/x86/microcode/AuthenticAMD.bin", amd),
        }.WriteToBytes();

        var (entries, _, end) = NewcReader.Parse(archive);
        Assert.Equal(
            ["kernel", "kernel/x86", "kernel/x86/microcode", "kernel/x86/microcode/AuthenticAMD.bin", "kernel/x86/microcode/GenuineIntel.bin"],
            entries.Select(e => e.Name));
        // The kernel's early loader (lib/earlycpio.c) looks the blob up by exactly this name, data 4-byte aligned.
        var blob = entries.Single(e => e.Name == "kernel/x86/microcode/GenuineIntel.bin");
        Assert.Equal(File.ReadAllBytes(intel), blob.Data);
        Assert.Equal(0, (blob.Offset + NewcLayout.HeaderAndNameLength(blob.NameBytes.Length + 1)) % 4);
        // Uncompressed, and ends 4-byte aligned so that the compressed main initrd can follow it.
        Assert.StartsWith("070701", Encoding.ASCII.GetString(archive, 0, 6));
        Assert.Equal(archive.Length, end);
        Assert.Equal(0, archive.Length % 4);

        var cpio = ReferenceTool.Require("cpio", "cpio");
        var listing = ReferenceTool.Run(cpio, ["-it"], standardInput: archive);
        Assert.True(listing.ExitCode == 0, listing.ToString());
        Assert.Equal(entries.Select(e => e.Name), listing.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    // ---- errors ----

    static TreeEntry Dir(string p) => new() { Path = p, Kind = TreeEntryKind.Directory, Permissions = O(0755) };

    static TreeEntry Empty(string p) => new() { Path = p, Kind = TreeEntryKind.RegularFile, Permissions = O(0644) };

    static void AssertRejected<TException>(IEnumerable<TreeEntry> entries, params string[] inMessage) where TException : Exception
    {
        using var ms = new MemoryStream();
        var e = Assert.Throws<TException>(() => CpioArchiveWriter.Write(ms, entries));
        foreach (var text in inMessage) Assert.Contains(text, e.Message);
        if (typeof(TException) == typeof(ArgumentException)) Assert.Equal(0, ms.Length); // validated before writing
    }

    [Fact]
    public void DuplicatePathIsRejected() =>
        AssertRejected<ArgumentException>([Dir("etc"), Empty("etc/passwd"), Dir("etc/passwd")], "'etc/passwd'", "twice");

    [Fact]
    public void MissingParentIsRejected() =>
        AssertRejected<ArgumentException>([Dir("usr"), Empty("usr/lib/libc.so.6")], "'usr/lib/libc.so.6'", "'usr/lib'");

    [Fact]
    public void ParentThatIsNotADirectoryIsRejected() =>
        AssertRejected<ArgumentException>(
            [Dir("usr"), new TreeEntry { Path = "lib", Kind = TreeEntryKind.Symlink, Permissions = O(0777), LinkTarget = "usr/lib" }, Empty("lib/x")],
            "'lib/x'", "Symlink");

    [Fact]
    public void HardLinkToMissingFileIsRejected() =>
        AssertRejected<ArgumentException>(
            [Dir("bin"), new TreeEntry { Path = "bin/ls", Kind = TreeEntryKind.HardLink, Permissions = O(0755), LinkTarget = "bin/busybox" }],
            "'bin/ls'", "'bin/busybox'");

    [Fact]
    public void HardLinkToNonRegularFileIsRejected()
    {
        AssertRejected<ArgumentException>(
            [Dir("bin"), new TreeEntry { Path = "bin/x", Kind = TreeEntryKind.HardLink, Permissions = O(0755), LinkTarget = "bin" }],
            "'bin/x'", "Directory");
        AssertRejected<ArgumentException>(
            [Dir("bin"), Empty("bin/a"),
             new TreeEntry { Path = "bin/b", Kind = TreeEntryKind.HardLink, Permissions = O(0755), LinkTarget = "bin/a" },
             new TreeEntry { Path = "bin/c", Kind = TreeEntryKind.HardLink, Permissions = O(0755), LinkTarget = "bin/b" }],
            "'bin/c'", "HardLink");
    }

    [Fact]
    public void SizeOver4GiBIsRejectedBeforeAnythingIsRead() =>
        AssertRejected<ArgumentException>(
            [Dir("var"), new TreeEntry { Path = "var/huge.img", Kind = TreeEntryKind.RegularFile, Permissions = O(0644), Size = 5L << 30, ContentPath = "/nonexistent" }],
            "'var/huge.img'", "5368709120", "4 GiB");

    [Fact]
    public void ContentLengthDifferentFromSizeIsRejected()
    {
        using var dir = new TempDirectory("cpio-size");
        var host = dir.WriteFile("blob", "12345");
        foreach (var declared in new long[] { 4, 6, 0 })
        {
            AssertRejected<InvalidDataException>(
                [Dir("etc"), new TreeEntry { Path = "etc/motd", Kind = TreeEntryKind.RegularFile, Permissions = O(0644), Size = declared, ContentPath = host }],
                "'etc/motd'", $"{declared}", "5 bytes");
            // The file is measured before its header is written: the output stops after the last complete entry.
            using var ms = new MemoryStream();
            Assert.Throws<InvalidDataException>(() => CpioArchiveWriter.Write(ms,
                [Dir("etc"), new TreeEntry { Path = "etc/motd", Kind = TreeEntryKind.RegularFile, Permissions = O(0644), Size = declared, ContentPath = host }],
                cancellationToken: TestContext.Current.CancellationToken));
            Assert.Equal(NewcLayout.HeaderAndNameLength("etc".Length + 1), ms.Length);
        }
    }

    [Fact]
    public void MissingContentFileIsAnIoErrorNamingBothPaths() =>
        AssertRejected<IOException>(
            [new TreeEntry { Path = "motd", Kind = TreeEntryKind.RegularFile, Permissions = O(0644), Size = 3, ContentPath = "/nonexistent/blob" }],
            "'motd'", "/nonexistent/blob");

    [Theory]
    [InlineData("/etc")]
    [InlineData("etc/")]
    [InlineData("etc//x")]
    [InlineData("./etc")]
    [InlineData("etc/../x")]
    [InlineData("")]
    [InlineData("TRAILER!!!")]
    [InlineData("e\0tc")]
    public void NonCanonicalPathsAreRejected(string path) =>
        AssertRejected<ArgumentException>([Empty(path)]);

    [Fact]
    public void OverlongNamesAreRejected()
    {
        AssertRejected<ArgumentException>([Empty(new string('c', 256))], "256 bytes", "255");
        AssertRejected<ArgumentException>([Empty(new string('ü', 128))], "256 bytes"); // 128 chars, 256 UTF-8 bytes
        var deep = string.Join('/', Enumerable.Repeat(new string('d', 200), 21)); // 4220 bytes
        AssertRejected<ArgumentException>([Empty(deep)], "4095");
    }

    [Fact]
    public void FieldValuesOutsideTheFormatAreRejected()
    {
        AssertRejected<ArgumentException>([Empty("a") with { ModificationTime = -1 }], "'a'", "-1");
        AssertRejected<ArgumentException>([Empty("a") with { ModificationTime = 1L << 32 }], "'a'", "4294967296");
        AssertRejected<ArgumentException>([Empty("a") with { Permissions = 0x1000 }], "'a'", "010000");
        AssertRejected<ArgumentException>([Empty("a") with { Uid = -2 }], "'a'", "-2");
        AssertRejected<ArgumentException>(
            [new TreeEntry { Path = "c", Kind = TreeEntryKind.CharacterDevice, Permissions = O(0600), DeviceMajor = 4096 }], "'c'", "4096");
        AssertRejected<ArgumentException>(
            [new TreeEntry { Path = "l", Kind = TreeEntryKind.Symlink, Permissions = O(0777), LinkTarget = "" }], "'l'");
        AssertRejected<ArgumentException>(
            [new TreeEntry { Path = "l", Kind = TreeEntryKind.Symlink, Permissions = O(0777), LinkTarget = new string('t', 4096) }], "'l'", "4096");
        AssertRejected<ArgumentException>(
            [new TreeEntry { Path = "f", Kind = TreeEntryKind.RegularFile, Permissions = O(0644), Size = 1 }], "'f'", "ContentPath");
    }

    [Fact]
    public void ClampingBringsFutureTimesIntoRange()
    {
        // An mtime beyond 2106 is an error on its own, but fine when SOURCE_DATE_EPOCH clamps it.
        var (entries, _, _) = NewcReader.Parse(new[] { Empty("a") with { ModificationTime = 1L << 40 } }.WriteToBytes(new CpioWriteOptions { SourceDateEpoch = 1234 }));
        Assert.Equal(1234u, entries[0][NewcField.ModificationTime]);
    }

    [Fact]
    public void CancellationStopsTheWriter()
    {
        using var tree = new SampleTree();
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => CpioArchiveWriter.Write(Stream.Null, tree.Entries, cancellationToken: cts.Token));
    }
}
