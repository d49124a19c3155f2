namespace Initrd.Formats.Cpio;

/// <summary>The fields of a newc header, in the order they appear after the magic.</summary>
public enum NewcField
{
    Inode,
    Mode,
    Uid,
    Gid,
    LinkCount,
    ModificationTime,
    FileSize,
    DevMajor,
    DevMinor,
    RDevMajor,
    RDevMinor,
    NameSize,
    Check,
}

/// <summary>
/// The "new" portable ASCII cpio format ("newc", magic <c>070701</c>), as the Linux kernel's initramfs
/// unpacker reads it (Documentation/driver-api/early-userspace/buffer-format.rst) and as cpio(5) describes it.
/// </summary>
/// <remarks>
/// An archive is a sequence of entries and ends with an entry named <see cref="TrailerName"/>. Each entry is:
/// <list type="number">
/// <item>a 110-byte header: the 6-byte magic followed by 13 fields of 8 ASCII hexadecimal digits each
/// (no "0x", no NUL), in the order of <see cref="NewcField"/>;</item>
/// <item>the name, <see cref="NewcField.NameSize"/> bytes including its terminating NUL;</item>
/// <item>NUL padding so that header + name end on a multiple of <see cref="Alignment"/>;</item>
/// <item>the data, <see cref="NewcField.FileSize"/> bytes (a regular file's content or a symlink's target without NUL);</item>
/// <item>NUL padding to a multiple of <see cref="Alignment"/>.</item>
/// </list>
/// Alignment is counted from the start of the archive, so every header starts on a 4-byte boundary. The kernel
/// also requires each of several concatenated archives to start on a 4-byte boundary, and skips NULs between them.
/// <see cref="NewcField.Check"/> is zero in newc; only the "070702" (crc) variant stores a byte sum there.
/// </remarks>
public static class NewcLayout
{
    /// <summary>The magic of the newc format (the "070702" crc variant is not written).</summary>
    public const string Magic = "070701";

    public const int MagicLength = 6;

    /// <summary>Every numeric field is 8 ASCII hexadecimal digits: an unsigned 32-bit value.</summary>
    public const int FieldLength = 8;

    public const int FieldCount = 13;

    public const int InodeOffset = MagicLength;
    public const int ModeOffset = InodeOffset + FieldLength;
    public const int UidOffset = ModeOffset + FieldLength;
    public const int GidOffset = UidOffset + FieldLength;
    public const int LinkCountOffset = GidOffset + FieldLength;
    public const int ModificationTimeOffset = LinkCountOffset + FieldLength;
    public const int FileSizeOffset = ModificationTimeOffset + FieldLength;
    public const int DevMajorOffset = FileSizeOffset + FieldLength;
    public const int DevMinorOffset = DevMajorOffset + FieldLength;
    public const int RDevMajorOffset = DevMinorOffset + FieldLength;
    public const int RDevMinorOffset = RDevMajorOffset + FieldLength;
    public const int NameSizeOffset = RDevMinorOffset + FieldLength;
    public const int CheckOffset = NameSizeOffset + FieldLength;

    /// <summary>Length of the fixed header: 6 + 13 × 8 = 110 bytes.</summary>
    public const int HeaderLength = CheckOffset + FieldLength;

    /// <summary>Header + name, and data, are each padded with NULs to a multiple of this.</summary>
    public const int Alignment = 4;

    /// <summary>The largest value a field can hold (file size, mtime, ids, device numbers).</summary>
    public const uint MaxFieldValue = uint.MaxValue;

    /// <summary>The name of the entry that ends an archive (written with nlink 1 and every other field 0).</summary>
    public const string TrailerName = "TRAILER!!!";

    /// <summary>Longest name the kernel unpacker accepts, NUL included (PATH_MAX); longer names are skipped.</summary>
    public const int KernelMaxNameSize = 4096;

    /// <summary>
    /// Longest symlink target the kernel creates: it skips bodies over PATH_MAX, and symlink(2) needs room for
    /// the NUL it adds, so PATH_MAX − 1.
    /// </summary>
    public const int KernelMaxSymlinkTargetLength = KernelMaxNameSize - 1;

    /// <summary>The magic as ASCII bytes.</summary>
    public static ReadOnlySpan<byte> MagicBytes => "070701"u8;

    /// <summary>The trailer name as ASCII bytes, without its NUL.</summary>
    public static ReadOnlySpan<byte> TrailerNameBytes => "TRAILER!!!"u8;

    /// <summary>Offset of <paramref name="field"/> within the header.</summary>
    public static int OffsetOf(NewcField field) =>
        (uint)field < FieldCount
            ? MagicLength + (int)field * FieldLength
            : throw new ArgumentOutOfRangeException(nameof(field), field, null);

    /// <summary>Number of NUL bytes that bring <paramref name="length"/> to a multiple of <see cref="Alignment"/>.</summary>
    public static int PaddingFor(long length) => (int)(-length & (Alignment - 1));

    /// <summary><paramref name="length"/> rounded up to a multiple of <see cref="Alignment"/>.</summary>
    public static long Align(long length) => (length + (Alignment - 1)) & ~(long)(Alignment - 1);

    /// <summary>Bytes taken by a header and its name (NUL included) with padding.</summary>
    public static long HeaderAndNameLength(int nameSizeWithNul) => Align(HeaderLength + (long)nameSizeWithNul);
}
