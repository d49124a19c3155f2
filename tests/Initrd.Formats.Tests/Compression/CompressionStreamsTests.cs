using Initrd.Formats.Compression;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Compression;

public class CompressionStreamsTests
{
    static byte[] Write(CompressionFormat format, byte[] data, int? level = null)
    {
        var output = new MemoryStream();
        using (var stream = CompressionStreams.OpenWrite(output, format, level ?? CompressionStreams.DefaultLevel(format), leaveOpen: true))
            stream.Write(data);
        return output.ToArray();
    }

    static byte[] Read(CompressionFormat format, byte[] compressed)
    {
        using var stream = CompressionStreams.OpenRead(new MemoryStream(compressed), format);
        var output = new MemoryStream();
        stream.CopyTo(output);
        return output.ToArray();
    }

    [Theory]
    [InlineData(CompressionFormat.None)]
    [InlineData(CompressionFormat.Gzip)]
    [InlineData(CompressionFormat.Xz)]
    [InlineData(CompressionFormat.Zstd)]
    public void RoundTripsAndIsDetectedByItsMagic(CompressionFormat format)
    {
        var data = TestData.SemiCompressible(400_000);
        var compressed = Write(format, data);
        Assert.Equal(data, Read(format, compressed));
        Assert.Equal(format, CompressionStreams.Detect(compressed.AsSpan(0, CompressionStreams.MagicLength)));
        if (format != CompressionFormat.None) Assert.True(compressed.Length < data.Length);
    }

    [Theory]
    [InlineData(CompressionFormat.None)]
    [InlineData(CompressionFormat.Gzip)]
    [InlineData(CompressionFormat.Xz)]
    [InlineData(CompressionFormat.Zstd)]
    public void LeaveOpenIsHonouredForEveryFormat(CompressionFormat format)
    {
        var output = new MemoryStream();
        CompressionStreams.OpenWrite(output, format, CompressionStreams.DefaultLevel(format), leaveOpen: true).Dispose();
        Assert.True(output.CanWrite);
        CompressionStreams.OpenWrite(output, format, CompressionStreams.DefaultLevel(format), leaveOpen: false).Dispose();
        Assert.False(output.CanWrite);

        var input = new MemoryStream(Write(format, [1, 2, 3]));
        CompressionStreams.OpenRead(input, format, leaveOpen: true).Dispose();
        Assert.True(input.CanRead);
        CompressionStreams.OpenRead(input, format, leaveOpen: false).Dispose();
        Assert.False(input.CanRead);
    }

    [Fact]
    public void OutputIsReproducibleForEveryFormat()
    {
        var data = TestData.SemiCompressible(512 * 1024);
        foreach (var format in Enum.GetValues<CompressionFormat>())
            Assert.Equal(Write(format, data), Write(format, data));
    }

    [Fact]
    public void GzipOutputIsAcceptedByGzip()
    {
        var gzip = ReferenceTool.Require("gzip", "gzip");
        var data = TestData.SemiCompressible(1 << 20);
        var result = ReferenceTool.Run(gzip, ["-d", "-c"], standardInput: Write(CompressionFormat.Gzip, data, level: 9));
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(data, result.StandardOutputBytes);
    }

    [Fact]
    public void CorruptGzipThrowsInvalidDataException()
    {
        var compressed = Write(CompressionFormat.Gzip, TestData.SemiCompressible(300_000));
        compressed[compressed.Length / 2] ^= 0x55;
        Assert.Throws<InvalidDataException>(() => Read(CompressionFormat.Gzip, compressed));
    }

    [Fact]
    public void LevelsAreValidated()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => CompressionStreams.OpenWrite(new MemoryStream(), CompressionFormat.Gzip, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => CompressionStreams.OpenWrite(new MemoryStream(), CompressionFormat.Xz, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => CompressionStreams.OpenWrite(new MemoryStream(), CompressionFormat.Zstd, 99));
        Assert.Throws<ArgumentOutOfRangeException>(() => CompressionStreams.OpenWrite(new MemoryStream(), (CompressionFormat)42, 1));
    }

    [Theory]
    [InlineData(new byte[] { 0x1F, 0x8B, 0x08, 0x00 }, CompressionFormat.Gzip)]
    [InlineData(new byte[] { 0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00 }, CompressionFormat.Xz)]
    [InlineData(new byte[] { 0xFD, 0x37, 0x7A, 0x58, 0x5A }, CompressionFormat.None)] // too short to tell
    [InlineData(new byte[] { 0x28, 0xB5, 0x2F, 0xFD }, CompressionFormat.Zstd)]
    [InlineData(new byte[] { 0x50, 0x2A, 0x4D, 0x18, 0, 0, 0, 0 }, CompressionFormat.Zstd)] // skippable frame
    [InlineData(new byte[] { 0x5F, 0x2A, 0x4D, 0x18 }, CompressionFormat.Zstd)]
    [InlineData(new byte[] { 0x60, 0x2A, 0x4D, 0x18 }, CompressionFormat.None)]
    [InlineData(new byte[] { 0x1F }, CompressionFormat.None)]
    [InlineData(new byte[] { }, CompressionFormat.None)]
    [InlineData(new byte[] { (byte)'.', (byte)'/', 0, 0, 0, 0 }, CompressionFormat.None)] // a tar archive
    public void DetectsFormatsByMagic(byte[] header, CompressionFormat expected) =>
        Assert.Equal(expected, CompressionStreams.Detect(header));

    [Theory]
    [InlineData("data.tar.xz", CompressionFormat.Xz)]
    [InlineData("data.tar.zst", CompressionFormat.Zstd)]
    [InlineData("control.tar.gz", CompressionFormat.Gzip)]
    [InlineData("data.tar", CompressionFormat.None)]
    [InlineData("debian-binary", CompressionFormat.None)]
    [InlineData("dir.xz/file", CompressionFormat.None)]
    [InlineData("initrd.cpio.zst", CompressionFormat.Zstd)]
    [InlineData("data.tar.XZ", CompressionFormat.None)]
    [InlineData("data.tar.bz2", null)]
    [InlineData("data.tar.lzma", null)]
    [InlineData("file.Z", null)]
    public void DetectsFormatsByFileName(string name, CompressionFormat? expected)
    {
        Assert.Equal(expected, CompressionStreams.FromFileName(name));
        if (expected is { } format && format != CompressionFormat.None)
            Assert.EndsWith(CompressionStreams.FileSuffix(format), name);
    }
}
