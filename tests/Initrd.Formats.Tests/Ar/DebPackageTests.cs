using System.Formats.Tar;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Initrd.Formats.Compression;
using Initrd.Formats.Deb;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Ar;

/// <summary>
/// <see cref="DebPackage"/> against dpkg-deb, tar and ar on real packages, on packages dpkg-deb builds with each
/// compression, and on hostile input. (In the Ar test folder; the Deb folder belongs to the control-file tests.)
/// </summary>
public partial class DebPackageTests
{
    static readonly Dictionary<string, string> Utc = new() { ["TZ"] = "UTC" };

    public static TheoryData<string> RealPackages => new() { "systemd", "libc6", "perl-base", "passwd" };

    [Theory]
    [MemberData(nameof(RealPackages))]
    public void RealPackageMatchesDpkgDeb(string package)
    {
        var dpkgDeb = ReferenceTool.Require("dpkg-deb", "dpkg");
        var tar = ReferenceTool.Require("tar", "tar");
        var ar = ReferenceTool.Require("ar", "binutils");
        var deb = DebianPackages.Get(package);

        using var opened = DebPackage.Open(deb);
        Assert.Equal("2.0", opened.FormatVersion);

        var members = Run(ar, "t", deb).StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["debian-binary", opened.ControlMemberName, opened.DataMemberName], members);
        Assert.Equal(CompressionStreams.FromFileName(opened.DataMemberName), opened.DataCompression);

        // The control file: byte for byte as `dpkg-deb -I x.deb control`, field for field as `dpkg-deb -f x.deb`.
        Assert.Equal(Run(dpkgDeb, "-I", deb, "control").StandardOutput, opened.Control);
        Assert.Equal(ParseFields(Run(dpkgDeb, "-f", deb).StandardOutput), ParseFields(opened.Control));
        Assert.Equal(package, ParseFields(opened.Control)["Package"]);

        // Every control-archive file, by name and content.
        var controlTar = Run(dpkgDeb, "--ctrl-tarfile", deb).StandardOutputBytes;
        var controlNames = ReferenceTool.Run(tar, ["-t"], standardInput: controlTar).StandardOutput
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(n => !n.EndsWith('/')).Select(n => n[2..]).Order(StringComparer.Ordinal);
        Assert.Equal(controlNames, opened.ControlFileNames.Order(StringComparer.Ordinal));
        foreach (var name in opened.ControlFileNames)
        {
            var expected = ReferenceTool.Run(tar, ["-xO", "./" + name], standardInput: controlTar);
            Assert.True(opened.TryGetControlFile(name, out var content));
            Assert.Equal(expected.StandardOutputBytes, content.ToArray());
        }
        Assert.Null(opened.ReadControlFile("no-such-file"));

        // The data archive: the same tar bytes as `dpkg-deb --fsys-tarfile`, and the same entries as `tar -tv`.
        var fsysTar = Run(dpkgDeb, "--fsys-tarfile", deb).StandardOutputBytes;
        var ours = new MemoryStream();
        using (var data = opened.OpenDataStream()) data.CopyTo(ours);
        Assert.Equal((long)fsysTar.Length, ours.Length);
        Assert.True(fsysTar.AsSpan().SequenceEqual(ours.GetBuffer().AsSpan(0, (int)ours.Length)));

        var listing = ReferenceTool.Run(tar, ["-tv", "--numeric-owner", "--quoting-style=literal"], standardInput: fsysTar, environment: Utc);
        Assert.True(listing.ExitCode == 0, listing.ToString());
        var expectedEntries = listing.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(ParseTarLine).ToList();

