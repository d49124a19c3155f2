using Initrd.Formats.Tree;

namespace Initrd.Image.Finalize;

/// <summary>What <see cref="SystemdPresets.Apply(ImageTree)"/> did.</summary>
/// <param name="EnabledUnits">Units whose [Install] section was applied (sorted), e.g. <c>getty@tty1.service</c>.</param>
/// <param name="DisabledUnits">Units a "disable" line matched (sorted).</param>
/// <param name="Links">Every enablement symlink under /etc/systemd/system the step created or found in place, image path → target (sorted).</param>
/// <param name="RemovedLinks">Symlinks under /etc/systemd/system removed for disabled units (sorted).</param>
/// <param name="Skipped">Preset lines and [Install] values that were not applied, with the reason (systemctl logs and skips them too).</param>
public sealed record PresetsResult(
    IReadOnlyList<string> EnabledUnits,
    IReadOnlyList<string> DisabledUnits,
    IReadOnlyList<KeyValuePair<string, string>> Links,
    IReadOnlyList<string> RemovedLinks,
    IReadOnlyList<string> Skipped);

/// <summary>
/// Applies systemd presets to the image natively, as <c>systemctl --root=TREE preset-all</c> does (mkosi runs it on
/// every image, mkosi-initrd's too): every unit file in the unit search path (/etc/systemd/system,
/// /run/systemd/system, /usr/local/lib/systemd/system, /usr/lib/systemd/system; aliases and masked units skipped)
/// is looked up in the <see cref="PresetRules"/>; "enable" (and no match at all) applies its [Install] section —
/// WantedBy=/RequiredBy=/UpheldBy= become <c>/etc/systemd/system/TARGET.wants|.requires|.upholds/UNIT</c> symlinks,
/// Alias= becomes <c>/etc/systemd/system/ALIAS</c>, Also= enables those units too, templates are enabled with the
/// preset line's instances or their DefaultInstance= (else only their aliases); "disable" removes the unit's
/// symlinks from /etc/systemd/system; "ignore" leaves it alone. Symlinks point to the unit file's absolute image path
/// (<c>/usr/lib/systemd/system/UNIT</c>), as systemctl writes them. Everything resolves inside the image; only
/// /etc/systemd/system changes. New entries get the tree's timestamp.
/// </summary>
/// <remarks>
/// In an initrd this is what enables systemd-sysext.service and systemd-confext.service, so that extensions
/// systemd-stub hands over in /.extra/sysext are merged at boot. Units are visited in the order of the search path and,
/// within a folder, by name (systemctl uses the folder's read order; the outcome differs only when two units claim
/// the same Alias=, where the first one wins).
/// </remarks>
public static class SystemdPresets
{
    /// <summary>Where enablement symlinks go (systemctl's persistent configuration folder).</summary>
    public const string ConfigDirectory = "etc/systemd/system";

    /// <summary>The system unit search path inside the image, highest priority first.</summary>
    public static readonly IReadOnlyList<string> UnitDirectories =
        ["etc/systemd/system", "run/systemd/system", "usr/local/lib/systemd/system", "usr/lib/systemd/system"];

    const int MaxAliasFollows = 64;

    public static PresetsResult Apply(ImageTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        return Apply(tree, PresetRules.Read(tree));
    }

