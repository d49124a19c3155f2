using Initrd.Formats.Ar;
using Initrd.Formats.Compression;
using Initrd.Formats.Tests.Ar;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Compression;

public class XzTests
{
    public static TheoryData<int, string> Inputs => new()
    {
        { 0, "random" }, { 1, "random" }, { 100_000, "random" }, { 1 << 20, "semi" }, { 1, "compressible" }, { 1 << 20, "compressible" },
    };

    static byte[] Make(int size, string kind) => kind switch
    {
        "random" => TestData.Random(size),
        "compressible" => TestData.Compressible(size),
        _ => TestData.SemiCompressible(size),
    };

    static byte[] Compress(ReadOnlySpan<byte> data, int preset = 6)
    {
        var output = new MemoryStream();
        using (var xz = new XzCompressStream(output, preset, leaveOpen: true))
            xz.Write(data);
        return output.ToArray();
    }

    static byte[] Decompress(byte[] compressed, int readSize = 81920)
    {
        using var xz = new XzDecompressStream(new MemoryStream(compressed));
        var output = new MemoryStream();
        var buffer = new byte[readSize];
        int n;
        while ((n = xz.Read(buffer)) > 0) output.Write(buffer, 0, n);
        return output.ToArray();
    }

    [Fact]
    public unsafe void LzmaStreamHasTheLayoutOfLzmaBaseH()
    {
        // lzma/base.h on LP64: 6 in/out fields, allocator, internal, 4 reserved pointers, 2 uint64_t, 2 size_t, 2 enums.
        Assert.Equal(136, sizeof(LzmaNative.LzmaStream));
        var s = default(LzmaNative.LzmaStream);
        var start = (byte*)&s;
        Assert.Equal(0, (byte*)&s.NextIn - start);
        Assert.Equal(24, (byte*)&s.NextOut - start);
        Assert.Equal(48, (byte*)&s.Allocator - start);
        Assert.Equal(56, (byte*)&s.Internal - start);
        Assert.Equal(96, (byte*)&s.SeekPos - start);
        Assert.Equal(128, (byte*)&s.ReservedEnum1 - start);
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void RoundTrip(int size, string kind)
    {
        var data = Make(size, kind);
        Assert.Equal(data, Decompress(Compress(data)));
        Assert.Equal(data, Decompress(Compress(data, preset: 0), readSize: 1000));
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void XzCliAcceptsOurOutputWithACrc32Check(int size, string kind)
    {
        var xz = ReferenceTool.Require("xz", "xz-utils");
        var data = Make(size, kind);
        using var temp = new TempDirectory();
        var file = temp.Combine("data.xz");
        File.WriteAllBytes(file, Compress(data));

        var test = ReferenceTool.Run(xz, ["-t", file]);
        Assert.True(test.ExitCode == 0, test.ToString());

        var decoded = ReferenceTool.Run(xz, ["-d", "-c", file]);
        Assert.True(decoded.ExitCode == 0, decoded.ToString());
        Assert.Equal(data, decoded.StandardOutputBytes);

        // --robot: "stream <n> <blocks> <offset> <uoffset> <csize> <usize> <ratio> <check> <padding>"
        var list = ReferenceTool.Run(xz, ["--robot", "-lvv", file]);
        Assert.True(list.ExitCode == 0, list.ToString());
        var streams = list.StandardOutput.Split('\n').Where(l => l.StartsWith("stream\t", StringComparison.Ordinal)).ToList();
        Assert.Single(streams);
        Assert.Equal("CRC32", streams[0].Split('\t')[8]);
    }

    [Fact]
    public void OutputMatchesTheCliWithTheSameSettings()
    {
        // xz -6 --check=crc32 (single-threaded) and lzma_easy_encoder(6, CRC32) are the same encoder.
        var xz = ReferenceTool.Require("xz", "xz-utils");
        var data = TestData.SemiCompressible(1 << 20);
        var cli = ReferenceTool.Run(xz, ["-6", "--check=crc32", "-T1", "-c"], standardInput: data);
        Assert.True(cli.ExitCode == 0, cli.ToString());
        Assert.Equal(cli.StandardOutputBytes, Compress(data));
    }

    [Fact]
    public void DecodesTheDataTarOfARealPackage()
    {
        var xz = ReferenceTool.Require("xz", "xz-utils");
        var deb = DebianPackages.Get("passwd");
        using var archive = new ArArchive(File.OpenRead(deb));
        ArEntry? entry;
        while ((entry = archive.GetNextEntry()) is not null && entry.Name != "data.tar.xz") { }
        Assert.NotNull(entry);
        var compressed = new byte[entry.Length];
        entry.DataStream.ReadExactly(compressed);

        var expected = ReferenceTool.Run(xz, ["-d", "-c"], standardInput: compressed);
        Assert.True(expected.ExitCode == 0, expected.ToString());
        Assert.Equal(expected.StandardOutputBytes, Decompress(compressed));
    }

    [Fact]
    public void DecodesConcatenatedStreamsWithPadding()
    {
        var first = TestData.Compressible(100_000);
        var second = TestData.Random(1000);
        byte[] data = [.. Compress(first), 0, 0, 0, 0, .. Compress(second, preset: 1)];
        Assert.Equal([.. first, .. second], Decompress(data));
    }

    [Fact]
    public void CorruptTruncatedEmptyAndForeignDataThrowInvalidDataException()
    {
        var compressed = Compress(TestData.SemiCompressible(300_000));

        var flipped = (byte[])compressed.Clone();
        flipped[compressed.Length / 2] ^= 0x55;
        var e = Assert.Throws<InvalidDataException>(() => Decompress(flipped));
        Assert.Contains("LZMA_DATA_ERROR", e.Message);

        e = Assert.Throws<InvalidDataException>(() => Decompress(compressed[..^20]));
        Assert.Contains("truncated", e.Message);
        Assert.Throws<InvalidDataException>(() => Decompress(compressed[..5]));

        e = Assert.Throws<InvalidDataException>(() => Decompress([]));
        Assert.Contains("empty", e.Message);

        e = Assert.Throws<InvalidDataException>(() => Decompress("definitely not xz"u8.ToArray()));
        Assert.Contains("LZMA_FORMAT_ERROR", e.Message);

        e = Assert.Throws<InvalidDataException>(() => Decompress([.. compressed, 1, 2, 3, 4]));
        Assert.Contains("xz", e.Message);
    }

    [Fact]
    public void RejectsInvalidPresets()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new XzCompressStream(new MemoryStream(), preset: 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => new XzCompressStream(new MemoryStream(), preset: -1));
        var output = new MemoryStream();
        using (var extreme = new XzCompressStream(output, preset: 9, extreme: true, leaveOpen: true)) extreme.Write("x"u8);
        Assert.Equal("x"u8.ToArray(), Decompress(output.ToArray()));
    }
}
