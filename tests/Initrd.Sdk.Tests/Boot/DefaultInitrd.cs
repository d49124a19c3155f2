using System.Text.RegularExpressions;
using System.Xml.Linq;
using Initrd.Sdk.Tests.Common;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Boot;

/// <summary>
/// The default image exactly as templates/content/initrd defines it, built once per test run with the real
/// `dotnet build` from the host's Debian mirror, plus a test root file system built by the SDK too
/// (busybox-static as a directory image, made into ext4 with mkfs.ext4 -d).
/// </summary>
public sealed partial class DefaultInitrd : IDisposable
{
    public const string RootMarker = "INITRD-SDK-TEST-ROOT-REACHED";

    public DefaultInitrd()
    {
        Initrd = new ImageProject(TemplateBody(), "MyInitrd");
        InitrdBuild = Initrd.Run("build");
        Root = NewTestRoot();
        RootBuild = Root.Run("build");
    }

    public ImageProject Initrd { get; }
    public BuildResult InitrdBuild { get; }
    public ImageProject Root { get; }
    public BuildResult RootBuild { get; }

    public string InitrdPath => Path.Combine(Initrd.OutputDirectory, "MyInitrd.cpio.zst");
    public string KernelPath => Path.Combine(Initrd.OutputDirectory, "MyInitrd.vmlinuz");
    public string RootDirectory => Path.Combine(Root.OutputDirectory, "TestRoot");

    /// <summary>The template project's content without its Project element (ImageProject adds the SDK imports).</summary>
    public static string TemplateBody()
    {
        var doc = XDocument.Load(Path.Combine(RepositoryLayout.Root, "templates", "content", "initrd", "MyInitrd.initrdproj"));
        return string.Concat(doc.Root!.Nodes().Select(n => n.ToString()));
    }

    /// <summary>
    /// The busybox test root as a directory image project (not built yet): its init proves the switch root happened
    /// (<see cref="RootMarker"/>) and powers off, the guest having nothing else to do.
    /// </summary>
    public static ImageProject NewTestRoot()
    {
        var root = new ImageProject("""
              <PropertyGroup><ImageFormat>directory</ImageFormat></PropertyGroup>
              <ItemGroup>
                <ImagePackage Include="busybox-static;base-files" />
                <ImageFile Include="rootfs/**" />
              </ItemGroup>
            """, "TestRoot");
        var init = root.Folder.WriteFile("rootfs/usr/sbin/init", $"""
            #!/usr/bin/busybox sh
            /usr/bin/busybox mount -t proc proc /proc
            echo "{RootMarker}"
            # Let the serial line drain before the machine goes away (the marker is what the test waits for).
            /usr/bin/busybox sleep 1
            /usr/bin/busybox poweroff -f
            """);
        File.SetUnixFileMode(init, (UnixFileMode)0b111_101_101);
        return root;
    }

    /// <summary>An ext4 image of the test root, made with mkfs.ext4 -d (e2fsprogs).</summary>
    public string MakeRootDisk() => MakeExt4(RootDirectory, Root.Folder.Combine("root.ext4"));

    /// <summary>An ext4 image of <paramref name="tree"/> (mkfs.ext4 -d, e2fsprogs), 64 MiB, labelled testroot.</summary>
    public static string MakeExt4(string tree, string image)
    {
        var mkfs = ReferenceTool.Require("mkfs.ext4", "e2fsprogs");
        File.Delete(image);
        var r = ReferenceTool.Run(mkfs, ["-q", "-F", "-L", "testroot", "-d", tree, image, "64M"]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return image;
    }

    [GeneratedRegex(@"\x1b\[[0-9;?]*[A-Za-z]")]
    public static partial Regex AnsiEscape();

    public void Dispose()
    {
        Initrd.Dispose();
        Root.Dispose();
    }
}
