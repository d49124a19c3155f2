using System.Formats.Tar;
using System.Globalization;
using System.IO.Compression;
using System.Text;
using System.Text.RegularExpressions;
using Initrd.Image.Install;
using Initrd.Testing;

namespace Initrd.Image.Tests.Install;

/// <summary>
/// Real .deb files: the host's candidate version of a package, fetched once per test run by
/// <see cref="DebianPackages"/>. Without apt-get or a reachable repository the test is skipped locally and fails
/// under CI.
/// </summary>
internal static class RealDebs
{
    /// <summary>The packages, downloaded, sorted by name (the order the SDK unpacks them in).</summary>
    public static List<PackageArchive> Get(params string[] names) =>
        names.Select(n => Describe(DebianPackages.Get(n)))
            .OrderBy(p => p.Name, StringComparer.Ordinal)
            .ToList();

    static PackageArchive Describe(string deb)
    {
        // name_version_arch.deb, the version URL-encoded (':' as %3a).
        var parts = Path.GetFileNameWithoutExtension(deb).Split('_');
        return new PackageArchive(parts[0], Uri.UnescapeDataString(parts[1]), parts[2], deb);
    }
}

/// <summary>Hand-made .deb files: the data archive written entry by entry (nothing checked), wrapped in ar.</summary>
internal static class HandMadeDeb
{
    public static readonly DateTimeOffset Time = DateTimeOffset.FromUnixTimeSeconds(1_700_000_000);

    public static TarEntry Dir(string name, int mode = 0x1ED /* 0755 */, int uid = 0, int gid = 0) =>
        new GnuTarEntry(TarEntryType.Directory, name) { Mode = (UnixFileMode)mode, Uid = uid, Gid = gid, ModificationTime = Time };

    public static TarEntry File(string name, string content, int mode = 0x1A4 /* 0644 */, int uid = 0, int gid = 0) =>
        new GnuTarEntry(TarEntryType.RegularFile, name)
        {
            Mode = (UnixFileMode)mode, Uid = uid, Gid = gid, ModificationTime = Time,
            DataStream = new MemoryStream(Encoding.UTF8.GetBytes(content)),
        };

    public static TarEntry Symlink(string name, string target) =>
        new GnuTarEntry(TarEntryType.SymbolicLink, name) { LinkName = target, Mode = (UnixFileMode)0x1FF, ModificationTime = Time };

    public static TarEntry HardLink(string name, string target, int mode = 0x1A4) =>
        new GnuTarEntry(TarEntryType.HardLink, name) { LinkName = target, Mode = (UnixFileMode)mode, ModificationTime = Time };

    public static TarEntry CharDevice(string name, int major, int minor, int mode = 0x1B6 /* 0666 */) =>
        new GnuTarEntry(TarEntryType.CharacterDevice, name) { DeviceMajor = major, DeviceMinor = minor, Mode = (UnixFileMode)mode, ModificationTime = Time };

    public static TarEntry Fifo(string name, int mode = 0x180 /* 0600 */) =>
        new GnuTarEntry(TarEntryType.Fifo, name) { Mode = (UnixFileMode)mode, ModificationTime = Time };

    /// <summary>Writes <c>&lt;directory&gt;/&lt;name&gt;_1.0_all.deb</c> with a gzip data archive holding <paramref name="entries"/>.</summary>
    public static PackageArchive Write(string directory, string name, params TarEntry[] entries)
    {
        var path = Path.Combine(directory, $"{name}_1.0_all.deb");
        var control = Tar(gzip: true, HandMadeDeb.File("./control",
            $"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: Test <test@example.org>\nDescription: test package\n"));
        var data = Tar(gzip: true, entries);
        using (var output = System.IO.File.Create(path))
        {
            output.Write("!<arch>\n"u8);
            ArMember(output, "debian-binary", "2.0\n"u8.ToArray());
            ArMember(output, "control.tar.gz", control);
            ArMember(output, "data.tar.gz", data);
        }
        return new PackageArchive(name, "1.0", "all", path);
    }

    static byte[] Tar(bool gzip, params TarEntry[] entries)
    {
        var buffer = new MemoryStream();
        using (var compressed = gzip ? new GZipStream(buffer, CompressionLevel.Fastest, leaveOpen: true) : (Stream)buffer)
        using (var writer = new TarWriter(compressed, TarEntryFormat.Gnu, leaveOpen: true))
        {
            foreach (var entry in entries)
            {
                entry.DataStream?.Seek(0, SeekOrigin.Begin);
                writer.WriteEntry(entry);
            }
        }
        return buffer.ToArray();
    }

    static void ArMember(Stream output, string name, byte[] data)
    {
        var header = string.Create(CultureInfo.InvariantCulture,
            $"{name,-16}{"0",-12}{"0",-6}{"0",-6}{"100644",-8}{data.Length,-10}`\n");
        output.Write(Encoding.ASCII.GetBytes(header));
        output.Write(data);
        if (data.Length % 2 == 1) output.WriteByte((byte)'\n');
    }
}

