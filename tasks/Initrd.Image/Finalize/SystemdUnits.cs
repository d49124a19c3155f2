using System.Text;

namespace Initrd.Image.Finalize;

/// <summary>What a unit name is, as systemd's unit_name_is_valid() classifies it.</summary>
public enum UnitNameKind
{
    Invalid,
    /// <summary><c>foo.service</c></summary>
    Plain,
    /// <summary><c>foo@.service</c></summary>
    Template,
    /// <summary><c>foo@bar.service</c></summary>
    Instance,
}

/// <summary>systemd unit names: validation and the template/instance arithmetic systemctl uses.</summary>
public static class UnitName
{
    /// <summary>systemd's UNIT_NAME_MAX: a name must be shorter.</summary>
    public const int MaxLength = 256;

    static readonly HashSet<string> Types = new(StringComparer.Ordinal)
    {
        "service", "mount", "swap", "socket", "target", "device", "automount", "timer", "path", "slice", "scope",
    };

    static bool IsValidChar(char c) =>
        c is (>= '0' and <= '9') or (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or ':' or '-' or '_' or '.' or '\\';

    public static UnitNameKind Classify(string? name)
    {
        if (string.IsNullOrEmpty(name) || name.Length >= MaxLength) return UnitNameKind.Invalid;
        var dot = name.LastIndexOf('.');
        if (dot <= 0 || !Types.Contains(name[(dot + 1)..])) return UnitNameKind.Invalid;
        var at = -1;
        for (var i = 0; i < dot; i++)
        {
            var c = name[i];
            if (c == '@')
            {
                if (at < 0) at = i;
                continue;
            }
            if (!IsValidChar(c)) return UnitNameKind.Invalid;
        }
        if (at == 0) return UnitNameKind.Invalid;
        if (at < 0) return UnitNameKind.Plain;
        return dot == at + 1 ? UnitNameKind.Template : UnitNameKind.Instance;
    }

    public static bool IsValid(string? name) => Classify(name) != UnitNameKind.Invalid;

    /// <summary>The type suffix without the dot ("service").</summary>
    public static string Suffix(string name) => name[(name.LastIndexOf('.') + 1)..];

    /// <summary>The part before '@' (or before the suffix): <c>getty</c> for <c>getty@tty1.service</c> (%p).</summary>
    public static string Prefix(string name)
    {
        var dot = name.LastIndexOf('.');
        var at = name.IndexOf('@');
        return at >= 0 && at < dot ? name[..at] : name[..dot];
    }

    /// <summary>The instance ("" for a template, null for a plain name).</summary>
    public static string? Instance(string name)
    {
        var dot = name.LastIndexOf('.');
        var at = name.IndexOf('@');
        return at >= 0 && at < dot ? name[(at + 1)..dot] : null;
    }

    /// <summary>The name without its type suffix (%N).</summary>
    public static string WithoutSuffix(string name) => name[..name.LastIndexOf('.')];

    /// <summary><c>foo@.service</c> for <c>foo@bar.service</c> (or the template itself); null for a plain name.</summary>
    public static string? Template(string name) => Instance(name) is null ? null : Prefix(name) + "@." + Suffix(name);

    /// <summary><c>foo@instance.service</c> for a template or instance name.</summary>
    public static string ReplaceInstance(string name, string instance) => Prefix(name) + "@" + instance + "." + Suffix(name);
}

/// <summary>fnmatch(3) with FNM_NOESCAPE and no other flag, as systemd matches preset patterns: '*' and '?' also match '/' and a leading '.'.</summary>
public static class UnitFnmatch
{
    public static bool IsMatch(string pattern, string text) => Match(pattern, 0, text, 0);

    static bool Match(string p, int pi, string s, int si)
    {
        while (pi < p.Length)
        {
            var c = p[pi];
            if (c == '*')
            {
                while (pi < p.Length && p[pi] == '*') pi++;
                if (pi == p.Length) return true;
                for (var k = si; k <= s.Length; k++)
                    if (Match(p, pi, s, k)) return true;
                return false;
            }
            if (si >= s.Length) return false;
            if (c == '?') { pi++; si++; continue; }
            if (c == '[' && TryBracket(p, pi, s[si], out var next, out var matched))
            {
                if (!matched) return false;
                pi = next;
                si++;
                continue;
            }
            if (c != s[si]) return false;
            pi++;
            si++;
        }
        return si == s.Length;
    }

