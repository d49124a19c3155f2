using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;
using System.Text;
using Initrd.Formats.Tree;

namespace Initrd.Image.Finalize;

/// <summary>
/// The image being finalized, in memory: one <see cref="TreeEntry"/> per path (ordinal keys, no leading slash, the
/// root itself implicit), built from an install tree's manifest. The install tree is never touched: new or changed
/// content is written into <see cref="OverlayDirectory"/> under its SHA-256 (content-addressed, so writing the same
/// bytes twice costs nothing and identical inputs give identical manifests), and the entry's
/// <see cref="TreeEntry.ContentPath"/> points there.
/// </summary>
/// <remarks>
/// Paths: '/'-separated, a leading '/' is accepted everywhere and dropped; "." components are ignored; ".." is refused
/// (use <see cref="ResolvePath"/> to interpret symlink targets). The <c>Add*</c> methods follow symlinks in the
/// <em>parent</em> directories inside the image (so <c>lib/x</c> lands in <c>usr/lib/x</c> when <c>lib → usr/lib</c>),
/// create missing parents (0755 root:root, <see cref="Timestamp"/>) and replace whatever is at the final path unless it
/// is a directory. <see cref="Set"/> is the literal, low-level form. Hard links stay consistent: removing or replacing
/// the regular file that hard links point to promotes the first remaining link (ordinal order) to the regular file and
/// re-points the others to it.
/// </remarks>
public sealed class ImageTree
{
    /// <summary>How many symlinks one resolution may follow before it is called a loop (Linux's MAXSYMLINKS).</summary>
    public const int MaxSymlinkFollows = 40;

    readonly Dictionary<string, TreeEntry> _entries = new(StringComparer.Ordinal);
    readonly Dictionary<string, SortedSet<string>> _children = new(StringComparer.Ordinal);
    readonly Dictionary<string, SortedSet<string>> _hardLinks = new(StringComparer.Ordinal);
    List<TreeEntry>? _sorted;

    /// <summary>Builds the tree from manifest entries. Missing parent directories are added (0755 root:root).</summary>
    /// <param name="entries">The entries, any order.</param>
    /// <param name="overlayDirectory">Where new file content is written (created on first use).</param>
    /// <param name="timestamp">Modification time (seconds since the epoch) of every entry the finalize steps create.</param>
    public ImageTree(IEnumerable<TreeEntry> entries, string overlayDirectory, long timestamp)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentException.ThrowIfNullOrEmpty(overlayDirectory);
        OverlayDirectory = Path.GetFullPath(overlayDirectory);
        Timestamp = timestamp;
        _children[""] = new SortedSet<string>(StringComparer.Ordinal);

        var pending = new List<TreeEntry>();
        foreach (var raw in entries)
        {
            var path = NormalizeOrThrow(raw.Path, FinalizeErrorKind.InvalidManifest);
            if (path.Length == 0)
                throw new FinalizeException(FinalizeErrorKind.InvalidManifest, "/", "The manifest lists the image root as an entry.");
            var entry = raw.Path == path ? raw : raw with { Path = path };
            if (entry.Kind == TreeEntryKind.HardLink)
            {
                if (string.IsNullOrEmpty(entry.LinkTarget))
                    throw new FinalizeException(FinalizeErrorKind.InvalidManifest, "/" + path, $"The hard link /{path} has no target.");
                entry = entry with { LinkTarget = NormalizeOrThrow(entry.LinkTarget, FinalizeErrorKind.InvalidManifest), ContentPath = null };
            }
            if (!_entries.TryAdd(path, entry))
                throw new FinalizeException(FinalizeErrorKind.InvalidManifest, "/" + path, $"The manifest lists /{path} twice.");
            if (entry.Kind == TreeEntryKind.HardLink) pending.Add(entry);
        }