/// <summary>A package built with <c>dpkg-deb --build</c> from a folder (the real tool, as Debian builds packages).</summary>
internal static class DpkgDebBuild
{
    /// <summary>
    /// Builds package <paramref name="name"/> from <paramref name="populate"/>'s files under a fresh folder,
    /// owned by root (<c>--root-owner-group</c>), compressed with <paramref name="compression"/> (xz, gzip, none).
    /// </summary>
    public static PackageArchive Build(string directory, string name, Action<string> populate, string compression = "xz")
    {
        var dpkgDeb = ReferenceTool.Require("dpkg-deb", "dpkg");
        var source = Path.Combine(directory, "src-" + name);
        Directory.CreateDirectory(Path.Combine(source, "DEBIAN"));
        System.IO.File.WriteAllText(Path.Combine(source, "DEBIAN", "control"),
            $"Package: {name}\nVersion: 1.0\nArchitecture: all\nMaintainer: Test <test@example.org>\nDescription: test package\n");
        populate(source);
        var path = Path.Combine(directory, $"{name}_1.0_all.deb");
        var result = ReferenceTool.Run(dpkgDeb, ["--root-owner-group", "-Z" + compression, "--build", source, path]);
        Assert.True(result.ExitCode == 0, result.ToString());
        return new PackageArchive(name, "1.0", "all", path);
    }
}

/// <summary>One line of <c>tar -tv --numeric-owner --full-time</c> (GNU tar, TZ=UTC, literal quoting).</summary>
internal sealed record TarListing(char Type, int Permissions, int Uid, int Gid, long Size, long ModificationTime, string Name, string? LinkTarget)
{
    static readonly Regex Line = new(
        @"^(?<mode>\S{10})\s+(?<uid>\d+)/(?<gid>\d+)\s+(?<size>\S+)\s+(?<date>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\s(?<name>.*)$",
        RegexOptions.CultureInvariant);

    /// <summary>Lists a package's data archive with the reference tools.</summary>
    public static List<TarListing> Of(string deb)
    {
        var dpkgDeb = ReferenceTool.Require("dpkg-deb", "dpkg");
        var tar = ReferenceTool.Require("tar", "tar");
        var fsys = ReferenceTool.Run(dpkgDeb, ["--fsys-tarfile", deb]);
        Assert.True(fsys.ExitCode == 0, fsys.ToString());
        var list = ReferenceTool.Run(tar, ["-tv", "--numeric-owner", "--full-time", "--quoting-style=literal", "-f", "-"],
            standardInput: fsys.StandardOutputBytes, environment: new Dictionary<string, string> { ["TZ"] = "UTC" });
        Assert.True(list.ExitCode == 0, list.ToString());
        return list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(Parse).ToList();
    }

    static TarListing Parse(string line)
    {
        var m = Line.Match(line);
        Assert.True(m.Success, $"unexpected tar listing line: {line}");
        var mode = m.Groups["mode"].Value;
        var name = m.Groups["name"].Value;
        string? target = null;
        if (mode[0] == 'l')
        {
            var arrow = name.IndexOf(" -> ", StringComparison.Ordinal);
            target = name[(arrow + 4)..];
            name = name[..arrow];
        }
        else if (mode[0] == 'h')
        {
            var link = name.IndexOf(" link to ", StringComparison.Ordinal);
            target = name[(link + 9)..];
            name = name[..link];
        }
        var sizeText = m.Groups["size"].Value;
        var size = sizeText.Contains(',') ? 0 : long.Parse(sizeText, CultureInfo.InvariantCulture);
        var time = DateTime.ParseExact(m.Groups["date"].Value, "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal);
        return new TarListing(mode[0], ParsePermissions(mode), int.Parse(m.Groups["uid"].Value, CultureInfo.InvariantCulture),
            int.Parse(m.Groups["gid"].Value, CultureInfo.InvariantCulture), size,
            new DateTimeOffset(time, TimeSpan.Zero).ToUnixTimeSeconds(), name, target);
    }

    /// <summary>"-rwsr-xr-x" → 04755.</summary>
    static int ParsePermissions(string mode)
    {
        var bits = 0;
        for (var i = 0; i < 9; i++)
        {
            var c = mode[1 + i];
            var bit = 1 << (8 - i);
            if (c is 'r' or 'w' or 'x' or 's' or 't') bits |= bit;
        }
        if (mode[3] is 's' or 'S') bits |= 0x800;
        if (mode[6] is 's' or 'S') bits |= 0x400;
        if (mode[9] is 't' or 'T') bits |= 0x200;
        return bits;
    }
}

/// <summary>Assertions about what a failed build leaves behind.</summary>
internal static class TreesRoot
{
    /// <summary>No tree folder and no temporary build folder under <paramref name="treesRoot"/> (lock files are allowed).</summary>
    public static void AssertNoTrees(string treesRoot)
    {
        var left = Directory.Exists(treesRoot) ? Directory.GetFileSystemEntries(treesRoot).Where(p => !p.EndsWith(".lock", StringComparison.Ordinal)).ToList() : [];
        Assert.True(left.Count == 0, "left behind: " + string.Join(", ", left));
    }
}
