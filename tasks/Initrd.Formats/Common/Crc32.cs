namespace Initrd.Formats.Common;

/// <summary>
/// CRC-32 as IEEE 802.3, zlib, PNG and the UEFI GPT use it: polynomial 0x04C11DB7 processed bit-reflected
/// (0xEDB88320), initial value 0xFFFFFFFF, final XOR 0xFFFFFFFF. The check value of "123456789" is 0xCBF43926.
/// </summary>
/// <remarks>
/// The BCL has no public CRC-32 (System.IO.Hashing is a separate package, and the SSE4.2/ARMv8 CRC32 instructions
/// compute CRC-32C, a different polynomial). Table-driven, slicing by 8: GPT headers and partition arrays are a few
/// KiB, so this is never on a hot path, but it costs little to make it fast.
/// </remarks>
public static class Crc32
{
    const uint ReflectedPolynomial = 0xEDB88320;

    /// <summary>Initial register value; also the final XOR.</summary>
    const uint Seed = 0xFFFFFFFF;

    static readonly uint[] Table = CreateTable();

    static uint[] CreateTable()
    {
        var table = new uint[8 * 256];
        for (uint i = 0; i < 256; i++)
        {
            var c = i;
            for (var k = 0; k < 8; k++) c = (c & 1) != 0 ? (c >> 1) ^ ReflectedPolynomial : c >> 1;
            table[i] = c;
        }
        for (var i = 0; i < 256; i++)
            for (var slice = 1; slice < 8; slice++)
            {
                var previous = table[(slice - 1) * 256 + i];
                table[slice * 256 + i] = (previous >> 8) ^ table[previous & 0xFF];
            }
        return table;
    }

    /// <summary>The CRC-32 of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => Append(0, data);

    /// <summary>
    /// Continues <paramref name="crc"/> (a finished CRC of the preceding bytes, 0 for none) over <paramref name="data"/>:
    /// <c>Append(Compute(a), b) == Compute(a + b)</c>.
    /// </summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        var table = Table.AsSpan();
        var c = crc ^ Seed;
        while (data.Length >= 8)
        {
            var low = c ^ System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(data);
            var high = System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(data[4..]);
            c = table[7 * 256 + (int)(low & 0xFF)] ^ table[6 * 256 + (int)((low >> 8) & 0xFF)]
              ^ table[5 * 256 + (int)((low >> 16) & 0xFF)] ^ table[4 * 256 + (int)(low >> 24)]
              ^ table[3 * 256 + (int)(high & 0xFF)] ^ table[2 * 256 + (int)((high >> 8) & 0xFF)]
              ^ table[1 * 256 + (int)((high >> 16) & 0xFF)] ^ table[(int)(high >> 24)];
            data = data[8..];
        }
        foreach (var b in data) c = (c >> 8) ^ table[(int)((c ^ b) & 0xFF)];
        return c ^ Seed;
    }
}
