using System.Text.Json;
using Initrd.Formats.Gpt;
using Initrd.Testing;
using static Initrd.Formats.Tests.Gpt.GptTestSupport;

namespace Initrd.Formats.Tests.Gpt;

/// <summary>util-linux sfdisk and GPT fdisk (sgdisk) as independent readers of what the writer produces, and sgdisk as
/// an independent writer for the reader.</summary>
public class GptReferenceToolTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static string WriteImage(TempDirectory dir, List<GptPartition> parts, GptWriteOptions? options = null)
    {
        var path = dir.Combine("disk.raw");
        using var file = File.Create(path);
        GptWriter.Write(file, parts, options ?? new GptWriteOptions { DiskGuid = DiskGuid }, Ct);
        return path;
    }

    [Theory]
    [InlineData(4096)]
    [InlineData(1 << 20)]
    public void SfdiskJsonShowsTypesUuidsNamesSizesAndAttributes(int alignment)
    {
        var sfdisk = ReferenceTool.Require("sfdisk", "fdisk");
        using var dir = new TempDirectory("gpt");
        var parts = SysextLike();
        parts[2] = parts[2] with { Attributes = GptPartitionAttributes.ReadOnly | GptPartitionAttributes.NoAuto | GptPartitionAttributes.RequiredPartition };
        var image = WriteImage(dir, parts, new GptWriteOptions { DiskGuid = DiskGuid, Alignment = alignment });
        var table = GptReader.Read(image);

        var result = ReferenceTool.Run(sfdisk, ["--json", image]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.DoesNotContain("warning", result.StandardError, StringComparison.OrdinalIgnoreCase);
        using var json = JsonDocument.Parse(result.StandardOutput);
        var pt = json.RootElement.GetProperty("partitiontable");
        Assert.Equal("gpt", pt.GetProperty("label").GetString());
        Assert.Equal(DiskGuid, Guid.Parse(pt.GetProperty("id").GetString()!));
        Assert.Equal(34, pt.GetProperty("firstlba").GetInt64());
        Assert.Equal(table.LastUsableLba, pt.GetProperty("lastlba").GetInt64());
        var listed = pt.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal(parts.Count, listed.Count);
        string[] attrs = ["GUID:60", "GUID:60", "RequiredPartition GUID:60,63"];
        for (var i = 0; i < parts.Count; i++)
        {
            var p = listed[i];
            Assert.Equal(table.Entries[i].FirstLba, p.GetProperty("start").GetInt64());
            Assert.Equal(table.Entries[i].Length / 512, p.GetProperty("size").GetInt64());
            Assert.Equal(parts[i].Type, Guid.Parse(p.GetProperty("type").GetString()!));
            Assert.Equal(parts[i].Uuid, Guid.Parse(p.GetProperty("uuid").GetString()!));
            Assert.Equal(parts[i].Name, p.GetProperty("name").GetString());
            Assert.Equal(attrs[i], p.GetProperty("attrs").GetString());
        }

        var verify = ReferenceTool.Run(sfdisk, ["--verify", image]);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("No errors detected", verify.StandardOutput);
    }

    [Fact]
    public void SgdiskVerifyFindsNoProblems()
    {
        var sgdisk = ReferenceTool.Require("sgdisk", "gdisk");
        using var dir = new TempDirectory("gpt");
        var image = WriteImage(dir, SysextLike(dataLength: 3 << 20));

        var verify = ReferenceTool.Run(sgdisk, ["-v", image]);
        Assert.True(verify.ExitCode == 0, verify.ToString());
        Assert.Contains("No problems found", verify.StandardOutput);

        var info = ReferenceTool.Run(sgdisk, ["-i", "1", image]);
        Assert.True(info.ExitCode == 0, info.ToString());
        Assert.Contains("Partition GUID code: 4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709", info.StandardOutput);
        Assert.Contains("Partition unique GUID: 2D429389-D9FA-7113-BB31-E6B17B33E1BF", info.StandardOutput);
        Assert.Contains("Attribute flags: 1000000000000000", info.StandardOutput);
        Assert.Contains("Partition name: 'root-x86-64'", info.StandardOutput);
    }

    [Fact]
    public void ReaderReadsATableSgdiskWrote()
    {
        var sgdisk = ReferenceTool.Require("sgdisk", "gdisk");
        using var dir = new TempDirectory("gpt");
        var image = dir.Combine("sgdisk.raw");
        using (var f = File.Create(image)) f.SetLength(8 << 20);
        var x = DiscoverablePartitions.X86_64;
        var made = ReferenceTool.Run(sgdisk, [
            $"--disk-guid={DiskGuid}",
            "--new=1:2048:+2M", $"--typecode=1:{x.Root}", "--partition-guid=1:11111111-2222-3333-4444-555555555555", "--change-name=1:Grüße",
            "--attributes=1:set:60",
            "--new=2:0:+1M", $"--typecode=2:{x.RootVerity}", "--partition-guid=2:66666666-7777-8888-9999-aaaaaaaaaaaa", "--change-name=2:verity",
            image]);
        Assert.True(made.ExitCode == 0, made.ToString());

        var table = GptReader.Read(image);
        Assert.Equal(DiskGuid, table.DiskGuid);
        Assert.Equal(2, table.Entries.Count);
        var a = table.Entries[0];
        Assert.Equal((x.Root, new Guid("11111111-2222-3333-4444-555555555555"), 2048L, 2048L + 4096 - 1, "Grüße", GptPartitionAttributes.ReadOnly),
            (a.Type, a.Uuid, a.FirstLba, a.LastLba, a.Name, a.Attributes));
        Assert.Equal((x.RootVerity, "verity", 2048L * 3), (table.Entries[1].Type, table.Entries[1].Name, table.Entries[1].FirstLba));
    }
}
