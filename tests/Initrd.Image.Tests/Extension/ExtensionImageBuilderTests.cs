using System.Text.Json;
using Initrd.Formats.Gpt;
using Initrd.Formats.Verity;
using Initrd.Image.Extension;
using Initrd.Testing;
using static Initrd.Image.Tests.Extension.ExtensionTestSupport;

namespace Initrd.Image.Tests.Extension;

/// <summary>
/// The extension image as the pack stage makes it, checked by independent readers: sfdisk and sgdisk (GPT),
/// fsck.erofs (file system and content), veritysetup (hash tree), openssl cms (signature), systemd-dissect (all of it
/// as systemd sees an extension).
/// </summary>
public class ExtensionImageBuilderTests
{
    [Fact]
    public void SignedSysextIsReadBySfdiskAndSgdisk()
    {
        var sfdisk = ReferenceTool.Require("sfdisk", "fdisk");
        var sgdisk = ReferenceTool.Require("sgdisk", "gdisk");
        using var dir = new TempDirectory("sysext");
        using var tree = SysextTree();
        var image = dir.Combine("hello.sysext.raw");
        var result = Build(tree, image, LoadSigner(MakeKeyPair(dir)), dir.Combine("work"));

        var json = ReferenceTool.Run(sfdisk, ["--json", image]);
        Assert.True(json.ExitCode == 0, json.ToString());
        Assert.DoesNotContain("error", json.StandardError, StringComparison.OrdinalIgnoreCase);
        using var doc = JsonDocument.Parse(json.StandardOutput);
        var table = doc.RootElement.GetProperty("partitiontable");
        Assert.Equal("gpt", table.GetProperty("label").GetString());
        var parts = table.GetProperty("partitions").EnumerateArray().ToList();
        Assert.Equal(["root-x86-64", "root-x86-64-verity", "root-x86-64-verity-sig"], parts.Select(p => p.GetProperty("name").GetString()));
        Assert.Equal([DiscoverablePartitions.X86_64.Root, DiscoverablePartitions.X86_64.RootVerity, DiscoverablePartitions.X86_64.RootVeritySignature],
            parts.Select(p => Guid.Parse(p.GetProperty("type").GetString()!)));
        Assert.All(parts, p => Assert.Equal("GUID:60", p.GetProperty("attrs").GetString()));
        Assert.Equal(result.RootHashHex![..32], parts[0].GetProperty("uuid").GetString()!.Replace("-", "").ToLowerInvariant());
        Assert.Equal(result.RootHashHex[32..], parts[1].GetProperty("uuid").GetString()!.Replace("-", "").ToLowerInvariant());

        var verify = ReferenceTool.Run(sgdisk, ["-v", image]);
        Assert.True(verify.ExitCode == 0 && verify.StandardOutput.Contains("No problems found"), verify.ToString());
        Assert.Equal(result.RootHashHex + "\n", File.ReadAllText(image + ".roothash"));
    }

