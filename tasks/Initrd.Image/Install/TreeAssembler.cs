using System.Runtime.InteropServices;
using Initrd.Formats.Tree;

namespace Initrd.Image.Install;

/// <summary>
/// Phase two of building an install tree, run package by package in the given order: places staged entries into
/// the tree as dpkg would on a running system, but inside the tree as if it were a chroot.
/// <list type="bullet">
/// <item>Every path is resolved against an in-memory model of the tree, never by the host kernel: parent components
/// follow the tree's own symlinks (an absolute target restarts at the tree's root, ".." stops at the root), so with
/// base-files' <c>lib → usr/lib</c> an entry <c>./lib/foo</c> lands in <c>usr/lib/foo</c>. The host paths handed to
/// the OS are made only of directories this class created, so the OS never follows a symlink out of the tree.</item>
/// <item>Directories: the first definition wins (as with dpkg); a directory only implied by a deeper entry is 0755
/// root:root until a package lists it. A directory entry that meets a symlink follows it.</item>
/// <item>Other entries: the later package wins, and the overlap is recorded. A symlink replacing a non-empty directory
/// first moves that directory's contents to the symlink's target, as usrmerge does.</item>
/// <item>Regular files are moved in from the staging folder (host mode 0644/0755); symlinks are created as symlinks,
/// hard links as hard links (a copy when the file system refuses); devices and fifos exist only in the model.</item>
/// </list>
/// </summary>
internal sealed class TreeAssembler
{
    /// <summary>As Linux's MAXSYMLINKS: more symlinks than this while resolving one path is a loop.</summary>
    const int MaxSymlinkHops = 40;

    readonly string _hostRoot;
    readonly Node _root = new("", null, TreeEntryKind.Directory) { Permissions = 0x1ED };
    readonly List<PathOverlap> _overlaps = [];

    /// <param name="hostRoot">An existing, empty directory that receives the tree's contents.</param>
    public TreeAssembler(string hostRoot)
    {
        _hostRoot = hostRoot;
    }

    /// <summary>Paths shipped by two packages, in the order met: the later package's entry is the one kept.</summary>
    public IReadOnlyList<PathOverlap> Overlaps => _overlaps;