        foreach (var path in _entries.Keys.ToList())
        {
            EnsureParentsLiteral(path);
            Index(_entries[path]);
        }
        foreach (var (path, entry) in _entries)
        {
            var parent = ParentOf(path);
            if (parent.Length > 0 && _entries[parent].Kind != TreeEntryKind.Directory)
                throw new FinalizeException(FinalizeErrorKind.InvalidManifest, "/" + path,
                    $"The manifest lists /{path}, but /{parent} is a {TreeEntry.Describe(_entries[parent].Kind)}, not a directory.");
        }

        // Hard links: point each at the regular file that holds the data (chains collapse to their end).
        foreach (var link in pending)
        {
            var target = link.LinkTarget!;
            var seen = 0;
            while (_entries.TryGetValue(target, out var t) && t.Kind == TreeEntryKind.HardLink && seen++ < 64) target = t.LinkTarget!;
            if (!_entries.TryGetValue(target, out var file) || file.Kind != TreeEntryKind.RegularFile)
                throw new FinalizeException(FinalizeErrorKind.InvalidManifest, "/" + link.Path,
                    $"The hard link /{link.Path} points to /{link.LinkTarget}, which is not a regular file in the manifest.");
            if (target != link.LinkTarget) _entries[link.Path] = link with { LinkTarget = target };
            AddHardLinkIndex(target, link.Path);
        }
    }

    /// <summary>Reads <c>&lt;installTree&gt;/manifest</c> (see InstallTree) and builds the tree from it.</summary>
    public static ImageTree LoadInstallTree(string installTreeDirectory, string overlayDirectory, long timestamp) =>
        LoadManifest(Path.Combine(installTreeDirectory, "manifest"), overlayDirectory, timestamp);

    /// <summary>Reads a <see cref="TreeManifest"/> file and builds the tree from it.</summary>
    public static ImageTree LoadManifest(string manifestPath, string overlayDirectory, long timestamp) =>
        new(TreeManifest.Read(manifestPath), overlayDirectory, timestamp);

    /// <summary>Folder new content is written to (absolute).</summary>
    public string OverlayDirectory { get; }

    /// <summary>Modification time given to entries the finalize steps create.</summary>
    public long Timestamp { get; }

    public int Count => _entries.Count;

    /// <summary>All entries, sorted by path (ordinal): parents before their children.</summary>
    public IReadOnlyList<TreeEntry> Entries => _sorted ??= _entries.Values.OrderBy(e => e.Path, StringComparer.Ordinal).ToList();

    // ------------------------------------------------------------------ lookup

    /// <summary>Normalizes an image path: leading '/' and "." dropped; null when it contains ".." or a NUL/newline.</summary>
    public static string? NormalizePath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Contains('\0') || path.Contains('\n')) return null;
        var normal = path.Length == 0 || (path[0] != '/' && path[^1] != '/');
        if (normal)
        {
            foreach (var range in path.AsSpan().Split('/'))
            {
                var part = path.AsSpan(range);
                if (part.IsEmpty || part is "." || part is "..") { normal = false; break; }
            }
            if (normal) return path;
        }
        var parts = new List<string>();
        foreach (var part in path.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..") return null;
            parts.Add(part);
        }
        return string.Join('/', parts);
    }

    public bool Contains(string path) => NormalizePath(path) is { } p && _entries.ContainsKey(p);

    /// <summary>The entry at exactly this path (symlinks not followed).</summary>
    public bool TryGet(string path, [NotNullWhen(true)] out TreeEntry? entry)
    {
        entry = null;
        return NormalizePath(path) is { } p && _entries.TryGetValue(p, out entry);
    }

    /// <summary>The entry at exactly this path (symlinks not followed), or null.</summary>
    public TreeEntry? Find(string path) => TryGet(path, out var e) ? e : null;

    /// <summary>The direct children of a directory (literal path, "" for the root), sorted by name.</summary>
    public IReadOnlyList<TreeEntry> GetChildren(string directory)
    {
        var dir = NormalizeOrThrow(directory, FinalizeErrorKind.InvalidPath);
        if (!_children.TryGetValue(dir, out var names)) return [];
        return names.Select(n => _entries[Join(dir, n)]).ToList();
    }

    /// <summary>The entry at <paramref name="path"/> and everything below it, sorted by path.</summary>
    public IReadOnlyList<TreeEntry> EnumerateSubtree(string path)
    {
        var p = NormalizeOrThrow(path, FinalizeErrorKind.InvalidPath);
        var result = new List<TreeEntry>();
        if (p.Length == 0) return Entries;
        if (!_entries.TryGetValue(p, out var root)) return result;
        result.Add(root);
        CollectDescendants(p, result);
        result.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return result;
    }

    /// <summary>
    /// Follows symlinks inside the image, as the kernel would with this tree mounted as "/": absolute targets start
    /// at the image root, ".." at the root stays there. Returns the canonical path of the final object ("" for the
    /// root), or null when a component does not exist or a non-final component is not a directory.
    /// </summary>
    /// <exception cref="FinalizeException">More than <see cref="MaxSymlinkFollows"/> symlinks (a loop).</exception>
    public string? ResolvePath(string path, bool followFinalSymlink = true)
    {
        var r = Resolve(path, followFinalSymlink, allowMissing: false);
        return r.Missing || r.NotDirectory ? null : r.Path;
    }

    /// <summary>The entry <see cref="ResolvePath"/> ends at (null when missing; null for the root).</summary>
    public TreeEntry? ResolveEntry(string path, bool followFinalSymlink = true) =>
        ResolvePath(path, followFinalSymlink) is { Length: > 0 } p ? _entries[p] : null;

    /// <summary>The host file holding a regular file's (or hard link's) data; null for other kinds and empty files without content.</summary>
    public string? ContentPathOf(TreeEntry entry)
    {
        if (entry.Kind == TreeEntryKind.HardLink)
            return entry.LinkTarget is { } t && _entries.TryGetValue(t, out var file) ? file.ContentPath : null;
        return entry.Kind == TreeEntryKind.RegularFile ? entry.ContentPath : null;
    }

    /// <summary>Size in bytes of a regular file's (or hard link's) data.</summary>
    public long SizeOf(TreeEntry entry) =>
        entry.Kind == TreeEntryKind.HardLink && entry.LinkTarget is { } t && _entries.TryGetValue(t, out var file) ? file.Size : entry.Size;

    /// <summary>Opens a file's content, following symlinks inside the image.</summary>
    /// <exception cref="FileNotFoundException">The path does not resolve to a regular file.</exception>
    public Stream OpenRead(string path)
    {
        var entry = ResolveEntry(path);
        if (entry is null || entry.Kind is not (TreeEntryKind.RegularFile or TreeEntryKind.HardLink))
            throw new FileNotFoundException($"/{NormalizePath(path) ?? path} is not a regular file in the image.", path);
        var content = ContentPathOf(entry);
        if (content is null)
        {
            if (SizeOf(entry) == 0) return new MemoryStream([], writable: false);
            throw new FileNotFoundException($"/{entry.Path} has no content file.", path);
        }
        return new FileStream(content, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
    }

    public byte[] ReadAllBytes(string path)
    {
        using var s = OpenRead(path);
        var ms = new MemoryStream();
        s.CopyTo(ms);
        return ms.ToArray();
    }

    /// <summary>A file's content as UTF-8 text, following symlinks inside the image.</summary>
    public string ReadAllText(string path) => new UTF8Encoding(false).GetString(ReadAllBytes(path));

    // ------------------------------------------------------------------ changes

    /// <summary>
    /// Stores an entry at exactly its path (no symlink following). Missing parents are created; a parent that
    /// exists but is not a directory, or replacing a directory by a non-directory, is a <see cref="FinalizeErrorKind.PathConflict"/>.
    /// A directory replacing a directory keeps the children (metadata update). Returns the stored entry.
    /// </summary>
    public TreeEntry Set(TreeEntry entry)
    {
        ArgumentNullException.ThrowIfNull(entry);
        var path = NormalizeOrThrow(entry.Path, FinalizeErrorKind.InvalidPath);
        if (path.Length == 0) throw new FinalizeException(FinalizeErrorKind.InvalidPath, "/", "The image root cannot be replaced.");
        entry = entry.Path == path ? entry : entry with { Path = path };

        if (entry.Kind == TreeEntryKind.HardLink)
        {
            var target = NormalizeOrThrow(entry.LinkTarget ?? "", FinalizeErrorKind.InvalidPath);
            if (_entries.TryGetValue(target, out var t) && t.Kind == TreeEntryKind.HardLink) target = t.LinkTarget!;
            if (target == path || !_entries.TryGetValue(target, out var file) || file.Kind != TreeEntryKind.RegularFile)
                throw new FinalizeException(FinalizeErrorKind.PathConflict, "/" + path,
                    $"The hard link /{path} must point to a regular file; /{entry.LinkTarget} is not one.");
            entry = entry with { LinkTarget = target, ContentPath = null, Size = 0 };
        }

        CheckParentsLiteral(path);
        if (_entries.TryGetValue(path, out var existing))
        {
            if (existing.Kind == TreeEntryKind.Directory)
            {
                if (entry.Kind != TreeEntryKind.Directory)
                    throw new FinalizeException(FinalizeErrorKind.PathConflict, "/" + path,
                        $"/{path} is a directory in the image; it cannot be replaced by a {TreeEntry.Describe(entry.Kind)}.");
                _entries[path] = entry;
                _sorted = null;
                return entry;
            }
            RemoveCore(path);
        }
        EnsureParentsLiteral(path);
        _entries[path] = entry;
        Index(entry);
        if (entry.Kind == TreeEntryKind.HardLink) AddHardLinkIndex(entry.LinkTarget!, path);
        _sorted = null;
        return entry;
    }

    /// <summary>Adds or replaces a regular file with the given bytes (written to the overlay).</summary>
    public TreeEntry AddFile(string path, ReadOnlySpan<byte> content, int permissions = FileModes.Regular, int uid = 0, int gid = 0, long? modificationTime = null)
    {
        var target = PlaceForCreate(path);
        var contentPath = WriteOverlay(content);
        return Set(new TreeEntry
        {
            Path = target,
            Kind = TreeEntryKind.RegularFile,
            Permissions = permissions & 0xFFF,
            Uid = uid,
            Gid = gid,
            ModificationTime = modificationTime ?? Timestamp,
            Size = content.Length,
            ContentPath = contentPath,
        });
    }

    /// <summary>Adds or replaces a regular file holding <paramref name="text"/> as UTF-8 (no BOM).</summary>
    public TreeEntry AddTextFile(string path, string text, int permissions = FileModes.Regular, int uid = 0, int gid = 0, long? modificationTime = null) =>
        AddFile(path, new UTF8Encoding(false).GetBytes(text), permissions, uid, gid, modificationTime);

    /// <summary>Adds or replaces a regular file with a copy of a host file's bytes (copied into the overlay).</summary>
    public TreeEntry AddHostFile(string path, string hostPath, int permissions, int uid = 0, int gid = 0, long? modificationTime = null)
    {
        var target = PlaceForCreate(path);
        var (contentPath, size) = CopyToOverlay(hostPath);
        return Set(new TreeEntry
        {
            Path = target,
            Kind = TreeEntryKind.RegularFile,
            Permissions = permissions & 0xFFF,
            Uid = uid,
            Gid = gid,
            ModificationTime = modificationTime ?? Timestamp,
            Size = size,
            ContentPath = contentPath,
        });
    }

    /// <summary>Adds a directory, or updates the metadata of an existing one (its content stays).</summary>
    public TreeEntry AddDirectory(string path, int permissions = FileModes.Directory, int uid = 0, int gid = 0, long? modificationTime = null) =>
        Set(new TreeEntry
        {
            Path = PlaceForCreate(path),
            Kind = TreeEntryKind.Directory,
            Permissions = permissions & 0xFFF,
            Uid = uid,
            Gid = gid,
            ModificationTime = modificationTime ?? Timestamp,
        });

    /// <summary>Returns the directory at <paramref name="path"/> (following symlinks), creating it (and its parents) when missing.</summary>
    public TreeEntry EnsureDirectory(string path)
    {
        var target = PlaceForCreate(path);
        if (_entries.TryGetValue(target, out var existing))
        {
            if (existing.Kind == TreeEntryKind.Directory) return existing;
            if (existing.Kind == TreeEntryKind.Symlink && ResolveEntry(target) is { Kind: TreeEntryKind.Directory } dir) return dir;
            throw new FinalizeException(FinalizeErrorKind.PathConflict, "/" + target,
                $"/{target} is a {TreeEntry.Describe(existing.Kind)} in the image, not a directory.");
        }
        return AddDirectory(target);
    }

    /// <summary>Adds or replaces a symlink (the target is stored as given).</summary>
    public TreeEntry AddSymlink(string path, string target, int uid = 0, int gid = 0, long? modificationTime = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        return Set(new TreeEntry
        {
            Path = PlaceForCreate(path),
            Kind = TreeEntryKind.Symlink,
            Permissions = FileModes.Symlink,
            Uid = uid,
            Gid = gid,
            ModificationTime = modificationTime ?? Timestamp,
            LinkTarget = target,
        });
    }

    /// <summary>Adds or replaces a hard link to the regular file at <paramref name="target"/>.</summary>
    public TreeEntry AddHardLink(string path, string target)
    {
        var file = ResolveEntry(target) ?? throw new FinalizeException(FinalizeErrorKind.PathConflict, target, $"/{NormalizePath(target)} does not exist in the image.");
        if (file.Kind == TreeEntryKind.HardLink) file = _entries[file.LinkTarget!];
        return Set(file with { Path = PlaceForCreate(path), Kind = TreeEntryKind.HardLink, LinkTarget = file.Path, ContentPath = null, Size = 0 });
    }

    /// <summary>Adds or replaces a device node, fifo or socket (a manifest entry only: nothing is created on the host).</summary>
    public TreeEntry AddNode(string path, TreeEntryKind kind, int major, int minor, int permissions, int uid = 0, int gid = 0, long? modificationTime = null)
    {
        if (kind is not (TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice or TreeEntryKind.Fifo or TreeEntryKind.Socket))
            throw new ArgumentOutOfRangeException(nameof(kind), kind, "expected a device, fifo or socket");
        return Set(new TreeEntry
        {
            Path = PlaceForCreate(path),
            Kind = kind,
            Permissions = permissions & 0xFFF,
            Uid = uid,
            Gid = gid,
            ModificationTime = modificationTime ?? Timestamp,
            DeviceMajor = major,
            DeviceMinor = minor,
        });
    }

    /// <summary>Removes the entry at exactly this path (symlinks not followed) and, for a directory, everything below it. Returns the number of entries removed.</summary>
    public int Remove(string path)
    {
        var p = NormalizeOrThrow(path, FinalizeErrorKind.InvalidPath);
        if (p.Length == 0) throw new FinalizeException(FinalizeErrorKind.InvalidPath, "/", "The image root cannot be removed; remove its children instead.");
        if (!_entries.ContainsKey(p)) return 0;
        var n = RemoveCore(p);
        _sorted = null;
        return n;
    }

    /// <summary>Removes everything below a directory (literal path), keeping the directory. Returns the number removed.</summary>
    public int RemoveChildren(string directory)
    {
        var dir = NormalizeOrThrow(directory, FinalizeErrorKind.InvalidPath);
        if (!_children.TryGetValue(dir, out var names)) return 0;
        var n = 0;
        foreach (var name in names.ToList()) n += RemoveCore(Join(dir, name));
        _sorted = null;
        return n;
    }

    /// <summary>
    /// The paths a <see cref="TreeGlob"/> matches, sorted. The pattern's literal leading directories are resolved
    /// through the image's symlinks first (so <c>/lib/modules/**</c> finds <c>usr/lib/modules/…</c> when
    /// <c>lib → usr/lib</c>); matching itself is literal.
    /// </summary>
    public IReadOnlyList<string> Match(string glob) => Match(TreeGlob.Parse(glob));

    /// <inheritdoc cref="Match(string)"/>
    public IReadOnlyList<string> Match(TreeGlob glob)
    {
        ArgumentNullException.ThrowIfNull(glob);
        var prefix = glob.LiteralDirectoryPrefix;
        if (prefix.Length > 0 && ResolvePath(prefix) is { } resolved && resolved != prefix
            && _entries.TryGetValue(resolved, out var dir) && dir.Kind == TreeEntryKind.Directory)
            glob = glob.WithDirectoryPrefix(resolved);
        IEnumerable<TreeEntry> candidates = Entries;
        var effectivePrefix = glob.LiteralDirectoryPrefix;
        if (effectivePrefix.Length > 0) candidates = _entries.ContainsKey(effectivePrefix) ? EnumerateSubtree(effectivePrefix) : [];
        return candidates.Where(e => glob.IsMatch(e.Path)).Select(e => e.Path).ToList();
    }

    /// <summary>Removes every path <see cref="Match(TreeGlob)"/> finds (a matched directory with its subtree). Returns the number of entries removed.</summary>
    public int RemoveGlob(string glob) => RemoveGlob(TreeGlob.Parse(glob));

    /// <inheritdoc cref="RemoveGlob(string)"/>
    public int RemoveGlob(TreeGlob glob)
    {
        var n = 0;
        foreach (var path in Match(glob))
            if (_entries.ContainsKey(path)) n += RemoveCore(path);
        _sorted = null;
        return n;
    }

    /// <summary>Writes the entries as a <see cref="TreeManifest"/> (sorted; written to a temporary name and renamed).</summary>
    public void WriteManifest(string path)
    {
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            TreeManifest.Write(temp, Entries);
            File.Move(temp, full, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>The manifest text exactly as <see cref="WriteManifest"/> writes it.</summary>
    public string ToManifestText()
    {
        var writer = new StringWriter();
        TreeManifest.Write(writer, Entries);
        return writer.ToString();
    }

    // ------------------------------------------------------------------ resolution

    /// <summary>The outcome of following a path through the image's symlinks.</summary>
    internal readonly record struct Resolution(
        string Path,
        bool Missing,
        bool NotDirectory,
        string? EscapingLink,
        string? EscapingTarget);

    /// <summary>
    /// Resolves <paramref name="path"/>. With <paramref name="allowMissing"/>, missing components are appended
    /// literally (".." pops), so the result is where a new entry would go. <see cref="Resolution.EscapingLink"/> names
    /// the first symlink followed whose target is absolute or climbs above the root with "..".
    /// </summary>
    internal Resolution Resolve(string path, bool followFinal, bool allowMissing)
    {
        ArgumentNullException.ThrowIfNull(path);
        var todo = new List<string>(SplitRaw(path));
        todo.Reverse(); // a stack: last element is the next component
        var current = new List<string>();
        var follows = 0;
        var missing = false;
        string? escLink = null, escTarget = null;
        while (todo.Count > 0)
        {
            var c = todo[^1];
            todo.RemoveAt(todo.Count - 1);
            if (c.Length == 0 || c == ".") continue;
            if (c == "..")
            {
                if (current.Count > 0) current.RemoveAt(current.Count - 1);
                continue;
            }
            if (missing)
            {
                current.Add(c);
                continue;
            }
            var candidate = current.Count == 0 ? c : string.Join('/', current) + "/" + c;
            if (!_entries.TryGetValue(candidate, out var entry))
            {
                if (!allowMissing) return new Resolution(candidate, true, false, escLink, escTarget);
                missing = true;
                current.Add(c);
                continue;
            }
            var isLast = todo.Count == 0 || todo.All(t => t.Length == 0 || t == ".");
            if (entry.Kind == TreeEntryKind.Symlink && (!isLast || followFinal))
            {
                if (++follows > MaxSymlinkFollows)
                    throw new FinalizeException(FinalizeErrorKind.SymlinkLoop, "/" + NormalizePath(path),
                        $"Resolving /{NormalizePath(path)} follows more than {MaxSymlinkFollows} symlinks (a symlink loop, last /{candidate} -> {entry.LinkTarget}).");
                var target = entry.LinkTarget ?? "";
                if (escLink is null && EscapesRoot(current.Count, target))
                {
                    escLink = candidate;
                    escTarget = target;
                }
                if (target.StartsWith('/')) current.Clear();
                var parts = SplitRaw(target);
                for (var i = parts.Length - 1; i >= 0; i--) todo.Add(parts[i]);
                continue;
            }
            if (!isLast && entry.Kind != TreeEntryKind.Directory)
                return new Resolution(candidate, false, true, escLink, escTarget);
            current.Add(c);
        }
        return new Resolution(string.Join('/', current), missing, false, escLink, escTarget);
    }

    static bool EscapesRoot(int depth, string target)
    {
        if (target.StartsWith('/')) return true;
        foreach (var part in target.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
            {
                if (depth == 0) return true;
                depth--;
            }
            else depth++;
        }
        return false;
    }

    /// <summary>Where an entry for <paramref name="path"/> goes: the parent resolved through symlinks (missing parts kept), the last name literal.</summary>
    string PlaceForCreate(string path)
    {
        var p = NormalizeOrThrow(path, FinalizeErrorKind.InvalidPath);
        if (p.Length == 0) throw new FinalizeException(FinalizeErrorKind.InvalidPath, "/", "The image root cannot be replaced.");
        var slash = p.LastIndexOf('/');
        if (slash < 0) return p;
        var r = Resolve(p[..slash], followFinal: true, allowMissing: true);
        if (r.NotDirectory)
            throw new FinalizeException(FinalizeErrorKind.PathConflict, "/" + p,
                $"Cannot create /{p}: /{r.Path} is a {TreeEntry.Describe(_entries[r.Path].Kind)}, not a directory.");
        return Join(r.Path, p[(slash + 1)..]);
    }

    // ------------------------------------------------------------------ internals

    static string[] SplitRaw(string path) => path.Split('/');

    static string Join(string dir, string name) => dir.Length == 0 ? name : dir + "/" + name;

    static string ParentOf(string path)
    {
        var i = path.LastIndexOf('/');
        return i < 0 ? "" : path[..i];
    }

    static string NameOf(string path) => path[(path.LastIndexOf('/') + 1)..];

    static string NormalizeOrThrow(string path, FinalizeErrorKind kind) =>
        NormalizePath(path) ?? throw new FinalizeException(kind, path,
            $"'{path}' is not a valid image path: write it from the image root, without '..', NUL or newline characters.");

    void CheckParentsLiteral(string path)
    {
        var parent = ParentOf(path);
        while (parent.Length > 0)
        {
            if (_entries.TryGetValue(parent, out var e))
            {
                if (e.Kind != TreeEntryKind.Directory)
                    throw new FinalizeException(FinalizeErrorKind.PathConflict, "/" + path,
                        $"Cannot create /{path}: /{parent} is a {TreeEntry.Describe(e.Kind)}, not a directory.");
                return; // an existing directory's own parents exist already
            }
            parent = ParentOf(parent);
        }
    }

    void EnsureParentsLiteral(string path)
    {
        var parent = ParentOf(path);
        var missing = new List<string>();
        while (parent.Length > 0 && !_entries.ContainsKey(parent))
        {
            missing.Add(parent);
            parent = ParentOf(parent);
        }
        for (var i = missing.Count - 1; i >= 0; i--)
        {
            var dir = new TreeEntry
            {
                Path = missing[i],
                Kind = TreeEntryKind.Directory,
                Permissions = FileModes.Directory,
                ModificationTime = Timestamp,
            };
            _entries[dir.Path] = dir;
            Index(dir);
        }
    }

    void Index(TreeEntry entry)
    {
        var parent = ParentOf(entry.Path);
        if (!_children.TryGetValue(parent, out var set)) _children[parent] = set = new SortedSet<string>(StringComparer.Ordinal);
        set.Add(NameOf(entry.Path));
    }

    void AddHardLinkIndex(string target, string link)
    {
        if (!_hardLinks.TryGetValue(target, out var set)) _hardLinks[target] = set = new SortedSet<string>(StringComparer.Ordinal);
        set.Add(link);
    }

    void CollectDescendants(string dir, List<TreeEntry> into)
    {
        if (!_children.TryGetValue(dir, out var names)) return;
        foreach (var name in names)
        {
            var p = Join(dir, name);
            into.Add(_entries[p]);
            CollectDescendants(p, into);
        }
    }

    /// <summary>Removes a path and its subtree, keeping hard-linked data alive. Returns the number of entries removed.</summary>
    int RemoveCore(string path)
    {
        var removed = new List<TreeEntry> { _entries[path] };
        CollectDescendants(path, removed);
        foreach (var e in removed)
        {
            _entries.Remove(e.Path);
            _children.Remove(e.Path);
            if (e.Kind == TreeEntryKind.HardLink && _hardLinks.TryGetValue(e.LinkTarget!, out var links))
            {
                links.Remove(e.Path);
                if (links.Count == 0) _hardLinks.Remove(e.LinkTarget!);
            }
        }
        if (_children.TryGetValue(ParentOf(path), out var siblings)) siblings.Remove(NameOf(path));

        foreach (var file in removed)
        {
            if (file.Kind != TreeEntryKind.RegularFile || !_hardLinks.Remove(file.Path, out var remaining) || remaining.Count == 0) continue;
            var primary = remaining.Min!;
            var link = _entries[primary];
            _entries[primary] = link with
            {
                Kind = TreeEntryKind.RegularFile,
                LinkTarget = null,
                ContentPath = file.ContentPath,
                Size = file.Size,
            };
            remaining.Remove(primary);
            if (remaining.Count == 0) continue;
            foreach (var other in remaining) _entries[other] = _entries[other] with { LinkTarget = primary };
            _hardLinks[primary] = remaining;
        }
        _sorted = null;
        return removed.Count;
    }

    string WriteOverlay(ReadOnlySpan<byte> content)
    {
        var name = Convert.ToHexStringLower(SHA256.HashData(content));
        var target = Path.Combine(OverlayDirectory, name);
        if (File.Exists(target) && new FileInfo(target).Length == content.Length) return target;
        Directory.CreateDirectory(OverlayDirectory);
        var temp = target + ".tmp-" + Guid.NewGuid().ToString("N");
        try
        {
            using (var fs = new FileStream(temp, FileMode.CreateNew, FileAccess.Write)) fs.Write(content);
            File.Move(temp, target, overwrite: true);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
        return target;
    }

    (string Path, long Size) CopyToOverlay(string hostPath)
    {
        Directory.CreateDirectory(OverlayDirectory);
        var temp = Path.Combine(OverlayDirectory, ".incoming-" + Guid.NewGuid().ToString("N"));
        try
        {
            long size;
            string name;
            using (var input = new FileStream(hostPath, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan))
            using (var output = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            using (var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256))
            {
                var buffer = new byte[1 << 16];
                int n;
                while ((n = input.Read(buffer)) > 0)
                {
                    hash.AppendData(buffer, 0, n);
                    output.Write(buffer, 0, n);
                }
                size = output.Length;
                name = Convert.ToHexStringLower(hash.GetHashAndReset());
            }
            var target = Path.Combine(OverlayDirectory, name);
            if (File.Exists(target) && new FileInfo(target).Length == size) return (target, size);
            File.Move(temp, target, overwrite: true);
            return (target, size);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }
}
