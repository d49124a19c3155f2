using System.Formats.Tar;
using System.IO.Compression;
using System.Text;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.LocalRepository;

/// <summary>One entry of a test package's data: a file, a directory or a symlink, at an image path ("usr/bin/x").</summary>
public sealed record TestEntry(string Path, TarEntryType Kind, byte[]? Content = null, string? LinkTarget = null, int Mode = 0x1A4)
{
    public static TestEntry File(string path, string content, int mode = 0x1A4 /* 0644 */) => new(path, TarEntryType.RegularFile, Encoding.UTF8.GetBytes(content), Mode: mode);

    public static TestEntry File(string path, byte[] content, int mode = 0x1A4) => new(path, TarEntryType.RegularFile, content, Mode: mode);

    public static TestEntry Executable(string path, string content) => File(path, content, 0x1ED /* 0755 */);

    public static TestEntry Directory(string path) => new(path, TarEntryType.Directory, Mode: 0x1ED);

    public static TestEntry Symlink(string path, string target) => new(path, TarEntryType.SymbolicLink, LinkTarget: target, Mode: 0x1FF);
}

/// <summary>
/// A hand-made Debian package: its control fields (beyond Package/Version/Architecture) and its files. The same
/// fields go into the .deb's control file and into the repository's Packages index.
/// </summary>
public sealed record TestPackage(string Name, string Version, string Architecture = "amd64")
{
    /// <summary>Control fields in order, e.g. ("Depends", "libc6 (>= 2.36)").</summary>
    public IReadOnlyList<(string Field, string Value)> Fields { get; init; } = [];

    public IReadOnlyList<TestEntry> Entries { get; init; } = [];

    /// <summary>dpkg-deb's compressor for data.tar: xz (Debian's default), gzip, zstd or none.</summary>
    public string Compression { get; init; } = "xz";

    /// <summary>The pool path the repository publishes it under, as Debian lays pools out (no epoch in file names).</summary>
    public string PoolPath => $"pool/main/{Name[0]}/{Name}/{Name}_{Version[(Version.IndexOf(':') + 1)..]}_{Architecture}.deb";

    public string ControlText()
    {
        var sb = new StringBuilder();
        sb.Append($"Package: {Name}\nVersion: {Version}\nArchitecture: {Architecture}\n");
        sb.Append("Maintainer: Initrd.Sdk Tests <tests@initrd.invalid>\n");
        foreach (var (field, value) in Fields) sb.Append($"{field}: {value}\n");
        sb.Append($"Description: {Name}, made by hand for the Initrd.Sdk tests\n");
        return sb.ToString();
    }
}

/// <summary>
/// Makes .deb files: well-formed ones with dpkg-deb (the reference tool), and hostile ones written by hand (ar and
/// tar by the letter, so that names dpkg-deb would refuse, such as "../x", can be put in).
/// </summary>
public static class DebBuilder
{
    /// <summary>All mtimes in test packages: a fixed instant, so the same package gives the same bytes.</summary>
    public const long Epoch = 1_700_000_000;