    /// <summary>A bracket expression at <paramref name="start"/>; false when it is not one (then '[' is literal).</summary>
    static bool TryBracket(string p, int start, char ch, out int next, out bool matched)
    {
        var i = start + 1;
        var negate = i < p.Length && p[i] is '!' or '^';
        if (negate) i++;
        var first = true;
        matched = false;
        while (i < p.Length && (first || p[i] != ']'))
        {
            first = false;
            var lo = p[i];
            if (i + 2 < p.Length && p[i + 1] == '-' && p[i + 2] != ']')
            {
                if (ch >= lo && ch <= p[i + 2]) matched = true;
                i += 3;
            }
            else
            {
                if (ch == lo) matched = true;
                i++;
            }
        }
        if (i >= p.Length)
        {
            next = start;
            matched = false;
            return false;
        }
        next = i + 1;
        matched ^= negate;
        return true;
    }
}

/// <summary>
/// The [Install] section of a unit file, as systemctl reads it (drop-ins are not consulted, as in systemctl):
/// WantedBy=, RequiredBy=, UpheldBy=, Alias=, Also= (space-separated lists that accumulate; an empty assignment
/// resets), DefaultInstance=. Specifiers are kept raw; <see cref="UnitSpecifiers"/> expands them.
/// </summary>
public sealed record UnitInstallSection(
    IReadOnlyList<string> WantedBy,
    IReadOnlyList<string> RequiredBy,
    IReadOnlyList<string> UpheldBy,
    IReadOnlyList<string> Alias,
    IReadOnlyList<string> Also,
    string? DefaultInstance)
{
    public static readonly UnitInstallSection Empty = new([], [], [], [], [], null);

    public bool IsEmpty => WantedBy.Count == 0 && RequiredBy.Count == 0 && UpheldBy.Count == 0 && Alias.Count == 0 && Also.Count == 0;

    public static UnitInstallSection Parse(string text)
    {
        var lists = new Dictionary<string, List<string>>(StringComparer.Ordinal)
        {
            ["WantedBy"] = [], ["RequiredBy"] = [], ["UpheldBy"] = [], ["Alias"] = [], ["Also"] = [],
        };
        string? defaultInstance = null;
        var inInstall = false;
        foreach (var line in LogicalLines(text))
        {
            var l = line.Trim();
            if (l.Length == 0 || l[0] is '#' or ';') continue;
            if (l[0] == '[')
            {
                inInstall = l == "[Install]";
                continue;
            }
            if (!inInstall) continue;
            var eq = l.IndexOf('=');
            if (eq <= 0) continue;
            var key = l[..eq].Trim();
            var value = l[(eq + 1)..].Trim();
            if (key == "DefaultInstance")
            {
                defaultInstance = value.Length == 0 ? null : value;
                continue;
            }
            if (!lists.TryGetValue(key, out var list)) continue;
            if (value.Length == 0)
            {
                list.Clear();
                continue;
            }
            list.AddRange(SplitWords(value));
        }
        return new UnitInstallSection(lists["WantedBy"], lists["RequiredBy"], lists["UpheldBy"], lists["Alias"], lists["Also"], defaultInstance);
    }

    /// <summary>Joins lines ending in a backslash with the next one (comment lines inside a continuation are skipped).</summary>
    static IEnumerable<string> LogicalLines(string text)
    {
        var current = new StringBuilder();
        var continuing = false;
        foreach (var raw in text.Replace("\r\n", "\n").Split('\n'))
        {
            if (continuing && raw.TrimStart() is [ '#' or ';', ..]) continue;
            if (raw.EndsWith('\\'))
            {
                current.Append(raw, 0, raw.Length - 1).Append(' ');
                continuing = true;
                continue;
            }
            current.Append(raw);
            yield return current.ToString();
            current.Clear();
            continuing = false;
        }
        if (current.Length > 0) yield return current.ToString();
    }

    /// <summary>Whitespace-separated words; double or single quotes group and are removed.</summary>
    internal static List<string> SplitWords(string value)
    {
        var words = new List<string>();
        var word = new StringBuilder();
        var inWord = false;
        char quote = '\0';
        foreach (var c in value)
        {
            if (quote != '\0')
            {
                if (c == quote) quote = '\0';
                else word.Append(c);
                continue;
            }
            if (c is '"' or '\'')
            {
                quote = c;
                inWord = true;
                continue;
            }
            if (char.IsWhiteSpace(c))
            {
                if (inWord) words.Add(word.ToString());
                word.Clear();
                inWord = false;
                continue;
            }
            word.Append(c);
            inWord = true;
        }
        if (inWord) words.Add(word.ToString());
        return words;
    }
}

/// <summary>
/// The specifiers systemctl expands in [Install] values: %n (full name), %N (name without suffix), %p (prefix),
/// %i (instance; for a template its DefaultInstance, else empty), %j (last '-' component of the prefix), %%.
/// Others (host, machine ID, user…) depend on the machine the image boots on and are not expanded: the value is
/// skipped, with the reason.
/// </summary>
public static class UnitSpecifiers
{
    public static bool TryExpand(string value, string unitName, string? defaultInstance, out string result)
    {
        var sb = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            if (c != '%')
            {
                sb.Append(c);
                continue;
            }
            if (++i >= value.Length)
            {
                result = value;
                return false;
            }
            switch (value[i])
            {
                case '%': sb.Append('%'); break;
                case 'n': sb.Append(unitName); break;
                case 'N': sb.Append(UnitName.WithoutSuffix(unitName)); break;
                case 'p': sb.Append(UnitName.Prefix(unitName)); break;
                case 'i':
                    var instance = UnitName.Instance(unitName);
                    sb.Append(string.IsNullOrEmpty(instance) ? defaultInstance ?? "" : instance);
                    break;
                case 'j':
                    var prefix = UnitName.Prefix(unitName);
                    sb.Append(prefix[(prefix.LastIndexOf('-') + 1)..]);
                    break;
                default:
                    result = value;
                    return false;
            }
        }
        result = sb.ToString();
        return true;
    }
}

