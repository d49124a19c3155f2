using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.LocalRepository;

/// <summary>
/// A small signed apt repository on disk, served on 127.0.0.1 — one suite, component main, amd64 — laid out like
/// Debian trixie's archive: Architecture: all packages are listed in binary-amd64 (and in binary-all, which the
/// Release file tells clients to ignore with <c>No-Support-for-Architecture-all: Packages</c>), index files as
/// Packages and Packages.xz, by-hash copies with <c>Acquire-By-Hash: yes</c>, an InRelease clear-signed with a
/// throwaway key. <see cref="Publish"/> writes it; the mutators break it afterwards, as a hostile or broken mirror
/// would (without re-signing unless said).
/// </summary>
public sealed class LocalAptRepository : IDisposable
{
    public const string Component = "main";
    public const string ArchivePath = "debian";

    readonly TempDirectory dir = new("initrd-sdk-repo");
    readonly TestSigningKey key;
    readonly Dictionary<string, (TestPackage Package, byte[] Deb)> packages = new(StringComparer.Ordinal);

    public LocalAptRepository(TestSigningKey key, string suite = "testing")
    {
        this.key = key;
        Suite = suite;
        Server = new LocalHttpServer(dir.Path);
    }

    public string Suite { get; }

    public LocalHttpServer Server { get; }

    /// <summary>The archive root URL, as an ImageRepository item names it.</summary>
    public string Uri => $"{Server.BaseUrl}/{ArchivePath}";

    /// <summary>The archive root on disk.</summary>
    public string ArchiveDirectory => Path.Combine(dir.Path, ArchivePath);

    public string SuiteDirectory => Path.Combine(ArchiveDirectory, "dists", Suite);

    public string KeyringPath => key.KeyringPath;

    /// <summary>The Release's Date; default yesterday.</summary>
    public DateTimeOffset Date { get; set; } = DateTimeOffset.UtcNow.AddDays(-1);

    /// <summary>The Release's Valid-Until (null: none); default a week ahead.</summary>
    public DateTimeOffset? ValidUntil { get; set; } = DateTimeOffset.UtcNow.AddDays(7);

    /// <summary>Changes the binary-amd64 Packages text before it is compressed, hashed and signed (a malformed index, validly signed).</summary>
    public Func<string, string>? EditPackagesIndex { get; set; }

    /// <summary>The ImageRepository item for this repository, with its keyring.</summary>
    public string ItemXml => $"""<ImageRepository Include="{Uri}" Suites="{Suite}" Components="{Component}" SignedBy="{KeyringPath}" />""";

    public IEnumerable<TestPackage> Packages => packages.Values.Select(p => p.Package);

    /// <summary>Adds (or replaces, by name) a package with its .deb bytes; call <see cref="Publish"/> afterwards.</summary>
    public LocalAptRepository Add(TestPackage package, byte[] deb)
    {
        packages[package.Name] = (package, deb);
        return this;
    }

    public LocalAptRepository Remove(string name)
    {
        packages.Remove(name);
        return this;
    }

    public byte[] DebOf(string name) => packages[name].Deb;

    public string PoolFile(string name) => Path.Combine(ArchiveDirectory, packages[name].Package.PoolPath);

    public string Sha256Of(string name) => Hash(packages[name].Deb);

