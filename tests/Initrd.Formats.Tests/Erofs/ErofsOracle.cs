using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using Initrd.Formats.Tree;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Erofs;

/// <summary>
/// The independent readers of an erofs image: <c>fsck.erofs</c> (check, and <c>--extract</c> as root keeps owners,
/// modes and device nodes) and the kernel (a read-only loop mount, when this machine allows one). What they show is
/// read back with statx(2) and compared with the entries the image was written from.
/// </summary>
internal static partial class ErofsOracle
{
    /// <summary>Runs <c>fsck.erofs</c> on the image; the test fails on any complaint.</summary>
    public static void Fsck(string image)
    {
        var fsck = ReferenceTool.Require("fsck.erofs", "erofs-utils");
        var run = ReferenceTool.Run(fsck, [image]);
        Assert.True(run.ExitCode == 0, "fsck.erofs: " + run);
    }

    /// <summary>Extracts the image with <c>fsck.erofs --extract</c> (checking every file on the way) into a new folder.</summary>
    public static string Extract(string image, string directory)
    {
        var fsck = ReferenceTool.Require("fsck.erofs", "erofs-utils");
        if (Directory.Exists(directory)) Directory.Delete(directory, recursive: true);
        var preserve = geteuid() == 0 ? "--preserve" : "--no-preserve";
        var run = ReferenceTool.Run(fsck, [$"--extract={directory}", preserve, image]);
        Assert.True(run.ExitCode == 0, "fsck.erofs --extract: " + run);
        return directory;
    }

    /// <summary>A read-only loop mount of the image by the kernel; null when this machine does not allow it (not root,
    /// no loop devices, no erofs in the kernel), so the caller can skip.</summary>
    public static Mounted? TryMount(string image, string mountPoint)
    {
        var mount = ReferenceTool.Find("mount");
        if (mount is null || geteuid() != 0 || !File.ReadAllText("/proc/filesystems").Contains("erofs")) return null;
        Directory.CreateDirectory(mountPoint);
        var run = ReferenceTool.Run(mount, ["-o", "loop,ro", "-t", "erofs", image, mountPoint], timeout: TimeSpan.FromMinutes(1));
        return run.ExitCode == 0 ? new Mounted(mountPoint) : null;
    }

    public static Mounted MountOrSkip(string image, string mountPoint)
    {
        var mounted = TryMount(image, mountPoint);
        if (mounted is null) Assert.Skip("this machine does not allow a loop mount of erofs (needs root, loop devices and erofs in the kernel)");
        return mounted;
    }

    public sealed class Mounted(string path) : IDisposable
    {
        public string Path { get; } = path;

        public void Dispose()
        {
            var umount = ReferenceTool.Find("umount");
            if (umount is not null) ReferenceTool.Run(umount, [Path]);
        }
    }

    /// <summary>What a reader shows of one path.</summary>
    public sealed record Seen(TreeEntryKind Kind, int Permissions, int Uid, int Gid, long Size, int Links, ulong Inode,
        string? LinkTarget, int Major, int Minor, long ModificationTime, string? ContentHash);

    /// <summary>Every path below <paramref name="root"/> (relative, '/'-separated) with what lstat shows.</summary>
    public static Dictionary<string, Seen> ReadBack(string root)
    {
        var result = new Dictionary<string, Seen>(StringComparer.Ordinal);
        void Walk(string dir)
        {
            foreach (var full in Directory.EnumerateFileSystemEntries(dir))
            {
                var rel = Path.GetRelativePath(root, full); // Linux: a backslash is part of a name
                var s = Stat(full);
                result.Add(rel, s);
                if (s.Kind == TreeEntryKind.Directory) Walk(full);
            }
        }
        Walk(root);
        return result;
    }

    /// <summary>
    /// Compares what a reader shows with the entries: the same set of paths (implied parent directories are 0755
    /// root:root), and for each its type, permissions, owner, size, content, symlink target, device numbers and (with
    /// <paramref name="time"/>) its time. Hard links are checked by inode identity and link count when
    /// <paramref name="inodesShared"/> (the kernel), by content otherwise (fsck.erofs 1.5 extracts copies).
    /// </summary>
    public static void AssertSameTree(IReadOnlyList<TreeEntry> entries, string root, bool inodesShared, long? time, bool ownersKept = true, bool specialBitsKept = true)
    {
        var seen = ReadBack(root);
        var byPath = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
        foreach (var e in entries) if (e.Path.Trim('/').Length > 0) byPath[e.Path.Trim('/')] = e;
        var expectedPaths = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var p in byPath.Keys)
            for (var q = p; q.Length > 0; q = q.LastIndexOf('/') is var i and > 0 ? q[..i] : "")
                expectedPaths.Add(q);
        var missing = expectedPaths.Where(p => !seen.ContainsKey(p)).ToList();
        var extra = seen.Keys.Where(p => !expectedPaths.Contains(p)).Order(StringComparer.Ordinal).ToList();
        Assert.True(missing.Count == 0 && extra.Count == 0,
            $"missing: {string.Join(", ", missing.Take(20))} ({missing.Count}); unexpected: {string.Join(", ", extra.Take(20))} ({extra.Count})");

