using System.Text;
using Initrd.Formats.Cpio;

namespace Initrd.Formats.Tests.Cpio;

public class NewcLayoutTests
{
    [Fact]
    public void OffsetsFollowTheFieldOrderOfBufferFormat()
    {
        Assert.Equal(110, NewcLayout.HeaderLength);
        Assert.Equal(13, Enum.GetValues<NewcField>().Length);
        Assert.Equal(6, NewcLayout.OffsetOf(NewcField.Inode));
        Assert.Equal(NewcLayout.ModeOffset, NewcLayout.OffsetOf(NewcField.Mode));
        Assert.Equal(NewcLayout.FileSizeOffset, NewcLayout.OffsetOf(NewcField.FileSize));
        Assert.Equal(54, NewcLayout.FileSizeOffset);
        Assert.Equal(94, NewcLayout.NameSizeOffset);
        Assert.Equal(102, NewcLayout.CheckOffset);
        Assert.Equal(NewcLayout.CheckOffset, NewcLayout.OffsetOf(NewcField.Check));
        Assert.Equal("070701"u8.ToArray(), NewcLayout.MagicBytes.ToArray());
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(1, 3)]
    [InlineData(2, 2)]
    [InlineData(3, 1)]
    [InlineData(4, 0)]
    [InlineData(4294967295L, 1)]
    public void PaddingBringsLengthsToFourBytes(long length, int padding)
    {
        Assert.Equal(padding, NewcLayout.PaddingFor(length));
        Assert.Equal(length + padding, NewcLayout.Align(length));
    }

    [Fact]
    public void HeaderAndNameAreAlignedTogether()
    {
        // 110 + namesize: namesize 2 → 112 (no padding), namesize 1 → 111 → 112, namesize 3 → 113 → 116.
        Assert.Equal(112, NewcLayout.HeaderAndNameLength(1));
        Assert.Equal(112, NewcLayout.HeaderAndNameLength(2));
        Assert.Equal(116, NewcLayout.HeaderAndNameLength(3));
    }
}

public class CpioNewcWriterTests
{
    [Fact]
    public void HeaderIsMagicAndThirteenUppercaseHexFieldsInOrder()
    {
        using var ms = new MemoryStream();
        using (var w = new CpioNewcWriter(ms, leaveOpen: true))
        {
            w.WriteHeader(new CpioHeader
            {
                Inode = 1, Mode = 0x81ED, Uid = 0x3E8, Gid = 0xABCDEF01, LinkCount = 3, ModificationTime = 0x6553F100,
                FileSize = 5, DevMajor = 8, DevMinor = 9, RDevMajor = 10, RDevMinor = 11, Check = 0,
            }, "a/b");
            w.WriteData("hello"u8);
        }
        var expected =
            "070701" + "00000001" + "000081ED" + "000003E8" + "ABCDEF01" + "00000003" + "6553F100" + "00000005"
            + "00000008" + "00000009" + "0000000A" + "0000000B" + "00000004" + "00000000"
            + "a/b\0" // 110 + 4 = 114 → 2 NULs of padding
            + "\0\0"
            + "hello" + "\0\0\0";
        Assert.Equal(expected, Encoding.ASCII.GetString(ms.ToArray()));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("ab")]
    [InlineData("abc")]
    [InlineData("abcd")]
    [InlineData("abcde")]
    [InlineData("ünï")]
    public void EveryHeaderStartsAligned(string name)
    {
        using var ms = new MemoryStream();
        using (var w = new CpioNewcWriter(ms, leaveOpen: true))
        {
            for (var size = 0; size < 6; size++)
            {
                w.WriteHeader(new CpioHeader { Inode = size + 1, Mode = 0x81A4, LinkCount = 1, FileSize = size }, name + size);
                w.WriteData(new byte[size]);
                Assert.Equal(0, w.Position % 4);
            }
            w.WriteTrailer();
        }
        var (entries, trailer, end) = NewcReader.Parse(ms.ToArray());
        Assert.Equal(6, entries.Count);
        Assert.Equal(ms.Length, end);
        Assert.Equal(name + "3", entries[3].Name);
        Assert.Equal(1u, trailer[NewcField.LinkCount]);
        Assert.Equal(0u, trailer[NewcField.Inode]);
        Assert.Equal(11u, trailer[NewcField.NameSize]);
    }