    [Fact]
    public void FileSystemVerityAndSignatureVerify()
    {
        var veritysetup = ReferenceTool.Require("veritysetup", "cryptsetup-bin");
        var fsck = ReferenceTool.Require("fsck.erofs", "erofs-utils");
        var openssl = ReferenceTool.Require("openssl", "openssl");
        using var dir = new TempDirectory("sysext");
        using var tree = SysextTree();
        var keys = MakeKeyPair(dir);
        var image = dir.Combine("hello.sysext.raw");
        var result = Build(tree, image, LoadSigner(keys), dir.Combine("work"));
        Assert.Equal(["/etc", "/var"], result.Dropped.Select(d => d.Path));
        var table = GptReader.Read(image);
        var data = Extract(dir, image, table.Entries[0], "p1.erofs");
        var hash = Extract(dir, image, table.Entries[1], "p2.verity");
        var sig = Extract(dir, image, table.Entries[2], "p3.sig");

        var extracted = dir.Combine("extracted");
        var fs = ReferenceTool.Run(fsck, [$"--extract={extracted}", data]);
        Assert.True(fs.ExitCode == 0, fs.ToString());
        Assert.Equal("hello from a sysext", File.ReadAllText(Path.Combine(extracted, "usr/bin/hello")).Split('\n')[1].Replace("echo ", ""));
        Assert.Equal(File.ReadAllText(Path.Combine(extracted, "usr/bin/hello")), File.ReadAllText(Path.Combine(extracted, "usr/bin/hello-again")));
        Assert.Equal("hello", new FileInfo(Path.Combine(extracted, "usr/bin/hi")).LinkTarget);
        Assert.True(File.Exists(Path.Combine(extracted, "opt/hello/data.txt")));
        Assert.False(Directory.Exists(Path.Combine(extracted, "etc")));
        Assert.False(Directory.Exists(Path.Combine(extracted, "var")));
        Assert.Equal("ID=debian\nVERSION_ID=13\nARCHITECTURE=x86-64\nSYSEXT_ID=hello\nSYSEXT_VERSION_ID=1.0\nSYSEXT_SCOPE=initrd\n",
            File.ReadAllText(Path.Combine(extracted, "usr/lib/extension-release.d/extension-release.hello")));

        Assert.True(ReferenceTool.Run(veritysetup, ["verify", data, hash, result.RootHashHex!]) is { ExitCode: 0 } ok, "veritysetup verify failed");
        var content = VeritySignature.Parse(File.ReadAllBytes(sig));
        Assert.Equal(result.RootHashHex, content.RootHash);
        Assert.Equal(0, new FileInfo(sig).Length % 4096);
        File.WriteAllBytes(dir.Combine("sig.der"), content.Signature);
        File.WriteAllText(dir.Combine("roothash.txt"), content.RootHash);
        var cms = ReferenceTool.Run(openssl, ["cms", "-verify", "-binary", "-inform", "DER", "-in", dir.Combine("sig.der"),
            "-content", dir.Combine("roothash.txt"), "-CAfile", keys.Certificate, "-purpose", "any", "-out", "/dev/null"]);
        Assert.True(cms.ExitCode == 0, cms.ToString());

        var bytes = File.ReadAllBytes(data);
        bytes[bytes.Length / 2] ^= 0x01;
        File.WriteAllBytes(data, bytes);
        Assert.NotEqual(0, ReferenceTool.Run(veritysetup, ["verify", data, hash, result.RootHashHex!]).ExitCode);
    }

    [Fact]
    public void SystemdDissectSeesASignedExtension()
    {
        var dissect = ReferenceTool.Require("systemd-dissect", "systemd-container");
        using var dir = new TempDirectory("sysext");
        using var tree = SysextTree();
        // systemd 252 (bookworm) derives the extension name by cutting only ".raw"; 256+ also cuts ".sysext.raw".
        var image = dir.Combine("hello.raw");
        Build(tree, image, LoadSigner(MakeKeyPair(dir)), dir.Combine("work"));

        var run = ReferenceTool.Run(dissect, ["--json=short", image]);
        Assert.True(run.ExitCode == 0, run.ToString());
        using var doc = JsonDocument.Parse(run.StandardOutput);
        var root = doc.RootElement;
        // SYSEXT_SCOPE=initrd: an extension for the initrd, not for the booted system.
        Assert.True(root.GetProperty("useInitRDExtension").GetBoolean(), run.StandardOutput);
        Assert.False(root.GetProperty("useSystemExtension").GetBoolean(), run.StandardOutput);
        var release = root.TryGetProperty("sysextRelease", out var r) ? r : root.GetProperty("extensionRelease");
        Assert.Contains("SYSEXT_SCOPE=initrd", release.EnumerateArray().Select(e => e.GetString()));
        var mounts = root.GetProperty("mounts").EnumerateArray().ToDictionary(m => m.GetProperty("designator").GetString()!);
        Assert.Equal(["root", "root-verity", "root-verity-sig"], mounts.Keys.Order());
        Assert.Equal("signed", mounts["root"].GetProperty("verity").GetString());
        Assert.Equal("erofs", mounts["root"].GetProperty("fstype").GetString());
        Assert.Equal("verity_hash_signature", mounts["root-verity-sig"].GetProperty("fstype").GetString());
    }

    [Fact]
    public void SameTreeFromAnotherFolderGivesTheSameBytes()
    {
        using var dir = new TempDirectory("sysext");
        ReferenceTool.Require("mkfs.erofs", "erofs-utils");
        var signer = LoadSigner(MakeKeyPair(dir));
        using var a = SysextTree();
        using var b = SysextTree();
        var ra = Build(a, dir.Combine("a.raw"), signer, dir.Combine("work-a"), name: "a");
        var rb = Build(b, dir.Combine("b.raw"), signer, dir.Combine("work-b"), name: "a");
        Assert.Equal(ra.RootHashHex, rb.RootHashHex);
        Assert.Equal(File.ReadAllBytes(dir.Combine("a.raw")), File.ReadAllBytes(dir.Combine("b.raw")));
        Assert.False(Directory.Exists(dir.Combine("work-a")), "the work folder is removed");
    }

