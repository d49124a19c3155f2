using System.Buffers.Binary;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Initrd.Formats.Pe;

/// <summary>
/// The PE image checksum (the optional header's <c>CheckSum</c>), computed the way the Windows image helper
/// library's <c>CheckSumMappedFile</c> does: the file is summed as 16-bit little-endian words (a last odd byte as a
/// word with a zero high byte) with the <c>CheckSum</c> field itself counted as zero, the carries folded back into
/// 16 bits after every addition, and the file length added to the 16-bit result.
/// </summary>
/// <remarks>
/// Folding after every addition is a sum modulo 0xFFFF that never returns to 0 once a non-zero word was added, so
/// the sum can be taken in wider words and reduced once: a 32-bit little-endian word <c>lo + hi·2¹⁶</c> is congruent
/// to <c>lo + hi</c> modulo 0xFFFF. This lets <see cref="Accumulator"/> add 32-bit words into a 64-bit total.
/// </remarks>
public static class PeChecksum
{
    /// <summary>The checksum of <paramref name="image"/>, its <c>CheckSum</c> field (found by parsing) counted as zero.</summary>
    public static uint Compute(ReadOnlySpan<byte> image) => Compute(image, PeFile.Parse(image).CheckSumFileOffset);

    /// <summary>The checksum of <paramref name="image"/>, the 4 bytes at <paramref name="checkSumFileOffset"/> counted as zero.</summary>
    public static uint Compute(ReadOnlySpan<byte> image, int checkSumFileOffset)
    {
        var accumulator = new Accumulator(checkSumFileOffset);
        accumulator.Add(image, 0);
        return accumulator.Finish(image.Length);
    }

    /// <summary>
    /// Sums a file given in pieces at known offsets (for writers that never hold the whole file in one buffer). The
    /// pieces must not overlap and must together cover the file; their order does not matter.
    /// </summary>
    public struct Accumulator(long checkSumFileOffset)
    {
        ulong _sum;

        /// <summary>
        /// Continues from a file of <paramref name="fileLength"/> bytes whose checksum is <paramref name="checksum"/>:
        /// adding more pieces (beyond its end, or where it held zeros) gives the checksum of the longer file.
        /// </summary>
        public static Accumulator Resume(uint checksum, long fileLength, long checkSumFileOffset) =>
            new(checkSumFileOffset) { _sum = unchecked(checksum - (uint)fileLength) & 0xFFFF };

        /// <summary>Adds <paramref name="data"/>, which sits at <paramref name="fileOffset"/> in the file.</summary>
        [MethodImpl(MethodImplOptions.AggressiveOptimization)]   // hot from the first call: builds run in fresh processes
        public void Add(ReadOnlySpan<byte> data, long fileOffset)
        {
            // Bytes before the next 4-byte boundary, one by one.
            while (data.Length > 0 && (fileOffset & 3) != 0)
            {
                AddByte(data[0], fileOffset);
                data = data[1..];
                fileOffset++;
            }
            var wordBytes = data.Length & ~3;
            var words = MemoryMarshal.Cast<byte, uint>(data[..wordBytes]);
            ulong s0 = 0, s1 = 0, s2 = 0, s3 = 0;
            var i = 0;
            if (BitConverter.IsLittleEndian)
            {
                for (; i + 4 <= words.Length; i += 4)
                {
                    s0 += words[i];
                    s1 += words[i + 1];
                    s2 += words[i + 2];
                    s3 += words[i + 3];
                }
                for (; i < words.Length; i++) s0 += words[i];
            }
            else
            {
                for (; i < words.Length; i++) s0 += BinaryPrimitives.ReverseEndianness(words[i]);
            }
            _sum += s0 + s1 + s2 + s3;

            // The CheckSum field counts as zero: take back what its bytes added, if they were in this piece.
            var end = fileOffset + wordBytes;
            for (var o = Math.Max(fileOffset, checkSumFileOffset); o < Math.Min(end, checkSumFileOffset + PeLayout.CheckSumLength); o++)
                _sum -= (ulong)data[(int)(o - fileOffset)] << (int)(8 * (o & 3));

            for (var k = wordBytes; k < data.Length; k++) AddByte(data[k], fileOffset + k);
        }

        void AddByte(byte value, long offset)
        {
            if (offset >= checkSumFileOffset && offset < checkSumFileOffset + PeLayout.CheckSumLength) return;
            _sum += (ulong)value << (int)(8 * (offset & 3));
        }

        /// <summary>The checksum of a file of <paramref name="fileLength"/> bytes whose pieces were all added.</summary>
        public readonly uint Finish(long fileLength)
        {
            var folded = _sum == 0 ? 0u : (uint)((_sum - 1) % 0xFFFF) + 1;
            return unchecked(folded + (uint)fileLength);
        }
    }
}
