using Initrd.Formats.Tree;
using Initrd.Image.Finalize;

namespace Initrd.Image.Tests.Finalize;

public class ImageFilesTests
{
    static string HostFile(TreeFixture f, string name, string content, UnixFileMode? mode = null)
    {
        var path = Path.Combine(f.TempPath, "host", name);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        File.WriteAllText(path, content);
        if (mode is { } m && !OperatingSystem.IsWindows()) File.SetUnixFileMode(path, m);
        return path;
    }

    const UnixFileMode Rw = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
    const UnixFileMode Rwx = Rw | UnixFileMode.UserExecute;

    [Fact]
    public void PlacesFilesWithDefaultAndExplicitModes()
    {
        using var f = new TreeFixture().Dir("etc").Link("lib", "usr/lib").Dir("usr/lib");
        var conf = HostFile(f, "a.conf", "a=1\n", Rw);
        var script = HostFile(f, "hook", "#!/bin/sh\n", Rwx);
        var tree = f.Build();
        var written = ImageFiles.Apply(tree,
        [
            new ImageFileSpec(conf, "/etc/a.conf"),
            new ImageFileSpec(script, "usr/local/bin/hook"),
            new ImageFileSpec(conf, "/lib/modules-load.d/a.conf", Permissions: FileModes.OwnerOnly, Uid: 5, Gid: 6),
        ]);
        Assert.Equal(["etc/a.conf", "usr/local/bin/hook", "usr/lib/modules-load.d/a.conf"], written);
        var a = tree.Find("etc/a.conf")!;
        Assert.Equal((TreeEntryKind.RegularFile, FileModes.Regular, 4L, TreeFixture.Timestamp), (a.Kind, a.Permissions, a.Size, a.ModificationTime));
        Assert.StartsWith(f.OverlayDirectory, a.ContentPath); // copied, not referenced
        Assert.Equal(FileModes.Executable, tree.Find("usr/local/bin/hook")!.Permissions);
        var m = tree.Find("usr/lib/modules-load.d/a.conf")!;
        Assert.Equal((FileModes.OwnerOnly, 5, 6), (m.Permissions, m.Uid, m.Gid));
        Assert.Equal(TreeEntryKind.Directory, tree.Find("usr/local/bin")!.Kind);

        File.WriteAllText(conf, "changed later\n");
        Assert.Equal("a=1\n", tree.ReadAllText("etc/a.conf"));
    }

    [Fact]
    public void ReplacesFilesAndSymlinksAtThePath()
    {
        using var f = new TreeFixture().File("usr/lib/os-release", "ID=debian\n").Link("etc/os-release", "../usr/lib/os-release");
        var mine = HostFile(f, "os-release", "ID=mine\n");
        var tree = f.Build();
        ImageFiles.Apply(tree, [new ImageFileSpec(mine, "/etc/os-release")]);
        Assert.Equal(TreeEntryKind.RegularFile, tree.Find("etc/os-release")!.Kind);
        Assert.Equal("ID=debian\n", tree.ReadAllText("usr/lib/os-release"));
    }

    [Fact]
    public void ASymlinkedParentPointingOutOfTheImageIsRejected()
    {
        using var f = new TreeFixture().Dir("tmp").Link("etc", "/tmp").Dir("usr").Link("usr/share", "../../../elsewhere");
        var file = HostFile(f, "x", "x");
        var tree = f.Build();
        var e = Assert.Throws<FinalizeException>(() => ImageFiles.Apply(tree, [new ImageFileSpec(file, "/etc/x.conf")]));
        Assert.Equal(FinalizeErrorKind.ImageFileOutsideImage, e.Kind);
        Assert.Equal(file, e.Location);
        Assert.Contains("/etc", e.Message);
        Assert.Contains("'/tmp'", e.Message);
        Assert.False(tree.Contains("tmp/x.conf"));

        var e2 = Assert.Throws<FinalizeException>(() => ImageFiles.Apply(tree, [new ImageFileSpec(file, "/usr/share/x")]));
        Assert.Equal(FinalizeErrorKind.ImageFileOutsideImage, e2.Kind);
    }

    [Fact]
    public void ConflictsAndMistakesNameTheFile()
    {
        using var f = new TreeFixture().Dir("etc/ssh").File("usr/bin/tool", "t");
        var file = HostFile(f, "x", "x");
        var tree = f.Build();
        void Expect(FinalizeErrorKind kind, params ImageFileSpec[] specs)
        {
            var e = Assert.Throws<FinalizeException>(() => ImageFiles.Apply(tree, specs));
            Assert.Equal(kind, e.Kind);
            Assert.NotNull(e.Location);
        }
        Expect(FinalizeErrorKind.ImageFileConflict, new ImageFileSpec(file, "/etc/ssh"));
        Expect(FinalizeErrorKind.ImageFileConflict, new ImageFileSpec(file, "/usr/bin/tool/x"));
        Expect(FinalizeErrorKind.InvalidPath, new ImageFileSpec(file, "/etc/../x"));
        Expect(FinalizeErrorKind.InvalidPath, new ImageFileSpec(file, "/"));
        Expect(FinalizeErrorKind.ImageFileNotFound, new ImageFileSpec(file + ".missing", "/etc/y"));
        Expect(FinalizeErrorKind.ImageFileDuplicate, new ImageFileSpec(file, "/etc/z"), new ImageFileSpec(file, "etc/./z"));
    }
}
