using System.Globalization;
using System.Text;

namespace Initrd.Image.Finalize;

/// <summary>One parsed sysusers.d(5) line (<c>u</c>, <c>g</c>, <c>m</c> or <c>r</c>).</summary>
internal sealed class SysusersItem
{
    public required char Type { get; init; }
    public required string Name { get; init; }
    public string? GroupName { get; set; }
    public string? UidPath { get; set; }
    public string? GidPath { get; set; }
    public string? Description { get; set; }
    public string? Home { get; set; }
    public string? Shell { get; set; }
    public uint Uid { get; set; }
    public uint Gid { get; set; }
    public bool UidSet { get; set; }
    public bool GidSet { get; set; }
    /// <summary>The GID was given explicitly ("uid:gid") or taken from a queued group: the group must exist, no clash check.</summary>
    public bool IdSetStrict { get; set; }
    public bool Locked { get; set; }
    public bool TodoUser { get; set; }
    public bool TodoGroup { get; set; }
    public string? File { get; init; }
    public int Line { get; init; }

    public string Where => File is null ? "(implicit)" : $"{File}:{Line}";
}

/// <summary>
/// Parses sysusers.d files the way systemd-sysusers does: whitespace-separated columns with "…"/'…' quoting and
/// backslash escapes (EXTRACT_UNQUOTE), "-" for an empty column, "#" comments; later lines for an already-listed user
/// or group are ignored (with a warning when they differ). Specifiers: %% , %T and %V are expanded; lines using any
/// other specifier (host-dependent: %m, %H, %b…) are ignored with a warning, since they cannot be reproduced at build time.
/// </summary>
internal sealed class SysusersConfig
{
    public const string NoLoginShell = "/usr/sbin/nologin";

    public List<SysusersItem> Users { get; } = [];
    public Dictionary<string, SysusersItem> UsersByName { get; } = new(StringComparer.Ordinal);
    public List<SysusersItem> Groups { get; } = [];
    public Dictionary<string, SysusersItem> GroupsByName { get; } = new(StringComparer.Ordinal);
    /// <summary>Group → member user names, both in first-seen order.</summary>
    public List<KeyValuePair<string, List<string>>> Members { get; } = [];
    /// <summary>UID ranges from <c>r</c> lines (start, last), unsorted.</summary>
    public List<(uint First, uint Last)> Ranges { get; } = [];

    readonly ICollection<FinalizeWarning>? _warnings;

    public SysusersConfig(ICollection<FinalizeWarning>? warnings) => _warnings = warnings;

    public List<string>? MembersOf(string group) =>
        Members.FirstOrDefault(m => m.Key == group) is { Key: not null } kv ? kv.Value : null;

