using Initrd.Formats.Tree;

namespace Initrd.Image.Modules;

/// <summary>One loadable kernel module file of an image tree.</summary>
/// <param name="Name">kmod's module name: the file's base name up to the first '.', '-' replaced by '_' (<c>hid_generic</c>).</param>
/// <param name="RelativePath">Path relative to the kernel's module directory (<c>kernel/drivers/hid/hid-generic.ko.xz</c>), as depmod writes it.</param>
/// <param name="ImagePath">Path in the image (<c>usr/lib/modules/&lt;kver&gt;/kernel/…</c>).</param>
/// <param name="ContentPath">Absolute host path of the file's content.</param>
/// <param name="Size">Size of the (compressed) file in bytes.</param>
public sealed record KernelModuleFile(string Name, string RelativePath, string ImagePath, string ContentPath, long Size);

/// <summary>
/// The kernel modules, built-in module lists and firmware files of one kernel version in an image tree, read from
/// the tree's entries (<see cref="TreeEntry"/>: paths in the image, content on the host) or from a directory.
/// The module directory is <c>usr/lib/modules/&lt;kver&gt;</c> (or <c>lib/modules/&lt;kver&gt;</c> in a tree
/// without merged /usr); firmware is looked up in <c>usr/lib/firmware</c> (or <c>lib/firmware</c>).
/// </summary>
public sealed class KernelModuleTree
{
    static readonly string[] ModuleSuffixes = [".ko", ".ko.xz", ".ko.zst", ".ko.gz"];
    static readonly string[] ModuleRoots = ["usr/lib/modules", "lib/modules"];
    static readonly string[] FirmwareRoots = ["usr/lib/firmware", "lib/firmware"];
    const int MaxSymlinkHops = 40;

    readonly Dictionary<string, TreeEntry> _entries;
    readonly HashSet<string> _impliedDirectories;
    readonly Dictionary<string, KernelModuleFile> _byName;
    IReadOnlyDictionary<string, ModuleInfo>? _builtinInfo;
    List<string>? _firmwareFiles;

    KernelModuleTree(string kernelVersion, string modulesDirectory, Dictionary<string, TreeEntry> entries)
    {
        KernelVersion = kernelVersion;
        ModulesDirectory = modulesDirectory;
        _entries = entries;
        _impliedDirectories = new HashSet<string>(StringComparer.Ordinal);
        foreach (var path in entries.Keys)
            for (var slash = path.LastIndexOf('/'); slash > 0; slash = path.LastIndexOf('/', slash - 1))
                if (!_impliedDirectories.Add(path[..slash])) break;

        var modules = new List<KernelModuleFile>();
        var prefix = modulesDirectory + "/";
        foreach (var (path, entry) in entries)
        {
            if (!path.StartsWith(prefix, StringComparison.Ordinal)) continue;
            var relative = path[prefix.Length..];
            if (!IsModuleFileName(relative) || IsExcludedByDepmod(relative)) continue;
            var content = ResolveContent(path);
            if (content is null) continue; // a dangling symlink: depmod skips it too
            modules.Add(new KernelModuleFile(ModuleInfo.ModuleNameFromPath(relative), relative, path, content.Value.ContentPath, content.Value.Size));
        }
        modules.Sort((a, b) => string.CompareOrdinal(a.RelativePath, b.RelativePath));

        // Several files with one module name: depmod's default configuration ("search updates") prefers updates/;
        // among the rest it keeps the first it finds, which depends on readdir order; we keep the first by path.
        _byName = new Dictionary<string, KernelModuleFile>(StringComparer.Ordinal);
        var duplicates = new List<KernelModuleFile>();
        foreach (var module in modules)
        {
            if (_byName.TryGetValue(module.Name, out var existing))
            {
                var replace = module.RelativePath.StartsWith("updates/", StringComparison.Ordinal)
                    && !existing.RelativePath.StartsWith("updates/", StringComparison.Ordinal);
                duplicates.Add(replace ? existing : module);
                if (replace) _byName[module.Name] = module;
            }
            else
            {
                _byName.Add(module.Name, module);
            }
        }
        Modules = [.. modules.Where(m => _byName[m.Name] == m)];
        ShadowedModules = duplicates;

        ModulesOrderPath = ContentOf(prefix + "modules.order");
        ModulesBuiltinPath = ContentOf(prefix + "modules.builtin");
        ModulesBuiltinModinfoPath = ContentOf(prefix + "modules.builtin.modinfo");
        var builtin = new HashSet<string>(StringComparer.Ordinal);
        if (ModulesBuiltinPath is not null)
            foreach (var line in File.ReadAllLines(ModulesBuiltinPath))
                if (line.Length > 0) builtin.Add(ModuleInfo.ModuleNameFromPath(line));
        BuiltinModules = builtin;

        foreach (var root in FirmwareRoots)
        {
            if (Resolve(root, null) is { } resolved && IsDirectory(resolved))
            {
                FirmwareDirectory = resolved;
                break;
            }
        }
    }

