using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;

namespace Initrd.Image.Modules;

/// <summary>
/// Chooses the kernel modules of an image with mkosi's <c>KernelModules=</c> rules and completes the choice with
/// everything those modules need: their <c>depends</c> (recursively), their <c>softdep</c> pre/post modules when
/// the kernel has them, and the firmware files they name that the tree holds.
/// </summary>
/// <remarks>
/// <para>Rules are evaluated in order and the last rule that matches a module decides: a rule includes, or with a
/// leading <c>-</c> excludes. '-' and '_' are equivalent everywhere (as for the kernel) except inside <c>[…]</c>.
/// A rule is a shell glob (<c>*</c>, <c>?</c>, <c>[…]</c>; <c>*</c> also crosses '/') matched against the module's
/// path below the module directory without its <c>.ko</c>/compression suffix (<c>kernel/drivers/block/virtio_blk</c>):</para>
/// <list type="bullet">
/// <item>without '/', against the module name: <c>virtio_blk</c>, <c>virtio-*</c>, <c>raid[0-9]*</c>;</item>
/// <item>with an inner '/', against the trailing path components: <c>block/loop</c>, or with a trailing '/' every
/// module below a folder of that name anywhere: <c>drivers/block/</c>, <c>fs/</c>, <c>crypto/</c> (which also takes
/// <c>arch/x86/crypto/</c>);</item>
/// <item>with a leading '/', anchored at <c>kernel/</c> first and then at the module directory:
/// <c>/drivers/crypto/</c>, <c>/kernel/fs/ext4/ext4</c>, <c>/updates/</c>;</item>
/// <item><c>default</c> expands to mkosi-initrd's list (<see cref="DefaultModules"/>) at its place in the list.</item>
/// </list>
/// <para>Exclusions only shape the requested set: a dependency of a requested module is always added, since the
/// module could not load without it. The selection is deterministic: the same tree and rules give the same lists.</para>
/// </remarks>
public sealed class ModuleSelector
{
    public ModuleSelector(KernelModuleTree tree, ModuleInfoCache? cache = null)
    {
        ArgumentNullException.ThrowIfNull(tree);
        Tree = tree;
        Cache = cache ?? new ModuleInfoCache();
    }

    public KernelModuleTree Tree { get; }

    /// <summary>Where module info comes from and goes to; save it after selecting to speed up the next run.</summary>
    public ModuleInfoCache Cache { get; }

    /// <summary>Threads reading modules (default: one per processor).</summary>
    public int MaxDegreeOfParallelism { get; init; } = Environment.ProcessorCount;

    /// <summary>
    /// Also follow the soft dependencies and firmware of the modules built into the kernel
    /// (<c>modules.builtin.modinfo</c>), as mkosi does (default true).
    /// </summary>
    public bool IncludeBuiltinDependencies { get; init; } = true;

    /// <summary>The rules with <c>default</c> expanded for <paramref name="architecture"/> (Debian name), blanks dropped.</summary>
    public static IReadOnlyList<string> ExpandRules(IEnumerable<string> rules, string architecture = "amd64")
    {
        ArgumentNullException.ThrowIfNull(rules);
        return [.. ParseRules(rules, architecture).Select(r => r.Text)];
    }

    /// <summary>The modules the rules choose, before dependencies are added, sorted by path.</summary>
    public IReadOnlyList<KernelModuleFile> Match(IEnumerable<string> rules, string architecture = "amd64")
    {
        ArgumentNullException.ThrowIfNull(rules);
        return Match(ParseRules(rules, architecture), out _);
    }

    List<KernelModuleFile> Match(IReadOnlyList<ModuleRule> rules, out bool[] ruleMatched)
    {
        var matched = new bool[rules.Count];
        var result = new List<KernelModuleFile>();
        foreach (var module in Tree.Modules)
        {
            var candidate = new ModuleRule.Candidate(module.RelativePath);
            for (var i = rules.Count - 1; i >= 0; i--)
            {
                if (!rules[i].Matches(candidate)) continue;
                if (!rules[i].Exclude) result.Add(module);
                break;
            }
            for (var i = 0; i < rules.Count; i++)
                if (!matched[i] && !rules[i].Exclude && rules[i].Matches(candidate)) matched[i] = true;
        }
        ruleMatched = matched;
        return result;
    }