    public void ParseFile(string displayName, string text)
    {
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0 || line[0] == '#') continue;
            ParseLine(displayName, lineNumber, line);
        }
    }

    void Warn(string file, int line, string message) =>
        _warnings?.Add(new FinalizeWarning(FinalizeWarningKind.SysusersLineIgnored, $"{file}:{line}", message + " The line is ignored."));

    void ParseLine(string file, int line, string text)
    {
        var words = SplitWords(text, out var error);
        if (words is null) { Warn(file, line, $"Syntax error ({error})."); return; }
        if (words.Count < 2) { Warn(file, line, "Missing action and name columns."); return; }
        if (words.Count > 6) { Warn(file, line, "Trailing garbage."); return; }

        var action = words[0];
        var locked = false;
        for (var i = 1; i < action.Length; i++)
        {
            if (action[i] == '!' && !locked) locked = true;
            else { Warn(file, line, $"Unknown modifiers in command '{action}'."); return; }
        }
        var type = action[0];
        if (type is not ('u' or 'g' or 'm' or 'r')) { Warn(file, line, $"Unknown command type '{type}'."); return; }

        string? Column(int i)
        {
            if (i >= words.Count) return null;
            var w = words[i];
            return w.Length == 0 || w == "-" ? null : w;
        }

        var fields = new string?[5];
        for (var i = 0; i < 5; i++)
        {
            var value = Column(i + 1);
            if (value is null) continue;
            var expanded = ExpandSpecifiers(value);
            if (expanded is null)
            {
                Warn(file, line, $"'{value}' uses a specifier that depends on the running system; only %%, %T and %V can be expanded at build time.");
                return;
            }
            fields[i] = expanded;
        }
        var (name, id, description, home, shell) = (fields[0], fields[1], fields[2], fields[3], fields[4]);

        if (name is not null && !IsValidName(name)) { Warn(file, line, $"'{name}' is not a valid user or group name."); return; }
        if (description is not null && (description.Contains(':') || description.Contains('\n')))
        { Warn(file, line, $"'{description}' is not a valid GECOS field."); return; }
        if (home is not null && (!home.StartsWith('/') || home.Contains(':'))) { Warn(file, line, $"'{home}' is not a valid home directory field."); return; }
        if (shell is not null && (!shell.StartsWith('/') || shell.Contains(':'))) { Warn(file, line, $"'{shell}' is not a valid login shell field."); return; }

        switch (type)
        {
            case 'r':
                if (locked) { Warn(file, line, "Flag '!' not permitted on lines of type 'r'."); return; }
                if (name is not null) { Warn(file, line, "Lines of type 'r' don't take a name field."); return; }
                if (id is null) { Warn(file, line, "Lines of type 'r' require an ID range in the third field."); return; }
                if (description is not null || home is not null || shell is not null) { Warn(file, line, "Lines of type 'r' take no GECOS, home or shell field."); return; }
                if (!TryParseRange(id, out var first, out var last)) { Warn(file, line, $"Invalid UID range {id}."); return; }
                Ranges.Add((first, last));
                return;

            case 'm':
                if (name is null) { Warn(file, line, "Lines of type 'm' require a user name in the second field."); return; }
                if (locked) { Warn(file, line, "Flag '!' not permitted on lines of type 'm'."); return; }
                if (id is null) { Warn(file, line, "Lines of type 'm' require a group name in the third field."); return; }
                if (!IsValidName(id)) { Warn(file, line, $"'{id}' is not a valid user or group name."); return; }
                if (description is not null || home is not null || shell is not null) { Warn(file, line, "Lines of type 'm' take no GECOS, home or shell field."); return; }
                var list = MembersOf(id);
                if (list is null) Members.Add(new(id, list = []));
                if (!list.Contains(name)) list.Add(name);
                return;

            case 'u':
            {
                if (name is null) { Warn(file, line, "Lines of type 'u' require a user name in the second field."); return; }
                var item = new SysusersItem { Type = 'u', Name = name, File = file, Line = line };
                if (id is not null)
                {
                    if (id.StartsWith('/'))
                    {
                        item.UidPath = id;
                    }
                    else
                    {
                        var uidPart = id;
                        var colon = id.IndexOf(':');
                        if (colon >= 0)
                        {
                            uidPart = id[..colon];
                            var gidPart = id[(colon + 1)..];
                            if (TryParseId(gidPart, out var gid)) { item.Gid = gid; item.GidSet = true; item.IdSetStrict = true; }
                            else if (IsValidName(gidPart)) item.GroupName = gidPart;
                            else { Warn(file, line, $"Failed to parse GID: '{id}'."); return; }
                        }
                        if (uidPart != "-")
                        {
                            if (!TryParseId(uidPart, out var uid)) { Warn(file, line, $"Failed to parse UID: '{id}'."); return; }
                            item.Uid = uid;
                            item.UidSet = true;
                        }
                    }
                }
                item.Description = description;
                item.Home = home;
                item.Shell = shell;
                item.Locked = locked;
                Store(item, Users, UsersByName, file, line);
                return;
            }

            case 'g':
            {
                if (name is null) { Warn(file, line, "Lines of type 'g' require a group name in the second field."); return; }
                if (locked) { Warn(file, line, "Flag '!' not permitted on lines of type 'g'."); return; }
                if (description is not null || home is not null || shell is not null) { Warn(file, line, "Lines of type 'g' take no GECOS, home or shell field."); return; }
                var item = new SysusersItem { Type = 'g', Name = name, File = file, Line = line };
                if (id is not null)
                {
                    if (id.StartsWith('/')) item.GidPath = id;
                    else if (TryParseId(id, out var gid)) { item.Gid = gid; item.GidSet = true; }
                    else { Warn(file, line, $"Failed to parse GID: '{id}'."); return; }
                }
                Store(item, Groups, GroupsByName, file, line);
                return;
            }
        }
    }

    void Store(SysusersItem item, List<SysusersItem> list, Dictionary<string, SysusersItem> byName, string file, int line)
    {
        if (byName.TryGetValue(item.Name, out var existing))
        {
            if (!Equivalent(item, existing))
                Warn(file, line, $"Conflict with earlier configuration for {(item.Type == 'u' ? "user" : "group")} '{item.Name}' in {existing.Where}.");
            return;
        }
        byName[item.Name] = item;
        list.Add(item);
    }

    /// <summary>Adds an item nobody listed explicitly (a user or group named only by an <c>m</c> line).</summary>
    public void AddImplicit(char type, string name)
    {
        var item = new SysusersItem { Type = type, Name = name };
        if (type == 'u') { UsersByName[name] = item; Users.Add(item); }
        else { GroupsByName[name] = item; Groups.Add(item); }
    }

    static bool Equivalent(SysusersItem a, SysusersItem b) =>
        a.Type == b.Type && a.Name == b.Name && a.UidPath == b.UidPath && a.GidPath == b.GidPath
        && a.Description == b.Description && a.UidSet == b.UidSet && (!a.UidSet || a.Uid == b.Uid)
        && a.GidSet == b.GidSet && (!a.GidSet || a.Gid == b.Gid) && a.Home == b.Home && a.GroupName == b.GroupName
        && (a.Type != 'u' || ShellEquivalent(a, b));

    static bool ShellEquivalent(SysusersItem a, SysusersItem b)
    {
        string Pick(SysusersItem i) => i.Shell ?? (i.UidSet && i.Uid == 0 ? "/bin/sh" : NoLoginShell);
        var (sa, sb) = (Pick(a), Pick(b));
        return sa == sb || (IsNoLogin(sa) && IsNoLogin(sb));
    }

    static bool IsNoLogin(string shell) => shell.EndsWith("/nologin", StringComparison.Ordinal) || shell.EndsWith("/false", StringComparison.Ordinal)
        || shell.EndsWith("/true", StringComparison.Ordinal);

    /// <summary>
    /// systemd's strict user/group name rule (valid_user_group_name without relaxations): a letter or '_', then
    /// letters, digits, '_' or '-', optionally a final '$', at most 31 characters.
    /// </summary>
    public static bool IsValidName(string name)
    {
        if (name.Length == 0 || name.Length > 31) return false;
        if (!char.IsAsciiLetter(name[0]) && name[0] != '_') return false;
        for (var i = 1; i < name.Length; i++)
        {
            var c = name[i];
            if (char.IsAsciiLetterOrDigit(c) || c is '_' or '-') continue;
            if (c == '$' && i == name.Length - 1) continue;
            return false;
        }
        return true;
    }

    /// <summary>Parses a UID/GID as systemd's parse_uid does: decimal, not 65535 or 4294967295.</summary>
    public static bool TryParseId(string s, out uint id)
    {
        id = 0;
        if (s.Length == 0 || !s.All(char.IsAsciiDigit)) return false;
        if (!uint.TryParse(s, NumberStyles.None, CultureInfo.InvariantCulture, out id)) return false;
        return id != 0xFFFF && id != 0xFFFFFFFF;
    }

    static bool TryParseRange(string s, out uint first, out uint last)
    {
        first = last = 0;
        var dash = s.IndexOf('-');
        if (dash < 0)
        {
            if (!TryParseId(s, out first)) return false;
            last = first;
            return true;
        }
        return TryParseId(s[..dash], out first) && TryParseId(s[(dash + 1)..], out last) && first <= last;
    }

    static string? ExpandSpecifiers(string value)
    {
        if (!value.Contains('%')) return value;
        var sb = new StringBuilder(value.Length);
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] != '%') { sb.Append(value[i]); continue; }
            if (i + 1 == value.Length) return null;
            switch (value[++i])
            {
                case '%': sb.Append('%'); break;
                case 'T': sb.Append("/tmp"); break;
                case 'V': sb.Append("/var/tmp"); break;
                default: return null;
            }
        }
        return sb.ToString();
    }

    /// <summary>Splits a line into words: whitespace separates, "…" and '…' group, a backslash takes the next character literally.</summary>
    static List<string>? SplitWords(string text, out string? error)
    {
        error = null;
        var words = new List<string>();
        var sb = new StringBuilder();
        var i = 0;
        while (true)
        {
            while (i < text.Length && char.IsWhiteSpace(text[i])) i++;
            if (i >= text.Length) return words;
            sb.Clear();
            char quote = '\0';
            while (i < text.Length)
            {
                var c = text[i];
                if (c == '\\')
                {
                    if (i + 1 >= text.Length) { error = "a backslash ends the line"; return null; }
                    sb.Append(text[i + 1]);
                    i += 2;
                    continue;
                }
                if (quote != '\0')
                {
                    if (c == quote) quote = '\0';
                    else sb.Append(c);
                    i++;
                    continue;
                }
                if (c is '"' or '\'') { quote = c; i++; continue; }
                if (char.IsWhiteSpace(c)) break;
                sb.Append(c);
                i++;
            }
            if (quote != '\0') { error = "unterminated quote"; return null; }
            words.Add(sb.ToString());
        }
    }
}
