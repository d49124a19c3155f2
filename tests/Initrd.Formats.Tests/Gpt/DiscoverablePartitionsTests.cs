using System.Text.RegularExpressions;
using Initrd.Formats.Gpt;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Gpt;

public partial class DiscoverablePartitionsTests
{
    /// <summary>How util-linux (libfdisk) names each architecture in its GPT type list.</summary>
    static readonly Dictionary<string, string> UtilLinuxArchitecture = new()
    {
        ["x86-64"] = "x86-64", ["arm64"] = "ARM-64", ["x86"] = "x86", ["arm"] = "ARM", ["ppc64-le"] = "PPC64LE",
        ["riscv64"] = "RISC-V-64", ["s390x"] = "S390X", ["mips64-le"] = "MIPS-64 LE", ["loongarch64"] = "LoongArch-64",
    };

    static readonly Dictionary<PartitionDesignator, string> UtilLinuxDesignator = new()
    {
        [PartitionDesignator.Root] = "Linux root", [PartitionDesignator.Usr] = "Linux /usr",
        [PartitionDesignator.RootVerity] = "Linux root verity", [PartitionDesignator.UsrVerity] = "Linux /usr verity",
        [PartitionDesignator.RootVeritySignature] = "Linux root verity sign.", [PartitionDesignator.UsrVeritySignature] = "Linux /usr verity sign.",
    };

    [GeneratedRegex(@"^\s*([0-9A-F-]{36})\s+(.+?)\s*$", RegexOptions.Multiline)]
    private static partial Regex TypeLine();

    [Fact]
    public void EveryTypeGuidIsTheOneUtilLinuxKnowsByName()
    {
        var sfdisk = ReferenceTool.Require("sfdisk", "fdisk");
        var list = ReferenceTool.Run(sfdisk, ["--label", "gpt", "--list-types"]);
        Assert.True(list.ExitCode == 0, list.ToString());
        var byName = TypeLine().Matches(list.StandardOutput).ToDictionary(m => m.Groups[2].Value, m => new Guid(m.Groups[1].Value));

        var checkedCount = 0;
        foreach (var architecture in DiscoverablePartitions.Architectures)
            foreach (var designator in Enum.GetValues<PartitionDesignator>())
            {
                var name = $"{UtilLinuxDesignator[designator]} ({UtilLinuxArchitecture[architecture.SystemdName]})";
                Assert.True(byName.TryGetValue(name, out var expected), $"sfdisk does not list '{name}'");
                Assert.Equal(expected, architecture.TypeOf(designator));
                Assert.True(DiscoverablePartitions.TryIdentify(expected, out var a, out var d));
                Assert.Same(architecture, a);
                Assert.Equal(designator, d);
                checkedCount++;
            }
        Assert.Equal(9 * 6, checkedCount);
    }

    [Fact]
    public void ArchitecturesAreFoundByDebianAndSystemdNames()
    {
        Assert.Same(DiscoverablePartitions.X86_64, DiscoverablePartitions.ForDebianArchitecture("amd64"));
        Assert.Same(DiscoverablePartitions.Arm64, DiscoverablePartitions.ForDebianArchitecture("arm64"));
        Assert.Same(DiscoverablePartitions.Arm, DiscoverablePartitions.ForDebianArchitecture("armhf"));
        Assert.Same(DiscoverablePartitions.X86_64, DiscoverablePartitions.ForSystemdArchitecture("x86-64"));
        var e = Assert.Throws<ArgumentException>(() => DiscoverablePartitions.ForDebianArchitecture("hurd-i386"));
        Assert.Contains("amd64, arm64", e.Message);
        Assert.Throws<ArgumentException>(() => DiscoverablePartitions.ForSystemdArchitecture("amd64"));
        Assert.Equal("root-x86-64-verity-sig", DiscoverablePartitions.X86_64.NameOf(PartitionDesignator.RootVeritySignature));
        Assert.Equal("usr-arm64-verity", DiscoverablePartitions.Arm64.NameOf(PartitionDesignator.UsrVerity));
    }

    [Fact]
    public void VerityPartitionUuidsAreTheRootHashHalvesAsSystemdRepartWritesThem()
    {
        // Observed from systemd-repart 257 --make-ddi=sysext: root hash → data and verity partition UUIDs.
        var rootHash = Convert.FromHexString("2d429389d9fa7113bb31e6b17b33e1bf88b7308ea1a368b844b5af8acf561e69");
        var (data, verity) = DiscoverablePartitions.VerityPartitionUuids(rootHash);
        Assert.Equal(new Guid("2d429389-d9fa-7113-bb31-e6b17b33e1bf"), data);
        Assert.Equal(new Guid("88b7308e-a1a3-68b8-44b5-af8acf561e69"), verity);
        Assert.Throws<ArgumentException>(() => DiscoverablePartitions.VerityPartitionUuids(new byte[20]));
    }

    [Fact]
    public void DerivedUuidsAreVersion4AndDependOnSeedAndPurpose()
    {
        var seed = new byte[32];
        var disk = DiscoverablePartitions.DeriveUuid(seed, "disk");
        Assert.Equal(4, disk.Version);
        Assert.Equal(disk, DiscoverablePartitions.DeriveUuid(seed, "disk"));
        Assert.NotEqual(disk, DiscoverablePartitions.DeriveUuid(seed, "root-verity-sig"));
        seed[0] = 1;
        Assert.NotEqual(disk, DiscoverablePartitions.DeriveUuid(seed, "disk"));
    }
}
