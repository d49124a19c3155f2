using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Initrd.Formats.Extension;
using Initrd.Formats.Gpt;
using Initrd.Image.Extension;
using Initrd.Image.Finalize;
using Initrd.Image.Tests.Finalize;
using Initrd.Testing;

namespace Initrd.Image.Tests.Extension;

/// <summary>A small sysext tree, a throwaway key pair made by openssl, and the builder called the way the task calls it.</summary>
internal static class ExtensionTestSupport
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>/usr and /opt content (an executable, a setuid binary, a hard link, a symlink, a big file) plus paths a sysext drops.</summary>
    public static TreeFixture SysextTree()
    {
        var t = new TreeFixture();
        t.Dir("usr").Dir("usr/bin").Dir("usr/share").Dir("usr/share/hello").Dir("opt").Dir("opt/hello").Dir("etc").Dir("var").Dir("var/lib");
        t.File("usr/bin/hello", "#!/bin/sh\necho hello from a sysext\n", 0b111_101_101);
        t.File("usr/bin/suid-tool", "#!/bin/sh\nexit 0\n", 0b100_111_101_101);
        t.HardLink("usr/bin/hello-again", "usr/bin/hello");
        t.Link("usr/bin/hi", "hello");
        t.File("usr/share/hello/big.txt", string.Concat(Enumerable.Repeat("some data for the extension\n", 20000)));
        t.File("opt/hello/data.txt", "opt data\n");
        t.File("etc/hello.conf", "not in a sysext\n");
        t.File("var/lib/state", "not in a sysext\n");
        return t;
    }

    public static ExtensionImageResult Build(TreeFixture tree, string output, VeritySigner? signer, string work,
        ExtensionKind kind = ExtensionKind.Sysext, string name = "hello", bool verity = true, string fileSystem = "erofs",
        IReadOnlyDictionary<string, string>? baseOsRelease = null) =>
        Build(tree.Entries, output, signer, work, kind, name, verity, fileSystem, baseOsRelease);

    public static ExtensionImageResult Build(IReadOnlyList<Initrd.Formats.Tree.TreeEntry> entries, string output, VeritySigner? signer, string work,
        ExtensionKind kind = ExtensionKind.Sysext, string name = "hello", bool verity = true, string fileSystem = "erofs",
        IReadOnlyDictionary<string, string>? baseOsRelease = null)
    {
        var release = ExtensionRelease.WithBase(new ExtensionReleaseSettings
        {
            Kind = kind, Name = name, Architecture = "x86-64", ImageId = name, ImageVersion = "1.0", Scope = "initrd",
        }, baseOsRelease ?? new Dictionary<string, string> { ["ID"] = "debian", ["VERSION_ID"] = "13" }, "debian");
        return ExtensionImageBuilder.Build(new ExtensionImageRequest
        {
            Entries = entries,
            Release = release,
            OutputPath = output,
            RootHashPath = output + ".roothash",
            WorkDirectory = work,
            Timestamp = TreeFixture.Timestamp,
            FileSystem = ExtensionFileSystems.For(fileSystem)!,
            Architecture = DiscoverablePartitions.X86_64,
            Verity = verity,
            Signer = signer,
        }, Ct);
    }

    /// <summary>A self-signed RSA certificate and its key, made by openssl as a user would (PEM files in <paramref name="dir"/>).</summary>
    public static (string Certificate, string Key) MakeKeyPair(TempDirectory dir, string name = "test")
    {
        var openssl = ReferenceTool.Require("openssl", "openssl");
        var cert = dir.Combine(name + ".crt");
        var key = dir.Combine(name + ".key");
        var made = ReferenceTool.Run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=Initrd.Sdk extension test " + name]);
        Assert.True(made.ExitCode == 0, made.ToString());
        return (cert, key);
    }

    public static VeritySigner LoadSigner((string Certificate, string Key) pair)
    {
        var rsa = RSA.Create();
        rsa.ImportFromPem(File.ReadAllText(pair.Key));
        return new VeritySigner(X509Certificate2.CreateFromPem(File.ReadAllText(pair.Certificate)), rsa);
    }

    public static string Extract(TempDirectory dir, string image, GptEntry entry, string name)
    {
        var path = dir.Combine(name);
        using var disk = File.OpenRead(image);
        File.WriteAllBytes(path, GptReader.ReadPartition(disk, entry));
        return path;
    }
}