/// <summary>What a preset line says about a unit.</summary>
public enum PresetAction
{
    /// <summary>No line matched: systemd enables the unit.</summary>
    Unspecified,
    Enable,
    Disable,
    /// <summary>"ignore" (systemd 254 and later): leave the unit as it is.</summary>
    Ignore,
}

/// <summary>One line of a preset file.</summary>
public sealed record PresetRule(PresetAction Action, string Pattern, IReadOnlyList<string>? Instances, string File, int Line);

/// <summary>The outcome of <see cref="PresetRules.Query"/>: the action and, for a template enabled with instances, the instance unit names.</summary>
public sealed record PresetDecision(PresetAction Action, IReadOnlyList<string>? InstanceUnits, PresetRule? Rule)
{
    public bool Enables => Action is PresetAction.Enable or PresetAction.Unspecified;
}

/// <summary>
/// systemd.preset(5) rules: files from /etc/systemd/system-preset, /run/systemd/system-preset,
/// /usr/local/lib/systemd/system-preset and /usr/lib/systemd/system-preset; a file name in an earlier folder masks
/// the same name in later ones; the files are read in the order of their names; lines are "enable PATTERN
/// [INSTANCE…]", "disable PATTERN", "ignore PATTERN" ('#' and ';' start comments); the first matching line wins.
/// </summary>
public sealed class PresetRules
{
    public static readonly IReadOnlyList<string> Directories =
        ["etc/systemd/system-preset", "run/systemd/system-preset", "usr/local/lib/systemd/system-preset", "usr/lib/systemd/system-preset"];

    public PresetRules(IReadOnlyList<PresetRule> rules, IReadOnlyList<string> ignoredLines)
    {
        Rules = rules;
        IgnoredLines = ignoredLines;
    }

    public IReadOnlyList<PresetRule> Rules { get; }

    /// <summary>"file:line: text" of each line that could not be parsed (systemd logs and skips them too).</summary>
    public IReadOnlyList<string> IgnoredLines { get; }

