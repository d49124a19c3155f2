using System.Buffers.Binary;
using Initrd.Formats.Verity;
using static Initrd.Formats.Tests.Verity.VerityTestSupport;

namespace Initrd.Formats.Tests.Verity;

public class VerityHashTreeTests
{
    static readonly byte[] FixedSalt = Convert.FromHexString("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff");

    [Fact]
    public void SuperblockFieldsFollowEachOtherAndFill512Bytes()
    {
        Assert.Equal(0, VerityLayout.SignatureOffset);
        Assert.Equal(8, VerityLayout.VersionOffset);
        Assert.Equal(16, VerityLayout.UuidOffset);
        Assert.Equal(32, VerityLayout.AlgorithmOffset);
        Assert.Equal(64, VerityLayout.DataBlockSizeOffset);
        Assert.Equal(72, VerityLayout.DataBlocksOffset);
        Assert.Equal(80, VerityLayout.SaltSizeOffset);
        Assert.Equal(88, VerityLayout.SaltOffset);
        Assert.Equal(512, VerityLayout.SuperblockLength);
    }

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 1)]
    [InlineData(128, 1)]
    [InlineData(129, 2)]
    [InlineData(16384, 2)]
    [InlineData(16385, 3)]
    public void LevelCountFollowsCryptsetup(long blocks, int levels) => Assert.Equal(levels, VerityLayout.LevelCount(blocks));

    [Theory]
    [InlineData(1)]
    [InlineData(4096)]
    [InlineData(4097)]
    [InlineData(2 * 4096)]
    [InlineData(128 * 4096)]
    [InlineData(129 * 4096 - 100)]
    [InlineData(300 * 4096 + 7)]
    public void TreeMatchesTheNaiveReference(int length)
    {
        var data = Data(length, seed: length);
        var tree = Compute(new MemoryStream(data), new VerityOptions { Salt = FixedSalt });
        var (root, naive) = NaiveTree(data, FixedSalt);

        Assert.Equal(Convert.ToHexStringLower(root), tree.RootHashHex);
        var device = tree.ToHashDeviceArray();
        Assert.Equal(tree.HashDeviceLength, device.Length);
        Assert.Equal(naive, device[VerityLayout.HashBlockSize..]);
        Assert.Equal((length + 4095) / 4096, tree.DataBlocks);
        Assert.Equal(tree.DataBlocks * 4096, tree.DataLength);
    }

    [Fact]
    public void SuperblockIsWrittenAndReadBack()
    {
        var uuid = new Guid("0d5b2c8e-44f1-4c4e-9c3e-2a1b0c9d8e7f");
        var tree = Compute(new MemoryStream(Data(3 * 4096, 1)), new VerityOptions { Salt = FixedSalt, Uuid = uuid });
        var device = tree.ToHashDeviceArray();

        Assert.Equal("verity\0\0"u8.ToArray(), device[..8]);
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(device.AsSpan(8)));
        Assert.Equal(1u, BinaryPrimitives.ReadUInt32LittleEndian(device.AsSpan(12)));
        Assert.Equal(Convert.FromHexString("0d5b2c8e44f14c4e9c3e2a1b0c9d8e7f"), device[16..32]); // text order
        Assert.Equal(3ul, BinaryPrimitives.ReadUInt64LittleEndian(device.AsSpan(72)));
        Assert.All(device[VerityLayout.SuperblockLength..VerityLayout.HashBlockSize], b => Assert.Equal(0, b));

        var sb = VeritySuperblock.Read(device);
        Assert.Equal(uuid, sb.Uuid);
        Assert.Equal("sha256", sb.Algorithm);
        Assert.Equal(4096u, sb.DataBlockSize);
        Assert.Equal(4096u, sb.HashBlockSize);
        Assert.Equal(3, sb.DataBlocks);
        Assert.Equal(FixedSalt, sb.Salt.ToArray());
        Assert.Equal(tree.Superblock with { Salt = default }, sb with { Salt = default });
    }

    [Fact]
    public void CorruptSuperblockNamesTheField()
    {
        var device = Compute(new MemoryStream(Data(4096, 2)), new VerityOptions { Salt = FixedSalt }).ToHashDeviceArray();
        var badMagic = device.ToArray();
        badMagic[0] = (byte)'V';
        Assert.Contains("signature at offset 0", Assert.Throws<InvalidDataException>(() => VeritySuperblock.Read(badMagic)).Message);
        var badSalt = device.ToArray();
        BinaryPrimitives.WriteUInt16LittleEndian(badSalt.AsSpan(VerityLayout.SaltSizeOffset), 300);
        Assert.Contains("salt_size at offset 80 is 300", Assert.Throws<InvalidDataException>(() => VeritySuperblock.Read(badSalt)).Message);
        var badBlock = device.ToArray();
        BinaryPrimitives.WriteUInt32LittleEndian(badBlock.AsSpan(VerityLayout.HashBlockSizeOffset), 4095);
        Assert.Contains("hash_block_size at offset 68 is 4095", Assert.Throws<InvalidDataException>(() => VeritySuperblock.Read(badBlock)).Message);
    }

    [Fact]
    public void SameDataGivesSameBytesAndDerivedSaltFollowsTheContent()
    {
        var data = Data(200 * 4096 + 5, 3);
        var a = Compute(new MemoryStream(data));
        var b = Compute(new MemoryStream(data.ToArray()), new VerityOptions { MaxDegreeOfParallelism = 1 });
        Assert.Equal(a.RootHashHex, b.RootHashHex);
        Assert.Equal(a.ToHashDeviceArray(), b.ToHashDeviceArray());
        Assert.Equal(32, a.Salt.Length);
        Assert.Equal(VerityHashTree.DeriveUuid(a.RootHash), a.Uuid);
        Assert.Equal(4, a.Uuid.Version);

        var changed = data.ToArray();
        changed[123_456] ^= 1;
        var c = Compute(new MemoryStream(changed));
        Assert.NotEqual(a.Salt.ToArray(), c.Salt.ToArray());
        Assert.NotEqual(a.RootHashHex, c.RootHashHex);
        Assert.NotEqual(a.Uuid, c.Uuid);

        // The salt is a function of the data as covered (zero-padded to whole blocks).
        var padded = new byte[a.DataLength];
        data.CopyTo(padded, 0);
        Assert.Equal(a.Salt.ToArray(), DeriveSalt(new MemoryStream(padded)));
        Assert.Equal(a.RootHashHex, Compute(new MemoryStream(padded)).RootHashHex);
    }

    [Fact]
    public void ReadsFromTheStreamPositionAndRewindsAfterDerivingTheSalt()
    {
        var data = Data(10 * 4096, 4);
        var stream = new MemoryStream([.. new byte[100], .. data]) { Position = 100 };
        var tree = Compute(stream);
        Assert.Equal(Compute(new MemoryStream(data)).RootHashHex, tree.RootHashHex);
        Assert.Equal(stream.Length, stream.Position);
    }

    [Fact]
    public void NonSeekableStreamNeedsASalt()
    {
        var data = Data(5 * 4096, 5);
        var e = Assert.Throws<ArgumentException>(() => Compute(new ForwardOnlyStream(data)));
        Assert.Contains("give VerityOptions.Salt", e.Message);
        var tree = Compute(new ForwardOnlyStream(data), new VerityOptions { Salt = FixedSalt });
        Assert.Equal(Convert.ToHexStringLower(NaiveTree(data, FixedSalt).Root), tree.RootHashHex);
    }

    [Fact]
    public void RefusesEmptyDataAndBadSalts()
    {
        Assert.Contains("at least one 4096-byte block", Assert.Throws<ArgumentException>(() => Compute(new MemoryStream())).Message);
        Assert.Throws<ArgumentException>(() => Compute(new MemoryStream(new byte[4096]), new VerityOptions { Salt = Array.Empty<byte>() }));
        Assert.Throws<ArgumentException>(() => Compute(new MemoryStream(new byte[4096]), new VerityOptions { Salt = new byte[257] }));
        Assert.Throws<ArgumentOutOfRangeException>(() => Compute(new MemoryStream(new byte[4096]), new VerityOptions { MaxDegreeOfParallelism = 0 }));
    }

    [Fact]
    public void AReadErrorStopsTheWorkersAndSurfaces()
    {
        var stream = new FailingStream(failAfter: 3 * VerityHashTree.ChunkSize);
        var e = Assert.Throws<IOException>(() => Compute(stream, new VerityOptions { Salt = FixedSalt }));
        Assert.Equal("disk on fire", e.Message);
    }

    [Fact]
    public void CancellationIsObserved()
    {
        using var cts = new CancellationTokenSource();
        cts.Cancel();
        Assert.ThrowsAny<OperationCanceledException>(() => VerityHashTree.Compute(new MemoryStream(new byte[8 << 20]), new VerityOptions { Salt = FixedSalt }, cts.Token));
    }

    /// <summary>A readable stream that cannot seek (a pipe).</summary>
    sealed class ForwardOnlyStream(byte[] data) : Stream
    {
        readonly MemoryStream _inner = new(data);
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => _inner.Read(buffer, offset, Math.Min(count, 5000));
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }

    /// <summary>Yields zeros, then throws.</summary>
    sealed class FailingStream(long failAfter) : Stream
    {
        long _read;
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count)
        {
            if (_read >= failAfter) throw new IOException("disk on fire");
            var n = (int)Math.Min(count, failAfter - _read);
            Array.Clear(buffer, offset, n);
            _read += n;
            return n;
        }
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
