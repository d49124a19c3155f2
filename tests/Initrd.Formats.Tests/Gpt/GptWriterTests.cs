using System.Buffers.Binary;
using Initrd.Formats.Common;
using Initrd.Formats.Gpt;
using static Initrd.Formats.Tests.Gpt.GptTestSupport;

namespace Initrd.Formats.Tests.Gpt;

public class GptWriterTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public void LayoutFollowsSystemdRepartWith4KiBAlignment()
    {
        var table = GptWriter.Plan(SysextLike(), new GptWriteOptions { DiskGuid = DiskGuid });
        // 10000 bytes → 12288 (3 × 4096) from LBA 40; 8192 from the next 4 KiB boundary; 4096 after that.
        Assert.Equal([(40L, 63L), (64L, 79L), (80L, 87L)], table.Entries.Select(e => (e.FirstLba, e.LastLba)));
        Assert.Equal(34, table.FirstUsableLba);
        // End of data at LBA 88, + 33 backup sectors = 121, rounded up to 4 KiB = 128 sectors.
        Assert.Equal(128, table.SectorCount);
        Assert.Equal(128 - 34, table.LastUsableLba);
        Assert.Equal(12288, table.Entries[0].Length);
        Assert.Equal(40 * 512, table.Entries[0].Offset);
    }

    [Fact]
    public void MebibyteAlignmentStartsAtLba2048()
    {
        var table = GptWriter.Plan(SysextLike(), new GptWriteOptions { DiskGuid = DiskGuid, Alignment = 1 << 20 });
        Assert.Equal([2048L, 4096L, 6144L], table.Entries.Select(e => e.FirstLba));
        Assert.Equal((1L << 20) / 512, table.Entries[0].Length / 512);
        Assert.Equal(0, table.Length % (1 << 20));
    }

    [Fact]
    public void ExplicitSizeIsKeptAndContentIsFollowedByZeros()
    {
        var parts = SysextLike();
        parts[0] = parts[0] with { Size = 64 * 1024 };
        var image = WriteToArray(parts);
        var table = GptReader.Read(new MemoryStream(image));
        Assert.Equal(64 * 1024, table.Entries[0].Length);
        var partition = GptReader.ReadPartition(new MemoryStream(image), table.Entries[0]);
        Assert.Equal(Bytes(10_000, 1), partition[..10_000]);
        Assert.All(partition[10_000..], b => Assert.Equal(0, b));
    }

    [Fact]
    public void HeadersArraysAndMbrAreWhatTheSpecificationSays()
    {
        var image = WriteToArray(SysextLike());
        var sectors = image.Length / 512;
        Assert.Equal(128, sectors);

        // Protective MBR.
        Assert.Equal(0x55, image[510]);
        Assert.Equal(0xAA, image[511]);
        Assert.Equal([0x00, 0x00, 0x02, 0x00, 0xEE, 0xFF, 0xFF, 0xFF], image[446..454]);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(454)));
        Assert.Equal((uint)(sectors - 1), BinaryPrimitives.ReadUInt32LittleEndian(image.AsSpan(458)));
        Assert.All(image[..446], b => Assert.Equal(0, b));

        var primary = image.AsSpan(512, 512);
        var backup = image.AsSpan((sectors - 1) * 512, 512);
        Assert.Equal("EFI PART"u8.ToArray(), primary[..8].ToArray());
        Assert.Equal(1L, BinaryPrimitives.ReadInt64LittleEndian(primary[24..]));
        Assert.Equal(sectors - 1L, BinaryPrimitives.ReadInt64LittleEndian(primary[32..]));
        Assert.Equal(2L, BinaryPrimitives.ReadInt64LittleEndian(primary[72..]));
        Assert.Equal(sectors - 1L, BinaryPrimitives.ReadInt64LittleEndian(backup[24..]));
        Assert.Equal(1L, BinaryPrimitives.ReadInt64LittleEndian(backup[32..]));
        Assert.Equal(sectors - 33L, BinaryPrimitives.ReadInt64LittleEndian(backup[72..]));

        // Both arrays identical, and the stored CRCs are the CRCs of what is there.
        var array = image.AsSpan(2 * 512, 16384);
        Assert.True(array.SequenceEqual(image.AsSpan((sectors - 33) * 512, 16384)));
        foreach (var header in new[] { primary.ToArray(), backup.ToArray() })
        {
            Assert.Equal(Crc32.Compute(array), BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(88)));
            var stored = BinaryPrimitives.ReadUInt32LittleEndian(header.AsSpan(16));
            header.AsSpan(16, 4).Clear();
            Assert.Equal(Crc32.Compute(header.AsSpan(0, 92)), stored);
            Assert.All(header[92..], b => Assert.Equal(0, b));
        }

        // Entry 0: mixed-endian GUIDs, UTF-16LE name, attributes.
        var entry = array[..128];
        Assert.Equal(DiscoverablePartitions.X86_64.Root.ToByteArray(), entry[..16].ToArray());
        Assert.Equal(new byte[] { 0x89, 0x93, 0x42, 0x2d, 0xfa, 0xd9, 0x13, 0x71, 0xbb, 0x31 }, entry[16..26].ToArray());
        Assert.Equal(1UL << 60, BinaryPrimitives.ReadUInt64LittleEndian(entry[48..]));
        Assert.Equal("root-x86-64"u8.ToArray().SelectMany(c => new[] { c, (byte)0 }).ToArray(), entry[56..78].ToArray());
        Assert.All(array[(3 * 128)..].ToArray(), b => Assert.Equal(0, b));
    }

    [Fact]
    public void ReaderReturnsWhatWasWritten()
    {
        var parts = SysextLike();
        var image = WriteToArray(parts);
        var table = GptReader.Read(new MemoryStream(image));
        Assert.Equal(DiskGuid, table.DiskGuid);
        Assert.Equal(GptWriter.Plan(parts, new GptWriteOptions { DiskGuid = DiskGuid }), table, new TableComparer());
        for (var i = 0; i < parts.Count; i++)
        {
            Assert.Equal(parts[i].Type, table.Entries[i].Type);
            Assert.Equal(parts[i].Uuid, table.Entries[i].Uuid);
            Assert.Equal(parts[i].Name, table.Entries[i].Name);
            Assert.Equal(parts[i].Attributes, table.Entries[i].Attributes);
            var content = GptReader.ReadPartition(new MemoryStream(image), table.Entries[i]);
            using var expected = parts[i].Content.Open();
            var bytes = new byte[parts[i].Content.Length];
            expected.ReadExactly(bytes);
            Assert.Equal(bytes, content[..bytes.Length]);
        }
    }

    sealed class TableComparer : IEqualityComparer<GptTable>
    {
        public bool Equals(GptTable? a, GptTable? b) => a!.DiskGuid == b!.DiskGuid && a.SectorCount == b.SectorCount
            && a.FirstUsableLba == b.FirstUsableLba && a.LastUsableLba == b.LastUsableLba && a.Entries.SequenceEqual(b.Entries);
        public int GetHashCode(GptTable t) => t.SectorCount.GetHashCode();
    }

    [Fact]
    public void ThirtySixCharacterNameFillsTheFieldWithoutTerminator()
    {
        var parts = SysextLike();
        var name = new string('é', 35) + "Z";
        parts[0] = parts[0] with { Name = name };
        var table = GptReader.Read(new MemoryStream(WriteToArray(parts)));
        Assert.Equal(name, table.Entries[0].Name);
    }

    [Fact]
    public void SameInputsGiveTheSameBytesAndNonSeekableOutputWorks()
    {
        var a = WriteToArray(SysextLike());
        var b = WriteToArray(SysextLike());
        Assert.Equal(a, b);
        var sink = new ForwardOnlySink();
        GptWriter.Write(sink, SysextLike(), new GptWriteOptions { DiskGuid = DiskGuid }, Ct);
        Assert.Equal(a, sink.ToArray());
    }

    [Fact]
    public void InvalidInputsAreRefusedBeforeWriting()
    {
        var opts = new GptWriteOptions { DiskGuid = DiskGuid };
        string Refused(Func<List<GptPartition>, List<GptPartition>> change, GptWriteOptions? o = null)
        {
            var output = new MemoryStream();
            var e = Assert.Throws<ArgumentException>(() => GptWriter.Write(output, change(SysextLike()), o ?? opts, Ct));
            Assert.Equal(0, output.Length);
            return e.Message;
        }
        Assert.Contains("at most 36", Refused(p => { p[0] = p[0] with { Name = new string('x', 37) }; return p; }));
        Assert.Contains("used twice", Refused(p => { p[1] = p[1] with { Uuid = p[0].Uuid }; return p; }));
        Assert.Contains("unused entry", Refused(p => { p[2] = p[2] with { Type = Guid.Empty }; return p; }));
        Assert.Contains("smaller than its content", Refused(p => { p[0] = p[0] with { Size = 4096 }; return p; }));
        Assert.Contains("multiple of 512", Refused(p => { p[0] = p[0] with { Size = 20000 }; return p; }));
        Assert.Contains("content is empty", Refused(p => { p[0] = p[0] with { Content = GptPartitionContent.FromBytes(Array.Empty<byte>()) }; return p; }));
        Assert.Contains("unpaired surrogate", Refused(p => { p[0] = p[0] with { Name = "a\ud800" }; return p; }));
        Assert.Contains("power of two", Refused(p => p, opts with { Alignment = 3000 }));
        Assert.Contains("must not be all zeros", Refused(p => p, opts with { DiskGuid = Guid.Empty }));
        Assert.Contains("do not fit", Refused(p => Enumerable.Range(0, 129).Select(i => p[0] with { Uuid = Guid.CreateVersion7() }).ToList()));
    }

    [Fact]
    public void ShortContentStreamIsAnError()
    {
        var parts = SysextLike();
        parts[0] = parts[0] with { Content = GptPartitionContent.FromStream(new MemoryStream(new byte[100]), 5000) };
        var e = Assert.Throws<InvalidDataException>(() => GptWriter.Write(new MemoryStream(), parts, new GptWriteOptions { DiskGuid = DiskGuid }, Ct));
        Assert.Contains("content ended after 100 of 5000 bytes", e.Message);
    }

    [Fact]
    public void ReaderNamesTheBrokenField()
    {
        var image = WriteToArray(SysextLike());
        string Broken(Action<byte[]> damage)
        {
            var copy = image.ToArray();
            damage(copy);
            return Assert.Throws<InvalidDataException>(() => GptReader.Read(new MemoryStream(copy))).Message;
        }
        Assert.Contains("primary GPT header HeaderCRC32 (offset 528)", Broken(b => b[512 + 40] ^= 1));
        Assert.Contains("PartitionEntryArrayCRC32", Broken(b => b[1024 + 60] ^= 1));
        Assert.Contains("backup GPT header at offset", Broken(b => b[image.Length - 512] = 0));
        Assert.Contains("MBR signature at offset 510", Broken(b => b[510] = 0));
        Assert.Contains("no protective partition record", Broken(b => b[450] = 0x83));
        Assert.Contains("truncated or extended", Assert.Throws<InvalidDataException>(() => GptReader.Read(new MemoryStream([.. image, .. new byte[512]]))).Message);
    }

    /// <summary>A write-only stream without Seek or Position (a pipe).</summary>
    sealed class ForwardOnlySink : Stream
    {
        readonly MemoryStream _inner = new();
        public byte[] ToArray() => _inner.ToArray();
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => _inner.Write(buffer, offset, count);
    }
}
