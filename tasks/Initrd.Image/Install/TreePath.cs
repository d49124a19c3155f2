namespace Initrd.Image.Install;

/// <summary>
/// Lexical rules for names inside an install tree: how archive entry names become image paths, and when a name or a
/// symlink target leaves the tree. Physical resolution (following the tree's own symlinks) is <see cref="TreeAssembler"/>'s.
/// </summary>
internal static class TreePath
{
    /// <summary>
    /// Normalises an archive entry name to an image path: leading '/' removed (as tar and dpkg do), empty and "."
    /// components dropped, ".." applied to the preceding component. Returns "" for the root ("./"). Null with a
    /// reason when the name contains a NUL character or a ".." climbs above the root.
    /// </summary>
    public static string? Normalize(string name, out string? error)
    {
        error = null;
        if (name.Contains('\0'))
        {
            error = "the name contains a NUL character";
            return null;
        }
        var parts = new List<string>(8);
        foreach (var range in name.AsSpan().Split('/'))
        {
            var part = name.AsSpan(range);
            if (part.IsEmpty || part is ".") continue;
            if (part is "..")
            {
                if (parts.Count == 0)
                {
                    error = "the name climbs above the root of the tree with '..'";
                    return null;
                }
                parts.RemoveAt(parts.Count - 1);
                continue;
            }
            parts.Add(part.ToString());
        }
        return string.Join('/', parts);
    }

    /// <summary>The components of a normalised path ("" has none).</summary>
    public static string[] Split(string path) => path.Length == 0 ? [] : path.Split('/');

    /// <summary>
    /// Checks a symlink target lexically against the directory the link lives in (its image path, "" for the root):
    /// an absolute target is taken relative to the image root, a relative one relative to that directory; a ".."
    /// beyond the root is an escape. Returns null when the target is acceptable, else the reason.
    /// </summary>
    public static string? CheckSymlinkTarget(string directory, string target)
    {
        if (target.Length == 0) return "the symlink target is empty";
        if (target.Contains('\0')) return "the symlink target contains a NUL character";
        var depth = target[0] == '/' ? 0 : Split(directory).Length;
        foreach (var range in target.AsSpan().Split('/'))
        {
            var part = target.AsSpan(range);
            if (part.IsEmpty || part is ".") continue;
            if (part is "..")
            {
                if (depth == 0)
                    return $"the symlink target '{target}' (from /{directory}) climbs above the root of the tree with '..'";
                depth--;
            }
            else
            {
                depth++;
            }
        }
        return null;
    }
}
