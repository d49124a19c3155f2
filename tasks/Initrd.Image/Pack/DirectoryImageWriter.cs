using System.Runtime.InteropServices;
using Initrd.Formats.Common;
using Initrd.Formats.Tree;

namespace Initrd.Image.Pack;

/// <summary>
/// Writes an image tree as a plain directory (ImageFormat=directory): for inspection, for
/// `mkfs.ext4 -d`, for containers. Built in a temporary sibling and renamed into place, so a failed
/// write never leaves a half tree. Without root, owners stay the current user's and device nodes are
/// skipped (reported), since a directory cannot carry them the way a manifest does.
/// </summary>
public static partial class DirectoryImageWriter
{
    public sealed record Summary(int EntryCount, long ContentBytes, IReadOnlyList<string> SkippedDeviceNodes, bool OwnershipApplied);

    public static Summary Write(IReadOnlyList<TreeEntry> entries, string outputDirectory, long? sourceDateEpoch)
    {
        var full = Path.GetFullPath(outputDirectory).TrimEnd('/');
        var tmp = StagedOutput.TemporaryPathFor(full);
        var isRoot = geteuid() == 0;
        var skipped = new List<string>();
        long bytes = 0;
        try
        {
            Directory.CreateDirectory(tmp);
            var ordered = entries.OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
            foreach (var e in ordered)
            {
                var target = Path.Combine(tmp, e.Path);
                switch (e.Kind)
                {
                    case TreeEntryKind.Directory:
                        Directory.CreateDirectory(target);
                        break;
                    case TreeEntryKind.RegularFile:
                        File.Copy(e.ContentPath ?? throw new InvalidDataException($"{e.Path}: regular file without content"), target);
                        bytes += e.Size;
                        break;
                    case TreeEntryKind.HardLink:
                        if (link(Path.Combine(tmp, e.LinkTarget!), target) != 0) File.Copy(Path.Combine(tmp, e.LinkTarget!), target);
                        break;
                    case TreeEntryKind.Symlink:
                        File.CreateSymbolicLink(target, e.LinkTarget!);
                        break;
                    case TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice or TreeEntryKind.Fifo:
                        if (!isRoot && e.Kind != TreeEntryKind.Fifo) { skipped.Add(e.Path); continue; }
                        if (mknod(target, (uint)e.Mode, MakeDev(e.DeviceMajor, e.DeviceMinor)) != 0)
                            throw new IOException($"{e.Path}: mknod failed (errno {Marshal.GetLastPInvokeError()})");
                        break;
                    case TreeEntryKind.Socket:
                        skipped.Add(e.Path); // sockets are created by their servers at run time
                        continue;
                }
                if (e.Kind != TreeEntryKind.Symlink) chmod(target, (uint)e.Permissions);
                if (isRoot) lchown(target, e.Uid, e.Gid);
            }
            // Times last (directories' mtimes change while they are filled), deepest first.
            foreach (var e in ordered.AsEnumerable().Reverse())
            {
                if (e.Kind is TreeEntryKind.Symlink or TreeEntryKind.Socket || skipped.Contains(e.Path)) continue;
                var mtime = sourceDateEpoch is { } clamp ? Math.Min(clamp, e.ModificationTime) : e.ModificationTime;
                File.SetLastWriteTimeUtc(Path.Combine(tmp, e.Path), DateTime.UnixEpoch.AddSeconds(mtime));
            }
            if (Directory.Exists(full)) Directory.Delete(full, recursive: true);
            Directory.Move(tmp, full);
            return new Summary(ordered.Count, bytes, skipped, isRoot);
        }
        finally
        {
            if (Directory.Exists(tmp)) Directory.Delete(tmp, recursive: true);
        }
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
