using System.Formats.Tar;
using Initrd.Formats.Erofs;
using Initrd.Formats.Tree;
using Initrd.Testing;
using static Initrd.Formats.Tests.Erofs.ErofsOracle;

namespace Initrd.Formats.Tests.Erofs;

/// <summary>
/// A tree of real Debian packages (the host's, fetched by <see cref="DebianPackages"/>): thousands of entries, big
/// directories over several blocks, hard links (perl-base), setuid/setgid and group-owned files (passwd, util-linux,
/// mount), long names, plus device nodes and the block-size edges. The entries are read from
/// <c>dpkg-deb --fsys-tarfile</c> with owners and modes as the packages carry them, written as erofs, and compared
/// with what fsck.erofs extracts and what the kernel mounts.
/// </summary>
public class ErofsRealTreeTests
{
    static readonly string[] Packages = ["base-files", "bash", "coreutils", "libc6", "systemd", "util-linux", "passwd", "mount", "perl-base", "tzdata"];

    [Fact]
    public void PackagesTreeRoundTripsThroughFsckAndTheKernel()
    {
        using var tree = new ErofsTree();
        var entries = FromPackages(tree, Packages);
        tree.Node("dev/console", TreeEntryKind.CharacterDevice, 5, 1, 0x180);
        tree.Node("dev/loop0", TreeEntryKind.BlockDevice, 7, 0, 0x1B0, 0, 6);
        tree.Node("run/initctl", TreeEntryKind.Fifo, permissions: 0x180);
        tree.File("usr/share/edge/empty", []);
        tree.Sized("usr/share/edge/4095", 4095).Sized("usr/share/edge/4096", 4096).Sized("usr/share/edge/4097", 4097);
        tree.File("usr/share/edge/" + new string('l', 255), "longest name\n");
        entries.AddRange(tree.Entries);

        Assert.True(entries.Count > 3000, $"{entries.Count} entries");
        Assert.Contains(entries, e => e.Kind == TreeEntryKind.HardLink);
        Assert.Contains(entries, e => (e.Permissions & 0x800) != 0);
        Assert.Contains(entries, e => e.Gid != 0);
        var biggest = entries.GroupBy(e => e.Path.LastIndexOf('/') is var i and > 0 ? e.Path[..i] : "")
            .Max(g => g.Sum(e => 12 + e.Path.Length - e.Path.LastIndexOf('/') - 1));
        Assert.True(biggest > 4096, $"a directory spans blocks ({biggest} bytes of entries)");

        var image = tree.Temp("packages.erofs");
        ErofsWriteResult result;
        using (var output = File.Create(image))
            result = ErofsWriter.Write(output, entries, new ErofsWriteOptions { BuildTime = ErofsTree.Time, UniformTime = true, Uuid = Guid.Empty }, TestContext.Current.CancellationToken);
        Fsck(image);
        AssertSameTree(entries, Extract(image, tree.Temp("extracted")), inodesShared: false, time: null, ownersKept: IsRoot, specialBitsKept: false);

        using var mounted = TryMount(image, tree.Temp("mnt"));
        if (mounted is null) Assert.Skip("fsck.erofs agreed; this machine does not allow a loop mount of erofs for the kernel's view");
        AssertSameTree(entries, mounted.Path, inodesShared: true, time: ErofsTree.Time);
    }

    /// <summary>The packages' data archives as entries, content in <paramref name="tree"/>'s folder (later packages
    /// replace earlier files; a directory keeps its first definition, as dpkg does).</summary>
    internal static List<TreeEntry> FromPackages(ErofsTree tree, string[] names)
    {
        var dpkgDeb = ReferenceTool.Require("dpkg-deb", "dpkg");
        var byPath = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
        var n = 0;
        foreach (var name in names)
        {
            var run = ReferenceTool.Run(dpkgDeb, ["--fsys-tarfile", DebianPackages.Get(name)]);
            Assert.True(run.ExitCode == 0, run.ToString());
            using var reader = new TarReader(new MemoryStream(run.StandardOutputBytes));
            while (reader.GetNextEntry() is { } t)
            {
                var path = t.Name.TrimStart('.').Trim('/');
                if (path.Length == 0) continue;
                var common = new TreeEntry
                {
                    Path = path, Kind = TreeEntryKind.Directory, Permissions = (int)t.Mode & 0xFFF, Uid = t.Uid, Gid = t.Gid,
                    ModificationTime = t.ModificationTime.ToUnixTimeSeconds(),
                };
                TreeEntry entry;
                switch (t.EntryType)
                {
                    case TarEntryType.Directory:
                        if (byPath.ContainsKey(path)) continue;
                        entry = common;
                        break;
                    case TarEntryType.RegularFile or TarEntryType.V7RegularFile:
                        var content = tree.Temp($"pkg-content-{n++}");
                        using (var file = File.Create(content)) t.DataStream?.CopyTo(file);
                        entry = common with { Kind = TreeEntryKind.RegularFile, Size = new FileInfo(content).Length, ContentPath = content };
                        break;
                    case TarEntryType.SymbolicLink:
                        entry = common with { Kind = TreeEntryKind.Symlink, LinkTarget = t.LinkName };
                        break;
                    case TarEntryType.HardLink:
                        entry = common with { Kind = TreeEntryKind.HardLink, LinkTarget = t.LinkName.TrimStart('.').Trim('/') };
                        break;
                    default:
                        throw new InvalidOperationException($"{name}: unexpected {t.EntryType} {t.Name}");
                }
                byPath[path] = entry;
            }
        }
        return byPath.Values.OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
    }
}