    /// <summary>The preset files that count in <paramref name="tree"/>, in reading order, as (image path, text).</summary>
    public static IReadOnlyList<(string Path, string Text)> FilesIn(ImageTree tree)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var byName = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (var dir in Directories)
        {
            if (tree.ResolvePath(dir) is not { Length: > 0 } resolved || tree.Find(resolved)?.Kind != Formats.Tree.TreeEntryKind.Directory) continue;
            foreach (var child in tree.GetChildren(resolved))
            {
                var name = child.Path[(child.Path.LastIndexOf('/') + 1)..];
                if (!name.EndsWith(".preset", StringComparison.Ordinal) || byName.ContainsKey(name)) continue;
                byName[name] = resolved + "/" + name;
            }
        }
        var files = new List<(string, string)>();
        foreach (var path in byName.Values)
        {
            var entry = tree.ResolveEntry(path);
            // A symlink to /dev/null (or an empty file) masks the name: it reads as nothing.
            if (entry is null || entry.Kind is not (Formats.Tree.TreeEntryKind.RegularFile or Formats.Tree.TreeEntryKind.HardLink))
            {
                files.Add(("/" + path, ""));
                continue;
            }
            files.Add(("/" + path, tree.ReadAllText(path)));
        }
        return files;
    }

    public static PresetRules Read(ImageTree tree) => Parse(FilesIn(tree));

    public static PresetRules Parse(IEnumerable<(string Path, string Text)> files)
    {
        var rules = new List<PresetRule>();
        var ignored = new List<string>();
        foreach (var (path, text) in files)
        {
            var number = 0;
            foreach (var raw in text.Replace("\r\n", "\n").Split('\n'))
            {
                number++;
                var line = raw.Trim();
                if (line.Length == 0 || line[0] is '#' or ';') continue;
                var rule = ParseLine(line, path, number);
                if (rule is null) ignored.Add($"{path}:{number}: {line}");
                else rules.Add(rule);
            }
        }
        return new PresetRules(rules, ignored);
    }

    static PresetRule? ParseLine(string line, string file, int number)
    {
        if (FirstWord(line, "enable") is { } enable)
        {
            // Preset lines are split at whitespace only (no quoting), as systemd does.
            var words = enable.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length == 0) return null;
            if (words.Length == 1) return new PresetRule(PresetAction.Enable, words[0], null, file, number);
            // Instances only make sense after a template name.
            if (UnitName.Classify(words[0]) != UnitNameKind.Template) return null;
            return new PresetRule(PresetAction.Enable, words[0], words.Skip(1).ToList(), file, number);
        }
        if (FirstWord(line, "disable") is { } disable) return disable.Length == 0 ? null : new PresetRule(PresetAction.Disable, disable, null, file, number);
        if (FirstWord(line, "ignore") is { } ignore) return ignore.Length == 0 ? null : new PresetRule(PresetAction.Ignore, ignore, null, file, number);
        return null;
    }

    /// <summary>systemd's first_word(): the rest after <paramref name="word"/> and whitespace, or null.</summary>
    static string? FirstWord(string line, string word)
    {
        if (!line.StartsWith(word, StringComparison.Ordinal)) return null;
        if (line.Length == word.Length) return "";
        if (!char.IsWhiteSpace(line[word.Length])) return null;
        return line[word.Length..].TrimStart();
    }

    /// <summary>
    /// The first rule that matches <paramref name="unitName"/> decides. A rule with instances matches a template whose
    /// name equals its pattern (and then names those instances) or an instance named among them; otherwise patterns
    /// match with fnmatch. No match: <see cref="PresetAction.Unspecified"/>, which systemd treats as enable.
    /// </summary>
    public PresetDecision Query(string unitName)
    {
        foreach (var rule in Rules)
        {
            if (rule.Instances is { } instances && UnitName.Template(unitName) == rule.Pattern)
            {
                var kind = UnitName.Classify(unitName);
                if (kind == UnitNameKind.Template)
                    return new PresetDecision(rule.Action, instances.Select(i => UnitName.ReplaceInstance(unitName, i)).ToList(), rule);
                if (kind == UnitNameKind.Instance && instances.Contains(UnitName.Instance(unitName)!))
                    return new PresetDecision(rule.Action, null, rule);
            }
            if (UnitFnmatch.IsMatch(rule.Pattern, unitName)) return new PresetDecision(rule.Action, null, rule);
        }
        return new PresetDecision(PresetAction.Unspecified, null, null);
    }
}
