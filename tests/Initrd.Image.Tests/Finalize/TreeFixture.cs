using System.Security.Cryptography;
using Initrd.Formats.Tree;
using Initrd.Image.Finalize;
using Initrd.Testing;

namespace Initrd.Image.Tests.Finalize;

/// <summary>
/// A small install tree made in a temp folder for finalize tests: <c>install/root/</c> with the content files,
/// <c>install/manifest</c>, and an <c>overlay/</c> folder for what finalize writes.
/// </summary>
internal sealed class TreeFixture : IDisposable
{
    public const long Timestamp = 1_700_000_000;

    readonly TempDirectory _temp = new("initrd-finalize");
    readonly List<TreeEntry> _entries = [];

    public string InstallDirectory => _temp.Combine("install");
    public string RootDirectory => _temp.Combine("install", "root");
    public string OverlayDirectory => _temp.Combine("overlay");
    public string TempPath => _temp.Path;

    public IReadOnlyList<TreeEntry> Entries => _entries;

    public TreeFixture Dir(string path, int permissions = FileModes.Directory, int uid = 0, int gid = 0)
    {
        Directory.CreateDirectory(Path.Combine(RootDirectory, path));
        _entries.Add(new TreeEntry { Path = path, Kind = TreeEntryKind.Directory, Permissions = permissions, Uid = uid, Gid = gid, ModificationTime = 1000 });
        return this;
    }

    public TreeFixture File(string path, string content, int permissions = FileModes.Regular, int uid = 0, int gid = 0)
    {
        var host = Path.Combine(RootDirectory, path);
        Directory.CreateDirectory(Path.GetDirectoryName(host)!);
        System.IO.File.WriteAllText(host, content);
        _entries.Add(new TreeEntry
        {
            Path = path, Kind = TreeEntryKind.RegularFile, Permissions = permissions, Uid = uid, Gid = gid,
            ModificationTime = 1000, Size = new FileInfo(host).Length, ContentPath = host,
        });
        return this;
    }

    /// <summary>A regular file whose content is an existing host file (not copied).</summary>
    public TreeFixture HostFile(string path, string hostFile, int permissions = FileModes.Regular)
    {
        _entries.Add(new TreeEntry
        {
            Path = path, Kind = TreeEntryKind.RegularFile, Permissions = permissions, ModificationTime = 1000,
            Size = new FileInfo(hostFile).Length, ContentPath = hostFile,
        });
        return this;
    }

    public TreeFixture Link(string path, string target)
    {
        _entries.Add(new TreeEntry { Path = path, Kind = TreeEntryKind.Symlink, Permissions = FileModes.Symlink, ModificationTime = 1000, LinkTarget = target });
        return this;
    }

    public TreeFixture HardLink(string path, string target)
    {
        _entries.Add(new TreeEntry { Path = path, Kind = TreeEntryKind.HardLink, Permissions = FileModes.Regular, ModificationTime = 1000, LinkTarget = target });
        return this;
    }

    /// <summary>Writes <c>install/manifest</c> and returns the install tree folder.</summary>
    public string WriteInstallTree()
    {
        Directory.CreateDirectory(InstallDirectory);
        TreeManifest.Write(Path.Combine(InstallDirectory, "manifest"), _entries.OrderBy(e => e.Path, StringComparer.Ordinal));
        return InstallDirectory;
    }

    public ImageTree Build(long timestamp = Timestamp) => new(_entries, OverlayDirectory, timestamp);

    /// <summary>SHA-256 over every file below the install folder (names and bytes), to prove finalize never writes there.</summary>
    public string HashInstallTree()
    {
        using var sha = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        foreach (var file in Directory.EnumerateFiles(InstallDirectory, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            sha.AppendData(System.Text.Encoding.UTF8.GetBytes(file + "\n"));
            sha.AppendData(System.IO.File.ReadAllBytes(file));
        }
        return Convert.ToHexString(sha.GetHashAndReset());
    }

    /// <summary>Manifest entries for a real host folder (regular files point at the host files), as an install tree would list them.</summary>
    public static List<TreeEntry> FromHostDirectory(string root)
    {
        var list = new List<TreeEntry>();
        void Walk(string dir)
        {
            foreach (var info in new DirectoryInfo(dir).EnumerateFileSystemInfos().OrderBy(i => i.Name, StringComparer.Ordinal))
            {
                var rel = Path.GetRelativePath(root, info.FullName).Replace('\\', '/');
                if (info.LinkTarget is { } target)
                    list.Add(new TreeEntry { Path = rel, Kind = TreeEntryKind.Symlink, Permissions = FileModes.Symlink, LinkTarget = target });
                else if (info is DirectoryInfo)
                {
                    list.Add(new TreeEntry { Path = rel, Kind = TreeEntryKind.Directory, Permissions = FileModes.Directory });
                    Walk(info.FullName);
                }
                else
                    list.Add(new TreeEntry
                    {
                        Path = rel, Kind = TreeEntryKind.RegularFile, Permissions = OperatingSystem.IsWindows() ? FileModes.Regular : (int)System.IO.File.GetUnixFileMode(info.FullName) & 0xFFF,
                        Size = ((FileInfo)info).Length, ContentPath = info.FullName,
                    });
            }
        }
        Walk(root);
        return list;
    }

    public void Dispose() => _temp.Dispose();
}