    [Fact]
    public void SizeOver4GiBIsRejectedNamingTheEntry()
    {
        using var w = new CpioNewcWriter(new MemoryStream());
        var e = Assert.Throws<ArgumentException>(() => w.WriteHeader(new CpioHeader { Mode = 0x81A4, FileSize = 1L << 32 }, "usr/lib/huge"));
        Assert.Contains("usr/lib/huge", e.Message);
        Assert.Contains("4294967296", e.Message);
        Assert.Contains("4 GiB", e.Message);
        Assert.Equal(0, w.Position); // nothing written for a rejected header
    }

    [Theory]
    [InlineData(nameof(CpioHeader.Uid))]
    [InlineData(nameof(CpioHeader.ModificationTime))]
    [InlineData(nameof(CpioHeader.RDevMinor))]
    public void NegativeOrHugeFieldsAreRejected(string field)
    {
        using var w = new CpioNewcWriter(new MemoryStream());
        var h = field switch
        {
            nameof(CpioHeader.Uid) => new CpioHeader { Uid = -1 },
            nameof(CpioHeader.ModificationTime) => new CpioHeader { ModificationTime = 1L << 33 },
            _ => new CpioHeader { RDevMinor = uint.MaxValue + 1L },
        };
        var e = Assert.Throws<ArgumentException>(() => w.WriteHeader(h, "etc/x"));
        Assert.Contains("etc/x", e.Message);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a\0b")]
    [InlineData("TRAILER!!!")]
    public void BadNamesAreRejected(string name)
    {
        using var w = new CpioNewcWriter(new MemoryStream());
        Assert.Throws<ArgumentException>(() => w.WriteHeader(new CpioHeader { Mode = 0x81A4 }, name));
        Assert.Equal(0, w.Position);
    }

    [Fact]
    public void UnpairedSurrogateIsRejected() // not a theory: serialized theory data would replace the lone surrogate
    {
        using var w = new CpioNewcWriter(new MemoryStream());
        var e = Assert.Throws<ArgumentException>(() => w.WriteHeader(new CpioHeader { Mode = 0x81A4 }, "bad\uD800name"));
        Assert.Contains("surrogate", e.Message);
    }

    [Fact]
    public void DataMustMatchTheDeclaredSize()
    {
        using var w = new CpioNewcWriter(new MemoryStream());
        w.WriteHeader(new CpioHeader { Mode = 0x81A4, LinkCount = 1, FileSize = 3 }, "f");
        var e = Assert.Throws<ArgumentException>(() => w.WriteData("four"u8));
        Assert.Contains("'f'", e.Message);
        w.WriteData("ab"u8);
        Assert.Equal(1, w.RemainingDataLength);
        var e2 = Assert.Throws<InvalidOperationException>(() => w.WriteHeader(new CpioHeader { Mode = 0x81A4 }, "g"));
        Assert.Contains("'f'", e2.Message);
        Assert.Throws<InvalidOperationException>(w.WriteTrailer);
        w.WriteData("c"u8);
        w.WriteTrailer();
        Assert.Throws<InvalidOperationException>(() => w.WriteHeader(new CpioHeader(), "h"));
    }

    [Fact]
    public void ShortSourceStreamIsAnErrorNamingTheEntry()
    {
        using var w = new CpioNewcWriter(new MemoryStream());
        w.WriteHeader(new CpioHeader { Mode = 0x81A4, LinkCount = 1, FileSize = 10 }, "usr/bin/short");
        var e = Assert.Throws<InvalidDataException>(() => w.WriteData(new MemoryStream(new byte[7]), 10));
        Assert.Contains("usr/bin/short", e.Message);
        Assert.Contains("7 of 10", e.Message);
    }

    [Fact]
    public void StreamDataIsReadInLargeChunksAndWrittenInLargeWrites()
    {
        var content = new byte[5 * 1024 * 1024 + 17];
        new Random(1).NextBytes(content);
        var source = new RecordingStream(new MemoryStream(content));
        var sink = new RecordingStream(new MemoryStream());
        using (var w = new CpioNewcWriter(sink, leaveOpen: true))
        {
            for (var i = 0; i < 3; i++) // small entries first, so the buffer is partly filled when the big copy starts
            {
                w.WriteHeader(new CpioHeader { Inode = i + 1, Mode = 0x81A4, LinkCount = 1, FileSize = 3 }, $"small{i}");
                w.WriteData("abc"u8);
            }
            w.WriteHeader(new CpioHeader { Inode = 9, Mode = 0x81A4, LinkCount = 1, FileSize = content.Length }, "big");
            w.WriteData(source, content.Length);
            w.WriteTrailer();
        }
        // Every read asks for at least 128 KiB unless less than that is left of the file.
        long left = content.Length;
        foreach (var (requested, got) in source.Reads)
        {
            Assert.True(requested >= CpioNewcWriter.MinimumReadSize || requested == left, $"read of {requested} with {left} left");
            left -= got;
        }
        Assert.Equal(0, left);
        // All writes but the last are whole buffers.
        Assert.All(sink.Writes.SkipLast(1), n => Assert.True(n >= CpioNewcWriter.MinimumReadSize, $"write of {n}"));
        var (entries, _, _) = NewcReader.Parse(((MemoryStream)sink.Inner).ToArray());
        Assert.Equal(content, entries[3].Data);
    }

    [Fact]
    public void SpansLargerThanTheBufferAndSplitSpansAreWrittenInOrder()
    {
        var content = new byte[3 * CpioNewcWriter.MinimumReadSize + 5];
        new Random(7).NextBytes(content);
        using var ms = new MemoryStream();
        using (var w = new CpioNewcWriter(ms, leaveOpen: true, bufferSize: CpioNewcWriter.MinimumReadSize))
        {
            w.WriteHeader(new CpioHeader { Inode = 1, Mode = 0x81A4, LinkCount = 1, FileSize = content.Length }, "big");
            w.WriteData(content.AsSpan(0, 10));
            w.WriteData(content.AsSpan(10, content.Length - 20)); // more than the whole buffer: written directly
            w.WriteData(content.AsSpan(content.Length - 10));
            w.WriteHeader(new CpioHeader { Inode = 2, Mode = 0x81A4, LinkCount = 1, FileSize = 1 }, "after");
            w.WriteData([42]);
            w.WriteTrailer();
        }
        var (entries, _, _) = NewcReader.Parse(ms.ToArray());
        Assert.Equal(content, entries[0].Data);
        Assert.Equal([42], entries[1].Data);
    }

    [Fact]
    public void RawByteNamesAreWrittenAsGiven()
    {
        using var ms = new MemoryStream();
        using (var w = new CpioNewcWriter(ms, leaveOpen: true))
        {
            w.WriteHeader(new CpioHeader { Inode = 1, Mode = 0x81A4, LinkCount = 1 }, [(byte)'l', (byte)'a', 0xE9, (byte)'1']); // Latin-1, not UTF-8
            Assert.Throws<ArgumentException>(() => w.WriteHeader(new CpioHeader(), [(byte)'a', 0, (byte)'b']));
            w.WriteTrailer();
        }
        var (entries, _, _) = NewcReader.Parse(ms.ToArray());
        Assert.Equal(new byte[] { (byte)'l', (byte)'a', 0xE9, (byte)'1' }, Assert.Single(entries).NameBytes);
        Assert.Equal(5u, entries[0][NewcField.NameSize]);
    }

    [Fact]
    public void NamesLongerThanTheBufferStillWork()
    {
        var name = string.Join('/', Enumerable.Repeat(new string('n', 200), 1000)); // ~200 KB, beyond a 128 KiB buffer
        using var ms = new MemoryStream();
        using (var w = new CpioNewcWriter(ms, leaveOpen: true, bufferSize: CpioNewcWriter.MinimumReadSize))
        {
            w.WriteHeader(new CpioHeader { Mode = 0x41ED, LinkCount = 2 }, name);
            w.WriteTrailer();
        }
        var (entries, _, _) = NewcReader.Parse(ms.ToArray());
        Assert.Equal(name, Assert.Single(entries).Name);
    }

    [Fact]
    public void DisposeLeavesTheStreamOpenOnlyWhenAsked()
    {
        var open = new MemoryStream();
        new CpioNewcWriter(open, leaveOpen: true).Dispose();
        Assert.True(open.CanWrite);
        var closed = new MemoryStream();
        new CpioNewcWriter(closed).Dispose();
        Assert.False(closed.CanWrite);
    }

    sealed class RecordingStream(Stream inner) : Stream
    {
        public Stream Inner { get; } = inner;
        public List<(int Requested, int Got)> Reads { get; } = [];
        public List<int> Writes { get; } = [];
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() => Inner.Flush();

        public override int Read(byte[] buffer, int offset, int count)
        {
            var n = Inner.Read(buffer, offset, count);
            Reads.Add((count, n));
            return n;
        }

        public override void Write(byte[] buffer, int offset, int count)
        {
            Writes.Add(count);
            Inner.Write(buffer, offset, count);
        }

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