    /// <summary>Places every entry of one staged package, in archive order.</summary>
    public void Add(StagedPackage staged, CancellationToken cancellationToken)
    {
        var package = staged.Package;
        foreach (var entry in staged.Entries)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                AddEntry(package, entry);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InstallException($"cannot write '/{entry.Path}' into the tree: {e.Message}", package.Name, entry.Name, e);
            }
        }
    }

    /// <summary>The tree's entries sorted by path (ordinal), the root excluded; regular files' content under <paramref name="contentRoot"/>.</summary>
    public List<TreeEntry> GetEntries(string contentRoot)
    {
        var nodes = new List<(string Path, Node Node)>();
        Collect(_root, "", nodes);
        nodes.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        var entries = new List<TreeEntry>(nodes.Count);
        foreach (var (path, node) in nodes)
        {
            entries.Add(new TreeEntry
            {
                Path = path,
                Kind = node.Kind,
                Permissions = node.Permissions,
                Uid = node.Uid,
                Gid = node.Gid,
                ModificationTime = node.ModificationTime,
                LinkTarget = node.Kind switch
                {
                    TreeEntryKind.Symlink => node.SymlinkTarget,
                    TreeEntryKind.HardLink => ImagePath(node.LinkedFile!),
                    _ => null,
                },
                Size = node.Kind == TreeEntryKind.RegularFile ? node.Size : 0,
                ContentPath = node.Kind == TreeEntryKind.RegularFile ? contentRoot + "/" + path : null,
                DeviceMajor = node.DeviceMajor,
                DeviceMinor = node.DeviceMinor,
            });
        }
        return entries;
    }

    /// <summary>Image path → the package whose entry is in the tree, sorted by path; implied directories have no owner.</summary>
    public List<KeyValuePair<string, string>> GetOwners()
    {
        var nodes = new List<(string Path, Node Node)>();
        Collect(_root, "", nodes);
        var owners = new List<KeyValuePair<string, string>>(nodes.Count);
        foreach (var (path, node) in nodes)
            if (node.Owner is { } owner) owners.Add(new(path, owner.Name));
        owners.Sort((a, b) => string.CompareOrdinal(a.Key, b.Key));
        return owners;
    }

    static void Collect(Node directory, string prefix, List<(string, Node)> into)
    {
        foreach (var child in directory.Children!.Values)
        {
            var path = prefix.Length == 0 ? child.Name : prefix + "/" + child.Name;
            into.Add((path, child));
            if (child.Kind == TreeEntryKind.Directory) Collect(child, path, into);
        }
    }

    void AddEntry(PackageArchive package, StagedEntry entry)
    {
        // The root itself ("./"): the image root's metadata is the packer's business.
        if (entry.Path.Length == 0) return;

        var parts = TreePath.Split(entry.Path);
        var parent = Walk(_root, parts.AsSpan(0, parts.Length - 1).ToArray(), create: true, package, entry)!;
        var name = parts[^1];
        parent.Children!.TryGetValue(name, out var existing);

        if (entry.Kind == TreeEntryKind.Directory)
        {
            AddDirectory(parent, name, existing, package, entry);
            return;
        }

        Node? linkedFile = null;
        if (entry.Kind == TreeEntryKind.HardLink)
        {
            linkedFile = ResolveHardLinkTarget(package, entry);
            if (ReferenceEquals(linkedFile, existing))
                throw new InstallException($"the hard link points to itself ('/{entry.LinkTarget}')", package.Name, entry.Name);
        }
        else if (entry.Kind == TreeEntryKind.Symlink)
        {
            var problem = TreePath.CheckSymlinkTarget(ImagePath(parent), entry.LinkTarget!);
            if (problem is not null) throw new InstallException(problem, package.Name, entry.Name);
        }

        if (existing is not null)
        {
            if (existing.Kind == TreeEntryKind.Directory)
            {
                if (entry.Kind != TreeEntryKind.Symlink)
                    throw new InstallException(
                        $"a {TreeEntry.Describe(entry.Kind)} cannot replace the directory '/{ImagePath(existing)}' ({OwnerText(existing)})",
                        package.Name, entry.Name);
                ReplaceDirectoryWithSymlink(parent, existing, package, entry);
                return;
            }
            RecordOverlap(existing, package);
            Remove(existing);
        }

        var node = new Node(name, parent, entry.Kind);
        SetMetadata(node, entry, package);
        var hostPath = HostPath(parent, name);
        switch (entry.Kind)
        {
            case TreeEntryKind.RegularFile:
                // rename(2): the staging folder is on the same file system, and the tree holds nothing at this name.
                File.Move(entry.StagedFile!, hostPath, overwrite: true);
                node.Size = entry.Size;
                break;
            case TreeEntryKind.Symlink:
                File.CreateSymbolicLink(hostPath, entry.LinkTarget!);
                node.SymlinkTarget = entry.LinkTarget;
                break;
            case TreeEntryKind.HardLink:
                CreateHardLink(HostPath(linkedFile!), hostPath);
                node.LinkedFile = linkedFile;
                (linkedFile!.HardLinks ??= []).Add(node);
                break;
            case TreeEntryKind.CharacterDevice:
            case TreeEntryKind.BlockDevice:
                node.DeviceMajor = entry.DeviceMajor;
                node.DeviceMinor = entry.DeviceMinor;
                break;
            case TreeEntryKind.Fifo:
                break;
            default:
                throw new InstallException($"unsupported entry kind {entry.Kind}", package.Name, entry.Name);
        }
        parent.Children.Add(name, node);
    }

    void AddDirectory(Node parent, string name, Node? existing, PackageArchive package, StagedEntry entry)
    {
        Node directory;
        if (existing is null)
        {
            directory = CreateDirectory(parent, name);
        }
        else if (existing.Kind == TreeEntryKind.Directory)
        {
            directory = existing;
        }
        else if (existing.Kind == TreeEntryKind.Symlink)
        {
            // dpkg keeps a symlink to a directory (merged /usr: "./lib/" meets base-files' lib → usr/lib);
            // a dangling one gets its target created, as a deeper entry would.
            directory = Walk(parent, [name], create: true, package, entry)!;
        }
        else
        {
            RecordOverlap(existing, package);
            Remove(existing);
            directory = CreateDirectory(parent, name);
        }
        // The first package that lists a directory defines it; an implied one takes the first listing's metadata.
        if (directory.Owner is null && !ReferenceEquals(directory, _root)) SetMetadata(directory, entry, package);
    }

    Node ResolveHardLinkTarget(PackageArchive package, StagedEntry entry)
    {
        var target = entry.LinkTarget!;
        var parts = TreePath.Split(target);
        var directory = Walk(_root, parts.AsSpan(0, parts.Length - 1).ToArray(), create: false, package, entry);
        Node? file = null;
        directory?.Children!.TryGetValue(parts[^1], out file);
        if (file is null)
            throw new InstallException($"the hard link points to '/{target}', which the package has not shipped before it", package.Name, entry.Name);
        if (file.Kind == TreeEntryKind.HardLink) file = file.LinkedFile!;
        if (file.Kind != TreeEntryKind.RegularFile)
            throw new InstallException($"the hard link points to '/{target}', which is a {TreeEntry.Describe(file.Kind)}, not a regular file",
                package.Name, entry.Name);
        if (!ReferenceEquals(file.Owner, package))
            throw new InstallException($"the hard link points to '/{target}', which is not a file of this package ({OwnerText(file)})",
                package.Name, entry.Name);
        return file;
    }

    /// <summary>
    /// A symlink replaces a directory. An empty one is simply replaced; a non-empty one has its contents moved to the
    /// symlink's target first (what usrmerge does for /lib → /usr/lib), entries already at the target winning.
    /// </summary>
    void ReplaceDirectoryWithSymlink(Node parent, Node directory, PackageArchive package, StagedEntry entry)
    {
        if (directory.Children!.Count > 0)
        {
            var linkTarget = entry.LinkTarget!;
            var target = Walk(linkTarget[0] == '/' ? _root : parent, linkTarget.Split('/'), create: true, package, entry)!;
            if (IsSameOrAncestor(target, directory) || IsSameOrAncestor(directory, target))
                throw new InstallException(
                    $"the symlink to '{linkTarget}' would replace the non-empty directory '/{ImagePath(directory)}' ({OwnerText(directory)}), " +
                    "and its target is that directory or contains it",
                    package.Name, entry.Name);
            MergeInto(directory, target, package);
        }
        RecordOverlap(directory, package);
        Directory.Delete(HostPath(directory));
        parent.Children!.Remove(directory.Name);

        var node = new Node(directory.Name, parent, TreeEntryKind.Symlink) { SymlinkTarget = entry.LinkTarget };
        SetMetadata(node, entry, package);
        File.CreateSymbolicLink(HostPath(parent, node.Name), entry.LinkTarget!);
        parent.Children.Add(node.Name, node);
    }

    /// <summary>Moves the contents of <paramref name="source"/> into <paramref name="target"/>, leaving <paramref name="source"/> empty.</summary>
    void MergeInto(Node source, Node target, PackageArchive package)
    {
        foreach (var child in source.Children!.Values.OrderBy(c => c.Name, StringComparer.Ordinal).ToList())
        {
            if (target.Children!.TryGetValue(child.Name, out var other))
            {
                if (child.Kind == TreeEntryKind.Directory && other.Kind == TreeEntryKind.Symlink)
                {
                    // As dpkg would have placed the directory's entries: through the symlink, when it leads to a
                    // directory elsewhere.
                    var resolved = TryWalkToDirectory(target, child.Name, package);
                    if (resolved is not null && !IsSameOrAncestor(resolved, child) && !IsSameOrAncestor(child, resolved))
                        other = resolved;
                }
                if (child.Kind == TreeEntryKind.Directory && other.Kind == TreeEntryKind.Directory)
                {
                    MergeInto(child, other, package);
                    if (other.Owner is null && child.Owner is not null) CopyMetadata(child, other);
                    Directory.Delete(HostPath(child));
                    source.Children.Remove(child.Name);
                }
                else
                {
                    // Both places hold the name: the entry already at the target stays.
                    if (child.Owner is not null && other.Owner is not null && !ReferenceEquals(child.Owner, other.Owner))
                        _overlaps.Add(new PathOverlap(ImagePath(other), child.Owner.Name, other.Owner.Name));
                    Remove(child);
                }
                continue;
            }

            var from = HostPath(child);
            var to = HostPath(target, child.Name);
            switch (child.Kind)
            {
                case TreeEntryKind.Directory:
                    Directory.Move(from, to);
                    break;
                case TreeEntryKind.RegularFile or TreeEntryKind.HardLink or TreeEntryKind.Symlink:
                    File.Move(from, to, overwrite: true);
                    break;
            }
            source.Children.Remove(child.Name);
            child.Parent = target;
            target.Children.Add(child.Name, child);
        }
    }

    /// <summary>
    /// Resolves <paramref name="components"/> from <paramref name="start"/> to a directory of the tree, following the
    /// tree's symlinks (absolute targets from the tree's root, ".." never above it). Missing directories are created
    /// (implied, 0755 root:root) when <paramref name="create"/> is set, else the result is null.
    /// </summary>
    Node? Walk(Node start, IReadOnlyList<string> components, bool create, PackageArchive package, StagedEntry entry)
    {
        var pending = new Stack<string>();
        for (var i = components.Count - 1; i >= 0; i--) pending.Push(components[i]);
        var current = start;
        var hops = 0;
        while (pending.TryPop(out var component))
        {
            if (component.Length == 0 || component == ".") continue;
            if (component == "..")
            {
                current = current.Parent ?? current;
                continue;
            }
            if (!current.Children!.TryGetValue(component, out var child))
            {
                if (!create) return null;
                current = CreateDirectory(current, component);
                continue;
            }
            switch (child.Kind)
            {
                case TreeEntryKind.Directory:
                    current = child;
                    break;
                case TreeEntryKind.Symlink:
                    if (++hops > MaxSymlinkHops)
                        throw new InstallException(
                            $"too many levels of symlinks while resolving '/{entry.Path}' (last at '/{ImagePath(child)}')", package.Name, entry.Name);
                    var target = child.SymlinkTarget!;
                    if (target[0] == '/') current = _root;
                    var parts = target.Split('/');
                    for (var i = parts.Length - 1; i >= 0; i--) pending.Push(parts[i]);
                    break;
                default:
                    throw new InstallException(
                        $"'/{ImagePath(child)}' is a {TreeEntry.Describe(child.Kind)} ({OwnerText(child)}), not a directory, " +
                        $"while resolving '/{entry.Path}'",
                        package.Name, entry.Name);
            }
        }
        return current;
    }

    /// <summary>The directory <paramref name="name"/> in <paramref name="directory"/> leads to (through symlinks), or null.</summary>
    Node? TryWalkToDirectory(Node directory, string name, PackageArchive package)
    {
        var probe = new StagedEntry { Name = name, Path = name, Kind = TreeEntryKind.Directory };
        try
        {
            return Walk(directory, [name], create: true, package, probe);
        }
        catch (InstallException)
        {
            return null; // a loop or a non-directory: not a place to merge into
        }
    }

    Node CreateDirectory(Node parent, string name)
    {
        Directory.CreateDirectory(HostPath(parent, name));
        var node = new Node(name, parent, TreeEntryKind.Directory) { Permissions = 0x1ED }; // 0755 root:root, mtime 0
        parent.Children!.Add(name, node);
        return node;
    }

    /// <summary>Takes a node out of the tree and off the disk (a directory with everything below it).</summary>
    void Remove(Node node)
    {
        switch (node.Kind)
        {
            case TreeEntryKind.Directory:
                foreach (var child in node.Children!.Values.ToList()) Remove(child);
                Directory.Delete(HostPath(node));
                break;
            case TreeEntryKind.RegularFile:
                File.Delete(HostPath(node));
                if (node.HardLinks is { Count: > 0 } links)
                {
                    // Its hard links keep the old data (the same inode on disk): the first becomes the file.
                    var primary = links[0];
                    primary.Kind = TreeEntryKind.RegularFile;
                    primary.Size = node.Size;
                    primary.LinkedFile = null;
                    primary.HardLinks = links.Count > 1 ? links.GetRange(1, links.Count - 1) : null;
                    if (primary.HardLinks is not null)
                        foreach (var link in primary.HardLinks) link.LinkedFile = primary;
                    node.HardLinks = null;
                }
                break;
            case TreeEntryKind.HardLink:
                File.Delete(HostPath(node));
                node.LinkedFile!.HardLinks!.Remove(node);
                break;
            case TreeEntryKind.Symlink:
                File.Delete(HostPath(node));
                break;
        }
        node.Parent!.Children!.Remove(node.Name);
    }

    void RecordOverlap(Node existing, PackageArchive package)
    {
        if (existing.Owner is { } previous && !ReferenceEquals(previous, package))
            _overlaps.Add(new PathOverlap(ImagePath(existing), previous.Name, package.Name));
    }

    static void CreateHardLink(string existingPath, string newPath)
    {
        if (NativeMethods.Link(existingPath, newPath) == 0) return;
        var errno = Marshal.GetLastPInvokeError();
        // EEXIST would mean the model and the disk disagree: never paper over that with a copy.
        if (errno == 17) throw new IOException($"link('{existingPath}', '{newPath}') failed: {Marshal.GetPInvokeErrorMessage(errno)}");
        File.Copy(existingPath, newPath, overwrite: false);
    }

    static void SetMetadata(Node node, StagedEntry entry, PackageArchive package)
    {
        node.Permissions = entry.Permissions;
        node.Uid = entry.Uid;
        node.Gid = entry.Gid;
        node.ModificationTime = entry.ModificationTime;
        node.Owner = package;
    }

    static void CopyMetadata(Node from, Node to)
    {
        to.Permissions = from.Permissions;
        to.Uid = from.Uid;
        to.Gid = from.Gid;
        to.ModificationTime = from.ModificationTime;
        to.Owner = from.Owner;
    }

    static bool IsSameOrAncestor(Node candidate, Node node)
    {
        for (var n = node; n is not null; n = n.Parent)
            if (ReferenceEquals(n, candidate)) return true;
        return false;
    }

    static string OwnerText(Node node) => node.Owner is { } owner ? $"from package {owner.Name}" : "implied by deeper entries";

    static string ImagePath(Node node)
    {
        if (node.Parent is null) return "";
        var parentPath = ImagePath(node.Parent);
        return parentPath.Length == 0 ? node.Name : parentPath + "/" + node.Name;
    }

    string HostPath(Node node) => node.Parent is null ? _hostRoot : _hostRoot + "/" + ImagePath(node);

    string HostPath(Node parent, string name) => HostPath(parent) + "/" + name;

    sealed class Node(string name, Node? parent, TreeEntryKind kind)
    {
        public string Name { get; } = name;
        public Node? Parent { get; set; } = parent;
        public TreeEntryKind Kind { get; set; } = kind;
        public int Permissions { get; set; }
        public int Uid { get; set; }
        public int Gid { get; set; }
        public long ModificationTime { get; set; }
        public long Size { get; set; }
        public int DeviceMajor { get; set; }
        public int DeviceMinor { get; set; }
        public string? SymlinkTarget { get; set; }

        /// <summary>The package whose entry this is; null for a directory no package has listed (yet).</summary>
        public PackageArchive? Owner { get; set; }

        public Dictionary<string, Node>? Children { get; } = kind == TreeEntryKind.Directory ? new(StringComparer.Ordinal) : null;

        /// <summary>For a hard link: the regular file it shares data with.</summary>
        public Node? LinkedFile { get; set; }

        /// <summary>For a regular file: the hard links to it, in the order they were made.</summary>
        public List<Node>? HardLinks { get; set; }
    }
}
