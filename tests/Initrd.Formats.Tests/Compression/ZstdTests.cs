using Initrd.Formats.Compression;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Compression;

public class ZstdTests
{
    /// <summary>Sizes around zstd's block size (128 KiB) and beyond level 3's 2 MiB window.</summary>
    public static TheoryData<int, string> Inputs => new()
    {
        { 0, "random" }, { 1, "random" }, { 1000, "random" }, { 128 * 1024 + 1, "random" }, { 3 << 20, "random" },
        { 1, "compressible" }, { 100_000, "compressible" }, { 5 << 20, "compressible" }, { (5 << 20) + 7, "semi" },
    };

    static byte[] Make(int size, string kind) => kind switch
    {
        "random" => TestData.Random(size),
        "compressible" => TestData.Compressible(size),
        _ => TestData.SemiCompressible(size),
    };

    internal static byte[] Compress(ReadOnlySpan<byte> data, int level = 3, int workers = -1)
    {
        var output = new MemoryStream();
        using (var zstd = new ZstdCompressStream(output, level, workers, leaveOpen: true))
            zstd.Write(data);
        return output.ToArray();
    }

    internal static byte[] Decompress(byte[] compressed, int readSize = 81920)
    {
        using var zstd = new ZstdDecompressStream(new MemoryStream(compressed));
        var output = new MemoryStream();
        var buffer = new byte[readSize];
        int n;
        while ((n = zstd.Read(buffer)) > 0) output.Write(buffer, 0, n);
        return output.ToArray();
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void RoundTrip(int size, string kind)
    {
        var data = Make(size, kind);
        var compressed = Compress(data);
        Assert.Equal(data, Decompress(compressed));
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void ZstdCliAcceptsOurOutputAndRestoresTheInput(int size, string kind)
    {
        var zstd = ReferenceTool.Require("zstd", "zstd");
        var data = Make(size, kind);
        using var temp = new TempDirectory();
        var file = temp.Combine("data.zst");
        File.WriteAllBytes(file, Compress(data));

        var test = ReferenceTool.Run(zstd, ["-t", file]);
        Assert.True(test.ExitCode == 0, test.ToString());

        var decoded = ReferenceTool.Run(zstd, ["-d", "-c", file]);
        Assert.True(decoded.ExitCode == 0, decoded.ToString());
        Assert.Equal(data, decoded.StandardOutputBytes);

        var list = ReferenceTool.Run(zstd, ["-l", "-v", file]);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("Check: XXH64", list.StandardOutput);
        Assert.Contains("Zstandard Frames: 1", list.StandardOutput);
    }

    [Fact]
    public void OutputIsTheSameForAnyWorkerCountWritePatternAndFlush()
    {
        // 24 MiB at level 3 is three of zstd's 8 MiB multi-threading jobs.
        var data = TestData.SemiCompressible(24 << 20);
        var reference = Compress(data, level: 3, workers: 1);

        Assert.Equal(reference, Compress(data, level: 3, workers: 2));
        Assert.Equal(reference, Compress(data, level: 3, workers: 5));

        // Irregular small writes, single bytes and flushes in between.
        var output = new MemoryStream();
        using (var zstd = new ZstdCompressStream(output, 3, workers: 2, leaveOpen: true))
        {
            var random = new Random(7);
            var rest = data.AsSpan();
            while (!rest.IsEmpty)
            {
                var n = Math.Min(rest.Length, random.Next(0, 9000));
                if (n == 1) zstd.WriteByte(rest[0]);
                else zstd.Write(rest[..n]);
                if (random.Next(100) == 0) zstd.Flush();
                rest = rest[n..];
            }
        }
        Assert.Equal(reference, output.ToArray());
    }

    [Fact]
    public async Task AsyncWritesAndReadsMatchSyncOnes()
    {
        var data = TestData.SemiCompressible(3 << 20);
        var cancel = TestContext.Current.CancellationToken;
        var output = new MemoryStream();
        await using (var zstd = new ZstdCompressStream(output, leaveOpen: true))
        {
            await zstd.WriteAsync(data.AsMemory(0, 1000), cancel);
            await zstd.WriteAsync(data.AsMemory(1000, 2 << 20), cancel);
            await zstd.WriteAsync(data.AsMemory(1000 + (2 << 20)), cancel);
            await zstd.FlushAsync(cancel);
        }
        Assert.Equal(Compress(data), output.ToArray());

        output.Position = 0;
        await using var reader = new ZstdDecompressStream(output);
        var decoded = new MemoryStream();
        await reader.CopyToAsync(decoded, cancel);
        Assert.Equal(data, decoded.ToArray());
    }

    [Fact]
    public void SmallReadsReturnTheSameData()
    {
        var data = TestData.SemiCompressible(300_000);
        var compressed = Compress(data);
        Assert.Equal(data, Decompress(compressed, readSize: 1));
        Assert.Equal(data, Decompress(compressed, readSize: 4095));

        using var zstd = new ZstdDecompressStream(new MemoryStream(compressed));
        for (var i = 0; i < 1000; i++) Assert.Equal(data[i], zstd.ReadByte());
    }

    [Fact]
    public void DecodesZstd19OutputOfTheCli()
    {
        var zstd = ReferenceTool.Require("zstd", "zstd");
        var data = TestData.SemiCompressible(3 << 20);
        var result = ReferenceTool.Run(zstd, ["-19", "-c", "-q"], standardInput: data);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(data, Decompress(result.StandardOutputBytes));
    }

    [Fact]
    public void DecodesConcatenatedAndSkippableFrames()
    {
        var first = TestData.Compressible(200_000, seed: 11);
        var second = TestData.Random(5000, seed: 12);
        // A skippable frame: magic 0x184D2A5E, 4-byte little-endian length, payload.
        byte[] skippable = [0x5E, 0x2A, 0x4D, 0x18, 3, 0, 0, 0, 1, 2, 3];
        byte[] stream = [.. skippable, .. Compress(first), .. Compress([]), .. skippable, .. Compress(second, level: 1)];
        Assert.Equal([.. first, .. second], Decompress(stream));
    }

    [Fact]
    public void CorruptDataThrowsInvalidDataException()
    {
        var data = TestData.SemiCompressible(500_000);
        var compressed = Compress(data);

        var flipped = (byte[])compressed.Clone();
        flipped[compressed.Length / 2] ^= 0x55;
        var e = Assert.ThrowsAny<InvalidDataException>(() => Decompress(flipped));
        Assert.Contains("zstd", e.Message);

        // Only the checksum at the end is wrong.
        var badChecksum = (byte[])compressed.Clone();
        badChecksum[^1] ^= 0x01;
        e = Assert.Throws<InvalidDataException>(() => Decompress(badChecksum));
        Assert.Contains("checksum", e.Message, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void TruncatedEmptyAndForeignDataThrowInvalidDataException()
    {
        var compressed = Compress(TestData.SemiCompressible(500_000));

        var e = Assert.Throws<InvalidDataException>(() => Decompress(compressed[..^10]));
        Assert.Contains("truncated", e.Message);
        Assert.Throws<InvalidDataException>(() => Decompress(compressed[..3]));

        e = Assert.Throws<InvalidDataException>(() => Decompress([]));
        Assert.Contains("empty", e.Message);

        e = Assert.Throws<InvalidDataException>(() => Decompress("not zstd at all"u8.ToArray()));
        Assert.Contains("Unknown frame descriptor", e.Message);

        // Trailing bytes after a complete frame are not a frame either.
        e = Assert.Throws<InvalidDataException>(() => Decompress([.. compressed, 0, 0, 0, 0, 0, 0, 0, 0]));
        Assert.Contains($"offset {compressed.Length}", e.Message);
    }

    [Fact]
    public void RejectsInvalidSettings()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ZstdCompressStream(new MemoryStream(), level: 23));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ZstdCompressStream(new MemoryStream(), level: 0));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ZstdCompressStream(new MemoryStream(), workers: 0));
        Assert.Throws<ArgumentException>(() => new ZstdCompressStream(new MemoryStream([], writable: false)));

        using var negative = new ZstdCompressStream(new MemoryStream(), level: -5);
        Assert.Equal(-5, negative.Level);
        using var defaults = new ZstdCompressStream(new MemoryStream());
        Assert.Equal(Environment.ProcessorCount, defaults.Workers);
    }

