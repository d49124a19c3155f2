namespace Initrd.Image.Finalize;

/// <summary>
/// Adds an empty <c>/etc/machine-id</c> (0444): systemd then generates a transient ID at boot instead of treating
/// the boot as a "first boot". An existing machine-id (e.g. an ImageFile) is kept.
/// </summary>
public static class MachineId
{
    public const string Path = "etc/machine-id";

    /// <summary>Returns true when the file was added.</summary>
    public static bool Apply(ImageTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        if (tree.Find(Path) is not null) return false;
        tree.AddFile(Path, [], FileModes.ReadOnly);
        return true;
    }
}
