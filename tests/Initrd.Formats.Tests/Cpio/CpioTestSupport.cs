using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Initrd.Formats.Cpio;
using Initrd.Formats.Tree;
using Initrd.Testing;
using static Initrd.Formats.Tests.Cpio.Octal;

namespace Initrd.Formats.Tests.Cpio;

/// <summary>C# has no octal literals: <c>O(04755)</c> reads the decimal digits 4755 as octal.</summary>
static class Octal
{
    public static int O(int digits) => Convert.ToInt32(digits.ToString(CultureInfo.InvariantCulture), 8);
}

/// <summary>One entry of a newc archive as the tests' own strict reader sees it.</summary>
sealed record ParsedEntry(long Offset, long End, uint[] Fields, byte[] NameBytes, byte[] Data)
{
    public string Name => Encoding.UTF8.GetString(NameBytes);

    public uint this[NewcField field] => Fields[(int)field];
}

/// <summary>A small, strict newc reader for assertions (independent of the writer: offsets are recomputed here).</summary>
static class NewcReader
{
    /// <summary>Entries before the trailer, the trailer itself, and the offset just after the trailer's padding.</summary>
    public static (List<ParsedEntry> Entries, ParsedEntry Trailer, long End) Parse(byte[] archive)
    {
        var entries = new List<ParsedEntry>();
        long pos = 0;
        while (true)
        {
            Assert.True(pos % 4 == 0, $"header at {pos} is not 4-byte aligned");
            Assert.True(pos + 110 <= archive.Length, $"truncated header at {pos}");
            Assert.Equal("070701", Encoding.ASCII.GetString(archive, (int)pos, 6));
            var fields = new uint[13];
            for (var i = 0; i < 13; i++)
            {
                var text = Encoding.ASCII.GetString(archive, (int)pos + 6 + 8 * i, 8);
                Assert.Matches("^[0-9A-F]{8}$", text);
                fields[i] = uint.Parse(text, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
            }
            var nameSize = (int)fields[(int)NewcField.NameSize];
            Assert.True(nameSize >= 1);
            var nameStart = pos + 110;
            Assert.Equal(0, archive[nameStart + nameSize - 1]);
            var name = archive.AsSpan((int)nameStart, nameSize - 1).ToArray();
            Assert.DoesNotContain((byte)0, name);
            var dataStart = (nameStart + nameSize + 3) & ~3L;
            for (var p = nameStart + nameSize; p < dataStart; p++) Assert.Equal(0, archive[p]);
            var size = fields[(int)NewcField.FileSize];
            var data = archive.AsSpan((int)dataStart, (int)size).ToArray();
            var next = (dataStart + size + 3) & ~3L;
            for (var p = dataStart + size; p < next; p++) Assert.Equal(0, archive[p]);
            var entry = new ParsedEntry(pos, next, fields, name, data);
            pos = next;
            if (entry.Name == "TRAILER!!!") return (entries, entry, pos);
            entries.Add(entry);
        }
    }
}

/// <summary>The ls-style mode string ("-rwsr-xr-x") that <c>cpio -tv</c> and <c>bsdtar -tv</c> print.</summary>
static class ModeStrings
{
    public static string Of(TreeEntryKind kind, int permissions)
    {
        var type = kind switch
        {
            TreeEntryKind.Directory => 'd',
            TreeEntryKind.Symlink => 'l',
            TreeEntryKind.CharacterDevice => 'c',
            TreeEntryKind.BlockDevice => 'b',
            TreeEntryKind.Fifo => 'p',
            TreeEntryKind.Socket => 's',
            _ => '-',
        };
        var s = new StringBuilder().Append(type);
        Triplet(s, permissions >> 6, (permissions & 0x800) != 0, 's');
        Triplet(s, permissions >> 3, (permissions & 0x400) != 0, 's');
        Triplet(s, permissions, (permissions & 0x200) != 0, 't');
        return s.ToString();
    }

