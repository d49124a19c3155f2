using Initrd.Formats.Tree;

namespace Initrd.Image.Finalize;

/// <summary>
/// Adds the device nodes the kernel and early userspace expect before devtmpfs is mounted, as manifest entries only
/// (the packer writes them into the cpio; nothing is created on the host, no root needed): <c>/dev/console</c>
/// (c 5 1, 0600), <c>/dev/null</c> (c 1 3, 0666), <c>/dev/kmsg</c> (c 1 11, 0644). Existing entries are kept.
/// </summary>
public static class DeviceNodes
{
    /// <summary>The nodes: image path, major, minor, permissions.</summary>
    public static readonly IReadOnlyList<(string Path, int Major, int Minor, int Permissions)> Nodes =
    [
        ("dev/console", 5, 1, FileModes.OwnerOnly),
        ("dev/kmsg", 1, 11, FileModes.Regular),
        ("dev/null", 1, 3, FileModes.EverybodyReadWrite),
    ];

    /// <summary>Returns the nodes added.</summary>
    public static IReadOnlyList<string> Apply(ImageTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var added = new List<string>();
        tree.EnsureDirectory("dev");
        foreach (var (path, major, minor, permissions) in Nodes)
        {
            if (tree.Find(path) is not null) continue;
            tree.AddNode(path, TreeEntryKind.CharacterDevice, major, minor, permissions);
            added.Add(path);
        }
        return added;
    }
}
