using System.Text.Json;
using Initrd.Formats.Gpt;
using Initrd.Formats.Verity;
using Initrd.Sdk.Tests.LocalRepository;
using Initrd.Testing;
using static Initrd.Sdk.Tests.Extensions.ExtensionProjects;

namespace Initrd.Sdk.Tests.Extensions;

/// <summary>
/// sysext and confext projects built with `dotnet build` against a base initrd project (hermetic repository), and the
/// result read by the reference tools: sfdisk, fsck.erofs, veritysetup, openssl cms, systemd-dissect.
/// </summary>
public sealed class ExtensionBuildTests(LocalRepositoryFixture fixture) : IClassFixture<LocalRepositoryFixture>
{
    [Fact]
    public void SignedSysextHoldsOnlyWhatTheBaseLacksAndEveryReaderAcceptsIt()
    {
        var sfdisk = ReferenceTool.Require("sfdisk", "fdisk");
        var fsck = ReferenceTool.Require("fsck.erofs", "erofs-utils");
        var veritysetup = ReferenceTool.Require("veritysetup", "cryptsetup-bin");
        var openssl = ReferenceTool.Require("openssl", "openssl");
        using var p = new ExtensionProjects(fixture, "sysext", "tool-with-config", """
              <ItemGroup>
                <ImageFile Include="files/**" />
              </ItemGroup>
            """, signing: Signing.Signed);
        p.Extension.Project.Folder.WriteFile("files/usr/share/tools/readme.txt", "read me\n");

        var build = p.Extension.Build();
        HermeticImage.AssertSucceeded(build);
        // Resolved against the base's lock: libc6 is in the base, so only the tool is locked and installed.
        Assert.Equal(["tool-with-config"], p.Extension.LockedPackages());
        Assert.True(File.Exists(p.Base.ImagePath), "the base initrd was built");
        Assert.Contains("warning INITRD6009", build.Output);
        Assert.Contains("/etc (2 entries)", build.Output);

        var image = p.ImagePath();
        var rootHash = File.ReadAllText(Path.Combine(p.Extension.Project.OutputDirectory, "Tools.roothash")).Trim();
        Assert.Matches("^[0-9a-f]{64}$", rootHash);
        Assert.Contains("root hash " + rootHash, build.Output);

        var json = ReferenceTool.Run(sfdisk, ["--json", image]);
        Assert.True(json.ExitCode == 0, json.ToString());
        using (var doc = JsonDocument.Parse(json.StandardOutput))
            Assert.Equal(["root-x86-64", "root-x86-64-verity", "root-x86-64-verity-sig"],
                doc.RootElement.GetProperty("partitiontable").GetProperty("partitions").EnumerateArray().Select(e => e.GetProperty("name").GetString()));

        using var dir = new TempDirectory("sysext-check");
        var table = GptReader.Read(image);
        string Extract(int i, string name)
        {
            var path = dir.Combine(name);
            using var disk = File.OpenRead(image);
            File.WriteAllBytes(path, GptReader.ReadPartition(disk, table.Entries[i]));
            return path;
        }
        var data = Extract(0, "data.erofs");
        var hash = Extract(1, "hash.verity");
        var sig = Extract(2, "sig.json");

        var extracted = dir.Combine("x");
        var fs = ReferenceTool.Run(fsck, [$"--extract={extracted}", data]);
        Assert.True(fs.ExitCode == 0, fs.ToString());
        var files = Directory.EnumerateFileSystemEntries(extracted, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(extracted, f)).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(["usr", "usr/bin", "usr/bin/tool-with-config", "usr/lib", "usr/lib/extension-release.d", "usr/lib/extension-release.d/extension-release.Tools",
            "usr/share", "usr/share/tools", "usr/share/tools/readme.txt"], files);
        Assert.Equal("ID=initrdtest\nVERSION_ID=1\nARCHITECTURE=x86-64\nSYSEXT_ID=Tools\nSYSEXT_SCOPE=initrd\n",
            File.ReadAllText(Path.Combine(extracted, "usr/lib/extension-release.d/extension-release.Tools")));

        Assert.True(ReferenceTool.Run(veritysetup, ["verify", data, hash, rootHash]) is { ExitCode: 0 }, "veritysetup verify");
        var bytes = File.ReadAllBytes(data);
        bytes[bytes.Length / 2 + 17] ^= 0x40;
        var flipped = dir.Combine("flipped.erofs");
        File.WriteAllBytes(flipped, bytes);
        Assert.NotEqual(0, ReferenceTool.Run(veritysetup, ["verify", flipped, hash, rootHash]).ExitCode);

        var content = VeritySignature.Parse(File.ReadAllBytes(sig));
        Assert.Equal(rootHash, content.RootHash);
        File.WriteAllBytes(dir.Combine("sig.der"), content.Signature);
        File.WriteAllText(dir.Combine("roothash.txt"), rootHash);
        var cms = ReferenceTool.Run(openssl, ["cms", "-verify", "-binary", "-inform", "DER", "-in", dir.Combine("sig.der"),
            "-content", dir.Combine("roothash.txt"), "-CAfile", p.KeyPair("signer").Certificate, "-purpose", "any", "-out", "/dev/null"]);
        Assert.True(cms.ExitCode == 0, cms.ToString());

        // Nothing changed: the pack stage is skipped.
        var again = p.Extension.Build();
        HermeticImage.AssertSucceeded(again);
        Assert.DoesNotContain("Pack: sysext", again.Output);
    }

