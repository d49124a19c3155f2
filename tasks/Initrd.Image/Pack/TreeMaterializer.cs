using System.Runtime.InteropServices;
using Initrd.Formats.Tree;

namespace Initrd.Image.Pack;

/// <summary>What <see cref="TreeMaterializer.Write"/> could not carry over to the folder.</summary>
/// <param name="OwnersApplied">Whether the folder has the manifest's owners (only when running as root).</param>
/// <param name="OwnersLost">Image paths (no leading '/') owned by someone other than root:root, when not running as root.</param>
/// <param name="Skipped">Image paths left out: device nodes when not running as root, sockets always.</param>
public sealed record MaterializedTree(long ContentBytes, bool OwnersApplied, IReadOnlyList<string> OwnersLost, IReadOnlyList<string> Skipped);

/// <summary>
/// Writes a tree manifest out as a real folder: content copied (never linked, so the shared install tree is never
/// touched) in parallel, hard links kept as hard links, modes applied, owners and device nodes only when running as
/// root, fifos always, sockets never (their servers create them). Directories get their modes last and deepest first,
/// so a read-only directory is filled before it becomes one; times, when asked for, likewise.
/// </summary>
public static partial class TreeMaterializer
{
    /// <param name="root">An empty or missing folder.</param>
    /// <param name="times">Set every entry's mtime, clamped to <paramref name="clamp"/> when given; else leave them.</param>
    /// <exception cref="InvalidDataException">A regular file without content, or a hard link that cannot be made.</exception>
    /// <exception cref="IOException">A device node or fifo cannot be created.</exception>
    public static MaterializedTree Write(IReadOnlyList<TreeEntry> entries, string root, bool times = false, long? clamp = null,
        CancellationToken cancellationToken = default)
    {
        Directory.CreateDirectory(root);
        var isRoot = geteuid() == 0;
        var lost = new List<string>();
        var skipped = new List<string>();
        var ordered = entries.OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
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
                    if (e.ContentPath is null) throw new InvalidDataException($"/{e.Path}: a regular file without content in the manifest.");
                    break; // copied in parallel once every directory exists (below)
                case TreeEntryKind.HardLink:
                    continue; // after every file exists (below)
                case TreeEntryKind.Symlink:
                    File.CreateSymbolicLink(target, e.LinkTarget!);
                    break;
                case TreeEntryKind.Fifo:
                case TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice when isRoot:
                    if (mknod(target, (uint)e.Mode, MakeDev(e.DeviceMajor, e.DeviceMinor)) != 0)
                        throw new IOException($"/{e.Path}: mknod failed (errno {Marshal.GetLastPInvokeError()}).");
                    break;
                default:
                    skipped.Add(e.Path);
                    continue;
            }
            if (!isRoot && (e.Uid != 0 || e.Gid != 0)) lost.Add(e.Path);
            if (e.Kind == TreeEntryKind.RegularFile) continue;
            if (isRoot) lchown(target, e.Uid, e.Gid);
            if (e.Kind is not (TreeEntryKind.Symlink or TreeEntryKind.Directory)) chmod(target, (uint)e.Permissions);
        }
        var files = ordered.Where(e => e.Kind == TreeEntryKind.RegularFile).ToList();
        Parallel.ForEach(files, new ParallelOptions { CancellationToken = cancellationToken }, e =>
        {
            var target = Path.Combine(root, e.Path);
            File.Copy(e.ContentPath!, target);
            if (isRoot) lchown(target, e.Uid, e.Gid);
            chmod(target, (uint)e.Permissions);
        });
        // Hard links share their file's inode, mode and owner.
        foreach (var e in ordered)
            if (e.Kind == TreeEntryKind.HardLink && link(Path.Combine(root, e.LinkTarget!), Path.Combine(root, e.Path)) != 0)
                throw new InvalidDataException($"/{e.Path}: cannot create the hard link to /{e.LinkTarget} (errno {Marshal.GetLastPInvokeError()}).");
        var skippedSet = skipped.ToHashSet(StringComparer.Ordinal);
        foreach (var e in ordered.AsEnumerable().Reverse())
        {
            if (skippedSet.Contains(e.Path)) continue;
            var target = Path.Combine(root, e.Path);
            if (times && e.Kind != TreeEntryKind.Symlink)
            {
                var mtime = clamp is { } c ? Math.Min(c, e.ModificationTime) : e.ModificationTime;
                File.SetLastWriteTimeUtc(target, DateTime.UnixEpoch.AddSeconds(mtime));
            }
            if (e.Kind == TreeEntryKind.Directory) chmod(target, (uint)e.Permissions);
        }
        lost.Sort(StringComparer.Ordinal);
        return new MaterializedTree(files.Sum(f => f.Size), isRoot, lost, skipped);
    }

    /// <summary>Removes a materialized folder, opening up directories without write permission first.</summary>
    public static void Remove(string root)
    {
        if (!Directory.Exists(root)) return;
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
