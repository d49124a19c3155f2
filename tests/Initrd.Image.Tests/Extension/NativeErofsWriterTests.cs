using System.Security.Cryptography;
using Initrd.Formats.Gpt;
using Initrd.Formats.Tree;
using Initrd.Image.Extension;
using Initrd.Image.Tests.Finalize;
using Initrd.Testing;
using static Initrd.Image.Tests.Extension.ExtensionTestSupport;

namespace Initrd.Image.Tests.Extension;

/// <summary>
/// The native erofs writer behind the extension builder: the default for ExtensionFileSystem=erofs, exact owners and
/// device nodes without root, and the same tree as mkfs.erofs makes (ExtensionFileSystem=erofs-mkfs), both read back
/// by fsck.erofs.
/// </summary>
public class NativeErofsWriterTests
{
    [Fact]
    public void ErofsIsNativeAndErofsMkfsIsTheHostProgram()
    {
        Assert.IsType<NativeErofsWriter>(ExtensionFileSystems.For("erofs"));
        Assert.IsType<NativeErofsWriter>(ExtensionFileSystems.For("EROFS"));
        Assert.IsType<MkfsErofsWriter>(ExtensionFileSystems.For("erofs-mkfs"));
        Assert.IsType<MksquashfsWriter>(ExtensionFileSystems.For("squashfs"));
        Assert.Null(ExtensionFileSystems.For("ext4"));
        Assert.Equal(["erofs", "erofs-mkfs", "squashfs"], ExtensionFileSystems.Names);
        Assert.All(ExtensionFileSystems.Names, n => Assert.NotNull(ExtensionFileSystems.For(n)));
        Assert.Equal("erofs", ExtensionFileSystems.For("erofs-mkfs")!.FileSystemType);
    }

    [Fact]
    public void OwnersAndDeviceNodesAreKeptWithoutLossReports()
    {
        var fsck = ReferenceTool.Require("fsck.erofs", "erofs-utils");
        using var dir = new TempDirectory("sysext-native");
        using var tree = SysextTree();
        tree.File("usr/share/hello/owned", "owned by a user\n", 0x1A0, 1000, 1000);
        var entries = tree.Entries.Concat([
            new TreeEntry { Path = "usr/lib/hello-dev", Kind = TreeEntryKind.Directory, Permissions = 0x1ED },
            new TreeEntry { Path = "usr/lib/hello-dev/null", Kind = TreeEntryKind.CharacterDevice, Permissions = 0x1B6, DeviceMajor = 1, DeviceMinor = 3 },
            new TreeEntry { Path = "usr/lib/hello-dev/socket", Kind = TreeEntryKind.Socket, Permissions = 0x1FF },
        ]).ToList();
        var image = dir.Combine("hello.sysext.raw");
        var result = Build(entries, image, signer: null, dir.Combine("work"), verity: false);
        Assert.Empty(result.FileSystemReport.OwnersLost);
        Assert.Empty(result.FileSystemReport.Skipped);

        var data = Extract(dir, image, GptReader.Read(image).Entries[0], "p1.erofs");
        var extracted = dir.Combine("x");
        var run = ReferenceTool.Run(fsck, [$"--extract={extracted}", data]);
        Assert.True(run.ExitCode == 0, run.ToString());
        Assert.Equal("owned by a user\n", File.ReadAllText(Path.Combine(extracted, "usr/share/hello/owned")));
        if (Environment.UserName == "root")
        {
            var stat = ReferenceTool.Run("stat", ["-c", "%F %t:%T %u:%g %a", Path.Combine(extracted, "usr/lib/hello-dev/null"), Path.Combine(extracted, "usr/share/hello/owned")]);
            Assert.Equal("character special file 1:3 0:0 666\nregular file 0:0 1000:1000 640\n", stat.StandardOutput);
        }
    }

    [Fact]
    public void NativeAndMkfsImagesHoldTheSameTree()
    {
        var fsck = ReferenceTool.Require("fsck.erofs", "erofs-utils");
        var find = ReferenceTool.Require("find", "findutils");
        ReferenceTool.Require("mkfs.erofs", "erofs-utils");
        using var dir = new TempDirectory("sysext-native");
        using var tree = SysextTree();
        for (var i = 0; i < 400; i++) tree.File($"usr/share/hello/many/file-{i:D3}-{new string('n', i % 50)}", new string('c', i * 37));
        tree.File("usr/share/hello/exact", new string('e', 4096)).File("usr/share/hello/minus", new string('m', 4095)).File("usr/share/hello/plus", new string('p', 4097));
        tree.File("usr/share/hello/empty", "");

        string Listing(string fileSystem)
        {
            var image = dir.Combine(fileSystem + ".raw");
            Build(tree, image, signer: null, dir.Combine("work-" + fileSystem), verity: false, fileSystem: fileSystem);
            var data = Extract(dir, image, GptReader.Read(image).Entries[0], fileSystem + ".erofs");
            var extracted = dir.Combine("x-" + fileSystem);
            var run = ReferenceTool.Run(fsck, [$"--extract={extracted}", data]);
            Assert.True(run.ExitCode == 0, run.ToString());
            // Owners only as root (mkfs.erofs records root otherwise); hard links may be extracted as copies.
            var format = Environment.UserName == "root" ? "%P %y %m %U %G %s %l\n" : "%P %y %m %s %l\n";
            var list = ReferenceTool.Run(find, [extracted, "-mindepth", "1", "-printf", format]);
            Assert.True(list.ExitCode == 0, list.ToString());
            var lines = list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Order(StringComparer.Ordinal).ToList();
            foreach (var file in Directory.EnumerateFiles(extracted, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
                lines.Add(Path.GetRelativePath(extracted, file) + " " + Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(file))));
            return string.Join("\n", lines);
        }

        var native = Listing("erofs");
        Assert.Contains("usr/share/hello/many/file-399", native);
        Assert.Equal(Listing("erofs-mkfs"), native);
    }
}
