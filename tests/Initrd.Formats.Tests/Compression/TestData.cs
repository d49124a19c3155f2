using System.Text;

namespace Initrd.Formats.Tests.Compression;

/// <summary>Deterministic test inputs: incompressible, very compressible and "semi-compressible" (text-like with noise).</summary>
public static class TestData
{
    public static byte[] Random(int length, int seed = 1)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    /// <summary>Repetitive text: compresses by a large factor.</summary>
    public static byte[] Compressible(int length, int seed = 2)
    {
        var random = new Random(seed);
        var data = new byte[length];
        var words = Encoding.ASCII.GetBytes("usr lib systemd modules kernel initrd firmware share doc locale bin sbin etc ");
        for (var i = 0; i < length;)
        {
            var start = random.Next(words.Length - 8);
            var n = Math.Min(length - i, random.Next(4, 16));
            for (var j = 0; j < n; j++) data[i + j] = words[(start + j) % words.Length];
            i += n;
        }
        return data;
    }

    /// <summary>
    /// Roughly like a file-system image's content (compresses about 2–3×): slices copied from a vocabulary of 256 KiB,
    /// with runs of fresh random bytes mixed in. Built slice by slice, not byte by byte.
    /// </summary>
    public static byte[] SemiCompressible(int length, int seed = 3)
    {
        var random = new Random(seed);
        var vocabulary = new byte[256 * 1024];
        random.NextBytes(vocabulary);
        for (var i = 0; i < vocabulary.Length; i += 2) vocabulary[i] &= 0x3F; // a skewed byte distribution
        var data = new byte[length];
        var span = data.AsSpan();
        while (!span.IsEmpty)
        {
            var n = Math.Min(span.Length, random.Next(16, 256));
            if (random.Next(4) == 0)
                random.NextBytes(span[..n]);
            else
                vocabulary.AsSpan(random.Next(vocabulary.Length - n), n).CopyTo(span);
            span = span[n..];
        }
        return data;
    }
}