    public static PresetsResult Apply(ImageTree tree, PresetRules rules)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(rules);
        return new Run(tree, rules).Execute();
    }

    enum UnitMode { Regular, Masked, Alias, Missing, Invalid }

    /// <summary>A unit name looked up in the search path: its file (image path, no leading slash) or why there is none.</summary>
    sealed record UnitFile(string Name, UnitMode Mode, string? Path = null, string? AliasOf = null);

    sealed class Run(ImageTree tree, PresetRules rules)
    {
        readonly List<(string Literal, string Canonical)> _dirs = SearchDirectories(tree);
        readonly List<string> _plus = [];
        readonly HashSet<string> _plusSet = new(StringComparer.Ordinal);
        readonly List<string> _minus = [];
        readonly HashSet<string> _minusSet = new(StringComparer.Ordinal);
        readonly Dictionary<string, UnitInstallSection> _sections = new(StringComparer.Ordinal);
        readonly List<string> _skipped = [.. rules.IgnoredLines.Select(l => l + ": not a valid preset line, ignored")];
        readonly SortedDictionary<string, string> _links = new(StringComparer.Ordinal);
        readonly SortedSet<string> _enabled = new(StringComparer.Ordinal);
        readonly SortedSet<string> _removed = new(StringComparer.Ordinal);

        public PresetsResult Execute()
        {
            // 1. Decide: every unit file in the search path, as preset-all enumerates them.
            foreach (var (_, canonical) in _dirs)
            {
                foreach (var child in tree.GetChildren(canonical))
                {
                    if (child.Kind is not (TreeEntryKind.RegularFile or TreeEntryKind.HardLink or TreeEntryKind.Symlink)) continue;
                    var name = NameOf(child.Path);
                    if (!UnitName.IsValid(name) || _plusSet.Contains(name) || _minusSet.Contains(name)) continue;
                    var unit = Discover(name);
                    if (unit.Mode is UnitMode.Alias or UnitMode.Missing or UnitMode.Invalid) continue; // aliases follow their unit
                    var decision = rules.Query(name);
                    if (decision.Enables)
                    {
                        if (decision.InstanceUnits is { } instances)
                        {
                            foreach (var instance in instances)
                            {
                                if (UnitName.Classify(instance) != UnitNameKind.Instance || Discover(instance).Mode is UnitMode.Masked or UnitMode.Missing or UnitMode.Invalid)
                                {
                                    _skipped.Add($"{instance}: not a valid instance of {name}, or masked; not enabled");
                                    break; // systemctl stops at the first failing instance too
                                }
                                AddPlus(instance);
                            }
                        }
                        else if (unit.Mode == UnitMode.Regular) AddPlus(name);
                    }
                    else if (decision.Action == PresetAction.Disable)
                    {
                        _minus.Add(name);
                        _minusSet.Add(name);
                    }
                }
            }

            // 2. Disable first (only symlinks in /etc/systemd/system), then enable, as systemctl does.
            RemoveDisabled();
            for (var i = 0; i < _plus.Count; i++) Enable(_plus[i]);

            return new PresetsResult([.. _enabled], [.. _minus.Order(StringComparer.Ordinal)], [.. _links], [.. _removed], _skipped);
        }

        // ------------------------------------------------------------ lookup

        static List<(string, string)> SearchDirectories(ImageTree tree)
        {
            var dirs = new List<(string, string)>();
            var seen = new HashSet<string>(StringComparer.Ordinal);
            foreach (var dir in UnitDirectories)
            {
                string? canonical;
                try { canonical = tree.ResolvePath(dir); }
                catch (FinalizeException) { continue; }
                if (canonical is not { Length: > 0 } || tree.Find(canonical)?.Kind != TreeEntryKind.Directory) continue;
                if (seen.Add(canonical)) dirs.Add((dir, canonical)); // one folder reached twice counts once, like systemd's inode check
            }
            return dirs;
        }

        /// <summary>The first file named <paramref name="fileName"/> in the search path: (literal folder, entry).</summary>
        (string Literal, TreeEntry Entry)? Locate(string fileName)
        {
            foreach (var (literal, canonical) in _dirs)
                if (tree.Find(canonical + "/" + fileName) is { } entry) return (literal, entry);
            return null;
        }

        /// <summary>systemctl's unit_file_search: the unit's own file, else (for an instance) its template's.</summary>
        UnitFile Discover(string name)
        {
            var kind = UnitName.Classify(name);
            if (kind == UnitNameKind.Invalid) return new UnitFile(name, UnitMode.Invalid);
            var found = Locate(name);
            if (found is null && kind == UnitNameKind.Instance) found = Locate(UnitName.Template(name)!);
            if (found is not { } f) return new UnitFile(name, UnitMode.Missing);
            var (literal, entry) = f;
            var fileName = NameOf(entry.Path);

            if (entry.Kind == TreeEntryKind.Symlink)
            {
                string? resolved;
                try { resolved = tree.ResolvePath(entry.Path); }
                catch (FinalizeException) { return new UnitFile(name, UnitMode.Invalid); }
                if (resolved is null)
                {
                    // systemd compares the target with /dev/null textually (no /dev in an unbooted tree).
                    var literalTarget = tree.Resolve(entry.Path, followFinal: true, allowMissing: true).Path;
                    return literalTarget == "dev/null" ? new UnitFile(name, UnitMode.Masked) : new UnitFile(name, UnitMode.Missing);
                }
                var target = tree.Find(resolved)!;
                if (IsNullOrEmpty(target)) return new UnitFile(name, UnitMode.Masked);
                if (target.Kind is not (TreeEntryKind.RegularFile or TreeEntryKind.HardLink)) return new UnitFile(name, UnitMode.Invalid);
                var targetName = NameOf(resolved);
                if (targetName == fileName) return new UnitFile(name, UnitMode.Regular, resolved); // a link to the same name: the file itself
                if (!UnitName.IsValid(targetName)) return new UnitFile(name, UnitMode.Invalid);
                // An alias; an instance of an aliased template is that instance of the target template.
                var aliasOf = kind == UnitNameKind.Instance && UnitName.Classify(targetName) == UnitNameKind.Template
                    ? UnitName.ReplaceInstance(targetName, UnitName.Instance(name)!) : targetName;
                return new UnitFile(name, UnitMode.Alias, resolved, aliasOf);
            }
            if (entry.Kind is not (TreeEntryKind.RegularFile or TreeEntryKind.HardLink)) return new UnitFile(name, UnitMode.Invalid);
            if (IsNullOrEmpty(entry)) return new UnitFile(name, UnitMode.Masked);
            return new UnitFile(name, UnitMode.Regular, literal + "/" + fileName);
        }

        bool IsNullOrEmpty(TreeEntry entry) => entry.Kind switch
        {
            TreeEntryKind.CharacterDevice => entry.DeviceMajor == 1 && entry.DeviceMinor == 3,
            TreeEntryKind.RegularFile or TreeEntryKind.HardLink => tree.SizeOf(entry) == 0,
            _ => false,
        };

        /// <summary>Follows aliases to the unit that has the file (null when the chain breaks or loops).</summary>
        UnitFile? Follow(string name)
        {
            var unit = Discover(name);
            for (var i = 0; unit.Mode == UnitMode.Alias && i < MaxAliasFollows; i++) unit = Discover(unit.AliasOf!);
            return unit.Mode == UnitMode.Alias ? null : unit;
        }

        UnitInstallSection SectionOf(UnitFile unit)
        {
            var key = unit.Path!;
            if (!_sections.TryGetValue(key, out var section))
                _sections[key] = section = UnitInstallSection.Parse(tree.ReadAllText(key));
            return section;
        }

        // ------------------------------------------------------------ enable

        /// <summary>Queues a unit for enabling, with its alias target and its Also= units (transitively).</summary>
        void AddPlus(string name)
        {
            if (!_plusSet.Add(name)) return;
            _plus.Add(name);
            var unit = Discover(name);
            if (unit.Mode == UnitMode.Alias)
            {
                AddPlus(unit.AliasOf!);
                return;
            }
            if (unit.Mode != UnitMode.Regular) return;
            var section = SectionOf(unit);
            foreach (var also in section.Also)
            {
                if (!UnitSpecifiers.TryExpand(also, name, DefaultInstanceOf(name, section), out var expanded) || !UnitName.IsValid(expanded))
                {
                    _skipped.Add($"{name}: Also={also} is not a unit name this step can expand; skipped");
                    continue;
                }
                AddPlus(expanded);
            }
        }

        static string? DefaultInstanceOf(string name, UnitInstallSection section) =>
            UnitName.Classify(name) == UnitNameKind.Template && section.DefaultInstance is { } d && UnitName.Classify(UnitName.ReplaceInstance(name, d)) == UnitNameKind.Instance
                ? d : null;

        void Enable(string name)
        {
            var unit = Discover(name);
            if (unit.Mode != UnitMode.Regular) return; // masked units, aliases (their target is queued) and missing ones
            var section = SectionOf(unit);
            if (section.IsEmpty) return; // static: nothing to do
            var target = "/" + unit.Path!;
            var defaultInstance = DefaultInstanceOf(name, section);
            var before = _links.Count;
            var any = false;

            foreach (var alias in section.Alias) any |= MakeAlias(name, alias, defaultInstance, target);

            // Symlinks in TARGET.wants/ are named after the unit; a template uses its DefaultInstance= or, without one,
            // only goes where a template or instance target can take it.
            var kind = UnitName.Classify(name);
            string? linkName = name;
            var dstKinds = new[] { UnitNameKind.Plain, UnitNameKind.Template, UnitNameKind.Instance };
            if (kind == UnitNameKind.Template)
            {
                if (defaultInstance is not null)
                {
                    linkName = UnitName.ReplaceInstance(name, defaultInstance);
                    if (Discover(linkName).Mode == UnitMode.Masked) linkName = null;
                }
                else dstKinds = [UnitNameKind.Template, UnitNameKind.Instance];
            }
            if (linkName is not null)
            {
                foreach (var (list, suffix) in new[] { (section.WantedBy, ".wants"), (section.RequiredBy, ".requires"), (section.UpheldBy, ".upholds") })
                {
                    foreach (var value in list)
                    {
                        if (!UnitSpecifiers.TryExpand(value, name, defaultInstance, out var dst))
                        {
                            _skipped.Add($"{name}: {value} uses a specifier that depends on the booted machine; skipped");
                            continue;
                        }
                        if (!dstKinds.Contains(UnitName.Classify(dst))) continue; // systemctl skips these silently for presets
                        any |= Link($"{ConfigDirectory}/{dst}{suffix}/{linkName}", target, force: true);
                    }
                }
            }
            if (any || _links.Count > before) _enabled.Add(name);
        }

        bool MakeAlias(string name, string alias, string? defaultInstance, string target)
        {
            if (!UnitSpecifiers.TryExpand(alias, name, defaultInstance, out var dst))
            {
                _skipped.Add($"{name}: Alias={alias} uses a specifier that depends on the booted machine; skipped");
                return false;
            }
            var type = UnitName.Suffix(name);
            if (type is not ("service" or "socket" or "target" or "device" or "timer" or "path"))
            {
                _skipped.Add($"{name}: Alias= is not allowed for {type} units; skipped");
                return false;
            }
            var slash = dst.LastIndexOf('/');
            if (slash >= 0)
            {
                // The old form "TARGET.wants/UNIT": a .wants or .requires link named after the unit.
                var dir = dst[..slash];
                var file = dst[(slash + 1)..];
                var dirUnit = dir.EndsWith(".wants", StringComparison.Ordinal) ? dir[..^6] : dir.EndsWith(".requires", StringComparison.Ordinal) ? dir[..^9] : null;
                var compatible = file == name || (UnitName.Classify(dirUnit) == UnitNameKind.Template && UnitName.Classify(name) == UnitNameKind.Template
                                                 && UnitName.Classify(file) == UnitNameKind.Instance && UnitName.Template(file) == name);
                if (dirUnit is null || !UnitName.IsValid(dirUnit) || !compatible)
                {
                    _skipped.Add($"{name}: Alias={alias} is not a valid alias; skipped");
                    return false;
                }
            }
            else
            {
                var nameKind = UnitName.Classify(name);
                if (UnitName.Classify(dst) == UnitNameKind.Template && nameKind == UnitNameKind.Instance)
                    dst = UnitName.ReplaceInstance(dst, UnitName.Instance(name)!);
                var dstKind = UnitName.Classify(dst);
                var valid = dstKind != UnitNameKind.Invalid && UnitName.Suffix(dst) == type && (dstKind, nameKind) switch
                {
                    (UnitNameKind.Plain, UnitNameKind.Plain) => true,
                    (UnitNameKind.Template, UnitNameKind.Template) => true,
                    (UnitNameKind.Instance, UnitNameKind.Instance) => UnitName.Instance(dst) == UnitName.Instance(name),
                    (UnitNameKind.Instance, UnitNameKind.Template) => true,
                    _ => false,
                };
                if (dst == name) return false; // an alias to itself: ignored quietly
                if (!valid)
                {
                    _skipped.Add($"{name}: Alias={alias} is not a valid alias of it; skipped");
                    return false;
                }
            }
            return Link($"{ConfigDirectory}/{dst}", target, force: false);
        }

        /// <summary>
        /// systemctl's create_symlink: a missing link is made; an equivalent one is kept; a different one is replaced
        /// when forced (wants/requires/upholds) or dangling, else left (the first unit claiming an alias keeps it).
        /// </summary>
        bool Link(string path, string target, bool force)
        {
            if (tree.Find(path) is { } existing)
            {
                if (existing.Kind != TreeEntryKind.Symlink)
                {
                    _skipped.Add($"/{path} exists and is not a symlink; not replaced");
                    return false;
                }
                string? resolvedExisting;
                try { resolvedExisting = tree.ResolvePath(path); }
                catch (FinalizeException) { resolvedExisting = null; }
                if (existing.LinkTarget == target || (resolvedExisting is not null && resolvedExisting == tree.ResolvePath(target)))
                {
                    _links[path] = existing.LinkTarget!;
                    return true;
                }
                if (!force && resolvedExisting is not null)
                {
                    _skipped.Add($"/{path} already points to {existing.LinkTarget}; not replaced by {target}");
                    return false;
                }
            }
            try
            {
                var entry = tree.AddSymlink(path, target);
                _links[entry.Path] = target;
                return true;
            }
            catch (FinalizeException e) when (e.Kind == FinalizeErrorKind.PathConflict)
            {
                _skipped.Add($"/{path}: {e.Message}");
                return false;
            }
        }

        // ------------------------------------------------------------ disable

        /// <summary>
        /// systemctl's disable half of preset-all: the disabled units (and their Also= units) are marked by name, then
        /// every symlink under /etc/systemd/system whose name, target or target's file name is marked goes; a removed
        /// alias marks its own path, so links to it go too.
        /// </summary>
        void RemoveDisabled()
        {
            if (_minus.Count == 0) return;
            var marked = new HashSet<string>(StringComparer.Ordinal);
            var queue = new List<string>(_minus);
            var seen = new HashSet<string>(queue, StringComparer.Ordinal);
            for (var i = 0; i < queue.Count; i++)
            {
                var unit = Discover(queue[i]);
                if (unit.Mode == UnitMode.Alias)
                {
                    if (seen.Add(unit.AliasOf!)) queue.Add(unit.AliasOf!);
                    continue;
                }
                if (unit.Mode is UnitMode.Masked or UnitMode.Invalid) continue;
                marked.Add(unit.Name);
                if (unit.Mode != UnitMode.Regular) continue;
                var section = SectionOf(unit);
                foreach (var also in section.Also)
                    if (UnitSpecifiers.TryExpand(also, unit.Name, DefaultInstanceOf(unit.Name, section), out var n) && UnitName.IsValid(n) && seen.Add(n))
                        queue.Add(n);
            }

            if (tree.ResolvePath(ConfigDirectory) is not { Length: > 0 } config || tree.Find(config)?.Kind != TreeEntryKind.Directory) return;
            bool again;
            do
            {
                again = false;
                foreach (var entry in tree.EnumerateSubtree(config).Where(e => e.Kind == TreeEntryKind.Symlink).ToList())
                {
                    var name = NameOf(entry.Path);
                    if (!UnitName.IsValid(name)) continue;
                    var dest = entry.LinkTarget!;
                    if (!marked.Contains(dest) && !marked.Contains(NameOf(dest)) && !marked.Contains(name)) continue;
                    tree.Remove(entry.Path);
                    _removed.Add("/" + entry.Path);
                    if (marked.Add("/" + ConfigDirectory + entry.Path[config.Length..])) again = true;
                }
            } while (again);
        }

        static string NameOf(string path) => path[(path.LastIndexOf('/') + 1)..];
    }
}
