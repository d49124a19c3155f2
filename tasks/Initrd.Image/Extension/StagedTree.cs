using System.Runtime.InteropServices;
using Initrd.Formats.Tree;

namespace Initrd.Image.Extension;

/// <summary>
/// A tree written out as a real folder for a host program that reads one (mkfs.erofs, mksquashfs): content copied
/// (never linked, so the shared install tree's files are never touched), modes applied, hard links kept as hard
/// links. Owners are applied only when running as root; otherwise the paths whose owner is not root:root are reported.
/// Device nodes are created only as root; fifos always; sockets never. Times are left to the program (all of them
/// take a fixed timestamp). Disposing removes the folder.
/// </summary>
public sealed partial class StagedTree : IDisposable
{
    StagedTree(string root, bool ownersApplied, List<string> ownersLost, List<string> skipped)
    {
        Root = root;
        OwnersApplied = ownersApplied;
        OwnersLost = ownersLost;
        Skipped = skipped;
    }

    public string Root { get; }

    /// <summary>Whether the folder carries the manifest's owners (only when running as root).</summary>
    public bool OwnersApplied { get; }

    public IReadOnlyList<string> OwnersLost { get; }

    public IReadOnlyList<string> Skipped { get; }

    public static StagedTree Create(IReadOnlyList<TreeEntry> entries, string root, CancellationToken cancellationToken = default)
    {
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        Directory.CreateDirectory(root);
        var isRoot = geteuid() == 0;
        var lost = new List<string>();
        var skipped = new List<string>();
        var ordered = entries.OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
        try
        {
            foreach (var e in ordered)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var target = Path.Combine(root, e.Path);
                switch (e.Kind)
                {
                    case TreeEntryKind.Directory:
                        Directory.CreateDirectory(target);
                        break;
                    case TreeEntryKind.RegularFile:
                        if (e.ContentPath is null)
                            throw new ExtensionException(ExtensionErrorKind.UnsupportedEntry, $"/{e.Path}: a regular file without content in the manifest.");
                        if (!isRoot && (e.Uid != 0 || e.Gid != 0)) lost.Add("/" + e.Path);
                        continue; // copied in parallel once every directory exists (below)
                    case TreeEntryKind.HardLink:
                        continue; // after every file exists (below)
                    case TreeEntryKind.Symlink:
                        File.CreateSymbolicLink(target, e.LinkTarget!);
                        break;
                    case TreeEntryKind.Fifo:
                    case TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice when isRoot:
                        if (mknod(target, (uint)e.Mode, MakeDev(e.DeviceMajor, e.DeviceMinor)) != 0)
                            throw new ExtensionException(ExtensionErrorKind.UnsupportedEntry, $"/{e.Path}: mknod failed (errno {Marshal.GetLastPInvokeError()}).");
                        break;
                    default:
                        skipped.Add("/" + e.Path);
                        continue;
                }
                if (isRoot) lchown(target, e.Uid, e.Gid);
                else if (e.Uid != 0 || e.Gid != 0) lost.Add("/" + e.Path);
                if (e.Kind is not (TreeEntryKind.Symlink or TreeEntryKind.Directory)) chmod(target, (uint)e.Permissions);
            }
            Parallel.ForEach(ordered.Where(e => e.Kind == TreeEntryKind.RegularFile), new ParallelOptions { CancellationToken = cancellationToken }, e =>
            {
                var target = Path.Combine(root, e.Path);
                File.Copy(e.ContentPath!, target);
                if (isRoot) lchown(target, e.Uid, e.Gid);
                chmod(target, (uint)e.Permissions);
            });
            lost.Sort(StringComparer.Ordinal);
            // Hard links share their file's inode, mode and owner.
            foreach (var e in ordered)
                if (e.Kind == TreeEntryKind.HardLink && link(Path.Combine(root, e.LinkTarget!), Path.Combine(root, e.Path)) != 0)
                    throw new ExtensionException(ExtensionErrorKind.UnsupportedEntry, $"/{e.Path}: cannot create the hard link to /{e.LinkTarget} (errno {Marshal.GetLastPInvokeError()}).");
            // Directories last and deepest first: a read-only directory must be filled before it becomes one.
            foreach (var e in ordered.AsEnumerable().Reverse())
                if (e.Kind == TreeEntryKind.Directory) chmod(Path.Combine(root, e.Path), (uint)e.Permissions);
            return new StagedTree(root, isRoot, lost, skipped);
        }
        catch
        {
            Remove(root);
            throw;
        }
    }

    public void Dispose() => Remove(Root);

    static void Remove(string root)
    {
        if (!Directory.Exists(root)) return;
        // Directories without write permission cannot be emptied by their owner: open them up first.
        foreach (var d in Directory.EnumerateDirectories(root, "*", new EnumerationOptions { RecurseSubdirectories = true, AttributesToSkip = 0 }))
            if ((File.GetAttributes(d) & FileAttributes.ReparsePoint) == 0) chmod(d, 0x1C0 /* 0700 */);
        chmod(root, 0x1C0);
        Directory.Delete(root, recursive: true);
    }

    /// <summary>glibc's makedev(3) encoding of a dev_t.</summary>
    static ulong MakeDev(int major, int minor)
    {
        ulong ma = (uint)major, mi = (uint)minor;
        return (mi & 0xff) | ((ma & 0xfff) << 8) | ((mi & ~0xffUL) << 12) | ((ma & ~0xfffUL) << 32);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int lchown(string path, int owner, int group);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int chmod(string path, uint mode);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int link(string oldPath, string newPath);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mknod(string path, uint mode, ulong dev);

    [LibraryImport("libc")]
    private static partial uint geteuid();
}
