using System.Globalization;
using System.Text;
using Initrd.Formats.Ar;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Ar;

public class ArArchiveTests
{
    static Stream Open(byte[] bytes, bool seekable) => seekable ? new MemoryStream(bytes) : new NonSeekableStream(new MemoryStream(bytes));

    static List<(ArEntry Entry, byte[] Data)> ReadAll(byte[] bytes, bool seekable)
    {
        using var archive = new ArArchive(Open(bytes, seekable));
        var result = new List<(ArEntry, byte[])>();
        while (archive.GetNextEntry() is { } entry)
        {
            var data = new MemoryStream();
            entry.DataStream.CopyTo(data);
            result.Add((entry, data.ToArray()));
        }
        return result;
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void ReadsMembersFieldsOffsetsAndPadding(bool seekable)
    {
        var bytes = new ArBuilder()
            .Add("debian-binary", "2.0\n")
            .Add("odd/", "abc", mtime: "1765720801", uid: "1000", gid: "100", mode: "100755")
            .Add("empty", "")
            .Add("last", "xyz")
            .ToArray();
        var members = ReadAll(bytes, seekable);

        Assert.Equal(["debian-binary", "odd", "empty", "last"], members.Select(m => m.Entry.Name));
        Assert.Equal(["2.0\n", "abc", "", "xyz"], members.Select(m => Encoding.ASCII.GetString(m.Data)));
        var odd = members[1].Entry;
        Assert.Equal(1, odd.Index);
        Assert.Equal(8 + 60 + 4, odd.HeaderOffset);
        Assert.Equal(8 + 60 + 4 + 60, odd.DataOffset);
        Assert.Equal(3, odd.Length);
        Assert.Equal(1765720801, odd.ModificationTime);
        Assert.Equal(1000, odd.Uid);
        Assert.Equal(100, odd.Gid);
        Assert.Equal(0x81ED, odd.Mode); // 0100755
        Assert.Equal(odd.DataOffset + 3 + 1, members[2].Entry.HeaderOffset); // one padding byte
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void SkipsUnreadAndPartlyReadMembers(bool seekable)
    {
        var big = TestDataBytes(100_001);
        var bytes = new ArBuilder().Add("a", big).Add("b", big).Add("c", "tail").ToArray();
        using var archive = new ArArchive(Open(bytes, seekable));
        var a = archive.GetNextEntry()!;
        Assert.Equal(big[0], a.DataStream.ReadByte());
        var b = archive.GetNextEntry()!;
        Assert.Equal(("b", 1), (b.Name, b.Index));
        var c = archive.GetNextEntry()!;
        Assert.Equal("c", c.Name);
        Assert.Equal("tail", new StreamReader(c.DataStream).ReadToEnd());
        Assert.Null(archive.GetNextEntry());
        Assert.Null(archive.GetNextEntry());
        Assert.Equal(bytes.Length, archive.Position);
    }

    [Fact]
    public void AnEntryStreamStopsWorkingWhenTheArchiveMovesOn()
    {
        var bytes = new ArBuilder().Add("a", "one").Add("b", "two").ToArray();
        using var archive = new ArArchive(new MemoryStream(bytes));
        var a = archive.GetNextEntry()!;
        archive.GetNextEntry();
        var e = Assert.Throws<InvalidOperationException>(() => a.DataStream.ReadByte());
        Assert.Contains("#0", e.Message);
    }

    [Fact]
    public void ResolvesGnuAndBsdLongNamesAndSkipsSymbolTables()
    {
        const string longName = "a-member-name-longer-than-sixteen-bytes.tar.xz";
        const string other = "another-long-member-name";
        var table = $"{longName}/\n{other}/\n";
        var bsdName = "bsd-long-name-of-a-member";
        var bytes = new ArBuilder()
            .Add("/", new byte[] { 0, 0, 0, 0 })
            .Add("//", table)
            .Add("/0", "first")
            .Add("/" + (longName.Length + 2), "second")
            .Add("#1/" + bsdName.Length, Encoding.ASCII.GetBytes(bsdName + "third"))
            .Add("/SYM64/", new byte[] { 1 })
            .Add("short/", "fourth")
            .ToArray();
        var members = ReadAll(bytes, seekable: false);
        Assert.Equal([longName, other, bsdName, "short"], members.Select(m => m.Entry.Name));
        Assert.Equal(["first", "second", "third", "fourth"], members.Select(m => Encoding.ASCII.GetString(m.Data)));
        Assert.Equal(5, members[2].Entry.Length);
        Assert.Equal([2, 3, 4, 6], members.Select(m => m.Entry.Index));
    }

    [Fact]
    public void MatchesGnuArOnAnArchiveItWrote()
    {
        var ar = ReferenceTool.Require("ar", "binutils");
        using var temp = new TempDirectory();
        string[] names = ["debian-binary", "short", "a-file-name-longer-than-fifteen-characters", "odd-sized", "x"];
        for (var i = 0; i < names.Length; i++) File.WriteAllBytes(temp.Combine(names[i]), TestDataBytes(i * 37 + 1));
        var archivePath = temp.Combine("test.a");
        var created = ReferenceTool.Run(ar, ["rcU", archivePath, .. names], temp.Path);
        Assert.True(created.ExitCode == 0, created.ToString());

        var members = ReadAll(File.ReadAllBytes(archivePath), seekable: true);
        AssertMatchesArTv(ar, archivePath, members.Select(m => m.Entry).ToList());
        for (var i = 0; i < names.Length; i++) Assert.Equal(TestDataBytes(i * 37 + 1), members[i].Data);
    }

    [Theory]
    [InlineData("systemd")]
    [InlineData("libc6")]
    [InlineData("perl-base")]
    [InlineData("passwd")]
    public void MemberListOfRealPackagesMatchesAr(string package)
    {
        var ar = ReferenceTool.Require("ar", "binutils");
        var deb = DebianPackages.Get(package);
        using var archive = new ArArchive(File.OpenRead(deb));
        var entries = new List<ArEntry>();
        while (archive.GetNextEntry() is { } entry) entries.Add(entry);
        AssertMatchesArTv(ar, deb, entries);
        Assert.Equal(new FileInfo(deb).Length, archive.Position);
    }

    /// <summary>Compares names, modes, owners, sizes and times with <c>ar tv</c> ("rw-r--r-- 0/0   4 Dec 14 14:00 2025 name").</summary>
    static void AssertMatchesArTv(string ar, string archivePath, List<ArEntry> entries)
    {
        var names = ReferenceTool.Run(ar, ["t", archivePath]);
        Assert.True(names.ExitCode == 0, names.ToString());
        Assert.Equal(names.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries), entries.Select(e => e.Name));

        var verbose = ReferenceTool.Run(ar, ["tv", archivePath], environment: new Dictionary<string, string> { ["TZ"] = "UTC" });
        Assert.True(verbose.ExitCode == 0, verbose.ToString());
        var lines = verbose.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(entries.Count, lines.Length);
        for (var i = 0; i < lines.Length; i++)
        {
            var fields = lines[i].Split(' ', 8, StringSplitOptions.RemoveEmptyEntries);
            var e = entries[i];
            Assert.Equal(PermissionString(e.Mode), fields[0]);
            Assert.Equal($"{e.Uid}/{e.Gid}", fields[1]);
            Assert.Equal(e.Length.ToString(CultureInfo.InvariantCulture), fields[2]);
            var time = DateTimeOffset.FromUnixTimeSeconds(e.ModificationTime).UtcDateTime;
            Assert.Equal(time.ToString("MMM d HH:mm yyyy", CultureInfo.InvariantCulture), string.Join(' ', fields[3..7]));
            Assert.Equal(e.Name, fields[7]);
        }
    }

    static string PermissionString(int mode)
    {
        var chars = new char[9];
        const string letters = "rwxrwxrwx";
        for (var i = 0; i < 9; i++) chars[i] = (mode & (1 << (8 - i))) != 0 ? letters[i] : '-';
        return new string(chars);
    }

    static byte[] TestDataBytes(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        return data;
    }

    // ---- hostile input ----

    static InvalidDataException ReadFails(byte[] bytes, bool seekable = true) =>
        Assert.Throws<InvalidDataException>(() => ReadAll(bytes, seekable));

    [Fact]
    public void RejectsABadMagic()
    {
        var e = ReadFails(new ArBuilder("!<arch>X").Add("a", "b").ToArray());
        Assert.Contains("Not an ar archive", e.Message);
        Assert.Contains("offset 0", e.Message);
        Assert.Contains("\"!<arch>X\"", e.Message);

        e = ReadFails("!<ar"u8.ToArray());
        Assert.Contains("4 bytes", e.Message);

        e = ReadFails(new ArBuilder("!<thin>\n").ToArray());
        Assert.Contains("thin", e.Message);
    }

    [Fact]
    public void AnArchiveWithOnlyTheMagicIsEmpty() => Assert.Empty(ReadAll(new ArBuilder().ToArray(), seekable: false));

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RejectsATruncatedHeader(bool seekable)
    {
        var bytes = new ArBuilder().Add("a", "bb").Raw("data.tar.xz     12345").ToArray();
        var e = ReadFails(bytes, seekable);
        Assert.Contains("member #1", e.Message);
        Assert.Contains("offset 70", e.Message);
        Assert.Contains("21 of 60", e.Message);
    }

    [Theory]
    [InlineData("12a", "size", "a decimal number")]
    [InlineData("0x10", "size", "a decimal number")]
    [InlineData("-1", "size", "a decimal number")]
    [InlineData("1 2", "size", "a decimal number")]
    [InlineData("", "size", "a decimal number")]
    public void RejectsANonDecimalSize(string size, string field, string expected)
    {
        var bytes = new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.xz", "xx", size: size).ToArray();
        var e = ReadFails(bytes);
        Assert.Contains($"member #1 (header at offset 72): field '{field}' at offset {72 + 48}", e.Message);
        Assert.Contains(expected, e.Message);
        Assert.Contains($"\"{size.PadRight(10)}\"", e.Message);
    }

    [Fact]
    public void RejectsOtherBadFields()
    {
        Assert.Contains("field 'mode'", ReadFails(new ArBuilder().Add("a", "b", mode: "100698").ToArray()).Message);
        Assert.Contains("field 'uid'", ReadFails(new ArBuilder().Add("a", "b", uid: "root").ToArray()).Message);
        Assert.Contains("field 'mtime'", ReadFails(new ArBuilder().Add("a", "b", mtime: "yesterday").ToArray()).Message);
        var e = ReadFails(new ArBuilder().Add("a", "b", terminator: "\n`").ToArray());
        Assert.Contains("field 'terminator' at offset 66 is \"\\n`\"", e.Message);
        Assert.Contains("field 'name'", ReadFails(new ArBuilder().Add("", "b").ToArray()).Message);
        Assert.Contains("long-name table", ReadFails(new ArBuilder().Add("/12", "b").ToArray()).Message);
        Assert.Contains("GNU long-name table", ReadFails(new ArBuilder().Add("//", "x/\n").Add("/99", "b").ToArray()).Message);
        Assert.Contains("BSD long-name", ReadFails(new ArBuilder().Add("#1/20", "short").ToArray()).Message);

        // Blank numeric fields other than the size are accepted as 0.
        var blank = ReadAll(new ArBuilder().Add("a", "b", mtime: "", uid: "", gid: "", mode: "").ToArray(), seekable: true);
        Assert.Equal((0L, 0, 0, 0), (blank[0].Entry.ModificationTime, blank[0].Entry.Uid, blank[0].Entry.Gid, blank[0].Entry.Mode));
    }

    [Fact]
    public void RejectsAMemberSizePastTheEndOfASeekableArchiveAtOnce()
    {
        var bytes = new ArBuilder().Add("debian-binary", "2.0\n").Add("data.tar.xz", new byte[100], size: "5000").ToArray();
        using var archive = new ArArchive(new MemoryStream(bytes));
        archive.GetNextEntry();
        var e = Assert.Throws<InvalidDataException>(() => archive.GetNextEntry());
        Assert.Contains("member #1", e.Message);
        Assert.Contains("field 'size' is 5000", e.Message);
        Assert.Contains("only 100 bytes follow its header at offset 132", e.Message);
    }

    [Fact]
    public void RejectsAMemberSizePastTheEndOfAStreamWhenItsDataIsRead()
    {
        var bytes = new ArBuilder().Add("debian-binary", "2.0\n").Add("data.tar.xz", new byte[100], size: "5000").ToArray();

        using (var archive = new ArArchive(new NonSeekableStream(new MemoryStream(bytes))))
        {
            archive.GetNextEntry();
            var entry = archive.GetNextEntry()!;
            var e = Assert.Throws<InvalidDataException>(() => entry.DataStream.CopyTo(Stream.Null));
            Assert.Contains("member #1 ('data.tar.xz', data at offset 132): the archive ends at offset 232, 4900 of the 5000 bytes", e.Message);
        }

        // Skipping the member notices it too.
        using (var archive = new ArArchive(new NonSeekableStream(new MemoryStream(bytes))))
        {
            archive.GetNextEntry();
            archive.GetNextEntry();
            Assert.Throws<InvalidDataException>(() => archive.GetNextEntry());
        }
    }

    [Fact]
    public void ToleratesAMissingPaddingByteAtTheEnd()
    {
        var bytes = new ArBuilder().Add("a", "odd", pad: false).ToArray();
        Assert.Equal("odd", Encoding.ASCII.GetString(ReadAll(bytes, seekable: false).Single().Data));
    }

    [Fact]
    public void LeaveOpenIsHonoured()
    {
        var bytes = new ArBuilder().Add("a", "b").ToArray();
        var stream = new MemoryStream(bytes);
        new ArArchive(stream, leaveOpen: true).Dispose();
        Assert.True(stream.CanRead);
        stream.Position = 0;
        new ArArchive(stream, leaveOpen: false).Dispose();
        Assert.False(stream.CanRead);
    }
}
