using System.Text.Json;
using Initrd.Formats.Gpt;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Boot;

/// <summary>
/// A whole GPT disk for a UEFI boot, laid out by the project's own <see cref="GptWriter"/>: partition 1 an EFI
/// System Partition (FAT32 from <see cref="EspImage"/>), partition 2 a root file system with the Discoverable
/// Partitions Specification's x86-64 root type, so systemd finds it without a root= parameter.
/// </summary>
public static class UefiDisk
{
    /// <summary>The EFI System Partition's type (UEFI 2.10, 5.3.3; "esp" in the Discoverable Partitions Specification).</summary>
    public static readonly Guid EspType = new("c12a7328-f81f-11d2-ba4b-00a0c93ec93b");

    public static readonly Guid DiskGuid = new("6a1d4a2e-5b7e-4c57-9d31-3f0f6e1c2a01");
    public static readonly Guid EspUuid = new("6a1d4a2e-5b7e-4c57-9d31-3f0f6e1c2a02");
    public static readonly Guid RootUuid = new("6a1d4a2e-5b7e-4c57-9d31-3f0f6e1c2a03");

    /// <summary>
    /// Writes <paramref name="diskPath"/>: an ESP made from <paramref name="espFiles"/> (path on the ESP → host
    /// file) and a root partition holding <paramref name="rootFileSystem"/> (an ext4 image, say). The partition images
    /// are made in <paramref name="workDirectory"/>. Returns the table as written.
    /// </summary>
    public static GptTable Create(string diskPath, string workDirectory, IEnumerable<(string EspPath, string HostFile)> espFiles, string rootFileSystem)
    {
        var esp = Path.Combine(workDirectory, "esp.vfat");
        EspImage.Create(esp, espFiles);
        var partitions = new List<GptPartition>
        {
            new() { Type = EspType, Uuid = EspUuid, Name = "esp", Content = GptPartitionContent.FromFile(esp) },
            new()
            {
                Type = DiscoverablePartitions.X86_64.Root, Uuid = RootUuid,
                Name = DiscoverablePartitions.X86_64.NameOf(PartitionDesignator.Root),
                Content = GptPartitionContent.FromFile(rootFileSystem),
            },
        };
        using var output = new FileStream(diskPath, FileMode.Create, FileAccess.Write, FileShare.None);
        var table = GptWriter.Write(output, partitions, new GptWriteOptions { DiskGuid = DiskGuid, Alignment = 1 << 20 });
        File.Delete(esp);
        return table;
    }

    /// <summary>The table as <c>sfdisk --json</c> (util-linux, an independent reader) sees it.</summary>
    public static SfdiskTable ReadWithSfdisk(string diskPath)
    {
        var sfdisk = ReferenceTool.Require("sfdisk", "fdisk");
        var r = ReferenceTool.Run(sfdisk, ["--json", diskPath]);
        Assert.True(r.ExitCode == 0 && r.StandardError.Trim().Length == 0, $"sfdisk --json: {r}");
        using var doc = JsonDocument.Parse(r.StandardOutput);
        var pt = doc.RootElement.GetProperty("partitiontable");
        var parts = pt.GetProperty("partitions").EnumerateArray().Select(p => new SfdiskPartition(
            p.GetProperty("start").GetInt64(), p.GetProperty("size").GetInt64(),
            Guid.Parse(p.GetProperty("type").GetString()!), Guid.Parse(p.GetProperty("uuid").GetString()!),
            p.TryGetProperty("name", out var n) ? n.GetString() ?? "" : "")).ToList();
        return new SfdiskTable(pt.GetProperty("label").GetString()!, Guid.Parse(pt.GetProperty("id").GetString()!), parts);
    }

    public sealed record SfdiskTable(string Label, Guid Id, IReadOnlyList<SfdiskPartition> Partitions);

    public sealed record SfdiskPartition(long Start, long Size, Guid Type, Guid Uuid, string Name);
}