    /// <summary>The kernel version (the module directory's name).</summary>
    public string KernelVersion { get; }

    /// <summary>The module directory in the image (<c>usr/lib/modules/&lt;kver&gt;</c>).</summary>
    public string ModulesDirectory { get; }

    /// <summary>The firmware directory in the image after resolving symlinks (<c>usr/lib/firmware</c>), or null when the tree has none.</summary>
    public string? FirmwareDirectory { get; }

    /// <summary>Every loadable module (one per module name), sorted by <see cref="KernelModuleFile.RelativePath"/>.</summary>
    public IReadOnlyList<KernelModuleFile> Modules { get; }

    /// <summary>Module files hidden by another file with the same module name (see <see cref="Modules"/>).</summary>
    public IReadOnlyList<KernelModuleFile> ShadowedModules { get; }

    /// <summary>Names of the modules built into the kernel image (from <c>modules.builtin</c>).</summary>
    public IReadOnlySet<string> BuiltinModules { get; }

    /// <summary>Host paths of <c>modules.order</c>, <c>modules.builtin</c>, <c>modules.builtin.modinfo</c>; null when absent.</summary>
    public string? ModulesOrderPath { get; }

    public string? ModulesBuiltinPath { get; }

    public string? ModulesBuiltinModinfoPath { get; }

    /// <summary>The module named <paramref name="name"/> ('-' and '_' are equivalent), or null.</summary>
    public KernelModuleFile? FindModule(string name) =>
        _byName.TryGetValue(ModuleInfo.NormalizeName(name), out var module) ? module : null;

    /// <summary>Modinfo of the built-in modules (from <c>modules.builtin.modinfo</c>), by module name; empty when absent.</summary>
    public IReadOnlyDictionary<string, ModuleInfo> BuiltinModuleInfo
    {
        get
        {
            if (_builtinInfo is not null) return _builtinInfo;
            var info = ModulesBuiltinModinfoPath is null
                ? new Dictionary<string, ModuleInfo>()
                : ModuleInfo.ReadBuiltin(File.ReadAllBytes(ModulesBuiltinModinfoPath), ModulesBuiltinModinfoPath);
            return _builtinInfo = info;
        }
    }