        var names = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var e in byPath.Values.Where(e => e.Kind == TreeEntryKind.HardLink))
        {
            var target = Resolve(byPath, e);
            names[target.Path.Trim('/')] = names.GetValueOrDefault(target.Path.Trim('/'), 1) + 1;
        }
        var hashes = new Dictionary<string, string>(StringComparer.Ordinal);
        string Hash(TreeEntry file) => hashes.TryGetValue(file.ContentPath ?? "", out var h) ? h
            : hashes[file.ContentPath ?? ""] = file.ContentPath is null ? Convert.ToHexString(SHA256.HashData(Array.Empty<byte>())) : HashFile(file.ContentPath);

        var failures = new List<string>();
        foreach (var path in expectedPaths)
        {
            var s = seen[path];
            if (!byPath.TryGetValue(path, out var e))
            {
                Check(path, "implied directory", s.Kind == TreeEntryKind.Directory && s.Permissions == 0x1ED && (!ownersKept || (s.Uid == 0 && s.Gid == 0)), s.ToString());
                continue;
            }
            var file = e.Kind == TreeEntryKind.HardLink ? Resolve(byPath, e) : e;
            Check(path, "kind", s.Kind == file.Kind, $"{s.Kind} != {file.Kind}");
            var mask = specialBitsKept || file.Kind == TreeEntryKind.Directory ? 0xFFF : 0x1FF;
            if (s.Kind != TreeEntryKind.Symlink)
                Check(path, "permissions", (s.Permissions & mask) == (file.Permissions & mask), $"{Convert.ToString(s.Permissions, 8)} != {Convert.ToString(file.Permissions & 0xFFF, 8)}");
            if (ownersKept) Check(path, "owner", s.Uid == file.Uid && s.Gid == file.Gid, $"{s.Uid}:{s.Gid} != {file.Uid}:{file.Gid}");
            if (time is { } t && s.Kind != TreeEntryKind.Symlink) Check(path, "time", s.ModificationTime == t, $"{s.ModificationTime} != {t}");
            switch (file.Kind)
            {
                case TreeEntryKind.RegularFile:
                    Check(path, "size", s.Size == file.Size, $"{s.Size} != {file.Size}");
                    Check(path, "content", s.ContentHash == Hash(file), "differs");
                    if (inodesShared)
                    {
                        var links = names.GetValueOrDefault(file.Path.Trim('/'), 1);
                        Check(path, "links", s.Links == links, $"{s.Links} != {links}");
                        if (e.Kind == TreeEntryKind.HardLink)
                            Check(path, "inode", s.Inode == seen[file.Path.Trim('/')].Inode, "not the inode of /" + file.Path);
                    }
                    break;
                case TreeEntryKind.Symlink:
                    Check(path, "target", s.LinkTarget == file.LinkTarget, $"'{s.LinkTarget}' != '{file.LinkTarget}'");
                    break;
                case TreeEntryKind.CharacterDevice:
                case TreeEntryKind.BlockDevice:
                    Check(path, "device", s.Major == file.DeviceMajor && s.Minor == file.DeviceMinor, $"{s.Major}:{s.Minor} != {file.DeviceMajor}:{file.DeviceMinor}");
                    break;
                case TreeEntryKind.Directory when inodesShared:
                    var subdirectories = seen.Keys.Count(k => k.StartsWith(path + "/", StringComparison.Ordinal) && k.IndexOf('/', path.Length + 1) < 0 && seen[k].Kind == TreeEntryKind.Directory);
                    Check(path, "links", s.Links == 2 + subdirectories, $"{s.Links} != {2 + subdirectories}");
                    break;
            }
        }
        Assert.True(failures.Count == 0, $"{failures.Count} differences:\n" + string.Join("\n", failures.Take(40)));

        void Check(string path, string what, bool ok, string detail)
        {
            if (!ok) failures.Add($"/{path}: {what}: {detail}");
        }
    }

    static TreeEntry Resolve(Dictionary<string, TreeEntry> byPath, TreeEntry e)
    {
        for (var hops = 0; e.Kind == TreeEntryKind.HardLink && hops < 64; hops++) e = byPath[e.LinkTarget!.Trim('/')];
        return e;
    }

    static string HashFile(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexString(SHA256.HashData(stream));
    }

    static Seen Stat(string path)
    {
        Span<byte> buffer = stackalloc byte[256];
        if (statx(-100 /* AT_FDCWD */, path, 0x100 /* AT_SYMLINK_NOFOLLOW */, 0x7FF /* STATX_BASIC_STATS */, ref MemoryMarshal.GetReference(buffer)) != 0)
            throw new IOException($"statx {path}: errno {Marshal.GetLastPInvokeError()}");
        var links = MemoryMarshal.Read<uint>(buffer[16..]);
        var uid = MemoryMarshal.Read<uint>(buffer[20..]);
        var gid = MemoryMarshal.Read<uint>(buffer[24..]);
        var mode = MemoryMarshal.Read<ushort>(buffer[28..]);
        var ino = MemoryMarshal.Read<ulong>(buffer[32..]);
        var size = MemoryMarshal.Read<long>(buffer[40..]);
        var mtime = MemoryMarshal.Read<long>(buffer[112..]);
        var major = MemoryMarshal.Read<int>(buffer[128..]);
        var minor = MemoryMarshal.Read<int>(buffer[132..]);
        var kind = (mode & 0xF000) switch
        {
            0x4000 => TreeEntryKind.Directory,
            0x8000 => TreeEntryKind.RegularFile,
            0xA000 => TreeEntryKind.Symlink,
            0x2000 => TreeEntryKind.CharacterDevice,
            0x6000 => TreeEntryKind.BlockDevice,
            0x1000 => TreeEntryKind.Fifo,
            0xC000 => TreeEntryKind.Socket,
            _ => throw new IOException($"{path}: unknown type {mode:x}"),
        };
        return new Seen(kind, mode & 0xFFF, (int)uid, (int)gid, kind == TreeEntryKind.RegularFile ? size : 0, (int)links, ino,
            kind == TreeEntryKind.Symlink ? new FileInfo(path).LinkTarget : null,
            kind is TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice ? major : 0,
            kind is TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice ? minor : 0,
            mtime, kind == TreeEntryKind.RegularFile ? HashFile(path) : null);
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statx(int dirfd, string path, int flags, uint mask, ref byte buffer);

    [LibraryImport("libc")]
    private static partial uint geteuid();

    public static bool IsRoot => geteuid() == 0;
}

