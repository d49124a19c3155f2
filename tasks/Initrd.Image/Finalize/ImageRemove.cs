namespace Initrd.Image.Finalize;

/// <summary>
/// Applies ImageRemove patterns (see <see cref="TreeGlob"/> for the syntax): every matched path is removed, a
/// matched directory with everything below it. A pattern that matches nothing is a warning (usually a typo, or a
/// path the packages do not ship).
/// </summary>
public static class ImageRemove
{
    /// <summary>Returns the number of entries removed.</summary>
    /// <exception cref="FinalizeException"><see cref="FinalizeErrorKind.InvalidGlob"/>.</exception>
    public static int Apply(ImageTree tree, IEnumerable<string> patterns, ICollection<FinalizeWarning>? warnings = null)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(patterns);
        var globs = patterns.Select(TreeGlob.Parse).ToList(); // all parse errors before any change
        // "Matched nothing" is judged on the tree as it was, so overlapping patterns do not warn.
        var unmatched = globs.Where(g => tree.Match(g).Count == 0).ToHashSet();
        var removed = 0;
        foreach (var glob in globs)
        {
            removed += tree.RemoveGlob(glob);
            if (unmatched.Contains(glob))
                warnings?.Add(new FinalizeWarning(FinalizeWarningKind.RemoveMatchedNothing, glob.Pattern,
                    $"The ImageRemove pattern '{glob.Pattern}' matched nothing in the image."));
        }
        return removed;
    }
}
