namespace Initrd.Formats.Verity;

/// <summary>
/// The dm-verity hash device as <c>veritysetup format</c> (cryptsetup) lays it out and the kernel's dm-verity target
/// reads it (Documentation/admin-guide/device-mapper/verity.rst; cryptsetup's wiki page "DMVerity", section
/// "Verity superblock format"). Only what this library writes is described: hash format 1, sha256, 4096-byte data and
/// hash blocks, the superblock at offset 0 of the hash device.
/// </summary>
/// <remarks>
/// <para>The hash device starts with the superblock (<see cref="SuperblockLength"/> bytes, all integers
/// little-endian), zero-padded to one hash block. The kernel never reads it; veritysetup and systemd use it to learn
/// the parameters. The hash tree follows at hash block 1 (<see cref="HashTreeOffset"/>).</para>
/// <para>The tree, in cryptsetup's words (lib/verity/verity_hash.c, <c>hash_levels</c>):</para>
/// <list type="number">
/// <item>Level 0 holds one digest per data block; level <c>i + 1</c> one digest per hash block of level <c>i</c>.
/// Digests are packed from the start of a hash block, <see cref="DigestsPerHashBlock"/> to a block, and the rest of
/// the block is zero. (Format 1 pads each digest to a power of two; a SHA-256 digest is 32 bytes already.)</item>
/// <item>The number of levels is the smallest <c>L</c> with <c>(dataBlocks − 1) &gt;&gt; (7·L) == 0</c>
/// (7 = log2 of 128 digests per block): 0 levels for a single data block, 1 level up to 128 blocks, 2 up to 16384, …</item>
/// <item>Level <c>i</c> has <c>ceil(dataBlocks / 128^(i+1))</c> hash blocks; the top level (<c>L − 1</c>) has one.</item>
/// <item>Levels are stored top first: the single top block at hash block 1, then level <c>L − 2</c>, …, level 0
/// last.</item>
/// <item>A digest is <c>sha256(salt ‖ block)</c> (format 1 prepends the salt; format 0, Chrome OS, appends it).</item>
/// <item>The root hash is the digest of the top level's block; with 0 levels, the digest of the single data
/// block.</item>
/// </list>
/// </remarks>
public static class VerityLayout
{
    /// <summary>The superblock's magic, "verity" followed by two NULs.</summary>
    public static ReadOnlySpan<byte> Signature => "verity\0\0"u8;

    public const int SignatureLength = 8;
    public const int VersionLength = 4;
    public const int HashTypeLength = 4;
    public const int UuidLength = 16;
    public const int AlgorithmLength = 32;
    public const int DataBlockSizeLength = 4;
    public const int HashBlockSizeLength = 4;
    public const int DataBlocksLength = 8;
    public const int SaltSizeLength = 2;
    public const int Pad1Length = 6;

    /// <summary>Room for the salt in the superblock, and so the longest salt veritysetup accepts.</summary>
    public const int SaltLength = 256;

    public const int Pad2Length = 168;

    public const int SignatureOffset = 0;
    public const int VersionOffset = SignatureOffset + SignatureLength;
    public const int HashTypeOffset = VersionOffset + VersionLength;
    public const int UuidOffset = HashTypeOffset + HashTypeLength;
    public const int AlgorithmOffset = UuidOffset + UuidLength;
    public const int DataBlockSizeOffset = AlgorithmOffset + AlgorithmLength;
    public const int HashBlockSizeOffset = DataBlockSizeOffset + DataBlockSizeLength;
    public const int DataBlocksOffset = HashBlockSizeOffset + HashBlockSizeLength;
    public const int SaltSizeOffset = DataBlocksOffset + DataBlocksLength;
    public const int Pad1Offset = SaltSizeOffset + SaltSizeLength;
    public const int SaltOffset = Pad1Offset + Pad1Length;
    public const int Pad2Offset = SaltOffset + SaltLength;

    /// <summary>512 bytes.</summary>
    public const int SuperblockLength = Pad2Offset + Pad2Length;

    /// <summary>The only superblock version there is.</summary>
    public const uint SuperblockVersion = 1;

    /// <summary>Hash type ("format") 1, "normal": salt prepended, digests padded to a power of two.</summary>
    public const uint HashTypeNormal = 1;

    /// <summary>Hash type 0, Chrome OS: salt appended (read, never written here).</summary>
    public const uint HashTypeChromeOs = 0;

    /// <summary>The algorithm name as stored (NUL-padded) in the superblock.</summary>
    public const string Algorithm = "sha256";

    /// <summary>Bytes of a SHA-256 digest: the root hash length.</summary>
    public const int DigestLength = 32;

    /// <summary>Salt length used when the salt is derived (veritysetup's default for sha256 too).</summary>
    public const int DefaultSaltLength = 32;

    /// <summary>Data block size: 4096, the page size systemd and veritysetup use by default.</summary>
    public const int DataBlockSize = 4096;

    /// <summary>Hash block size: 4096.</summary>
    public const int HashBlockSize = 4096;

    /// <summary>128 SHA-256 digests fill a 4096-byte hash block.</summary>
    public const int DigestsPerHashBlock = HashBlockSize / DigestLength;

    /// <summary>log2(<see cref="DigestsPerHashBlock"/>) = 7: each level divides the block count by 128.</summary>
    public const int DigestsPerHashBlockBits = 7;

    /// <summary>cryptsetup's VERITY_MAX_LEVELS.</summary>
    public const int MaxLevels = 63;

    /// <summary>The tree starts in the hash block after the superblock.</summary>
    public const int HashTreeOffset = HashBlockSize;

    /// <summary>Number of tree levels for <paramref name="dataBlocks"/> data blocks (step 2 above).</summary>
    public static int LevelCount(long dataBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(dataBlocks, 1);
        var levels = 0;
        while (DigestsPerHashBlockBits * levels < 64 && ((ulong)(dataBlocks - 1) >> (DigestsPerHashBlockBits * levels)) != 0)
            levels++;
        return levels;
    }

    /// <summary>Hash blocks of level <paramref name="level"/> (0 = digests of the data blocks; step 3 above).</summary>
    public static long LevelBlockCount(long dataBlocks, int level)
    {
        var shift = DigestsPerHashBlockBits * (level + 1);
        if (shift >= 63) return 1;
        var per = 1L << shift;
        return (dataBlocks + per - 1) >> shift;
    }

    /// <summary>Length of the whole hash device: superblock block plus every level's blocks.</summary>
    public static long HashDeviceLength(long dataBlocks)
    {
        var levels = LevelCount(dataBlocks);
        long blocks = 1;
        for (var i = 0; i < levels; i++) blocks += LevelBlockCount(dataBlocks, i);
        return blocks * HashBlockSize;
    }
}