    [Fact]
    public void DisposeFinishesTheFrameAndHonoursLeaveOpen()
    {
        var output = new MemoryStream();
        var zstd = new ZstdCompressStream(output, leaveOpen: true);
        zstd.Write("hello"u8);
        Assert.Equal(0, output.Length); // still buffered
        zstd.Dispose();
        zstd.Dispose(); // idempotent
        Assert.True(output.CanWrite);
        Assert.Equal("hello"u8.ToArray(), Decompress(output.ToArray()));
        Assert.Equal(5, zstd.BytesIn);
        Assert.Equal(output.Length, zstd.BytesOut);
        Assert.Throws<ObjectDisposedException>(() => zstd.Write("x"u8));

        var closed = new MemoryStream();
        using (var owning = new ZstdCompressStream(closed)) owning.WriteByte(1);
        Assert.False(closed.CanWrite);
    }

    [Fact]
    public void AFailedOutputLeavesTheEncoderUnusableButDisposable()
    {
        var zstd = new ZstdCompressStream(new FailingStream(), leaveOpen: false);
        Assert.Throws<IOException>(() => zstd.Write(TestData.Random(20 << 20)));
        Assert.Throws<InvalidOperationException>(() => zstd.Write("more"u8));
        zstd.Dispose(); // does not try to finish the frame, does not throw
    }

    sealed class FailingStream : MemoryStream
    {
        public override void Write(byte[] buffer, int offset, int count) => throw new IOException("disk full");
        public override void Write(ReadOnlySpan<byte> buffer) => throw new IOException("disk full");
    }
}