    static void Triplet(StringBuilder s, int bits, bool special, char specialChar)
    {
        s.Append((bits & 4) != 0 ? 'r' : '-');
        s.Append((bits & 2) != 0 ? 'w' : '-');
        var x = (bits & 1) != 0;
        s.Append(special ? (x ? specialChar : char.ToUpperInvariant(specialChar)) : (x ? 'x' : '-'));
    }
}

/// <summary>lstat(2)-level facts about a host file, through statx(2) (its struct layout is the same on every architecture).</summary>
readonly record struct HostStat(int Type, int Permissions, uint Uid, uint Gid, uint LinkCount, ulong Inode, uint DevMajor, uint DevMinor,
    long Size, long ModificationTime, uint RDevMajor, uint RDevMinor);

static unsafe class HostFiles
{
    const int AtFdCwd = -100;
    const int AtSymlinkNoFollow = 0x100;
    const uint StatxBasicStats = 0x7FF;

    [DllImport("libc", EntryPoint = "statx", SetLastError = true)]
    static extern int StatxNative(int dirfd, byte* path, int flags, uint mask, byte* buffer);

    public static HostStat LStat(string path)
    {
        var pathBytes = Encoding.UTF8.GetBytes(path + "\0");
        var buffer = stackalloc byte[256];
        int rc;
        fixed (byte* p = pathBytes) rc = StatxNative(AtFdCwd, p, AtSymlinkNoFollow, StatxBasicStats, buffer);
        if (rc != 0) throw new IOException($"statx '{path}' failed: errno {Marshal.GetLastPInvokeError()}");
        var b = new ReadOnlySpan<byte>(buffer, 256);
        var mode = BinaryPrimitives.ReadUInt16LittleEndian(b[28..]);
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("test helper assumes little-endian");
        return new HostStat(
            Type: mode & 0xF000,
            Permissions: mode & 0xFFF,
            Uid: BinaryPrimitives.ReadUInt32LittleEndian(b[20..]),
            Gid: BinaryPrimitives.ReadUInt32LittleEndian(b[24..]),
            LinkCount: BinaryPrimitives.ReadUInt32LittleEndian(b[16..]),
            Inode: BinaryPrimitives.ReadUInt64LittleEndian(b[32..]),
            DevMajor: BinaryPrimitives.ReadUInt32LittleEndian(b[136..]),
            DevMinor: BinaryPrimitives.ReadUInt32LittleEndian(b[140..]),
            Size: (long)BinaryPrimitives.ReadUInt64LittleEndian(b[40..]),
            ModificationTime: BinaryPrimitives.ReadInt64LittleEndian(b[112..]),
            RDevMajor: BinaryPrimitives.ReadUInt32LittleEndian(b[128..]),
            RDevMinor: BinaryPrimitives.ReadUInt32LittleEndian(b[132..]));
    }

    public static bool IsRoot => Environment.UserName == "root" || LStat("/proc/self").Uid == 0;

    /// <summary>
    /// Describes a host directory's contents (not the directory itself) as tree entries, from lstat data:
    /// real owners, modes, mtimes, device numbers; files with nlink ≥ 2 sharing (dev, ino) become one RegularFile
    /// (the first path in byte order) plus HardLink entries. Entries whose names are not valid UTF-8 or too long
    /// for an initramfs, and files this process cannot read, are left out (<paramref name="skipped"/> counts them).
    /// </summary>
    public static List<TreeEntry> Walk(string root, out int skipped)
    {
        var result = new List<TreeEntry>();
        var firstByInode = new Dictionary<(uint, uint, ulong), string>();
        var count = 0;
        var pending = new List<(string Relative, string Full, HostStat Stat)>();
        var checkReadable = !IsRoot;
        void Visit(string directory, string relativeDirectory)
        {
            foreach (var full in Directory.EnumerateFileSystemEntries(directory))
            {
                var name = System.IO.Path.GetFileName(full);
                var relative = relativeDirectory.Length == 0 ? name : relativeDirectory + "/" + name;
                if (name.Contains('\uFFFD') || Encoding.UTF8.GetByteCount(name) > 255 || Encoding.UTF8.GetByteCount(relative) > 4095)
                {
                    count++;
                    continue;
                }
                HostStat st;
                try { st = LStat(full); }
                catch (IOException) { count++; continue; }
                if (st.Type == 0x8000 && checkReadable && !CanRead(full)) { count++; continue; }
                pending.Add((relative, full, st));
                if (st.Type == 0x4000) Visit(full, relative);
            }
        }
        Visit(root, "");
        var keys = pending.Select(p => Encoding.UTF8.GetBytes(p.Relative)).ToArray();
        var order = Enumerable.Range(0, pending.Count).ToArray();
        Array.Sort(order, (a, b) => keys[a].AsSpan().SequenceCompareTo(keys[b]));
        foreach (var (relative, full, st) in order.Select(i => pending[i]))
        {
            var kind = st.Type switch
            {
                0x4000 => TreeEntryKind.Directory,
                0x8000 => TreeEntryKind.RegularFile,
                0xA000 => TreeEntryKind.Symlink,
                0x2000 => TreeEntryKind.CharacterDevice,
                0x6000 => TreeEntryKind.BlockDevice,
                0x1000 => TreeEntryKind.Fifo,
                _ => TreeEntryKind.Socket,
            };
            string? linkTarget = null;
            if (kind == TreeEntryKind.Symlink) linkTarget = new FileInfo(full).LinkTarget;
            if (kind == TreeEntryKind.RegularFile && st.LinkCount > 1)
            {
                var key = (st.DevMajor, st.DevMinor, st.Inode);
                if (firstByInode.TryGetValue(key, out var first)) { kind = TreeEntryKind.HardLink; linkTarget = first; }
                else firstByInode[key] = relative;
            }
            result.Add(new TreeEntry
            {
                Path = relative,
                Kind = kind,
                Permissions = st.Permissions,
                Uid = (int)st.Uid,
                Gid = (int)st.Gid,
                ModificationTime = st.ModificationTime,
                LinkTarget = linkTarget,
                Size = kind == TreeEntryKind.RegularFile ? st.Size : 0,
                ContentPath = kind == TreeEntryKind.RegularFile ? full : null,
                DeviceMajor = (int)st.RDevMajor,
                DeviceMinor = (int)st.RDevMinor,
            });
        }
        skipped = count;
        return result;
    }

