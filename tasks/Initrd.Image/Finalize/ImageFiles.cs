using Initrd.Formats.Tree;

namespace Initrd.Image.Finalize;

/// <summary>
/// One extra file for the image: a host file placed at an image path.
/// </summary>
/// <param name="SourcePath">The host file (absolute, or relative to the current directory).</param>
/// <param name="ImagePath">Where it goes in the image ("/etc/foo.conf" or "etc/foo.conf").</param>
/// <param name="Permissions">Permission bits; null: 0755 when the host file has any execute bit, else 0644.</param>
/// <param name="Uid">Owner in the image.</param>
/// <param name="Gid">Group in the image.</param>
public sealed record ImageFileSpec(string SourcePath, string ImagePath, int? Permissions = null, int Uid = 0, int Gid = 0);

/// <summary>
/// Places ImageFile items. The file's content is copied into the overlay (so later changes on the host do not leak
/// into a packed image), its mtime is the image timestamp. Rules, each violation an error naming the file:
/// <list type="bullet">
/// <item>the image path must be a plain path from the root (no "..");</item>
/// <item>parents that are relative symlinks inside the image are followed (<c>/lib/x</c> lands in <c>/usr/lib/x</c>);
/// a parent that is a symlink with an absolute target or one climbing out of the root with ".." (<c>etc → /tmp</c>)
/// is refused — write the path the link points to instead;</item>
/// <item>an existing directory at the path, or a file where a parent directory should be, is a conflict;</item>
/// <item>a symlink or file at the path itself is replaced;</item>
/// <item>two items for the same image path are an error.</item>
/// </list>
/// Missing parent directories are created 0755 root:root.
/// </summary>
public static class ImageFiles
{
    /// <summary>Places the files in order. Returns the image paths written.</summary>
    /// <exception cref="FinalizeException">ImageFileNotFound, ImageFileOutsideImage, ImageFileConflict, ImageFileDuplicate, InvalidPath.</exception>
    public static IReadOnlyList<string> Apply(ImageTree tree, IEnumerable<ImageFileSpec> files)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(files);
        var written = new List<string>();
        var seen = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var spec in files)
        {
            var source = Path.GetFullPath(spec.SourcePath);
            var path = ImageTree.NormalizePath(spec.ImagePath);
            if (string.IsNullOrEmpty(path))
                throw new FinalizeException(FinalizeErrorKind.InvalidPath, source,
                    $"The ImageFile '{spec.SourcePath}' has the image path '{spec.ImagePath}', which is not a path below the image root " +
                    "(it must not be empty or contain '..').");
            if (!File.Exists(source))
                throw new FinalizeException(FinalizeErrorKind.ImageFileNotFound, source,
                    $"The ImageFile '{spec.SourcePath}' does not exist.");

            var target = Place(tree, source, path);
            if (!seen.TryAdd(target, source))
                throw new FinalizeException(FinalizeErrorKind.ImageFileDuplicate, source,
                    $"The ImageFiles '{seen[target]}' and '{source}' both go to /{target}; keep one of them.");

            var permissions = spec.Permissions ?? DefaultPermissions(source);
            tree.AddHostFile(target, source, permissions, spec.Uid, spec.Gid);
            written.Add(target);
        }
        return written;
    }

    /// <summary>Where the file goes (the parent resolved inside the image), after the checks above.</summary>
    static string Place(ImageTree tree, string source, string path)
    {
        var slash = path.LastIndexOf('/');
        var name = path[(slash + 1)..];
        var parent = "";
        if (slash > 0)
        {
            var r = tree.Resolve(path[..slash], followFinal: true, allowMissing: true);
            if (r.EscapingLink is not null)
                throw new FinalizeException(FinalizeErrorKind.ImageFileOutsideImage, source,
                    $"The ImageFile '{source}' goes to /{path}, but /{r.EscapingLink} is a symlink to '{r.EscapingTarget}', which points out of " +
                    "the image tree. Give the path the symlink points to (inside the image) as the file's ImagePath instead.");
            if (r.NotDirectory)
                throw new FinalizeException(FinalizeErrorKind.ImageFileConflict, source,
                    $"The ImageFile '{source}' goes to /{path}, but /{r.Path} is a file in the image, not a directory.");
            parent = r.Path;
            if (tree.Find(parent) is { } existing && existing.Kind != TreeEntryKind.Directory)
                throw new FinalizeException(FinalizeErrorKind.ImageFileConflict, source,
                    $"The ImageFile '{source}' goes to /{path}, but /{parent} is a {TreeEntry.Describe(existing.Kind)} in the image, not a directory.");
        }
        var target = parent.Length == 0 ? name : parent + "/" + name;
        if (tree.Find(target) is { Kind: TreeEntryKind.Directory })
            throw new FinalizeException(FinalizeErrorKind.ImageFileConflict, source,
                $"The ImageFile '{source}' would replace the directory /{target} in the image; an ImageFile can only add or replace files. " +
                "Set its ImagePath to a path inside the directory.");
        return target;
    }

    static int DefaultPermissions(string source)
    {
        if (OperatingSystem.IsWindows()) return FileModes.Regular;
        var mode = (int)File.GetUnixFileMode(source);
        return (mode & FileModes.AnyExecute) != 0 ? FileModes.Executable : FileModes.Regular;
    }
}