    /// <summary>Writes the pool, the indices, their by-hash copies, the Release and the signed InRelease.</summary>
    public void Publish()
    {
        ReferenceTool.Require("xz", "xz-utils");
        if (Directory.Exists(Path.Combine(ArchiveDirectory, "dists"))) Directory.Delete(Path.Combine(ArchiveDirectory, "dists"), recursive: true);
        foreach (var (package, deb) in packages.Values)
        {
            var pool = Path.Combine(ArchiveDirectory, package.PoolPath);
            Directory.CreateDirectory(Path.GetDirectoryName(pool)!);
            File.WriteAllBytes(pool, deb);
        }

        var ordered = packages.Values.OrderBy(p => p.Package.Name, StringComparer.Ordinal).ToList();
        var amd64 = string.Join("\n", ordered.Select(p => Stanza(p.Package, p.Deb)));
        if (EditPackagesIndex is not null) amd64 = EditPackagesIndex(amd64);
        var all = string.Join("\n", ordered.Where(p => p.Package.Architecture == "all").Select(p => Stanza(p.Package, p.Deb)));
        var indexFiles = new List<(string Path, byte[] Data)>();
        foreach (var (arch, text) in new[] { ("amd64", amd64), ("all", all) })
        {
            var plain = Encoding.UTF8.GetBytes(text);
            indexFiles.Add(($"{Component}/binary-{arch}/Packages", plain));
            indexFiles.Add(($"{Component}/binary-{arch}/Packages.xz", Xz(plain)));
        }
        foreach (var (path, data) in indexFiles)
        {
            WriteSuiteFile(path, data);
            WriteSuiteFile(ByHashPath(path, Hash(data)), data);
        }

        var release = new StringBuilder();
        release.Append("Origin: Initrd.Sdk Tests\nLabel: Initrd.Sdk Tests\n");
        release.Append($"Suite: {Suite}\nCodename: {Suite}\n");
        release.Append($"Date: {Rfc2822(Date)}\n");
        if (ValidUntil is { } until) release.Append($"Valid-Until: {Rfc2822(until)}\n");
        release.Append("Acquire-By-Hash: yes\n");
        release.Append("No-Support-for-Architecture-all: Packages\n");
        release.Append($"Architectures: all amd64\nComponents: {Component}\n");
        release.Append("Description: hand-made packages for the Initrd.Sdk tests\n");
        release.Append("SHA256:\n");
        foreach (var (path, data) in indexFiles)
            release.Append(CultureInfo.InvariantCulture, $" {Hash(data)} {data.Length,8} {path}\n");
        File.WriteAllText(Path.Combine(SuiteDirectory, "Release"), release.ToString());
        File.WriteAllBytes(InReleasePath, key.ClearSign(release.ToString()));
    }

    public string InReleasePath => Path.Combine(SuiteDirectory, "InRelease");

    // ------------------------------------------------------------ mutations after publishing

    /// <summary>Replaces a package's file in the pool (the signed indices still list the old hash and size).</summary>
    public void ReplacePoolFile(string name, byte[] content) => File.WriteAllBytes(PoolFile(name), content);

    /// <summary>Edits the signed InRelease text in place, signature untouched (so it no longer verifies).</summary>
    public void EditInRelease(Func<string, string> edit) =>
        File.WriteAllText(InReleasePath, edit(File.ReadAllText(InReleasePath)));

    /// <summary>
    /// Replaces an index file (e.g. "main/binary-amd64/Packages.xz") and its by-hash copy under the hash the Release
    /// lists, with other content: the Release (still validly signed) no longer matches what is served.
    /// Returns the hash the Release lists for it.
    /// </summary>
    public string ReplaceIndexFile(string path, byte[] content)
    {
        var file = Path.Combine(SuiteDirectory, path);
        var listedHash = Hash(File.ReadAllBytes(file));
        File.WriteAllBytes(file, content);
        WriteSuiteFile(ByHashPath(path, listedHash), content);
        return listedHash;
    }

    /// <summary>The Packages index as published, uncompressed.</summary>
    public string PackagesText(string arch = "amd64") => File.ReadAllText(Path.Combine(SuiteDirectory, Component, $"binary-{arch}", "Packages"));

    public static byte[] Xz(byte[] data)
    {
        var xz = ReferenceTool.Require("xz", "xz-utils");
        var result = ReferenceTool.Run(xz, ["-c", "-6", "--check=crc64"], standardInput: data);
        if (result.ExitCode != 0) throw new InvalidOperationException($"xz failed: {result}");
        return result.StandardOutputBytes;
    }

    public static string Hash(byte[] data) => Convert.ToHexStringLower(SHA256.HashData(data));

    static string Stanza(TestPackage package, byte[] deb)
    {
        var sb = new StringBuilder(package.ControlText());
        sb.Append(CultureInfo.InvariantCulture, $"Filename: {package.PoolPath}\nSize: {deb.Length}\nSHA256: {Hash(deb)}\n");
        return sb.ToString();
    }

    static string ByHashPath(string path, string sha256) => $"{path[..path.LastIndexOf('/')]}/by-hash/SHA256/{sha256}";

    void WriteSuiteFile(string path, byte[] data)
    {
        var full = Path.Combine(SuiteDirectory, path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, data);
    }

    static string Rfc2822(DateTimeOffset time) =>
        time.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss 'UTC'", CultureInfo.InvariantCulture);

    bool disposed;

    public void Dispose()
    {
        if (disposed) return;
        disposed = true;
        Server.Dispose();
        dir.Dispose();
    }
}