    /// <summary>Chooses modules by <paramref name="rules"/> and adds their dependencies and firmware.</summary>
    /// <param name="rules">mkosi-style rules (see the class remarks); empty selects no module.</param>
    /// <param name="architecture">Debian architecture, for the <c>default</c> keyword.</param>
    /// <exception cref="ArgumentException">A rule uses a keyword this builder does not support (<c>host</c>, <c>re:</c>).</exception>
    /// <exception cref="InvalidDataException">A module file is not a readable kernel module (the message names it).</exception>
    public ModuleSelection Select(IEnumerable<string> rules, string architecture = "amd64")
    {
        ArgumentNullException.ThrowIfNull(rules);
        var parsed = ParseRules(rules, architecture);
        var requested = Match(parsed, out var ruleMatched);

        var unmatched = new List<string>();
        for (var i = 0; i < parsed.Count; i++)
        {
            var rule = parsed[i];
            if (rule.Exclude || rule.FromDefault || ruleMatched[i]) continue;
            if (rule.IsPlainName && Tree.BuiltinModules.Contains(ModuleInfo.NormalizeName(rule.Pattern))) continue;
            unmatched.Add(rule.Text);
        }

        var selected = new Dictionary<string, KernelModuleFile>(StringComparer.Ordinal);
        var infos = new Dictionary<string, ModuleInfo>(StringComparer.Ordinal);
        var missing = new SortedSet<string>(StringComparer.Ordinal);
        var firmwareNames = new List<string>();
        foreach (var m in requested) selected[m.Name] = m;

        void Follow(string from, ModuleInfo info, List<KernelModuleFile> next)
        {
            foreach (var dep in info.Depends)
            {
                if (!Add(dep, next) && !Tree.BuiltinModules.Contains(ModuleInfo.NormalizeName(dep)))
                    missing.Add($"{from} depends on {dep}, which is neither a module file nor built into the kernel");
            }
            // A soft dependency the kernel lacks is normal: it may be an alias (crypto-crc32c) or absent on this architecture.
            foreach (var dep in info.SoftdepPre) Add(dep, next);
            foreach (var dep in info.SoftdepPost) Add(dep, next);
            firmwareNames.AddRange(info.Firmware);
        }

        bool Add(string dep, List<KernelModuleFile> next)
        {
            if (Tree.FindModule(dep) is not { } module) return false;
            if (selected.TryAdd(module.Name, module)) next.Add(module);
            return true;
        }

        var level = new List<KernelModuleFile>(requested);
        if (IncludeBuiltinDependencies && requested.Count > 0)
        {
            var builtin = Tree.BuiltinModuleInfo;
            foreach (var name in builtin.Keys.Order(StringComparer.Ordinal))
                Follow(name, builtin[name], level);
        }
        while (level.Count > 0)
        {
            var read = ReadInfo(level);
            var next = new List<KernelModuleFile>();
            foreach (var module in level.OrderBy(m => m.RelativePath, StringComparer.Ordinal))
            {
                var info = read[module.Name];
                infos[module.Name] = info;
                Follow(module.Name, info, next);
            }
            level = next;
        }

        var firmware = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var name in firmwareNames.Distinct(StringComparer.Ordinal))
            foreach (var path in Tree.ResolveFirmware(name))
                firmware.Add(path);

        var modules = selected.Values.OrderBy(m => m.RelativePath, StringComparer.Ordinal).ToList();
        return new ModuleSelection(
            modules,
            [.. requested],
            infos,
            [.. firmware],
            [.. missing],
            unmatched);
    }

    /// <summary>Reads (or takes from the cache) the info of every module of the tree, in parallel.</summary>
    public IReadOnlyDictionary<string, ModuleInfo> ReadAll() => ReadInfo(Tree.Modules);

    /// <summary>Reads (or takes from the cache) the info of <paramref name="modules"/>, in parallel; by module name.</summary>
    public IReadOnlyDictionary<string, ModuleInfo> ReadInfo(IReadOnlyCollection<KernelModuleFile> modules)
    {
        ArgumentNullException.ThrowIfNull(modules);
        var result = new ConcurrentDictionary<string, ModuleInfo>(Math.Max(1, MaxDegreeOfParallelism), modules.Count, StringComparer.Ordinal);
        var errors = new ConcurrentBag<(string Path, Exception Error)>();
        // Largest first, one at a time: a 30 MB amdgpu.ko must not be the last thing a thread starts.
        var work = modules.OrderByDescending(m => m.Size).ThenBy(m => m.RelativePath, StringComparer.Ordinal).ToArray();
        var partitioner = System.Collections.Concurrent.Partitioner.Create(work, loadBalance: true);
        Parallel.ForEach(partitioner, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, MaxDegreeOfParallelism) }, module =>
        {
            try
            {
                result[module.Name] = Cache.GetOrRead(module, Tree.KernelVersion);
            }
            catch (Exception e) when (e is InvalidDataException or IOException or UnauthorizedAccessException)
            {
                errors.Add((module.RelativePath, e));
            }
        });
        if (!errors.IsEmpty)
            ExceptionDispatchInfo.Capture(errors.OrderBy(e => e.Path, StringComparer.Ordinal).First().Error).Throw();
        return result;
    }

    static List<ModuleRule> ParseRules(IEnumerable<string> rules, string architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        var result = new List<ModuleRule>();
        foreach (var raw in rules)
        {
            var text = raw?.Trim();
            if (string.IsNullOrEmpty(text)) continue;
            if (text == "default")
            {
                foreach (var d in DefaultModules.For(architecture)) result.Add(ModuleRule.Parse(d, fromDefault: true));
                continue;
            }
            if (text == "host")
                throw new ArgumentException(
                    "The kernel module rule 'host' (the build machine's loaded modules) is not supported: an image build must not depend on the machine it runs on. Name the modules instead.",
                    nameof(rules));
            if (text.StartsWith("re:", StringComparison.Ordinal) || text.StartsWith("-re:", StringComparison.Ordinal))
                throw new ArgumentException(
                    $"The kernel module rule '{text}' uses mkosi's old regular-expression syntax, which is not supported; use a glob (virtio_*, drivers/block/, /fs/nls/).",
                    nameof(rules));
            result.Add(ModuleRule.Parse(text, fromDefault: false));
        }
        return result;
    }
}

