using System.Text.RegularExpressions;
using Initrd.Formats.Verity;
using Initrd.Testing;
using static Initrd.Formats.Tests.Verity.VerityTestSupport;

namespace Initrd.Formats.Tests.Verity;

/// <summary>cryptsetup's veritysetup as the oracle: same root hash and hash device bytes, and its verifier accepts ours.</summary>
public class VeritysetupOracleTests
{
    [Theory]
    [InlineData(1L)]            // 0 levels: the root hash is the digest of the only block
    [InlineData(2L)]
    [InlineData(128L)]          // 1 level, one full hash block
    [InlineData(129L)]          // 2 levels
    [InlineData(16385L)]        // 3 levels (64 MiB)
    public void RootHashAndHashDeviceEqualVeritysetupFormat(long blocks)
    {
        var veritysetup = ReferenceTool.Require("veritysetup", "cryptsetup-bin");
        using var dir = new TempDirectory("verity");
        var data = dir.Combine("data.img");
        WriteDataFile(data, blocks * 4096, seed: (int)blocks);

        var tree = Compute(data);
        var ours = dir.Combine("ours.hash");
        WriteHashDevice(tree, ours);

        var theirs = dir.Combine("theirs.hash");
        var root = VeritysetupFormat(veritysetup, data, theirs, tree.Salt, tree.Uuid);
        Assert.Equal(root, tree.RootHashHex);
        Assert.Equal(File.ReadAllBytes(theirs), File.ReadAllBytes(ours));
    }

    [Fact]
    public void VerifyAcceptsOurHashDeviceAndRejectsAFlippedDataByte()
    {
        var veritysetup = ReferenceTool.Require("veritysetup", "cryptsetup-bin");
        using var dir = new TempDirectory("verity");
        var data = dir.Combine("data.img");
        WriteDataFile(data, 300 * 4096, seed: 7);
        var tree = Compute(data);
        var hash = dir.Combine("data.hash");
        WriteHashDevice(tree, hash);

        var ok = ReferenceTool.Run(veritysetup, ["verify", data, hash, tree.RootHashHex]);
        Assert.True(ok.ExitCode == 0, ok.ToString());

        var wrongRoot = ReferenceTool.Run(veritysetup, ["verify", data, hash, new string('0', 64)]);
        Assert.NotEqual(0, wrongRoot.ExitCode);

        using (var f = new FileStream(data, FileMode.Open, FileAccess.ReadWrite))
        {
            f.Position = 200 * 4096 + 17;
            var b = f.ReadByte();
            f.Position--;
            f.WriteByte((byte)(b ^ 0x01));
        }
        var flipped = ReferenceTool.Run(veritysetup, ["verify", data, hash, tree.RootHashHex]);
        Assert.True(flipped.ExitCode != 0, $"veritysetup verify accepted a flipped data byte:\n{flipped}");
    }

    [Fact]
    public void DumpReadsOurSuperblock()
    {
        var veritysetup = ReferenceTool.Require("veritysetup", "cryptsetup-bin");
        using var dir = new TempDirectory("verity");
        var data = dir.Combine("data.img");
        WriteDataFile(data, 5 * 4096 + 1000, seed: 8); // not a whole block: hashed as if zero-padded
        var tree = Compute(data);
        var hash = dir.Combine("data.hash");
        WriteHashDevice(tree, hash);

        var dump = ReferenceTool.Run(veritysetup, ["dump", hash]);
        Assert.True(dump.ExitCode == 0, dump.ToString());
        string Field(string name) => Regex.Match(dump.StandardOutput, $@"^{Regex.Escape(name)}:\s+(.+?)\s*$", RegexOptions.Multiline).Groups[1].Value;
        Assert.Equal("1", Field("Hash type"));
        Assert.Equal("6", Field("Data blocks"));
        Assert.Equal("4096", Field("Data block size"));
        Assert.Equal("4096", Field("Hash block size"));
        Assert.Equal("sha256", Field("Hash algorithm"));
        Assert.Equal(Convert.ToHexStringLower(tree.Salt), Field("Salt"));
        Assert.Equal(tree.Uuid.ToString(), Field("UUID"));

        // veritysetup reads whole blocks only: pad the data as the partition will be, then verify.
        using (var f = new FileStream(data, FileMode.Open, FileAccess.Write)) f.SetLength(tree.DataLength);
        var ok = ReferenceTool.Run(veritysetup, ["verify", data, hash, tree.RootHashHex]);
        Assert.True(ok.ExitCode == 0, ok.ToString());
    }
}