    [Fact]
    public void UnsignedWithoutVerityIsTheDataPartitionAlone()
    {
        var fsck = ReferenceTool.Require("fsck.erofs", "erofs-utils");
        using var dir = new TempDirectory("sysext");
        using var tree = SysextTree();
        var image = dir.Combine("hello.sysext.raw");
        var result = Build(tree, image, signer: null, dir.Combine("work"), verity: false);
        Assert.Null(result.RootHashHex);
        Assert.False(File.Exists(image + ".roothash"));
        var table = GptReader.Read(image);
        var entry = Assert.Single(table.Entries);
        Assert.Equal(DiscoverablePartitions.X86_64.Root, entry.Type);
        var data = Extract(dir, image, entry, "p1.erofs");
        Assert.True(ReferenceTool.Run(fsck, [data]) is { ExitCode: 0 }, "fsck.erofs");
    }

    [Fact]
    public void ConfextKeepsOnlyEtc()
    {
        var fsck = ReferenceTool.Require("fsck.erofs", "erofs-utils");
        using var dir = new TempDirectory("confext");
        using var tree = SysextTree();
        var image = dir.Combine("conf.confext.raw");
        var result = Build(tree, image, signer: null, dir.Combine("work"), kind: ExtensionKind.Confext, name: "conf", verity: true);
        Assert.Equal(["/opt", "/usr", "/var"], result.Dropped.Select(d => d.Path));
        var data = Extract(dir, image, GptReader.Read(image).Entries[0], "p1.erofs");
        var extracted = dir.Combine("x");
        Assert.True(ReferenceTool.Run(fsck, [$"--extract={extracted}", data]) is { ExitCode: 0 }, "fsck.erofs");
        Assert.Equal(["etc"], Directory.EnumerateFileSystemEntries(extracted).Select(Path.GetFileName));
        Assert.Contains("CONFEXT_ID=conf", File.ReadAllText(Path.Combine(extracted, "etc/extension-release.d/extension-release.conf")));
    }

    [Fact]
    public void SquashfsIsAnOption()
    {
        var unsquashfs = ReferenceTool.Require("unsquashfs", "squashfs-tools");
        ReferenceTool.Require("mksquashfs", "squashfs-tools");
        using var dir = new TempDirectory("sysext");
        using var tree = SysextTree();
        var image = dir.Combine("hello.sysext.raw");
        Build(tree, image, signer: null, dir.Combine("work"), fileSystem: "squashfs");
        var again = dir.Combine("again.raw");
        using var tree2 = SysextTree();
        Build(tree2, again, signer: null, dir.Combine("work2"), fileSystem: "squashfs");
        Assert.Equal(File.ReadAllBytes(image), File.ReadAllBytes(again));
        var data = Extract(dir, image, GptReader.Read(image).Entries[0], "p1.squashfs");
        var list = ReferenceTool.Run(unsquashfs, ["-lls", data]);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("usr/lib/extension-release.d/extension-release.hello", list.StandardOutput);
        Assert.Contains("-rwsr-xr-x root/root", list.StandardOutput);
    }

    [Fact]
    public void AForeignReleaseFileIsRefused()
    {
        using var dir = new TempDirectory("sysext");
        using var tree = SysextTree();
        tree.Dir("usr/lib").Dir("usr/lib/extension-release.d").File("usr/lib/extension-release.d/extension-release.other", "ID=_any\n");
        var e = Assert.Throws<ExtensionException>(() => Build(tree, dir.Combine("hello.sysext.raw"), null, dir.Combine("work")));
        Assert.Equal(ExtensionErrorKind.ForeignReleaseFile, e.Kind);
        Assert.Contains("extension-release.other", e.Message);
        Assert.False(File.Exists(dir.Combine("hello.sysext.raw")));
    }

    [Fact]
    public void AKeyOfAnotherCertificateIsRefused()
    {
        using var dir = new TempDirectory("sysext");
        using var tree = SysextTree();
        var mine = MakeKeyPair(dir, "mine");
        var theirs = MakeKeyPair(dir, "theirs");
        var signer = LoadSigner((mine.Certificate, theirs.Key));
        var e = Assert.Throws<ArgumentException>(() => Build(tree, dir.Combine("hello.sysext.raw"), signer, dir.Combine("work")));
        Assert.Contains("does not belong", e.Message);
        Assert.False(File.Exists(dir.Combine("hello.sysext.raw")));
    }
}
