using Initrd.Formats.Common;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Common;

public class ByteSourceTests
{
    static byte[] Bytes(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    [Fact]
    public void AConcatenationReadsAsThePartsEachPaddedToTheAlignment()
    {
        using var temp = new TempDirectory("bytesource");
        var parts = new[] { Bytes(5, 1), Bytes(0, 2), Bytes(8, 3), Bytes(4099, 4) };
        File.WriteAllBytes(temp.Combine("file"), parts[2]);
        using var file = ByteSource.FromFile(temp.Combine("file"));
        var joined = ByteSource.Concatenate([parts[0], parts[1], file, parts[3]], alignment: 4);

        byte[] expected = [.. parts[0], 0, 0, 0, .. parts[2], .. parts[3], 0];
        Assert.Equal(expected.Length, joined.Length);
        Assert.Equal(expected, joined.ToArray());
        // Any window reads the same bytes, across part and padding boundaries.
        foreach (var (offset, length) in new[] { (0, 1), (4, 5), (5, 3), (7, 10), (16, 4100), (expected.Length - 1, 1) })
        {
            var window = new byte[length];
            joined.ReadAt(offset, window);
            Assert.Equal(expected.AsSpan(offset, length).ToArray(), window);
        }
        // One part is used as it is, unpadded.
        Assert.Same(file, ByteSource.Concatenate([file], alignment: 4096));
    }

    [Fact]
    public void AFileThatShrinksWhileOpenIsAnIOErrorNamingIt()
    {
        using var temp = new TempDirectory("bytesource");
        var path = temp.Combine("initrd.cpio");
        File.WriteAllBytes(path, Bytes(10_000, 5));
        using var source = ByteSource.FromFile(path);
        File.WriteAllBytes(path, Bytes(100, 6));   // truncated in place
        var e = Assert.Throws<IOException>(() => source.ToArray());
        Assert.Contains(path, e.Message);
        Assert.Contains("shorter", e.Message);
    }

    [Fact]
    public void AStreamIsReadUpToItsLengthWhenTaken()
    {
        var data = Bytes(3000, 7);
        using var memory = new MemoryStream();
        memory.Write(data);
        var fromMemory = ByteSource.FromStream(memory);
        memory.Write([1, 2, 3]);
        Assert.Equal(data, fromMemory.ToArray());

        using var temp = new TempDirectory("bytesource");
        using var file = new FileStream(temp.Combine("f"), FileMode.CreateNew, FileAccess.ReadWrite);
        file.Write(data);   // buffered: taken only after a flush, which FromStream does
        var fromFile = ByteSource.FromStream(file);
        Assert.Equal(data, fromFile.ToArray());
        Assert.Equal(data.Length, file.Position);
    }
}
