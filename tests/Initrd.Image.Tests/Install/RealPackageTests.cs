using System.Runtime.Versioning;
using System.Security.Cryptography;
using Initrd.Formats.Tree;
using Initrd.Image.Install;
using Initrd.Testing;

namespace Initrd.Image.Tests.Install;

/// <summary>
/// Real Debian packages unpacked into an install tree, checked against the reference tools: the manifest against
/// <c>dpkg-deb --fsys-tarfile | tar -tv --numeric-owner</c> of every package, the files against <c>dpkg-deb -x</c>.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class RealPackageTests
{
    // passwd: setuid/setgid programs; perl-base: hard links; tzdata: thousands of small files and symlinks;
    // base-files, libc6, systemd, util-linux, mount: the core of every initrd.
    static readonly string[] Names = ["base-files", "bash", "coreutils", "libc6", "systemd", "util-linux", "passwd", "mount", "perl-base", "tzdata"];

    sealed record Expected(TreeEntryKind Kind, int Permissions, int Uid, int Gid, long ModificationTime, long Size, string? LinkTarget, string? Owner);

    [Fact]
    public void Manifest_and_files_match_dpkg_deb()
    {
        var packages = RealDebs.Get(Names);
        using var temp = new TempDirectory("install-real");
        var tree = InstallTreeBuilder.GetOrBuild(packages, temp.Combine("trees"), "real", TestContext.Current.CancellationToken);
        Assert.True(tree.Built);

        // The expected tree from the reference listings, with dpkg's rules: directories keep their first
        // definition, anything else the last; parents never listed are implied 0755 root:root.
        var expected = new Dictionary<string, Expected>(StringComparer.Ordinal);
        foreach (var package in packages)
        {
            foreach (var item in TarListing.Of(package.Path))
            {
                var path = Normalize(item.Name);
                if (path.Length == 0) continue;
                for (var slash = path.IndexOf('/'); slash > 0; slash = path.IndexOf('/', slash + 1))
                    expected.TryAdd(path[..slash], new Expected(TreeEntryKind.Directory, 0x1ED, 0, 0, 0, 0, null, null));
                var entry = item.Type switch
                {
                    'd' => new Expected(TreeEntryKind.Directory, item.Permissions, item.Uid, item.Gid, item.ModificationTime, 0, null, package.Name),
                    '-' => new Expected(TreeEntryKind.RegularFile, item.Permissions, item.Uid, item.Gid, item.ModificationTime, item.Size, null, package.Name),
                    'l' => new Expected(TreeEntryKind.Symlink, item.Permissions, item.Uid, item.Gid, item.ModificationTime, 0, item.LinkTarget, package.Name),
                    'h' => new Expected(TreeEntryKind.HardLink, item.Permissions, item.Uid, item.Gid, item.ModificationTime, 0, Normalize(item.LinkTarget!), package.Name),
                    _ => throw new InvalidOperationException($"{package.Name}: unexpected entry type '{item.Type}' in {item.Name}"),
                };
                if (entry.Kind == TreeEntryKind.Directory && expected.TryGetValue(path, out var previous)
                    && previous.Kind == TreeEntryKind.Directory && previous.Owner is not null)
                    continue;
                expected[path] = entry;
            }
        }

        var entries = tree.Entries;
        Assert.Equal(entries.Select(e => e.Path).Order(StringComparer.Ordinal), entries.Select(e => e.Path));
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), entries.Select(e => e.Path));
        foreach (var e in entries)
        {
            var x = expected[e.Path];
            var actual = new Expected(e.Kind, e.Permissions, e.Uid, e.Gid, e.ModificationTime, e.Size, e.LinkTarget,
                tree.PathOwners.TryGetValue(e.Path, out var owner) ? owner : null);
            Assert.Equal(x, actual);
        }
        Assert.Contains(entries, e => e.Kind == TreeEntryKind.HardLink);
        Assert.Contains(entries, e => (e.Permissions & 0x800) != 0); // setuid (passwd, util-linux, mount)
        Assert.Contains(entries, e => (e.Permissions & 0x400) != 0); // setgid (passwd: chage, expiry)
        Assert.Contains(entries, e => e.Uid != 0 || e.Gid != 0);      // e.g. group shadow

        // Files: the same bytes as dpkg-deb -x of the packages in the same order.
        var dpkgDeb = ReferenceTool.Require("dpkg-deb", "dpkg");
        var reference = temp.Combine("dpkg-deb-x");
        Directory.CreateDirectory(reference);
        foreach (var package in packages)
        {
            var result = ReferenceTool.Run(dpkgDeb, ["-x", package.Path, reference]);
            Assert.True(result.ExitCode == 0, result.ToString());
        }
        foreach (var e in entries)
        {
            var ours = Path.Combine(tree.RootDirectory, e.Path);
            var theirs = Path.Combine(reference, e.Path);
            switch (e.Kind)
            {
                case TreeEntryKind.RegularFile:
                    Assert.Equal(ours, e.ContentPath);
                    Assert.Equal(e.Size, new FileInfo(ours).Length);
                    Assert.Equal(Hash(theirs), Hash(ours));
                    var hostMode = File.GetUnixFileMode(ours);
                    Assert.Equal((e.Permissions & 0x49) != 0 ? (UnixFileMode)0x1ED : (UnixFileMode)0x1A4, hostMode);
                    break;
                case TreeEntryKind.HardLink:
                    Assert.Null(e.ContentPath);
                    Assert.Equal(Hash(theirs), Hash(ours));
                    Assert.Equal(Hash(Path.Combine(tree.RootDirectory, e.LinkTarget!)), Hash(ours));
                    break;
                case TreeEntryKind.Symlink:
                    Assert.Equal(e.LinkTarget, new FileInfo(ours).LinkTarget);
                    Assert.Equal(new FileInfo(theirs).LinkTarget, e.LinkTarget);
                    break;
                case TreeEntryKind.Directory:
                    Assert.True(Directory.Exists(ours) && new DirectoryInfo(ours).LinkTarget is null, e.Path);
                    break;
            }
        }
    }

    [Fact]
    public void Unpacking_is_deterministic_whatever_the_parallelism()
    {
        var packages = RealDebs.Get("bash", "coreutils", "libc6", "perl-base", "tzdata");
        using var temp = new TempDirectory("install-determinism");
        var trees = temp.Combine("trees");
        var one = InstallTreeBuilder.GetOrBuild(packages, trees, "one", new InstallTreeOptions { MaxParallelism = 1 }, TestContext.Current.CancellationToken);
        var many = InstallTreeBuilder.GetOrBuild(packages, trees, "many", new InstallTreeOptions { MaxParallelism = 4 }, TestContext.Current.CancellationToken);
        // ContentPath names the tree's own folder; everything else must be byte for byte the same.
        var a = File.ReadAllText(one.ManifestPath).Replace(one.RootDirectory, "<root>", StringComparison.Ordinal);
        var b = File.ReadAllText(many.ManifestPath).Replace(many.RootDirectory, "<root>", StringComparison.Ordinal);
        Assert.Equal(a, b);
        Assert.Equal(File.ReadAllBytes(one.OwnersPath), File.ReadAllBytes(many.OwnersPath));
    }

    static string Normalize(string name)
    {
        if (name.StartsWith("./", StringComparison.Ordinal)) name = name[2..];
        return name.TrimEnd('/');
    }

    static string Hash(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }
}