    static bool CanRead(string path)
    {
        try
        {
            using var handle = File.OpenHandle(path);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }
}

/// <summary>
/// The image tree most tests use: every kind of entry, odd names, owners 0 and 1000, a 3-name hard-link group
/// whose data goes with a HardLink entry and a 2-name group whose data goes with the RegularFile itself.
/// Content files live in a folder of their own, so a second instance can hold the same bytes elsewhere.
/// </summary>
sealed class SampleTree : IDisposable
{
    public const long Mtime = 1_700_000_000;
    public const long OldMtime = 1_600_000_000;

    public static readonly string LongComponent = "long-" + new string('x', 250);
    public const string SupplementaryName = "usr/share/odd/\U0001F600";   // F0 9F 98 80 in UTF-8, but D83D… in UTF-16
    public const string FullwidthName = "usr/share/odd/\uFF21";           // EF BC A1 in UTF-8: before the emoji in byte order

    readonly TempDirectory _content = new("cpio-content");
    readonly Dictionary<string, byte[]> _bytes = new(StringComparer.Ordinal);

    public SampleTree(string contentSubfolder = "a")
    {
        ContentFolder = _content.Combine(contentSubfolder);
        Directory.CreateDirectory(ContentFolder);
        var big = new byte[(3 << 19) + 3]; // 1.5 MiB + 3: more than the 1 MiB writer buffer, and unaligned
        new Random(42).NextBytes(big);

        Entries =
        [
            Dir("dev", O(0755)),
            Dir("etc", O(0755)),
            Dir("home", O(0755)),
            Dir("home/user", O(0750), uid: 1000, gid: 1000),
            Dir("tmp", O(01777)),
            Dir("usr", O(0755)),
            Dir("usr/bin", O(0755)),
            Dir("usr/lib", O(0755)),
            Dir("usr/share", O(0755)),
            Dir("usr/share/odd", O(0755)),
            Dir("var", O(0755)),
            Dir("var/empty", O(0700)),

            File("etc/empty", [], O(0644)),
            File("etc/hostname", "initrd\n"u8.ToArray(), O(0644)),
            File("home/user/notes.txt", "mine\n"u8.ToArray(), O(0600), uid: 1000, gid: 1000),
            File("usr/lib/big.bin", big, O(0644)),
            File("usr/bin/su", "#!/bin/su-ish\n"u8.ToArray(), O(04755)),
            File("usr/bin/busybox", Encoding.ASCII.GetBytes(new string('B', 1001)), O(0755), mtime: OldMtime),
            HardLink("usr/bin/cat", "usr/bin/busybox"),
            HardLink("usr/bin/ls", "/usr/bin/busybox"),
            File("usr/lib/z-data", "zzz"u8.ToArray(), O(0640), gid: 1000),
            HardLink("usr/lib/a-link", "usr/lib/z-data"),

            Link("bin", "usr/bin"),
            Link("usr/bin/sh", "/usr/bin/busybox"),
            Link("usr/lib/dangling", "does/not/exist"),
            Link("etc/localtime", "/usr/share/zoneinfo/Etc/UTC"),

            new TreeEntry { Path = "dev/console", Kind = TreeEntryKind.CharacterDevice, Permissions = O(0600), DeviceMajor = 5, DeviceMinor = 1, ModificationTime = Mtime },
            new TreeEntry { Path = "dev/loop0", Kind = TreeEntryKind.BlockDevice, Permissions = O(0660), Gid = 6, DeviceMajor = 7, DeviceMinor = 0, ModificationTime = Mtime },
            new TreeEntry { Path = "dev/initctl", Kind = TreeEntryKind.Fifo, Permissions = O(0600), ModificationTime = Mtime },
            new TreeEntry { Path = "dev/log", Kind = TreeEntryKind.Socket, Permissions = O(0666), ModificationTime = Mtime },

            File("usr/share/odd/with space", "space\n"u8.ToArray(), O(0644)),
            File("usr/share/odd/ünïcödé-名前", "utf8\n"u8.ToArray(), O(0644)),
            File("usr/share/odd/" + LongComponent, "long\n"u8.ToArray(), O(0644)),
            File(SupplementaryName, "emoji\n"u8.ToArray(), O(0644)),
            File(FullwidthName, "fullwidth\n"u8.ToArray(), O(0644)),
        ];
    }