        using var again = DebPackage.Open(deb);
        using var reader = again.OpenDataTar();
        var entries = new List<string>();
        while (reader.GetNextEntry() is { } entry) entries.Add(Describe(entry));
        Assert.Equal(expectedEntries.Count, entries.Count);
        Assert.Equal(expectedEntries, entries);
    }

    [Theory]
    [InlineData("zstd", "data.tar.zst")]
    [InlineData("xz", "data.tar.xz")]
    [InlineData("gzip", "data.tar.gz")]
    [InlineData("none", "data.tar")]
    public void ReadsPackagesDpkgDebBuildsWithEachCompression(string compressor, string dataMember)
    {
        var dpkgDeb = ReferenceTool.Require("dpkg-deb", "dpkg");
        var tar = ReferenceTool.Require("tar", "tar");
        using var temp = new TempDirectory();
        var root = temp.Combine("root");
        temp.WriteFile("root/DEBIAN/control",
            "Package: initrd-test\nVersion: 1.0-1\nArchitecture: all\nMaintainer: Test <test@example.invalid>\nDescription: test package\n multi-line\n");
        temp.WriteFile("root/DEBIAN/conffiles", "/etc/initrd-test.conf\n");
        temp.WriteFile("root/etc/initrd-test.conf", "setting=1\n");
        var tool = temp.WriteFile("root/usr/bin/tool", "#!/bin/sh\necho hi\n");
        Run(ReferenceTool.Require("chmod", "coreutils"), "4755", tool);
        Run(ReferenceTool.Require("ln", "coreutils"), tool, temp.Combine("root/usr/bin/tool-hardlink"));
        File.CreateSymbolicLink(temp.Combine("root/usr/bin/tool-link"), "tool");
        var longDirectory = "root/usr/share/" + string.Join('/', Enumerable.Repeat("a-rather-long-directory-name", 5));
        temp.WriteFile(longDirectory + "/file-with-a-long-name.txt", TestContent);
        Directory.CreateDirectory(temp.Combine("root/var/lib/empty"));
        var deb = temp.Combine("initrd-test.deb");
        Run(dpkgDeb, "--root-owner-group", "-Z" + compressor, "--build", root, deb);

        using var package = DebPackage.Open(new NonSeekableStream(File.OpenRead(deb)));
        Assert.Equal(dataMember, package.DataMemberName);
        Assert.Equal("/etc/initrd-test.conf\n", package.ReadControlFile("./conffiles"));
        Assert.Equal(ParseFields(Run(dpkgDeb, "-f", deb).StandardOutput), ParseFields(package.Control));

        var listing = ReferenceTool.Run(tar, ["-tv", "--numeric-owner", "--quoting-style=literal"],
            standardInput: Run(dpkgDeb, "--fsys-tarfile", deb).StandardOutputBytes, environment: Utc);
        using var data = package.OpenDataStream();
        using (var reader = new TarReader(data, leaveOpen: true))
        {
            var entries = new List<string>();
            while (reader.GetNextEntry() is { } entry)
            {
                entries.Add(Describe(entry));
                if (entry.Name.EndsWith("file-with-a-long-name.txt", StringComparison.Ordinal))
                    Assert.Equal(TestContent, new StreamReader(entry.DataStream!).ReadToEnd());
            }
            Assert.Equal(listing.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(ParseTarLine), entries);
            Assert.Contains(entries, e => e.StartsWith("-rwsr-xr-x", StringComparison.Ordinal));
            Assert.Contains(entries, e => e.StartsWith('h'));
            Assert.Contains(entries, e => e.StartsWith('l'));
        }
        data.CopyTo(Stream.Null); // to the end: the compressed stream's checksum
        Assert.Throws<InvalidOperationException>(() => package.OpenDataTar());
    }

    const string TestContent = "content of a file whose path is longer than 100 bytes\n";

    // ---- hostile input ----

    const string ControlText = "Package: crafted\nVersion: 1\nArchitecture: all\nDescription: crafted\n";

    static byte[] Tar(params (string Name, byte[] Content)[] files)
    {
        var output = new MemoryStream();
        using (var writer = new TarWriter(output, TarEntryFormat.Gnu, leaveOpen: true))
        {
            writer.WriteEntry(new GnuTarEntry(TarEntryType.Directory, "./"));
            foreach (var (name, content) in files)
                writer.WriteEntry(new GnuTarEntry(TarEntryType.RegularFile, name) { DataStream = new MemoryStream(content) });
        }
        return output.ToArray();
    }

    static byte[] Compress(byte[] data, CompressionFormat format)
    {
        var output = new MemoryStream();
        using (var stream = CompressionStreams.OpenWrite(output, format, CompressionStreams.DefaultLevel(format), leaveOpen: true))
            stream.Write(data);
        return output.ToArray();
    }

    static byte[] ControlTarXz(string control = ControlText) =>
        Compress(Tar(("./control", Encoding.UTF8.GetBytes(control)), ("./md5sums", "0123  usr/bin/x\n"u8.ToArray())), CompressionFormat.Xz);

    static byte[] DataTarXz() =>
        Compress(Tar(("./usr/bin/x", Encoding.UTF8.GetBytes(TestContent))), CompressionFormat.Xz);

    static ArBuilder ValidDeb() => new ArBuilder()
        .Add("debian-binary", "2.0\n")
        .Add("control.tar.xz", ControlTarXz())
        .Add("data.tar.xz", DataTarXz());

    /// <summary>Opens the package and reads all of it, as an installer would.</summary>
    static List<string> ReadEverything(Stream stream)
    {
        using var package = DebPackage.Open(stream);
        using var data = package.OpenDataStream();
        var names = new List<string>();
        using (var reader = new TarReader(data, leaveOpen: true))
        {
            while (reader.GetNextEntry() is { } entry)
            {
                names.Add(entry.Name);
                entry.DataStream?.CopyTo(Stream.Null);
            }
        }
        data.CopyTo(Stream.Null);
        return names;
    }

    static InvalidDataException Fails(byte[] bytes, bool seekable = true) =>
        Assert.Throws<InvalidDataException>(() => ReadEverything(seekable ? new MemoryStream(bytes) : new NonSeekableStream(new MemoryStream(bytes))));

    [Fact]
    public void ACraftedValidPackageReads()
    {
        Assert.Equal(["./", "./usr/bin/x"], ReadEverything(new MemoryStream(ValidDeb().ToArray())));
        using var package = DebPackage.Open(new MemoryStream(ValidDeb().ToArray()));
        Assert.Equal(ControlText, package.Control);
        Assert.Equal(["control", "md5sums"], package.ControlFileNames.Order(StringComparer.Ordinal));
        Assert.Equal(CompressionFormat.Xz, package.ControlCompression);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void EveryTruncationIsAnInvalidDataException(bool seekable)
    {
        var deb = File.ReadAllBytes(DebianPackages.Get("passwd"));
        int[] cuts = [0, 5, 8, 30, 68, 71, 72, 100, 132, 500, 2000, deb.Length / 3, deb.Length / 2, deb.Length - 1000, deb.Length - 1];
        foreach (var cut in cuts)
        {
            var e = Fails(deb[..cut], seekable);
            Assert.False(string.IsNullOrEmpty(e.Message));
        }
    }

    [Fact]
    public void ATruncatedGzipPackageIsCaughtByTheArLayer()
    {
        var bytes = new ArBuilder()
            .Add("debian-binary", "2.0\n")
            .Add("control.tar.gz", Compress(Tar(("./control", Encoding.UTF8.GetBytes(ControlText))), CompressionFormat.Gzip))
            .Add("data.tar.gz", Compress(Tar(("./usr/bin/x", TestDataBytes(100_000))), CompressionFormat.Gzip))
            .ToArray();
        Assert.Equal(2, ReadEverything(new MemoryStream(bytes)).Count);
        var e = Fails(bytes[..^50], seekable: false);
        Assert.Contains("data.tar.gz", e.Message);
    }

    [Fact]
    public void RejectsABadMagic()
    {
        var bytes = ValidDeb().ToArray();
        bytes[1] = (byte)'?';
        Assert.Contains("Not an ar archive", Fails(bytes).Message);
    }

    [Fact]
    public void RejectsANonDecimalMemberSize()
    {
        var bytes = new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.xz", ControlTarXz(), size: "12x4").ToArray();
        var e = Fails(bytes);
        Assert.Contains("field 'size'", e.Message);
        Assert.Contains("\"12x4      \"", e.Message);
    }

    [Fact]
    public void RejectsAMissingDataMember()
    {
        var bytes = new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.xz", ControlTarXz()).Add("_signature", "x").ToArray();
        var e = Fails(bytes);
        Assert.Contains("without a 'data.tar[.gz|.xz|.zst]' member", e.Message);
        Assert.Contains("after 'control.tar.xz'", e.Message);

        e = Fails(new ArBuilder().Add("debian-binary", "2.0\n").ToArray());
        Assert.Contains("'control.tar", e.Message);
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void RejectsAMemberSizePastTheEnd(bool seekable)
    {
        var data = DataTarXz();
        var bytes = new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.xz", ControlTarXz())
            .Add("data.tar.xz", data, size: (data.Length + 100).ToString(CultureInfo.InvariantCulture)).ToArray();
        var e = Fails(bytes, seekable);
        Assert.Contains("member #2", e.Message);
        Assert.Contains(seekable ? "field 'size' is" : "the archive ends at offset", e.Message);
    }

    [Fact]
    public void RejectsWrongMemberOrder()
    {
        var e = Fails(new ArBuilder().Add("control.tar.xz", ControlTarXz()).Add("debian-binary", "2.0\n").ToArray());
        Assert.Contains("is 'control.tar.xz', expected 'debian-binary' first", e.Message);

        e = Fails(new ArBuilder().Add("debian-binary", "2.0\n").Add("data.tar.xz", DataTarXz()).Add("control.tar.xz", ControlTarXz()).ToArray());
        Assert.Contains("is 'data.tar.xz', expected 'control.tar[.gz|.xz|.zst]'", e.Message);

        e = Fails(new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.xz", ControlTarXz()).Add("extra", "x").Add("data.tar.xz", DataTarXz()).ToArray());
        Assert.Contains("is 'extra'", e.Message);

        Assert.Contains("no members", Fails(new ArBuilder().ToArray()).Message);
    }

    [Fact]
    public void SkipsLocalMembersStartingWithAnUnderscore()
    {
        var bytes = new ArBuilder().Add("debian-binary", "2.0\n").Add("_local", "a").Add("control.tar.xz", ControlTarXz())
            .Add("_gpgorigin", "sig").Add("data.tar.xz", DataTarXz()).Add("_after", "z").ToArray();
        Assert.Equal(["./", "./usr/bin/x"], ReadEverything(new MemoryStream(bytes)));
    }

    [Theory]
    [InlineData("3.0\n", false)]
    [InlineData("2.0", false)]
    [InlineData("2.x\n", false)]
    [InlineData("", false)]
    [InlineData("2.1\n", true)]
    [InlineData("2.0\nfuture line\n", true)]
    public void ChecksTheFormatVersion(string debianBinary, bool accepted)
    {
        var bytes = new ArBuilder().Add("debian-binary", debianBinary).Add("control.tar.xz", ControlTarXz()).Add("data.tar.xz", DataTarXz()).ToArray();
        if (accepted)
        {
            using var package = DebPackage.Open(new MemoryStream(bytes));
            Assert.Equal(debianBinary[..debianBinary.IndexOf('\n')], package.FormatVersion);
        }
        else
        {
            Assert.Contains("debian-binary", Fails(bytes).Message);
        }
    }

    [Theory]
    [InlineData("data.tar.bz2", "compression 'bz2'")]
    [InlineData("data.tar.lzma", "compression 'lzma'")]
    [InlineData("data.tarball", "is 'data.tarball'")]
    public void RejectsUnsupportedCompression(string member, string expected)
    {
        var bytes = new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.xz", ControlTarXz()).Add(member, "BZh9").ToArray();
        Assert.Contains(expected, Fails(bytes).Message);
    }

    [Fact]
    public void RejectsBrokenControlArchives()
    {
        var noControl = Compress(Tar(("./md5sums", "x"u8.ToArray())), CompressionFormat.Zstd);
        var e = Fails(new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.zst", noControl).Add("data.tar.xz", DataTarXz()).ToArray());
        Assert.Contains("has no 'control' file", e.Message);

        var corrupt = ControlTarXz();
        corrupt[corrupt.Length / 2] ^= 0x40;
        e = Fails(new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.xz", corrupt).Add("data.tar.xz", DataTarXz()).ToArray());
        Assert.Contains("control archive (member 'control.tar.xz'", e.Message);
        Assert.Contains("LZMA_DATA_ERROR", e.Message);

        var notTar = Compress(TestDataBytes(2000), CompressionFormat.Gzip);
        e = Fails(new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.gz", notTar).Add("data.tar.xz", DataTarXz()).ToArray());
        Assert.Contains("control archive", e.Message);

        var bomb = Compress(Tar(("./control", Encoding.UTF8.GetBytes(ControlText)), ("./huge", new byte[DebPackage.MaxControlLength])), CompressionFormat.Zstd);
        e = Fails(new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.zst", bomb).Add("data.tar.xz", DataTarXz()).ToArray());
        Assert.Contains($"holds 'huge' of {DebPackage.MaxControlLength} bytes, more than the {DebPackage.MaxControlLength} bytes accepted", e.Message);

        // Zeros after the end of the tar archive count too (they are read to verify the checksum).
        var padded = Compress([.. Tar(("./control", Encoding.UTF8.GetBytes(ControlText))), .. new byte[DebPackage.MaxControlLength]], CompressionFormat.Zstd);
        e = Fails(new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.zst", padded).Add("data.tar.xz", DataTarXz()).ToArray());
        Assert.Contains($"decompresses to more than the {DebPackage.MaxControlLength} bytes accepted", e.Message);
    }

    [Fact]
    public void RejectsAControlFileHeaderClaimingMoreThanTheLimitBeforeAllocating()
    {
        // A GNU header whose size field claims 8 GiB - 1 (octal 77777777777), with its checksum fixed up.
        var tar = Tar(("./control", Encoding.UTF8.GetBytes(ControlText)), ("./huge", "x"u8.ToArray()));
        var header = tar.AsSpan(1536, 512); // entries: "./" (512), control (512 + 512 data), huge
        Assert.Equal("./huge", Encoding.ASCII.GetString(header[..6]));
        Encoding.ASCII.GetBytes("77777777777\0").CopyTo(header[124..]);
        Encoding.ASCII.GetBytes("        ").CopyTo(header[148..]);
        var sum = 0;
        foreach (var b in header) sum += b;
        Encoding.ASCII.GetBytes(Convert.ToString(sum, 8).PadLeft(6, '0') + "\0 ").CopyTo(header[148..]);

        var bytes = new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar", tar).Add("data.tar.xz", DataTarXz()).ToArray();
        var e = Fails(bytes);
        Assert.Contains("holds 'huge' of 8589934591 bytes", e.Message);
    }

    [Fact]
    public void CorruptDataIsAnInvalidDataExceptionWhileReading()
    {
        var data = DataTarXz();
        data[data.Length / 2] ^= 0x01;
        var bytes = new ArBuilder().Add("debian-binary", "2.0\n").Add("control.tar.xz", ControlTarXz()).Add("data.tar.xz", data).ToArray();
        using var package = DebPackage.Open(new MemoryStream(bytes)); // the structure is fine
        Assert.Throws<InvalidDataException>(() =>
        {
            using var reader = package.OpenDataTar();
            while (reader.GetNextEntry() is { } entry) entry.DataStream?.CopyTo(Stream.Null);
        });
    }

    [Fact]
    public void MessagesNameTheFileWhenOpenedByPath()
    {
        using var temp = new TempDirectory();
        var path = temp.Combine("broken.deb");
        File.WriteAllBytes(path, ValidDeb().ToArray()[..200]);
        var e = Assert.Throws<InvalidDataException>(() => DebPackage.Open(path));
        Assert.StartsWith(path + ": ", e.Message);
    }

    // ---- helpers ----

    static ToolResult Run(string tool, params string[] arguments)
    {
        var result = ReferenceTool.Run(tool, arguments);
        Assert.True(result.ExitCode == 0, $"{tool} {string.Join(' ', arguments)}: {result}");
        return result;
    }

    /// <summary>deb822 fields: name → value with continuation lines joined by '\n', surrounding blanks trimmed.</summary>
    static Dictionary<string, string> ParseFields(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? current = null;
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0) continue;
            if (line[0] is ' ' or '\t')
            {
                fields[current!] += "\n" + line.Trim();
                continue;
            }
            var colon = line.IndexOf(':');
            current = line[..colon];
            fields[current] = line[(colon + 1)..].Trim();
        }
        return fields;
    }

    /// <summary>An entry as "mode uid/gid size yyyy-MM-dd HH:mm name[ -> target| link to target]", like GNU tar -tv.</summary>
    static string Describe(TarEntry entry)
    {
        var type = entry.EntryType switch
        {
            TarEntryType.Directory => 'd',
            TarEntryType.SymbolicLink => 'l',
            TarEntryType.HardLink => 'h',
            TarEntryType.CharacterDevice => 'c',
            TarEntryType.BlockDevice => 'b',
            TarEntryType.Fifo => 'p',
            _ => '-',
        };
        var time = entry.ModificationTime.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        var link = entry.EntryType switch
        {
            TarEntryType.SymbolicLink => " -> " + entry.LinkName,
            TarEntryType.HardLink => " link to " + entry.LinkName,
            _ => "",
        };
        return $"{type}{Permissions((int)entry.Mode)} {entry.Uid}/{entry.Gid} {entry.Length} {time} {entry.Name}{link}";
    }

    static string Permissions(int mode)
    {
        var c = "rwxrwxrwx".ToCharArray();
        for (var i = 0; i < 9; i++) if ((mode & (1 << (8 - i))) == 0) c[i] = '-';
        if ((mode & 0x800) != 0) c[2] = c[2] == 'x' ? 's' : 'S';
        if ((mode & 0x400) != 0) c[5] = c[5] == 'x' ? 's' : 'S';
        if ((mode & 0x200) != 0) c[8] = c[8] == 'x' ? 't' : 'T';
        return new string(c);
    }

    /// <summary>A GNU tar -tv line normalised to <see cref="Describe"/>'s shape (single spaces).</summary>
    static string ParseTarLine(string line)
    {
        var m = TarLine().Match(line);
        Assert.True(m.Success, $"unexpected tar -tv line: {line}");
        return $"{m.Groups["mode"].Value} {m.Groups["owner"].Value} {m.Groups["size"].Value} {m.Groups["time"].Value} {m.Groups["rest"].Value}";
    }

    [GeneratedRegex(@"^(?<mode>\S{10}) (?<owner>\d+/\d+)\s+(?<size>\d+) (?<time>\d{4}-\d\d-\d\d \d\d:\d\d) (?<rest>.*)$")]
    private static partial Regex TarLine();

    static byte[] TestDataBytes(int length)
    {
        var data = new byte[length];
        new Random(length).NextBytes(data);
        return data;
    }
}
