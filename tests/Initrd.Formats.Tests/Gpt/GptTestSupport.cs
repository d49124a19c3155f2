using Initrd.Formats.Gpt;

namespace Initrd.Formats.Tests.Gpt;

static class GptTestSupport
{
    public static readonly Guid DiskGuid = new("7896a645-3d2a-4e2c-a871-2ffdae7bebc8");

    public static byte[] Bytes(int length, byte seed)
    {
        var b = new byte[length];
        for (var i = 0; i < length; i++) b[i] = (byte)(seed + i * 7);
        return b;
    }

    /// <summary>Three partitions shaped like a sysext: data, verity hashes, signature.</summary>
    public static List<GptPartition> SysextLike(int dataLength = 10_000, int hashLength = 8192, int signatureLength = 4096)
    {
        var x = DiscoverablePartitions.X86_64;
        return
        [
            new() { Type = x.Root, Uuid = new("2d429389-d9fa-7113-bb31-e6b17b33e1bf"), Name = x.NameOf(PartitionDesignator.Root),
                Attributes = GptPartitionAttributes.ReadOnly, Content = GptPartitionContent.FromBytes(Bytes(dataLength, 1)) },
            new() { Type = x.RootVerity, Uuid = new("88b7308e-a1a3-68b8-44b5-af8acf561e69"), Name = x.NameOf(PartitionDesignator.RootVerity),
                Attributes = GptPartitionAttributes.ReadOnly, Content = GptPartitionContent.FromBytes(Bytes(hashLength, 2)) },
            new() { Type = x.RootVeritySignature, Uuid = new("54019bc2-b12c-4721-904c-281338648db4"), Name = x.NameOf(PartitionDesignator.RootVeritySignature),
                Attributes = GptPartitionAttributes.ReadOnly, Content = GptPartitionContent.FromBytes(Bytes(signatureLength, 3)) },
        ];
    }

    public static byte[] WriteToArray(IReadOnlyList<GptPartition> partitions, GptWriteOptions? options = null)
    {
        var memory = new MemoryStream();
        GptWriter.Write(memory, partitions, options ?? new GptWriteOptions { DiskGuid = DiskGuid }, TestContext.Current.CancellationToken);
        return memory.ToArray();
    }
}