    /// <summary>Builds <paramref name="package"/> with <c>dpkg-deb --build --root-owner-group</c>.</summary>
    public static byte[] Build(TestPackage package)
    {
        var dpkgDeb = ReferenceTool.Require("dpkg-deb", "dpkg");
        using var work = new TempDirectory("initrd-sdk-deb");
        var root = work.Combine("root");
        System.IO.Directory.CreateDirectory(Path.Combine(root, "DEBIAN"));
        System.IO.File.WriteAllText(Path.Combine(root, "DEBIAN", "control"), package.ControlText());
        foreach (var e in package.Entries)
        {
            var path = Path.Combine(root, e.Path);
            System.IO.Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            switch (e.Kind)
            {
                case TarEntryType.Directory:
                    System.IO.Directory.CreateDirectory(path);
                    System.IO.File.SetUnixFileMode(path, (UnixFileMode)e.Mode);
                    break;
                case TarEntryType.SymbolicLink:
                    System.IO.File.CreateSymbolicLink(path, e.LinkTarget!);
                    break;
                default:
                    System.IO.File.WriteAllBytes(path, e.Content ?? []);
                    System.IO.File.SetUnixFileMode(path, (UnixFileMode)e.Mode);
                    break;
            }
        }
        var output = work.Combine("out.deb");
        // SOURCE_DATE_EPOCH: dpkg-deb stamps the ar members with it and clamps the tar mtimes to it.
        var result = ReferenceTool.Run(dpkgDeb, ["--build", "--root-owner-group", $"-Z{package.Compression}", root, output],
            environment: new Dictionary<string, string> { ["SOURCE_DATE_EPOCH"] = Epoch.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        if (result.ExitCode != 0) throw new InvalidOperationException($"dpkg-deb failed for {package.Name}: {result}");
        return System.IO.File.ReadAllBytes(output);
    }

    /// <summary>
    /// Writes a .deb by hand: ar("debian-binary", "control.tar.gz", "data.tar.gz") with <paramref name="data"/> as the
    /// data.tar entries exactly as given (names are not normalised or checked: that is the point).
    /// </summary>
    public static byte[] HandMade(TestPackage package, IEnumerable<(string Name, TarEntryType Kind, byte[]? Content, string? LinkTarget, int Mode)> data)
    {
        var control = Tar([("./", TarEntryType.Directory, null, null, 0x1ED), ("./control", TarEntryType.RegularFile, Encoding.UTF8.GetBytes(package.ControlText()), null, 0x1A4)]);
        var dataTar = Tar(data);
        using var ar = new MemoryStream();
        ar.Write("!<arch>\n"u8);
        ArMember(ar, "debian-binary", "2.0\n"u8.ToArray());
        ArMember(ar, "control.tar.gz", Gzip(control));
        ArMember(ar, "data.tar.gz", Gzip(dataTar));
        return ar.ToArray();
    }

    /// <summary>The first <paramref name="keep"/> bytes of a package: a download or a disk that stopped short.</summary>
    public static byte[] Truncated(byte[] deb, int keep) => deb.AsSpan(0, keep).ToArray();

    /// <summary>The package with its ar magic ("!&lt;arch&gt;\n") damaged.</summary>
    public static byte[] WithBadArMagic(byte[] deb)
    {
        var copy = deb.ToArray();
        "!<arcX>\n"u8.CopyTo(copy);
        return copy;
    }

    static byte[] Tar(IEnumerable<(string Name, TarEntryType Kind, byte[]? Content, string? LinkTarget, int Mode)> entries)
    {
        using var output = new MemoryStream();
        using (var writer = new TarWriter(output, TarEntryFormat.Gnu, leaveOpen: true))
        {
            foreach (var (name, kind, content, link, mode) in entries)
            {
                var entry = new GnuTarEntry(kind, name)
                {
                    Mode = (UnixFileMode)mode,
                    ModificationTime = DateTimeOffset.FromUnixTimeSeconds(Epoch),
                    Uid = 0,
                    Gid = 0,
                    UserName = "root",
                    GroupName = "root",
                };
                if (link is not null) entry.LinkName = link;
                if (content is not null) entry.DataStream = new MemoryStream(content);
                writer.WriteEntry(entry);
            }
        }
        return output.ToArray();
    }

    static byte[] Gzip(byte[] data)
    {
        using var output = new MemoryStream();
        using (var gz = new GZipStream(output, CompressionLevel.Optimal, leaveOpen: true)) gz.Write(data);
        return output.ToArray();
    }

    static void ArMember(Stream ar, string name, byte[] data)
    {
        var header = $"{name,-16}{Epoch,-12}{0,-6}{0,-6}{"100644",-8}{data.Length,-10}`\n";
        ar.Write(Encoding.ASCII.GetBytes(header));
        ar.Write(data);
        if (data.Length % 2 == 1) ar.WriteByte((byte)'\n');
    }
}
