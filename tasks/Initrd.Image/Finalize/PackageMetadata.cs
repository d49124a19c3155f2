namespace Initrd.Image.Finalize;

/// <summary>
/// Removes what dpkg, apt and debconf keep about installed packages, and logs, which an image that is never updated
/// in place has no use for: the <em>content</em> of <c>var/lib/dpkg</c>, <c>var/lib/apt</c>, <c>var/cache/apt</c>,
/// <c>var/cache/debconf</c> and <c>var/log</c>. The directories themselves stay.
/// </summary>
public static class PackageMetadata
{
    public static readonly IReadOnlyList<string> Directories =
        ["var/lib/dpkg", "var/lib/apt", "var/cache/apt", "var/cache/debconf", "var/log"];

    /// <summary>Returns the number of entries removed.</summary>
    public static int Apply(ImageTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var removed = 0;
        foreach (var dir in Directories)
            if (tree.Find(dir) is { Kind: Initrd.Formats.Tree.TreeEntryKind.Directory }) removed += tree.RemoveChildren(dir);
        return removed;
    }
}
