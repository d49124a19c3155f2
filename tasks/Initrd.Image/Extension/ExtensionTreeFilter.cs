using Initrd.Formats.Tree;

namespace Initrd.Image.Extension;

/// <summary>A top-level path the filter dropped, with how many entries it held (itself included).</summary>
public sealed record DroppedPath(string Path, int EntryCount);

/// <summary>The entries an extension keeps and what it dropped.</summary>
public sealed record FilteredTree(IReadOnlyList<TreeEntry> Entries, IReadOnlyList<DroppedPath> Dropped);

/// <summary>
/// Keeps what an extension may hold — <c>/usr</c> and <c>/opt</c> for a sysext, <c>/etc</c> for a confext — and drops
/// the rest, since systemd merges nothing else (and refuses a sysext whose tree has no <c>/usr</c> or <c>/opt</c>
/// content). Hard links whose file was dropped become regular files themselves.
/// </summary>
public static class ExtensionTreeFilter
{
    public static FilteredTree Apply(IReadOnlyList<TreeEntry> entries, ExtensionKind kind)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var roots = ExtensionKinds.AllowedRoots(kind);
        var kept = new List<TreeEntry>(entries.Count);
        var dropped = new SortedDictionary<string, int>(StringComparer.Ordinal);
        var droppedFiles = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var top = TopOf(e.Path);
            if (roots.Contains(top, StringComparer.Ordinal) && (e.Path.Length > top.Length || e.Kind == TreeEntryKind.Directory))
            {
                kept.Add(e);
                continue;
            }
            dropped[top] = dropped.GetValueOrDefault(top) + 1;
            if (e.Kind == TreeEntryKind.RegularFile) droppedFiles[e.Path] = e;
        }

        // A kept hard link whose file was dropped: the first such link (by path) takes the file's content, the
        // others point at it.
        var promoted = new Dictionary<string, string>(StringComparer.Ordinal);
        for (var i = 0; i < kept.Count; i++)
        {
            var e = kept[i];
            if (e.Kind != TreeEntryKind.HardLink || !droppedFiles.TryGetValue(e.LinkTarget!, out var file)) continue;
            if (promoted.TryGetValue(file.Path, out var primary))
                kept[i] = e with { LinkTarget = primary };
            else
            {
                promoted[file.Path] = e.Path;
                kept[i] = file with { Path = e.Path }; // a hard link shares the file's inode: mode, owner, time, content
            }
        }
        return new FilteredTree(kept, dropped.Select(d => new DroppedPath("/" + d.Key, d.Value)).ToList());
    }

    /// <summary>Whether an image path lies where the extension kind may put things.</summary>
    public static bool IsAllowed(string imagePath, ExtensionKind kind)
    {
        var path = imagePath.TrimStart('/');
        var top = TopOf(path);
        return ExtensionKinds.AllowedRoots(kind).Contains(top, StringComparer.Ordinal) && path.Length > top.Length;
    }

    static string TopOf(string path)
    {
        var slash = path.IndexOf('/');
        return slash < 0 ? path : path[..slash];
    }
}
