using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using Initrd.Formats.Gpt;
using Initrd.Formats.Verity;
using Initrd.Testing;
using static Initrd.Formats.Tests.Verity.VerityTestSupport;

namespace Initrd.Formats.Tests.Gpt;

/// <summary>
/// End to end, as the sysext pack stage will do it: mkfs.erofs of a small tree, our dm-verity hash tree and signature,
/// our GPT with the three root partitions; then every independent reader on the result.
/// </summary>
public class SysextImageTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    sealed record Built(string Image, VerityHashTree Tree, GptTable Table, string ErofsPath);

    static Built Build(TempDirectory dir, X509Certificate2 certificate, string name = "sysext.raw")
    {
        var mkfs = ReferenceTool.Require("mkfs.erofs", "erofs-utils");
        var tree = dir.Combine("tree");
        if (!Directory.Exists(tree))
        {
            dir.WriteFile("tree/usr/lib/extension-release.d/extension-release.hello", "ID=_any\nARCHITECTURE=x86-64\n");
            dir.WriteFile("tree/usr/bin/hello", "#!/bin/sh\necho hello from a sysext\n");
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(dir.Combine("tree/usr/bin/hello"), (UnixFileMode)Convert.ToInt32("755", 8));
            dir.WriteFile("tree/opt/hello/data.txt", string.Concat(Enumerable.Repeat("some data for the extension\n", 2000)));
        }
        var erofs = dir.Combine("data.erofs");
        if (!File.Exists(erofs))
        {
            var made = ReferenceTool.Run(mkfs, ["-T0", "-U", "6d8ad7f5-1f4e-4a50-9a8d-0a1b2c3d4e5f", "--all-root", "--quiet", erofs, tree]);
            Assert.True(made.ExitCode == 0, made.ToString());
        }

        var verity = VerityHashTree.Compute(erofs, cancellationToken: Ct);
        var hashDevice = verity.ToHashDeviceArray();
        var signature = VeritySignature.CreatePartitionContent(verity.RootHashHex, certificate);
        var (dataUuid, verityUuid) = DiscoverablePartitions.VerityPartitionUuids(verity.RootHash);
        var x = DiscoverablePartitions.X86_64;
        List<GptPartition> partitions =
        [
            new() { Type = x.Root, Uuid = dataUuid, Name = x.NameOf(PartitionDesignator.Root), Attributes = GptPartitionAttributes.ReadOnly,
                Content = GptPartitionContent.FromFile(erofs) },
            new() { Type = x.RootVerity, Uuid = verityUuid, Name = x.NameOf(PartitionDesignator.RootVerity), Attributes = GptPartitionAttributes.ReadOnly,
                Content = GptPartitionContent.FromBytes(hashDevice) },
            new() { Type = x.RootVeritySignature, Uuid = DiscoverablePartitions.DeriveUuid(verity.RootHash, "root-verity-sig"),
                Name = x.NameOf(PartitionDesignator.RootVeritySignature), Attributes = GptPartitionAttributes.ReadOnly,
                Content = GptPartitionContent.FromBytes(signature) },
        ];
        var image = dir.Combine(name);
        GptTable table;
        using (var file = File.Create(image))
            table = GptWriter.Write(file, partitions, new GptWriteOptions { DiskGuid = DiscoverablePartitions.DeriveUuid(verity.RootHash, "disk") }, Ct);
        return new Built(image, verity, table, erofs);
    }

    static string Extract(TempDirectory dir, string image, GptEntry entry, string name)
    {
        var path = dir.Combine(name);
        using var disk = File.OpenRead(image);
        File.WriteAllBytes(path, GptReader.ReadPartition(disk, entry));
        return path;
    }

    [Fact]
    public void PartitionTableIsReadBySfdiskAndSgdisk()
    {
        var sfdisk = ReferenceTool.Require("sfdisk", "fdisk");
        var sgdisk = ReferenceTool.Require("sgdisk", "gdisk");
        using var dir = new TempDirectory("sysext");
        using var cert = RsaCertificate();
        var built = Build(dir, cert);

        var json = ReferenceTool.Run(sfdisk, ["--json", built.Image]);
        Assert.True(json.ExitCode == 0, json.ToString());
        using var doc = JsonDocument.Parse(json.StandardOutput);
        var listed = doc.RootElement.GetProperty("partitiontable").GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal(["root-x86-64", "root-x86-64-verity", "root-x86-64-verity-sig"], listed.Select(p => p.GetProperty("name").GetString()));
        Assert.Equal(built.Tree.RootHashHex[..32], listed[0].GetProperty("uuid").GetString()!.Replace("-", "").ToLowerInvariant());
        Assert.Equal(built.Tree.RootHashHex[32..], listed[1].GetProperty("uuid").GetString()!.Replace("-", "").ToLowerInvariant());
        Assert.All(listed, p => Assert.Equal("GUID:60", p.GetProperty("attrs").GetString()));
        Assert.Equal(new FileInfo(built.ErofsPath).Length, listed[0].GetProperty("size").GetInt64() * 512);
        Assert.Equal(built.Tree.HashDeviceLength, listed[1].GetProperty("size").GetInt64() * 512);

        var verify = ReferenceTool.Run(sgdisk, ["-v", built.Image]);
        Assert.True(verify.ExitCode == 0 && verify.StandardOutput.Contains("No problems found"), verify.ToString());
    }

    [Fact]
    public void PartitionsVerifyWithVeritysetupFsckErofsAndOpenSsl()
    {
        var veritysetup = ReferenceTool.Require("veritysetup", "cryptsetup-bin");
        var fsck = ReferenceTool.Require("fsck.erofs", "erofs-utils");
        var openssl = ReferenceTool.Require("openssl", "openssl");
        using var dir = new TempDirectory("sysext");
        using var cert = RsaCertificate();
        var built = Build(dir, cert);
        var table = GptReader.Read(built.Image);

        var data = Extract(dir, built.Image, table.Entries[0], "p1.erofs");
        var hash = Extract(dir, built.Image, table.Entries[1], "p2.verity");
        var sig = Extract(dir, built.Image, table.Entries[2], "p3.sig");

        var ok = ReferenceTool.Run(veritysetup, ["verify", data, hash, built.Tree.RootHashHex]);
        Assert.True(ok.ExitCode == 0, ok.ToString());

        var extracted = dir.Combine("extracted");
        var checkedFs = ReferenceTool.Run(fsck, [$"--extract={extracted}", data]);
        Assert.True(checkedFs.ExitCode == 0, checkedFs.ToString());
        Assert.Equal("ID=_any\nARCHITECTURE=x86-64\n", File.ReadAllText(Path.Combine(extracted, "usr/lib/extension-release.d/extension-release.hello")));
        Assert.True(File.Exists(Path.Combine(extracted, "opt/hello/data.txt")));

        var content = VeritySignature.Parse(File.ReadAllBytes(sig));
        Assert.Equal(built.Tree.RootHashHex, content.RootHash);
        File.WriteAllBytes(dir.Combine("sig.der"), content.Signature);
        File.WriteAllText(dir.Combine("roothash.txt"), content.RootHash);
        File.WriteAllText(dir.Combine("cert.pem"), cert.ExportCertificatePem());
        var cms = ReferenceTool.Run(openssl, ["cms", "-verify", "-binary", "-inform", "DER", "-in", dir.Combine("sig.der"),
            "-content", dir.Combine("roothash.txt"), "-CAfile", dir.Combine("cert.pem"), "-purpose", "any", "-out", "/dev/null"]);
        Assert.True(cms.ExitCode == 0, cms.ToString());

        // One flipped byte in the file system partition, and verity no longer agrees.
        var bytes = File.ReadAllBytes(data);
        bytes[bytes.Length / 2] ^= 0x80;
        File.WriteAllBytes(data, bytes);
        var flipped = ReferenceTool.Run(veritysetup, ["verify", data, hash, built.Tree.RootHashHex]);
        Assert.NotEqual(0, flipped.ExitCode);
    }

    [Fact]
    public void SystemdDissectSeesASignedSystemExtension()
    {
        var dissect = ReferenceTool.Require("systemd-dissect", "systemd-container");
        using var dir = new TempDirectory("sysext");
        using var cert = RsaCertificate();
        var built = Build(dir, cert, "hello.raw");

        var result = ReferenceTool.Run(dissect, ["--json=short", built.Image]);
        Assert.True(result.ExitCode == 0, result.ToString());
        using var doc = JsonDocument.Parse(result.StandardOutput);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("useSystemExtension").GetBoolean(), result.StandardOutput);
        // systemd 252 calls the release "extensionRelease", 257 "sysextRelease".
        var release = root.TryGetProperty("sysextRelease", out var r) ? r : root.GetProperty("extensionRelease");
        Assert.Contains("ID=_any", release.EnumerateArray().Select(e => e.GetString()));

        var mounts = root.GetProperty("mounts").EnumerateArray().ToDictionary(m => m.GetProperty("designator").GetString()!);
        Assert.Equal(["root", "root-verity", "root-verity-sig"], mounts.Keys.Order());
        Assert.Equal("signed", mounts["root"].GetProperty("verity").GetString());
        Assert.Equal("erofs", mounts["root"].GetProperty("fstype").GetString());
        Assert.Equal("x86-64", mounts["root"].GetProperty("architecture").GetString());
        Assert.Equal(built.Table.Entries[0].Uuid, Guid.Parse(mounts["root"].GetProperty("partition_uuid").GetString()!));
        Assert.Equal("DM_verity_hash", mounts["root-verity"].GetProperty("fstype").GetString());
        Assert.Equal("verity_hash_signature", mounts["root-verity-sig"].GetProperty("fstype").GetString());
    }

    [Fact]
    public void SameInputsGiveTheSameImage()
    {
        using var dir = new TempDirectory("sysext");
        using var cert = RsaCertificate();
        var a = Build(dir, cert, "a.raw");
        var b = Build(dir, cert, "b.raw");
        Assert.Equal(File.ReadAllBytes(a.Image), File.ReadAllBytes(b.Image));
        Assert.Equal(a.Tree.RootHashHex, b.Tree.RootHashHex);
    }
}