/// <summary>The result of <see cref="ModuleSelector.Select"/>.</summary>
/// <param name="Modules">The chosen modules with their dependency closure, sorted by path.</param>
/// <param name="Requested">The modules the rules chose themselves, sorted by path.</param>
/// <param name="Info">The module info of every module in <paramref name="Modules"/>, by module name (for <see cref="ModuleIndexWriter"/>).</param>
/// <param name="Firmware">Image paths of the firmware files (and symlinks leading to them) the chosen modules name, sorted.</param>
/// <param name="MissingDependencies">Hard dependencies that are neither module files nor built in (the kernel package is incomplete).</param>
/// <param name="UnmatchedRules">Include rules that matched no module file and no built-in module (a typo?).</param>
public sealed record ModuleSelection(
    IReadOnlyList<KernelModuleFile> Modules,
    IReadOnlyList<KernelModuleFile> Requested,
    IReadOnlyDictionary<string, ModuleInfo> Info,
    IReadOnlyList<string> Firmware,
    IReadOnlyList<string> MissingDependencies,
    IReadOnlyList<string> UnmatchedRules)
{
    /// <summary>Total size of the chosen module files (compressed, as stored).</summary>
    public long ModuleBytes => Modules.Sum(m => m.Size);

    /// <summary>
    /// Image paths of <paramref name="tree"/>'s module files that were not chosen, including files hidden by a
    /// same-named module (what a finalize step removes), sorted.
    /// </summary>
    public IReadOnlyList<string> UnselectedModulePaths(KernelModuleTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var kept = Modules.Select(m => m.ImagePath).ToHashSet(StringComparer.Ordinal);
        return [.. tree.Modules.Concat(tree.ShadowedModules).Select(m => m.ImagePath).Where(p => !kept.Contains(p)).Order(StringComparer.Ordinal)];
    }
}

/// <summary>One parsed selection rule (mkosi's globs_match_filename).</summary>
sealed class ModuleRule
{
    readonly Glob _glob;
    readonly Glob? _kernelAnchored;
    readonly Glob? _anchored;
    readonly Glob? _suffix;

    ModuleRule(string text, bool exclude, string pattern, bool fromDefault)
    {
        Text = text;
        Exclude = exclude;
        Pattern = pattern;
        FromDefault = fromDefault;
        var glob = Normalize(pattern.EndsWith('/') ? pattern + "*" : pattern);
        IsPlainName = pattern.AsSpan().IndexOfAny("/*?[") < 0;
        _glob = new Glob(glob);
        if (glob.StartsWith('/'))
        {
            _kernelAnchored = new Glob("/kernel" + glob);
            _anchored = new Glob(glob);
        }
        if (glob.Contains('/')) _suffix = new Glob("*/" + glob);
    }

    public string Text { get; }

    public bool Exclude { get; }

    /// <summary>The glob without the leading '-'.</summary>
    public string Pattern { get; }

    public bool FromDefault { get; }

    /// <summary>A module name without glob characters or '/'.</summary>
    public bool IsPlainName { get; }

    public static ModuleRule Parse(string text, bool fromDefault)
    {
        var exclude = text.StartsWith('-');
        var pattern = exclude ? text[1..] : text;
        if (pattern.Length == 0) throw new ArgumentException($"The kernel module rule '{text}' names nothing.", nameof(text));
        return new ModuleRule(text, exclude, pattern, fromDefault);
    }

