using Initrd.Formats.Tree;

namespace Initrd.Image.Finalize;

/// <summary>
/// Adds <c>/init → usr/lib/systemd/systemd</c> for an initrd: the kernel runs /init from the initramfs, and without it
/// tries to mount the root itself and panics. An /init that is already there (e.g. an ImageFile script) is kept.
/// </summary>
public static class InitSymlink
{
    public const string Path = "init";
    public const string SystemdPath = "usr/lib/systemd/systemd";

    /// <summary>Returns true when the link was added, false when an /init existed.</summary>
    /// <exception cref="FinalizeException"><see cref="FinalizeErrorKind.SystemdMissing"/>.</exception>
    public static bool Apply(ImageTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        if (tree.Find(Path) is not null) return false;
        if (tree.ResolveEntry(SystemdPath) is not { Kind: TreeEntryKind.RegularFile or TreeEntryKind.HardLink })
            throw new FinalizeException(FinalizeErrorKind.SystemdMissing, "/" + SystemdPath,
                $"An initrd needs /init, which points to /{SystemdPath}, but the image has no systemd. " +
                "Add ImagePackage systemd (or provide your own /init with an ImageFile).");
        tree.AddSymlink(Path, SystemdPath);
        return true;
    }
}