    public string ContentFolder { get; }

    public List<TreeEntry> Entries { get; }

    public IEnumerable<TreeEntry> WithoutDevices =>
        Entries.Where(e => e.Kind is not (TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice));

    /// <summary>The content a path should have after extraction (hard links: their file's content).</summary>
    public byte[] ContentOf(string path)
    {
        var e = Entries.Single(x => x.Path == path);
        if (e.Kind == TreeEntryKind.HardLink) return ContentOf(e.LinkTarget!.TrimStart('/'));
        return _bytes[path];
    }

    /// <summary>Image paths in the archive's order: ordinal order of their UTF-8 bytes.</summary>
    public List<string> SortedPaths() =>
        Entries.Select(e => e.Path).OrderBy(p => p, Utf8Order.Instance).ToList();

    public void Dispose() => _content.Dispose();

    TreeEntry Dir(string path, int permissions, int uid = 0, int gid = 0) =>
        new() { Path = path, Kind = TreeEntryKind.Directory, Permissions = permissions, Uid = uid, Gid = gid, ModificationTime = Mtime };

    TreeEntry Link(string path, string target) =>
        new() { Path = path, Kind = TreeEntryKind.Symlink, Permissions = O(0777), LinkTarget = target, ModificationTime = Mtime };

    TreeEntry HardLink(string path, string target) =>
        new() { Path = path, Kind = TreeEntryKind.HardLink, Permissions = O(0755), LinkTarget = target, ModificationTime = Mtime };

    TreeEntry File(string path, byte[] content, int permissions, int uid = 0, int gid = 0, long mtime = Mtime)
    {
        // Host names are unrelated to image names, so moving the content folder must not change the archive.
        var host = System.IO.Path.Combine(ContentFolder, $"blob-{_bytes.Count:D3}");
        System.IO.File.WriteAllBytes(host, content);
        _bytes[path] = content;
        return new TreeEntry
        {
            Path = path, Kind = TreeEntryKind.RegularFile, Permissions = permissions, Uid = uid, Gid = gid,
            ModificationTime = mtime, Size = content.Length, ContentPath = host,
        };
    }
}

sealed class Utf8Order : IComparer<string>
{
    public static readonly Utf8Order Instance = new();

    public int Compare(string? x, string? y) =>
        Encoding.UTF8.GetBytes(x!).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(y!));
}

static class CpioTestExtensions
{
    public static byte[] WriteToBytes(this IEnumerable<TreeEntry> entries, CpioWriteOptions? options = null)
    {
        using var ms = new MemoryStream();
        var summary = CpioArchiveWriter.Write(ms, entries, options);
        Assert.Equal(ms.Length, summary.BytesWritten);
        return ms.ToArray();
    }
}