    public bool Matches(in Candidate c) =>
        (_kernelAnchored is not null && (_kernelAnchored.Matches(c.RootedPath) || _anchored!.Matches(c.RootedPath)))
        || (_suffix is not null && _suffix.Matches(c.RootedPath))
        || _glob.Matches(c.BaseName);

    /// <summary>'_' → '-' outside bracket expressions (mkosi's normalize_module_glob).</summary>
    static string Normalize(string glob)
    {
        var chars = glob.ToCharArray();
        var inBracket = false;
        for (var i = 0; i < chars.Length; i++)
        {
            if (inBracket) { if (chars[i] == ']') inBracket = false; continue; }
            if (chars[i] == '[') inBracket = true;
            else if (chars[i] == '_') chars[i] = '-';
        }
        return new string(chars);
    }

    /// <summary>A module path prepared for matching: "/kernel/drivers/block/virtio-blk" and "virtio-blk".</summary>
    public readonly struct Candidate
    {
        public Candidate(string relativePath)
        {
            var path = relativePath;
            foreach (var suffix in (string[])[".ko.xz", ".ko.zst", ".ko.gz", ".ko"])
            {
                if (path.EndsWith(suffix, StringComparison.Ordinal)) { path = path[..^suffix.Length]; break; }
            }
            path = path.Replace('_', '-');
            RootedPath = "/" + path;
            BaseName = path[(path.LastIndexOf('/') + 1)..];
        }

        public string RootedPath { get; }

        public string BaseName { get; }
    }
}

/// <summary>
/// A shell glob with Python fnmatch semantics (what mkosi uses): <c>*</c> matches any text including '/',
/// <c>?</c> one character, <c>[abc]</c>, <c>[a-z]</c>, <c>[!a-z]</c> one character of (not of) a set; a '['
/// without a closing ']' is literal. Case-sensitive.
/// </summary>
sealed class Glob
{
    enum Kind : byte { Literal, Any, Star, Set }

    readonly record struct Token(Kind Kind, char Char, string? Set, bool Negate);

    readonly Token[] _tokens;

    public Glob(string pattern)
    {
        var tokens = new List<Token>();
        var i = 0;
        while (i < pattern.Length)
        {
            var c = pattern[i++];
            switch (c)
            {
                case '*':
                    if (tokens.Count == 0 || tokens[^1].Kind != Kind.Star) tokens.Add(new Token(Kind.Star, c, null, false));
                    break;
                case '?':
                    tokens.Add(new Token(Kind.Any, c, null, false));
                    break;
                case '[':
                    var j = i;
                    if (j < pattern.Length && pattern[j] == '!') j++;
                    if (j < pattern.Length && pattern[j] == ']') j++;
                    while (j < pattern.Length && pattern[j] != ']') j++;
                    if (j >= pattern.Length)
                    {
                        tokens.Add(new Token(Kind.Literal, '[', null, false));
                        break;
                    }
                    var set = pattern[i..j];
                    var negate = set.StartsWith('!');
                    tokens.Add(new Token(Kind.Set, c, negate ? set[1..] : set, negate));
                    i = j + 1;
                    break;
                default:
                    tokens.Add(new Token(Kind.Literal, c, null, false));
                    break;
            }
        }
        _tokens = [.. tokens];
    }

    public static bool Matches(string text, string pattern) => new Glob(pattern).Matches(text);

    public bool Matches(string text)
    {
        int t = 0, p = 0, starP = -1, starT = 0;
        while (t < text.Length)
        {
            if (p < _tokens.Length && _tokens[p].Kind == Kind.Star)
            {
                starP = p++;
                starT = t;
                continue;
            }
            if (p < _tokens.Length && MatchesOne(_tokens[p], text[t]))
            {
                p++;
                t++;
                continue;
            }
            if (starP < 0) return false;
            p = starP + 1;
            t = ++starT;
        }
        while (p < _tokens.Length && _tokens[p].Kind == Kind.Star) p++;
        return p == _tokens.Length;
    }

    static bool MatchesOne(in Token token, char c)
    {
        switch (token.Kind)
        {
            case Kind.Literal: return token.Char == c;
            case Kind.Any: return true;
            case Kind.Set:
                var set = token.Set!;
                var found = false;
                for (var k = 0; k < set.Length && !found;)
                {
                    if (k + 2 < set.Length && set[k + 1] == '-')
                    {
                        found = set[k] <= c && c <= set[k + 2];
                        k += 3;
                    }
                    else
                    {
                        found = set[k] == c;
                        k++;
                    }
                }
                return found != token.Negate;
            default: return false;
        }
    }
}