/// <summary>A tree of entries whose content files live in a temporary folder.</summary>
internal sealed class ErofsTree : IDisposable
{
    readonly TempDirectory _temp = new("erofs-tree");
    readonly List<TreeEntry> _entries = [];
    int _files;

    public const long Time = 1_700_000_000;

    public List<TreeEntry> Entries => _entries;

    public string Temp(string name) => _temp.Combine(name);

    public ErofsTree Dir(string path, int permissions = 0x1ED, int uid = 0, int gid = 0, long time = Time)
    {
        _entries.Add(new TreeEntry { Path = path, Kind = TreeEntryKind.Directory, Permissions = permissions, Uid = uid, Gid = gid, ModificationTime = time });
        return this;
    }

    public ErofsTree File(string path, byte[] content, int permissions = 0x1A4, int uid = 0, int gid = 0, long time = Time)
    {
        var host = _temp.Combine("content", (_files++).ToString(System.Globalization.CultureInfo.InvariantCulture));
        Directory.CreateDirectory(Path.GetDirectoryName(host)!);
        System.IO.File.WriteAllBytes(host, content);
        _entries.Add(new TreeEntry
        {
            Path = path, Kind = TreeEntryKind.RegularFile, Permissions = permissions, Uid = uid, Gid = gid, ModificationTime = time,
            Size = content.Length, ContentPath = host,
        });
        return this;
    }

    public ErofsTree File(string path, string content, int permissions = 0x1A4, int uid = 0, int gid = 0, long time = Time) =>
        File(path, Encoding.UTF8.GetBytes(content), permissions, uid, gid, time);

    /// <summary>A file of <paramref name="size"/> bytes of a pattern that differs per file and per block.</summary>
    public ErofsTree Sized(string path, int size, int permissions = 0x1A4, int seed = 0)
    {
        var bytes = new byte[size];
        for (var i = 0; i < size; i++) bytes[i] = (byte)(i * 7 + i / 4096 * 13 + seed * 31 + 1);
        return File(path, bytes, permissions);
    }

    public ErofsTree Link(string path, string target, long time = Time)
    {
        _entries.Add(new TreeEntry { Path = path, Kind = TreeEntryKind.Symlink, Permissions = 0x1FF, LinkTarget = target, ModificationTime = time });
        return this;
    }

    public ErofsTree HardLink(string path, string target)
    {
        _entries.Add(new TreeEntry { Path = path, Kind = TreeEntryKind.HardLink, Permissions = 0x1A4, LinkTarget = target, ModificationTime = Time });
        return this;
    }

    public ErofsTree Node(string path, TreeEntryKind kind, int major = 0, int minor = 0, int permissions = 0x1B6, int uid = 0, int gid = 0)
    {
        _entries.Add(new TreeEntry { Path = path, Kind = kind, Permissions = permissions, DeviceMajor = major, DeviceMinor = minor, Uid = uid, Gid = gid, ModificationTime = Time });
        return this;
    }

    public void Dispose() => _temp.Dispose();
}