    /// <summary>Builds the view of kernel <paramref name="kernelVersion"/> from an image tree's entries.</summary>
    public static KernelModuleTree FromEntries(IEnumerable<TreeEntry> entries, string kernelVersion)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ValidateKernelVersion(kernelVersion);
        var map = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
        foreach (var e in entries) map[e.Path.Trim('/')] = e;
        return Create(map, kernelVersion);
    }

    /// <summary>
    /// Builds the view of kernel <paramref name="kernelVersion"/> from a directory holding an unpacked image
    /// (as <c>dpkg-deb -x</c> leaves it): scans the module and firmware directories.
    /// </summary>
    public static KernelModuleTree FromDirectory(string root, string kernelVersion)
    {
        ArgumentNullException.ThrowIfNull(root);
        ValidateKernelVersion(kernelVersion);
        root = Path.GetFullPath(root);
        if (!Directory.Exists(root)) throw new DirectoryNotFoundException($"The image directory '{root}' does not exist.");
        var map = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
        foreach (var top in (string[])["usr", "usr/lib", "lib"])
            AddHostEntry(map, root, top, recurse: false);
        foreach (var dir in ModuleRoots.Select(r => r + "/" + kernelVersion).Concat(FirmwareRoots))
            AddHostEntry(map, root, dir, recurse: true);
        return Create(map, kernelVersion);
    }

    /// <summary>The kernel versions that have a module directory in the tree (sorted ordinally).</summary>
    public static IReadOnlyList<string> FindKernelVersions(IEnumerable<TreeEntry> entries)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var versions = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var e in entries)
        {
            var path = e.Path.Trim('/');
            foreach (var root in ModuleRoots)
            {
                if (!path.StartsWith(root + "/", StringComparison.Ordinal)) continue;
                var rest = path[(root.Length + 1)..];
                var slash = rest.IndexOf('/');
                if (slash > 0 && IsModuleFileName(rest)) versions.Add(rest[..slash]);
            }
        }
        return [.. versions];
    }

    static KernelModuleTree Create(Dictionary<string, TreeEntry> map, string kernelVersion)
    {
        foreach (var root in ModuleRoots)
        {
            var dir = root + "/" + kernelVersion;
            var prefix = dir + "/";
            if (map.ContainsKey(dir) || map.Keys.Any(p => p.StartsWith(prefix, StringComparison.Ordinal)))
                return new KernelModuleTree(kernelVersion, dir, map);
        }
        throw new DirectoryNotFoundException(
            $"The image has no kernel module directory for kernel {kernelVersion} (looked for usr/lib/modules/{kernelVersion} and lib/modules/{kernelVersion}); install the kernel's package (linux-image-…) or fix the kernel version.");
    }

    static void ValidateKernelVersion(string kernelVersion)
    {
        ArgumentException.ThrowIfNullOrEmpty(kernelVersion);
        if (kernelVersion.Contains('/') || kernelVersion is "." or "..")
            throw new ArgumentException($"'{kernelVersion}' is not a kernel version.", nameof(kernelVersion));
    }

    static void AddHostEntry(Dictionary<string, TreeEntry> map, string root, string relative, bool recurse)
    {
        var full = Path.Combine(root, relative);
        FileSystemInfo info = new FileInfo(full);
        if (!info.Exists && info.LinkTarget is null)
        {
            info = new DirectoryInfo(full);
            if (!info.Exists) return;
        }
        AddHostEntry(map, relative, info, recurse);
    }

    static void AddHostEntry(Dictionary<string, TreeEntry> map, string relative, FileSystemInfo info, bool recurse)
    {
        if (info.LinkTarget is { } target)
        {
            map[relative] = new TreeEntry { Path = relative, Kind = TreeEntryKind.Symlink, Permissions = 0x1FF, LinkTarget = target };
            return;
        }
        if (info is DirectoryInfo || (info.Attributes & FileAttributes.Directory) != 0)
        {
            map[relative] = new TreeEntry { Path = relative, Kind = TreeEntryKind.Directory, Permissions = 0x1ED };
            if (!recurse) return;
            foreach (var child in new DirectoryInfo(info.FullName).EnumerateFileSystemInfos())
                AddHostEntry(map, relative + "/" + child.Name, child, recurse);
            return;
        }
        if (info is FileInfo file)
            map[relative] = new TreeEntry
            {
                Path = relative, Kind = TreeEntryKind.RegularFile, Permissions = 0x1A4, Size = file.Length, ContentPath = file.FullName,
            };
    }

    internal static bool IsModuleFileName(string path)
    {
        foreach (var suffix in ModuleSuffixes)
            if (path.Length > suffix.Length && path.EndsWith(suffix, StringComparison.Ordinal) && path[^(suffix.Length + 1)] != '/')
                return true;
        return false;
    }

    /// <summary>depmod never descends into "build", "source" or dot directories.</summary>
    static bool IsExcludedByDepmod(string relative)
    {
        var parts = relative.Split('/');
        for (var i = 0; i < parts.Length - 1; i++)
            if (parts[i] is "build" or "source" || parts[i].StartsWith('.')) return true;
        return false;
    }

    string? ContentOf(string path) => ResolveContent(path)?.ContentPath;

    (string ContentPath, long Size)? ResolveContent(string path)
    {
        if (Resolve(path, null) is not { } resolved || !_entries.TryGetValue(resolved, out var entry)) return null;
        if (entry.Kind == TreeEntryKind.HardLink && entry.LinkTarget is { } target && _entries.TryGetValue(target.Trim('/'), out var original))
            entry = original;
        if (entry.Kind is not (TreeEntryKind.RegularFile or TreeEntryKind.HardLink) || entry.ContentPath is null) return null;
        return (entry.ContentPath, entry.Size);
    }

    bool IsDirectory(string path) =>
        _entries.TryGetValue(path, out var e) ? e.Kind == TreeEntryKind.Directory : _impliedDirectories.Contains(path);

    bool Exists(string path) => _entries.ContainsKey(path) || _impliedDirectories.Contains(path);

    /// <summary>
    /// Resolves every symlink along <paramref name="path"/> inside the tree (absolute targets from the image root).
    /// Adds each symlink passed to <paramref name="links"/>. Returns the final path, or null when a component is
    /// missing or the links loop.
    /// </summary>
    internal string? Resolve(string path, ICollection<string>? links)
    {
        var pending = new Stack<string>(path.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse());
        var current = "";
        var hops = 0;
        while (pending.Count > 0)
        {
            var part = pending.Pop();
            if (part == ".") continue;
            if (part == "..")
            {
                var slash = current.LastIndexOf('/');
                current = slash < 0 ? "" : current[..slash];
                continue;
            }
            var next = current.Length == 0 ? part : current + "/" + part;
            if (_entries.TryGetValue(next, out var entry) && entry.Kind == TreeEntryKind.Symlink && entry.LinkTarget is { } target)
            {
                if (++hops > MaxSymlinkHops) return null;
                links?.Add(next);
                if (target.StartsWith('/')) current = "";
                foreach (var p in target.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse()) pending.Push(p);
                continue;
            }
            if (!Exists(next)) return null;
            current = next;
        }
        return current;
    }

    /// <summary>
    /// The image paths needed to provide firmware <paramref name="name"/> (a <c>firmware=</c> value) when the tree
    /// has it: the file as named or with a <c>.xz</c>/<c>.zst</c> suffix (the kernel's compressed-firmware names),
    /// or, for a value with glob characters, every matching file; plus each symlink on the way and, for a hard
    /// link, the file it links to. Empty when the tree lacks the firmware.
    /// </summary>
    internal IReadOnlyList<string> ResolveFirmware(string name)
    {
        var result = new List<string>();
        if (FirmwareDirectory is null || name.Length == 0) return result;
        IEnumerable<string> candidates;
        if (name.AsSpan().IndexOfAny("*?[") >= 0)
        {
            var pattern = name.Split('/', StringSplitOptions.RemoveEmptyEntries);
            candidates = FirmwareFiles().Where(f => PathGlobMatches(f, pattern)).Select(f => FirmwareDirectory + "/" + f);
        }
        else
        {
            var path = FirmwareDirectory + "/" + name.TrimStart('/');
            candidates = [path, path + ".xz", path + ".zst"];
        }
        foreach (var candidate in candidates)
        {
            var links = new List<string>();
            if (Resolve(candidate, links) is not { } resolved || !_entries.TryGetValue(resolved, out var entry)) continue;
            if (entry.Kind is not (TreeEntryKind.RegularFile or TreeEntryKind.HardLink)) continue;
            result.AddRange(links);
            result.Add(resolved);
            if (entry.Kind == TreeEntryKind.HardLink && entry.LinkTarget is { } original) result.Add(original.Trim('/'));
        }
        return result;
    }

    /// <summary>Firmware files and symlinks, relative to <see cref="FirmwareDirectory"/>.</summary>
    List<string> FirmwareFiles()
    {
        if (_firmwareFiles is not null) return _firmwareFiles;
        var prefix = FirmwareDirectory + "/";
        var files = _entries
            .Where(e => e.Key.StartsWith(prefix, StringComparison.Ordinal) && e.Value.Kind != TreeEntryKind.Directory)
            .Select(e => e.Key[prefix.Length..])
            .Order(StringComparer.Ordinal)
            .ToList();
        return _firmwareFiles = files;
    }

    /// <summary>pathlib-style glob: one pattern segment per path segment, '*' never crosses '/'.</summary>
    static bool PathGlobMatches(string path, string[] pattern)
    {
        var parts = path.Split('/');
        if (parts.Length != pattern.Length) return false;
        for (var i = 0; i < parts.Length; i++)
            if (!Glob.Matches(parts[i], pattern[i])) return false;
        return true;
    }
}
