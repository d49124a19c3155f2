namespace Initrd.Formats.Erofs;

/// <summary>
/// The parts of the erofs on-disk format this writer uses (facts from the kernel's and erofs-utils'
/// <c>erofs_fs.h</c> and the kernel's erofs documentation). All integers are little-endian.
/// </summary>
internal static class ErofsLayout
{
    public const uint Magic = 0xE0F5E1E2;

    /// <summary>The superblock starts 1024 bytes into the image (the bytes before it are free for boot code).</summary>
    public const int SuperblockOffset = 1024;

    public const int SuperblockSize = 128;

    public const int BlockSizeBits = 12;

    public const int BlockSize = 1 << BlockSizeBits;

    /// <summary>feature_compat: the superblock's crc32c is set.</summary>
    public const uint FeatureCompatSuperblockChecksum = 0x1;

    /// <summary>feature_compat: inode times are modification times (not the ancient ctime meaning); the kernel ignores it.</summary>
    public const uint FeatureCompatMtime = 0x2;

    /// <summary>Inodes are addressed as meta_blkaddr * block size + nid * 32.</summary>
    public const int InodeSlotSize = 32;

    public const int CompactInodeSize = 32;

    public const int ExtendedInodeSize = 64;

    /// <summary>i_format bit 0: 0 compact, 1 extended; bits 1–3: the data layout.</summary>
    public const int FormatExtended = 1;

    public const int DataLayoutShift = 1;

    /// <summary>Data in consecutive blocks from raw_blkaddr, the last one zero-padded.</summary>
    public const int FlatPlain = 0;

    /// <summary>Full blocks from raw_blkaddr, the last partial block right after the inode (never across a block boundary).</summary>
    public const int FlatInline = 2;

    /// <summary>struct erofs_dirent: le64 nid, le16 nameoff, u8 file_type, u8 reserved.</summary>
    public const int DirentSize = 12;

    public const int MaxNameLength = 255;

    // Directory entry file types (EROFS_FT_*).
    public const byte FileTypeRegular = 1;
    public const byte FileTypeDirectory = 2;
    public const byte FileTypeCharacterDevice = 3;
    public const byte FileTypeBlockDevice = 4;
    public const byte FileTypeFifo = 5;
    public const byte FileTypeSocket = 6;
    public const byte FileTypeSymlink = 7;

    // Superblock field offsets (from the start of the superblock).
    public const int SbMagic = 0;
    public const int SbChecksum = 4;
    public const int SbFeatureCompat = 8;
    public const int SbBlockSizeBits = 12;
    public const int SbRootNid = 14;
    public const int SbInodes = 16;
    public const int SbBuildTime = 24;
    public const int SbBuildTimeNsec = 32;
    public const int SbBlocks = 36;
    public const int SbMetaBlockAddress = 40;
    public const int SbXattrBlockAddress = 44;
    public const int SbUuid = 48;
    public const int SbVolumeName = 64;
    public const int SbFeatureIncompat = 80;

    /// <summary>
    /// The kernel's new_encode_dev: minor bits 0–7, major bits 8–19, minor bits 8–19 in bits 20–31 (so major &lt; 4096,
    /// minor &lt; 2^20).
    /// </summary>
    public static uint EncodeDevice(int major, int minor) =>
        ((uint)minor & 0xFF) | ((uint)major << 8) | (((uint)minor & ~0xFFu) << 12);
}

/// <summary>CRC-32C (Castagnoli, reflected polynomial 0x82F63B78) without the final inversion, as the kernel's crc32c().</summary>
internal static class Crc32C
{
    static readonly uint[] Table = CreateTable();

    static uint[] CreateTable()
    {
        var table = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ 0x82F63B78 : c >> 1;
            table[i] = c;
        }
        return table;
    }

    /// <summary>The register after <paramref name="data"/>, starting from <paramref name="seed"/> (no final XOR).</summary>
    public static uint Update(uint seed, ReadOnlySpan<byte> data)
    {
        var crc = seed;
        foreach (var b in data) crc = Table[(crc ^ b) & 0xFF] ^ (crc >> 8);
        return crc;
    }
}
