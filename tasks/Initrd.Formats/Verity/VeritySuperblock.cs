using System.Buffers.Binary;
using System.Text;

namespace Initrd.Formats.Verity;

/// <summary>The dm-verity superblock at offset 0 of a hash device (see <see cref="VerityLayout"/>).</summary>
/// <param name="Uuid">Identifies the hash device; stored as 16 bytes in the UUID's text order (what
/// <c>veritysetup --uuid</c> parses and <c>veritysetup dump</c> prints).</param>
/// <param name="HashType">1 = normal (salt prepended), 0 = Chrome OS.</param>
/// <param name="Algorithm">Hash algorithm name, e.g. "sha256".</param>
/// <param name="DataBlockSize">Bytes per data block.</param>
/// <param name="HashBlockSize">Bytes per hash block.</param>
/// <param name="DataBlocks">Number of data blocks the tree covers.</param>
/// <param name="Salt">The salt, at most <see cref="VerityLayout.SaltLength"/> bytes.</param>
public sealed record VeritySuperblock(
    Guid Uuid,
    uint HashType,
    string Algorithm,
    uint DataBlockSize,
    uint HashBlockSize,
    long DataBlocks,
    ReadOnlyMemory<byte> Salt)
{
    /// <summary>Writes the 512-byte superblock into the start of <paramref name="destination"/>.</summary>
    /// <exception cref="ArgumentException">A field does not fit its slot.</exception>
    public void WriteTo(Span<byte> destination)
    {
        if (destination.Length < VerityLayout.SuperblockLength)
            throw new ArgumentException($"a verity superblock needs {VerityLayout.SuperblockLength} bytes", nameof(destination));
        if (Salt.Length > VerityLayout.SaltLength)
            throw new ArgumentException($"a verity salt is at most {VerityLayout.SaltLength} bytes; this one has {Salt.Length}", nameof(Salt));
        var algorithm = Encoding.ASCII.GetBytes(Algorithm);
        if (algorithm.Length is 0 or >= VerityLayout.AlgorithmLength)
            throw new ArgumentException($"verity algorithm name '{Algorithm}' must be 1 to {VerityLayout.AlgorithmLength - 1} ASCII characters", nameof(Algorithm));
        ArgumentOutOfRangeException.ThrowIfNegative(DataBlocks);

        var sb = destination[..VerityLayout.SuperblockLength];
        sb.Clear();
        VerityLayout.Signature.CopyTo(sb[VerityLayout.SignatureOffset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[VerityLayout.VersionOffset..], VerityLayout.SuperblockVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[VerityLayout.HashTypeOffset..], HashType);
        Uuid.TryWriteBytes(sb.Slice(VerityLayout.UuidOffset, VerityLayout.UuidLength), bigEndian: true, out _);
        algorithm.CopyTo(sb[VerityLayout.AlgorithmOffset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[VerityLayout.DataBlockSizeOffset..], DataBlockSize);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[VerityLayout.HashBlockSizeOffset..], HashBlockSize);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[VerityLayout.DataBlocksOffset..], (ulong)DataBlocks);
        BinaryPrimitives.WriteUInt16LittleEndian(sb[VerityLayout.SaltSizeOffset..], (ushort)Salt.Length);
        Salt.Span.CopyTo(sb[VerityLayout.SaltOffset..]);
    }

    /// <summary>Reads a superblock from the start of a hash device.</summary>
    /// <exception cref="InvalidDataException">The magic, version, a size or the salt length is wrong (the message
    /// names the field, its value and its offset).</exception>
    public static VeritySuperblock Read(ReadOnlySpan<byte> source)
    {
        if (source.Length < VerityLayout.SuperblockLength)
            throw new InvalidDataException($"a verity superblock is {VerityLayout.SuperblockLength} bytes; only {source.Length} were given");
        if (!source[..VerityLayout.SignatureLength].SequenceEqual(VerityLayout.Signature))
            throw new InvalidDataException($"verity superblock signature at offset {VerityLayout.SignatureOffset} is '{Printable(source[..VerityLayout.SignatureLength])}', expected 'verity\\0\\0'");
        var version = BinaryPrimitives.ReadUInt32LittleEndian(source[VerityLayout.VersionOffset..]);
        if (version != VerityLayout.SuperblockVersion)
            throw new InvalidDataException($"verity superblock version at offset {VerityLayout.VersionOffset} is {version}, expected {VerityLayout.SuperblockVersion}");
        var hashType = BinaryPrimitives.ReadUInt32LittleEndian(source[VerityLayout.HashTypeOffset..]);
        if (hashType > VerityLayout.HashTypeNormal)
            throw new InvalidDataException($"verity hash_type at offset {VerityLayout.HashTypeOffset} is {hashType}, expected 0 or 1");
        var uuid = new Guid(source.Slice(VerityLayout.UuidOffset, VerityLayout.UuidLength), bigEndian: true);
        var algorithmField = source.Slice(VerityLayout.AlgorithmOffset, VerityLayout.AlgorithmLength);
        var nul = algorithmField.IndexOf((byte)0);
        if (nul <= 0)
            throw new InvalidDataException($"verity algorithm at offset {VerityLayout.AlgorithmOffset} is {(nul == 0 ? "empty" : "not NUL-terminated")}");
        var algorithm = Encoding.ASCII.GetString(algorithmField[..nul]);
        var dataBlockSize = BinaryPrimitives.ReadUInt32LittleEndian(source[VerityLayout.DataBlockSizeOffset..]);
        var hashBlockSize = BinaryPrimitives.ReadUInt32LittleEndian(source[VerityLayout.HashBlockSizeOffset..]);
        CheckBlockSize("data_block_size", VerityLayout.DataBlockSizeOffset, dataBlockSize);
        CheckBlockSize("hash_block_size", VerityLayout.HashBlockSizeOffset, hashBlockSize);
        var dataBlocks = BinaryPrimitives.ReadUInt64LittleEndian(source[VerityLayout.DataBlocksOffset..]);
        if (dataBlocks > (ulong)long.MaxValue / dataBlockSize)
            throw new InvalidDataException($"verity data_blocks at offset {VerityLayout.DataBlocksOffset} is {dataBlocks}, too large for {dataBlockSize}-byte blocks");
        var saltSize = BinaryPrimitives.ReadUInt16LittleEndian(source[VerityLayout.SaltSizeOffset..]);
        if (saltSize > VerityLayout.SaltLength)
            throw new InvalidDataException($"verity salt_size at offset {VerityLayout.SaltSizeOffset} is {saltSize}, at most {VerityLayout.SaltLength} fit");
        var salt = source.Slice(VerityLayout.SaltOffset, saltSize).ToArray();
        return new VeritySuperblock(uuid, hashType, algorithm, dataBlockSize, hashBlockSize, (long)dataBlocks, salt);
    }

    static void CheckBlockSize(string field, int offset, uint value)
    {
        // veritysetup accepts powers of two from 512 bytes to the page size (and the kernel up to its page size).
        if (value < 512 || value > 1 << 20 || (value & (value - 1)) != 0)
            throw new InvalidDataException($"verity {field} at offset {offset} is {value}, expected a power of two from 512 to 1048576");
    }

    static string Printable(ReadOnlySpan<byte> bytes)
    {
        var sb = new StringBuilder();
        foreach (var b in bytes) sb.Append(b is >= 0x20 and < 0x7F ? (char)b : $"\\x{b:x2}");
        return sb.ToString();
    }
}
