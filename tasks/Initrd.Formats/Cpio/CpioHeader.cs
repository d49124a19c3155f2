namespace Initrd.Formats.Cpio;

/// <summary>
/// The numeric fields of one newc header (everything but the magic and the name size, which
/// <see cref="CpioNewcWriter"/> derives from the name). Values are <see cref="long"/> so that callers can pass
/// what they have; <see cref="CpioNewcWriter.WriteHeader(in CpioHeader, string)"/> rejects any value outside
/// 0…<see cref="NewcLayout.MaxFieldValue"/>, naming the entry.
/// </summary>
public readonly record struct CpioHeader
{
    public long Inode { get; init; }

    /// <summary>The full st_mode: file type bits (S_IFMT) and permission bits.</summary>
    public long Mode { get; init; }

    public long Uid { get; init; }

    public long Gid { get; init; }

    /// <summary>st_nlink. The kernel links entries with nlink ≥ 2 that share (devmajor, devminor, ino, type).</summary>
    public long LinkCount { get; init; }

    /// <summary>Seconds since the Unix epoch.</summary>
    public long ModificationTime { get; init; }

    /// <summary>Number of data bytes that follow the name: file content, or a symlink's target.</summary>
    public long FileSize { get; init; }

    /// <summary>Device of the file system the entry came from (with <see cref="Inode"/>, identifies hard links).</summary>
    public long DevMajor { get; init; }

    public long DevMinor { get; init; }

    /// <summary>For character and block devices: the device the node refers to.</summary>
    public long RDevMajor { get; init; }

    public long RDevMinor { get; init; }

    /// <summary>Zero for newc.</summary>
    public long Check { get; init; }

    /// <summary>The trailer's header: nlink 1 and every other field 0, as GNU cpio and the kernel's gen_init_cpio write it.</summary>
    public static CpioHeader Trailer => new() { LinkCount = 1 };
}
