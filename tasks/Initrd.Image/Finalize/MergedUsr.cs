using Initrd.Formats.Tree;

namespace Initrd.Image.Finalize;

/// <summary>
/// Makes the tree a merged-/usr tree: <c>/bin → usr/bin</c>, <c>/sbin → usr/sbin</c>, <c>/lib → usr/lib</c>, and
/// <c>/lib64 → usr/lib64</c> on amd64 (plus <c>lib32</c>, <c>libx32</c>, <c>libo32</c>, <c>lib64</c> wherever the
/// tree has the /usr directory). Trixie's base-files ships these links already; a tree without base-files gets them
/// here. A link that is already there (relative or absolute, as long as it resolves to the /usr directory) is kept; an
/// empty real directory is replaced by the link; a real directory with content is an error naming what is in it.
/// </summary>
public static class MergedUsr
{
    static readonly string[] Always = ["bin", "sbin", "lib"];
    static readonly string[] WhenPresent = ["lib32", "lib64", "libx32", "libo32"];

    /// <summary>The links <see cref="Apply"/> ensures for this tree and Debian architecture.</summary>
    public static IReadOnlyList<string> LinksFor(ImageTree tree, string architecture)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var links = new List<string>(Always);
        foreach (var name in WhenPresent)
        {
            var wanted = (name == "lib64" && architecture == "amd64")
                || tree.ResolveEntry("usr/" + name) is { Kind: TreeEntryKind.Directory }
                || tree.Find(name) is not null;
            if (wanted) links.Add(name);
        }
        return links;
    }

    /// <summary>Ensures the links. Returns the links it created (empty when the tree had them all).</summary>
    /// <exception cref="FinalizeException"><see cref="FinalizeErrorKind.MergedUsrConflict"/>.</exception>
    public static IReadOnlyList<string> Apply(ImageTree tree, string architecture)
    {
        var created = new List<string>();
        foreach (var name in LinksFor(tree, architecture))
        {
            var usr = "usr/" + name;
            var existing = tree.Find(name);
            if (existing is not null)
            {
                if (existing.Kind == TreeEntryKind.Symlink)
                {
                    var resolved = tree.ResolvePath(name);
                    var expected = tree.ResolvePath(usr);
                    if (resolved is not null && resolved == expected) continue;
                    if (resolved is null && expected is null && IsUsrTarget(existing.LinkTarget, name)) continue;
                    throw new FinalizeException(FinalizeErrorKind.MergedUsrConflict, "/" + name,
                        $"/{name} is a symlink to '{existing.LinkTarget}', but a merged-/usr image needs /{name} -> {usr}. " +
                        $"Remove it with an ImageRemove item for /{name} or fix the package or ImageFile that provides it.");
                }
                if (existing.Kind == TreeEntryKind.Directory)
                {
                    var content = tree.EnumerateSubtree(name).Skip(1).Where(e => e.Kind != TreeEntryKind.Directory).Take(6).ToList();
                    if (content.Count > 0)
                    {
                        var listed = string.Join(", ", content.Take(5).Select(e => "/" + e.Path)) + (content.Count > 5 ? ", …" : "");
                        throw new FinalizeException(FinalizeErrorKind.MergedUsrConflict, "/" + name,
                            $"/{name} is a real directory with content ({listed}), but the image is merged-/usr (/{name} -> {usr}). " +
                            $"Install these files under /{usr} instead, or drop them with ImageRemove items.");
                    }
                    tree.Remove(name);
                }
                else
                {
                    throw new FinalizeException(FinalizeErrorKind.MergedUsrConflict, "/" + name,
                        $"/{name} is a {TreeEntry.Describe(existing.Kind)}, but a merged-/usr image needs /{name} -> {usr}. " +
                        $"Remove it with an ImageRemove item for /{name}.");
                }
            }
            tree.EnsureDirectory(usr);
            tree.AddSymlink(name, usr);
            created.Add(name);
        }
        return created;
    }

    static bool IsUsrTarget(string? target, string name) =>
        target is not null && target.Trim('/') is var t && (t == "usr/" + name);
}
