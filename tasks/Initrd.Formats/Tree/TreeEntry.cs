namespace Initrd.Formats.Tree;

/// <summary>The kind of a file-system object in an image tree (the S_IFMT part of st_mode).</summary>
public enum TreeEntryKind
{
    Directory,
    RegularFile,
    Symlink,
    /// <summary>A hard link: <see cref="TreeEntry.LinkTarget"/> names the regular file it shares data with.</summary>
    HardLink,
    CharacterDevice,
    BlockDevice,
    Fifo,
    Socket,
}

/// <summary>
/// One object of an image tree, as packers (cpio, erofs, …) consume it. Ownership, permissions and
/// device numbers live here rather than on the host file system, so trees are built without root.
/// </summary>
public sealed record TreeEntry
{
    /// <summary>Path relative to the image root, '/'-separated, no leading or trailing slash ("usr/bin/bash").</summary>
    public required string Path { get; init; }

    public required TreeEntryKind Kind { get; init; }

    /// <summary>Permission bits including setuid/setgid/sticky (mode &amp; 07777); the type comes from <see cref="Kind"/>.</summary>
    public required int Permissions { get; init; }

    public int Uid { get; init; }

    public int Gid { get; init; }

    /// <summary>Modification time, seconds since the Unix epoch.</summary>
    public long ModificationTime { get; init; }

    /// <summary>Symlink target (as stored, may be relative) or, for a hard link, the image path of the file it links to.</summary>
    public string? LinkTarget { get; init; }

    /// <summary>Size of a regular file's content in bytes (0 for everything else).</summary>
    public long Size { get; init; }

    /// <summary>Absolute host path of a regular file's content; null for every other kind.</summary>
    public string? ContentPath { get; init; }

    public int DeviceMajor { get; init; }

    public int DeviceMinor { get; init; }

    /// <summary>The full st_mode: type bits from <see cref="Kind"/> plus <see cref="Permissions"/>.</summary>
    public int Mode => TypeBits(Kind) | (Permissions & 0xFFF);

    /// <summary>The kind in words, for messages ("regular file", "symlink", …).</summary>
    public static string Describe(TreeEntryKind kind) => kind switch
    {
        TreeEntryKind.Directory => "directory",
        TreeEntryKind.RegularFile => "regular file",
        TreeEntryKind.Symlink => "symlink",
        TreeEntryKind.HardLink => "hard link",
        TreeEntryKind.CharacterDevice => "character device",
        TreeEntryKind.BlockDevice => "block device",
        TreeEntryKind.Fifo => "fifo",
        TreeEntryKind.Socket => "socket",
        _ => kind.ToString(),
    };

    public static int TypeBits(TreeEntryKind kind) => kind switch
    {
        TreeEntryKind.Directory => 0x4000,        // S_IFDIR  0040000
        TreeEntryKind.RegularFile => 0x8000,      // S_IFREG  0100000
        TreeEntryKind.HardLink => 0x8000,         // a hard link is a regular file sharing an inode
        TreeEntryKind.Symlink => 0xA000,          // S_IFLNK  0120000
        TreeEntryKind.CharacterDevice => 0x2000,  // S_IFCHR  0020000
        TreeEntryKind.BlockDevice => 0x6000,      // S_IFBLK  0060000
        TreeEntryKind.Fifo => 0x1000,             // S_IFIFO  0010000
        TreeEntryKind.Socket => 0xC000,           // S_IFSOCK 0140000
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };
}