    [Fact]
    public void SystemdDissectNamesItAnExtensionWithVerityAndSignature()
    {
        var dissect = ReferenceTool.Require("systemd-dissect", "systemd-container");
        using var p = new ExtensionProjects(fixture, "sysext", "tool-with-config", """
              <PropertyGroup>
                <ExtensionScope>system</ExtensionScope>
                <ExtensionReloadManager>true</ExtensionReloadManager>
              </PropertyGroup>
            """, signing: Signing.Signed);
        HermeticImage.AssertSucceeded(p.Extension.Build());
        using var dir = new TempDirectory("dissect");
        // The host's systemd 252 cuts only ".raw" from the file name to find extension-release.<name>.
        var copy = dir.Combine("Tools.raw");
        File.Copy(p.ImagePath(), copy);
        var run = ReferenceTool.Run(dissect, ["--json=short", copy]);
        Assert.True(run.ExitCode == 0, run.ToString());
        using var doc = JsonDocument.Parse(run.StandardOutput);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("useSystemExtension").GetBoolean(), run.StandardOutput);
        var release = (root.TryGetProperty("sysextRelease", out var r) ? r : root.GetProperty("extensionRelease")).EnumerateArray().Select(e => e.GetString()).ToList();
        Assert.Contains("EXTENSION_RELOAD_MANAGER=1", release);
        var mounts = root.GetProperty("mounts").EnumerateArray().ToDictionary(m => m.GetProperty("designator").GetString()!);
        Assert.Equal(["root", "root-verity", "root-verity-sig"], mounts.Keys.Order());
        Assert.Equal("signed", mounts["root"].GetProperty("verity").GetString());
        Assert.Equal("DM_verity_hash", mounts["root-verity"].GetProperty("fstype").GetString());
        Assert.Equal("verity_hash_signature", mounts["root-verity-sig"].GetProperty("fstype").GetString());
    }

    [Fact]
    public void UnsignedConfextIsTheDataPartitionWithEtcOnly()
    {
        var fsck = ReferenceTool.Require("fsck.erofs", "erofs-utils");
        using var p = new ExtensionProjects(fixture, "confext", "tool-with-config", """
              <ItemGroup>
                <ImageFile Include="conf/**" />
              </ItemGroup>
            """, name: "Conf");
        p.Extension.Project.Folder.WriteFile("conf/etc/motd", "hello from a confext\n");
        var build = p.Extension.Build();
        HermeticImage.AssertSucceeded(build);
        Assert.Contains("/usr (3 entries)", build.Output);
        var image = p.ImagePath(".confext.raw");
        var table = GptReader.Read(image);
        Assert.Equal([DiscoverablePartitions.X86_64.Root], table.Entries.Select(e => e.Type));
        Assert.False(File.Exists(Path.Combine(p.Extension.Project.OutputDirectory, "Conf.roothash")));
        using var dir = new TempDirectory("confext-check");
        var data = dir.Combine("data.erofs");
        using (var disk = File.OpenRead(image)) File.WriteAllBytes(data, GptReader.ReadPartition(disk, table.Entries[0]));
        var extracted = dir.Combine("x");
        Assert.True(ReferenceTool.Run(fsck, [$"--extract={extracted}", data]) is { ExitCode: 0 }, "fsck.erofs");
        Assert.Equal(["etc"], Directory.EnumerateFileSystemEntries(extracted).Select(Path.GetFileName));
        Assert.Equal("setting=1\n", File.ReadAllText(Path.Combine(extracted, "etc/tool.conf")));
        Assert.Equal("hello from a confext\n", File.ReadAllText(Path.Combine(extracted, "etc/motd")));
        Assert.Contains("CONFEXT_ID=Conf", File.ReadAllText(Path.Combine(extracted, "etc/extension-release.d/extension-release.Conf")));
    }

    // ------------------------------------------------------------ hostile input

    [Fact]
    public void AMissingBaseLockIsACodedError()
    {
        using var p = new ExtensionProjects(fixture, "sysext", "tool-with-config");
        // --no-dependencies: the base is neither restored nor built, and it has never been.
        var build = p.Extension.Build("-p:BuildProjectReferences=false");
        p.Extension.AssertFailedWith(build, "INITRD6001");
    }

    [Fact]
    public void AConfextWithAFileOutsideEtcIsACodedError()
    {
        using var p = new ExtensionProjects(fixture, "confext", "tool-with-config", """
              <ItemGroup>
                <ImageFile Include="stray.txt" ImagePath="/usr/share/stray.txt" />
              </ItemGroup>
            """, name: "Conf");
        p.Extension.Project.Folder.WriteFile("stray.txt", "x\n");
        var build = p.Extension.Build();
        p.Extension.AssertFailedWith(build, "INITRD6010");
        Assert.Contains("/usr/share/stray.txt", build.Output);
    }

    [Fact]
    public void AKeyThatDoesNotMatchTheCertificateIsACodedError()
    {
        using var p = new ExtensionProjects(fixture, "sysext", "tool-with-config", signing: Signing.WrongKey);
        p.Extension.AssertFailedWith(p.Extension.Build(), "INITRD0013");
    }

    [Fact]
    public void AnExtensionNameThatDoesNotMatchTheFileNameIsACodedError()
    {
        using var p = new ExtensionProjects(fixture, "sysext", "tool-with-config", """
              <PropertyGroup>
                <ExtensionName>other</ExtensionName>
              </PropertyGroup>
            """);
        var build = p.Extension.Build();
        p.Extension.AssertFailedWith(build, "INITRD6004");
        Assert.Contains("extension-release.Tools", build.Output);
    }
}
