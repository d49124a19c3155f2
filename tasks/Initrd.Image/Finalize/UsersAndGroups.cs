using System.Globalization;
using System.Text;
using Initrd.Formats.Tree;

namespace Initrd.Image.Finalize;

/// <summary>A user in the image's /etc/passwd.</summary>
public sealed record AccountUser(string Name, uint Uid, uint Gid, string Gecos, string Home, string Shell);

/// <summary>A group in the image's /etc/group.</summary>
public sealed record AccountGroup(string Name, uint Gid, IReadOnlyList<string> Members);

/// <summary>The accounts <see cref="UsersAndGroups.Apply"/> wrote, in file order.</summary>
public sealed record AccountDatabase(IReadOnlyList<AccountUser> Users, IReadOnlyList<AccountGroup> Groups)
{
    public static readonly AccountDatabase Empty = new([], []);
}

/// <summary>
/// Writes <c>/etc/passwd</c>, <c>/etc/group</c>, <c>/etc/shadow</c> and <c>/etc/gshadow</c> as systemd-sysusers
/// (<c>--root</c>) would, without running anything:
/// <list type="number">
/// <item>the starting database is the tree's own <c>etc/passwd</c>/<c>etc/group</c> when present, else base-passwd's
/// master files (<c>usr/share/base-passwd/{passwd,group}.master</c>, converted as Debian's update-passwd + pwconv
/// would: "x" in passwd, "*" in shadow), else empty;</item>
/// <item>sysusers.d files from <c>etc/</c>, <c>run/</c>, <c>usr/local/lib/</c> and <c>usr/lib/sysusers.d</c>: one per
/// file name, the first directory winning (a symlink to /dev/null masks), read in file-name order;</item>
/// <item>items processed like systemd-sysusers: groups first, then users (each user gets its own group unless given
/// one); existing names win; a suggested ID that is taken falls back to allocation; free IDs are allocated
/// downward from 999 in the system range 1–999 (or the <c>r</c> ranges), one counter shared by users and groups,
/// preferring UID = GID; <c>m</c> lines add members (and imply missing users and groups);</item>
/// <item>output order: the starting entries as they were (members merged, sorted when changed), then new entries in
/// the order they were created; new shadow entries are locked ("!*"), their last-change day is the image timestamp's.</item>
/// </list>
/// /etc/passwd and /etc/group are 0644; /etc/shadow and /etc/gshadow 0640 root:shadow when a "shadow" group exists,
/// else 0600 root:root. Problems with single lines or items are warnings (systemd-sysusers logs them and carries on).
/// </summary>
public static class UsersAndGroups
{
    /// <summary>sysusers.d directories, highest priority first (systemd's CONF_PATHS for a --root).</summary>
    public static readonly IReadOnlyList<string> ConfigurationDirectories =
        ["etc/sysusers.d", "run/sysusers.d", "usr/local/lib/sysusers.d", "usr/lib/sysusers.d"];

    public const string PasswdMaster = "usr/share/base-passwd/passwd.master";
    public const string GroupMaster = "usr/share/base-passwd/group.master";

    /// <summary>Highest system UID/GID (Debian's SYS_UID_MAX, systemd's SYSTEM_UID_MAX); allocation starts below it.</summary>
    public const uint SystemIdMax = 999;

    const uint InvalidId = 0xFFFFFFFF;

    /// <summary>Builds and writes the account files. Returns what was written (empty when there was nothing to write).</summary>
    public static AccountDatabase Apply(ImageTree tree, ICollection<FinalizeWarning>? warnings = null)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var engine = new Engine(tree, warnings);
        return engine.Run();
    }

    /// <summary>The sysusers.d files that count, in the order they are read: (file name, image path).</summary>
    public static IReadOnlyList<(string Name, string Path)> FindConfigurationFiles(ImageTree tree)
    {
        var byName = new SortedDictionary<string, string?>(StringComparer.Ordinal);
        foreach (var dir in ConfigurationDirectories)
        {
            if (tree.ResolveEntry(dir) is not { Kind: TreeEntryKind.Directory } d) continue;
            foreach (var child in tree.GetChildren(d.Path))
            {
                var name = child.Path[(child.Path.LastIndexOf('/') + 1)..];
                if (!name.EndsWith(".conf", StringComparison.Ordinal) || byName.ContainsKey(name)) continue;
                // A symlink to /dev/null (or anything that is not a regular file) masks the name.
                var masked = child.Kind == TreeEntryKind.Symlink && child.LinkTarget == "/dev/null";
                var file = masked ? null : tree.ResolveEntry(child.Path);
                byName[name] = file is { Kind: TreeEntryKind.RegularFile or TreeEntryKind.HardLink } ? child.Path : null;
            }
        }
        return byName.Where(kv => kv.Value is not null).Select(kv => (kv.Key, kv.Value!)).ToList();
    }

    sealed class PasswdLine
    {
        public required string Name;
        public required string Password;
        public required uint Uid;
        public required uint Gid;
        public required string Gecos;
        public required string Home;
        public required string Shell;
        public override string ToString() => $"{Name}:{Password}:{Uid}:{Gid}:{Gecos}:{Home}:{Shell}";
    }

    sealed class GroupLine
    {
        public required string Name;
        public required string Password;
        public required uint Gid;
        public required List<string> Members;
        public override string ToString() => $"{Name}:{Password}:{Gid}:{string.Join(',', Members)}";
    }

    sealed class Engine(ImageTree tree, ICollection<FinalizeWarning>? warnings)
    {
        readonly SysusersConfig _config = new(warnings);
        readonly List<PasswdLine> _passwd = [];
        readonly List<GroupLine> _group = [];
        readonly List<string> _passwdTail = [], _groupTail = []; // NIS "+"/"-" entries stay last
        readonly List<string> _shadow = [], _gshadow = [];
        readonly HashSet<string> _shadowNames = new(StringComparer.Ordinal), _gshadowNames = new(StringComparer.Ordinal);
        readonly Dictionary<uint, string> _dbByUid = [], _dbByGid = [];
        readonly Dictionary<string, uint> _dbByUser = new(StringComparer.Ordinal), _dbByGroup = new(StringComparer.Ordinal);
        readonly List<KeyValuePair<uint, SysusersItem>> _todoUids = [], _todoGids = [];
        readonly Dictionary<uint, SysusersItem> _todoUidMap = [], _todoGidMap = [];
        List<(uint First, uint Last)> _ranges = [];
        uint _searchUid = InvalidId;
        bool _fromMaster;
        string _passwdSource = "", _groupSource = "";

        long Day => Math.Max(0, tree.Timestamp / 86400);

        public AccountDatabase Run()
        {
            LoadDatabase();
            var files = FindConfigurationFiles(tree);
            foreach (var (_, path) in files) _config.ParseFile("/" + path, tree.ReadAllText(path));

            if (files.Count == 0 && _passwd.Count == 0 && _group.Count == 0)
            {
                warnings?.Add(new FinalizeWarning(FinalizeWarningKind.NoAccounts, "/etc/passwd",
                    "The image has neither base-passwd's master files nor any sysusers.d file, so no /etc/passwd and /etc/group " +
                    "were written (udev and other services will warn about unknown users and groups). Add ImagePackage systemd or base-passwd."));
                return AccountDatabase.Empty;
            }

            _ranges = NormalizeRanges(_config.Ranges);
            AddImplicit();
            foreach (var g in _config.Groups.ToList()) Process(g);
            foreach (var u in _config.Users.ToList()) Process(u);
            return Write();
        }

        // ---------------------------------------------------------------- database

        void LoadDatabase()
        {
            var etcPasswd = tree.ResolveEntry("etc/passwd");
            var etcGroup = tree.ResolveEntry("etc/group");
            string? passwdText = null, groupText = null;
            if (IsFile(etcPasswd)) { passwdText = tree.ReadAllText("etc/passwd"); _passwdSource = "/etc/passwd"; }
            if (IsFile(etcGroup)) { groupText = tree.ReadAllText("etc/group"); _groupSource = "/etc/group"; }
            if (passwdText is null && groupText is null && IsFile(tree.ResolveEntry(PasswdMaster)) && IsFile(tree.ResolveEntry(GroupMaster)))
            {
                passwdText = tree.ReadAllText(PasswdMaster);
                groupText = tree.ReadAllText(GroupMaster);
                _passwdSource = "/" + PasswdMaster;
                _groupSource = "/" + GroupMaster;
                _fromMaster = true;
            }

            foreach (var line in Lines(passwdText))
            {
                if (line[0] is '+' or '-') { _passwdTail.Add(line); continue; }
                var f = line.Split(':');
                if (f.Length != 7 || !SysusersConfig.TryParseId(f[2], out var uid) || !SysusersConfig.TryParseId(f[3], out var gid))
                {
                    warnings?.Add(new FinalizeWarning(FinalizeWarningKind.SysusersItemFailed, _passwdSource, $"Malformed line '{line}' dropped."));
                    continue;
                }
                var entry = new PasswdLine { Name = f[0], Password = f[1], Uid = uid, Gid = gid, Gecos = f[4], Home = f[5], Shell = f[6] };
                if (_fromMaster)
                {
                    _shadow.Add($"{entry.Name}:{entry.Password}:{Day}:0:99999:7:::");
                    _shadowNames.Add(entry.Name);
                    entry.Password = "x";
                }
                _passwd.Add(entry);
                _dbByUser.TryAdd(entry.Name, uid);
                _dbByUid.TryAdd(uid, entry.Name);
            }
            foreach (var line in Lines(groupText))
            {
                if (line[0] is '+' or '-') { _groupTail.Add(line); continue; }
                var f = line.Split(':');
                if (f.Length != 4 || !SysusersConfig.TryParseId(f[2], out var gid))
                {
                    warnings?.Add(new FinalizeWarning(FinalizeWarningKind.SysusersItemFailed, _groupSource, $"Malformed line '{line}' dropped."));
                    continue;
                }
                var entry = new GroupLine { Name = f[0], Password = f[1], Gid = gid, Members = SplitMembers(f[3]) };
                if (_fromMaster)
                {
                    _gshadow.Add($"{entry.Name}:{entry.Password}::{string.Join(',', entry.Members)}");
                    _gshadowNames.Add(entry.Name);
                    entry.Password = "x";
                }
                _group.Add(entry);
                _dbByGroup.TryAdd(entry.Name, gid);
                _dbByGid.TryAdd(gid, entry.Name);
            }
            if (!_fromMaster)
            {
                if (IsFile(tree.ResolveEntry("etc/shadow")))
                    foreach (var line in Lines(tree.ReadAllText("etc/shadow"))) { _shadow.Add(line); _shadowNames.Add(line.Split(':')[0]); }
                if (IsFile(tree.ResolveEntry("etc/gshadow")))
                    foreach (var line in Lines(tree.ReadAllText("etc/gshadow"))) { _gshadow.Add(line); _gshadowNames.Add(line.Split(':')[0]); }
            }
        }

        static bool IsFile(TreeEntry? e) => e is { Kind: TreeEntryKind.RegularFile or TreeEntryKind.HardLink };

        static IEnumerable<string> Lines(string? text) =>
            text is null ? [] : text.Split('\n').Select(l => l.TrimEnd('\r')).Where(l => l.Length > 0 && l[0] != '#');

        static List<string> SplitMembers(string s) => s.Length == 0 ? [] : s.Split(',', StringSplitOptions.RemoveEmptyEntries).ToList();

        // ---------------------------------------------------------------- the sysusers algorithm

        static List<(uint, uint)> NormalizeRanges(List<(uint First, uint Last)> given)
        {
            var ranges = given.Count > 0 ? given.ToList() : [(1u, SystemIdMax)];
            ranges.Sort((a, b) => a.Item1.CompareTo(b.Item1));
            var merged = new List<(uint, uint)>();
            foreach (var r in ranges)
            {
                if (merged.Count > 0 && (ulong)r.Item1 <= (ulong)merged[^1].Item2 + 1)
                    merged[^1] = (merged[^1].Item1, Math.Max(merged[^1].Item2, r.Item2));
                else merged.Add(r);
            }
            return merged;
        }

        bool RangeContains(uint id) => _ranges.Any(r => id >= r.Item1 && id <= r.Item2);

        /// <summary>systemd's uid_range_next_lower: the next lower ID inside the ranges, below the shared search counter.</summary>
        bool NextLower()
        {
            var candidate = _searchUid - 1;
            var closest = InvalidId;
            foreach (var (first, last) in _ranges)
            {
                if (candidate >= first && candidate <= last) { _searchUid = candidate; return true; }
                if (last < candidate) closest = last;
            }
            if (closest == InvalidId) return false;
            _searchUid = closest;
            return true;
        }

        void AddImplicit()
        {
            foreach (var (group, members) in _config.Members)
            {
                foreach (var m in members)
                    if (!_config.UsersByName.ContainsKey(m)) _config.AddImplicit('u', m);
                if (!_config.UsersByName.ContainsKey(group) && !_config.GroupsByName.ContainsKey(group))
                    _config.AddImplicit('g', group);
            }
        }

        void Fail(SysusersItem item, string message) =>
            warnings?.Add(new FinalizeWarning(FinalizeWarningKind.SysusersItemFailed, item.File is null ? null : $"{item.File}:{item.Line}", message));

        void Process(SysusersItem i)
        {
            if (i.Type == 'g') { AddGroup(i); return; }

            SysusersItem? j = null;
            if (!i.GidSet)
            {
                _config.GroupsByName.TryGetValue(i.GroupName ?? i.Name, out j);
                if (j is null && i.GroupName is not null) _config.UsersByName.TryGetValue(i.GroupName, out j);
            }
            if (j is { TodoGroup: true })
            {
                i.GidSet = j.GidSet;
                i.Gid = j.Gid;
                i.IdSetStrict = true;
            }
            else if (i.GroupName is not null)
            {
                if (!_dbByGroup.TryGetValue(i.GroupName, out var gid))
                {
                    Fail(i, $"Group {i.GroupName} not found: user '{i.Name}' is not created.");
                    return;
                }
                i.Gid = gid;
                i.GidSet = true;
                i.IdSetStrict = true;
            }
            else if (!AddGroup(i)) return;
            AddUser(i);
        }

        bool UidIsOk(uint uid, string name, bool checkWithGid)
        {
            if (_todoUidMap.ContainsKey(uid)) return false;
            if (checkWithGid && _todoGidMap.TryGetValue(uid, out var g) && g.Name != name) return false;
            if (_dbByUid.ContainsKey(uid)) return false;
            if (checkWithGid && _dbByGid.TryGetValue(uid, out var n) && n != name) return false;
            return true;
        }

        bool GidIsOk(uint gid, string name, bool checkWithUid)
        {
            if (_todoGidMap.ContainsKey(gid)) return false;
            if (checkWithUid && _todoUidMap.TryGetValue(gid, out var u) && u.Name != name) return false;
            if (_dbByGid.ContainsKey(gid)) return false;
            if (checkWithUid && _dbByUid.TryGetValue(gid, out var n) && n != name) return false;
            return true;
        }

        /// <summary>systemd's read_id_from_file: the owner of a path in the image.</summary>
        bool ReadIdFromFile(SysusersItem i, bool wantUid, out uint id)
        {
            id = 0;
            TreeEntry? Stat(string? p) => p is null ? null : tree.ResolveEntry(p);
            if (wantUid)
            {
                if (Stat(i.UidPath) is { } u) { id = (uint)u.Uid; return true; }
                if (Stat(i.GidPath) is { } g) { id = (uint)g.Gid; return true; }
                return false;
            }
            if (Stat(i.GidPath) is { } gg) { id = (uint)gg.Gid; return true; }
            if (Stat(i.UidPath) is { } uu) { id = (uint)uu.Gid; return true; }
            return false;
        }

        bool AddUser(SysusersItem i)
        {
            if (_dbByUser.TryGetValue(i.Name, out var existing))
            {
                i.Uid = existing;
                i.UidSet = true;
                return true;
            }
            if (i.UidSet && !UidIsOk(i.Uid, i.Name, !i.IdSetStrict)) i.UidSet = false;
            if (!i.UidSet && ReadIdFromFile(i, wantUid: true, out var candidate)
                && candidate > 0 && RangeContains(candidate) && UidIsOk(candidate, i.Name, true))
            {
                i.Uid = candidate;
                i.UidSet = true;
            }
            if (!i.UidSet && i.GidSet && UidIsOk(i.Gid, i.Name, true))
            {
                i.Uid = i.Gid;
                i.UidSet = true;
            }
            if (!i.UidSet)
            {
                while (true)
                {
                    if (!NextLower())
                        throw new FinalizeException(FinalizeErrorKind.AccountIdsExhausted, i.File,
                            $"No free user ID is left for '{i.Name}' ({i.Where}) in the system range; remove sysusers.d entries or widen the range with an 'r' line.");
                    if (UidIsOk(_searchUid, i.Name, true)) break;
                }
                i.Uid = _searchUid;
                i.UidSet = true;
            }
            if (!_todoUidMap.TryAdd(i.Uid, i))
            {
                Fail(i, $"User '{i.Name}' with UID {i.Uid} is duplicated or conflicts with another user.");
                return false;
            }
            _todoUids.Add(new(i.Uid, i));
            i.TodoUser = true;
            return true;
        }

        bool AddGroup(SysusersItem i)
        {
            if (_dbByGroup.TryGetValue(i.Name, out var existing))
            {
                i.Gid = existing;
                i.GidSet = true;
                return true;
            }
            if (i.GidSet)
            {
                var ok = GidIsOk(i.Gid, i.Name, false);
                if (i.IdSetStrict)
                {
                    if (ok)
                    {
                        Fail(i, $"Failed to create {i.Name}: the group with GID {i.Gid} must exist; add a 'g' line for it.");
                        return false;
                    }
                    return true;
                }
                if (!ok) i.GidSet = false;
            }
            if (!i.GidSet && i.UidSet && GidIsOk(i.Uid, i.Name, true))
            {
                i.Gid = i.Uid;
                i.GidSet = true;
            }
            if (!i.GidSet && ReadIdFromFile(i, wantUid: false, out var candidate)
                && candidate > 0 && RangeContains(candidate) && GidIsOk(candidate, i.Name, true))
            {
                i.Gid = candidate;
                i.GidSet = true;
            }
            if (!i.GidSet)
            {
                while (true)
                {
                    if (!NextLower())
                        throw new FinalizeException(FinalizeErrorKind.AccountIdsExhausted, i.File,
                            $"No free group ID is left for '{i.Name}' ({i.Where}) in the system range; remove sysusers.d entries or widen the range with an 'r' line.");
                    if (GidIsOk(_searchUid, i.Name, true)) break;
                }
                i.Gid = _searchUid;
                i.GidSet = true;
            }
            if (!_todoGidMap.TryAdd(i.Gid, i))
            {
                Fail(i, $"Group '{i.Name}' with GID {i.Gid} is duplicated or conflicts with another group.");
                return false;
            }
            _todoGids.Add(new(i.Gid, i));
            i.TodoGroup = true;
            return true;
        }

        // ---------------------------------------------------------------- output

        string PickShell(SysusersItem i)
        {
            if (i.Shell is not null) return i.Shell;
            if (i.UidSet && i.Uid == 0)
                return tree.ResolveEntry("bin/bash") is { Kind: TreeEntryKind.RegularFile or TreeEntryKind.HardLink } ? "/bin/bash" : "/bin/sh";
            return SysusersConfig.NoLoginShell;
        }

        List<string> MergeMembers(string group, List<string> current, out bool changed)
        {
            changed = false;
            var add = _config.MembersOf(group);
            if (add is null) return current;
            var list = current.ToList();
            foreach (var m in add)
            {
                if (list.Contains(m)) continue;
                list.Add(m);
                changed = true;
            }
            if (!changed) return current;
            return list.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal).ToList();
        }

        AccountDatabase Write()
        {
            var anyChange = _todoUids.Count > 0 || _todoGids.Count > 0 || _config.Members.Count > 0 || _fromMaster;
            var groups = new List<AccountGroup>();
            var users = new List<AccountUser>();

            var groupText = new StringBuilder();
            var gshadowText = new StringBuilder();
            foreach (var g in _group)
            {
                g.Members = MergeMembers(g.Name, g.Members, out _);
                groupText.Append(g).Append('\n');
                groups.Add(new AccountGroup(g.Name, g.Gid, g.Members));
            }
            foreach (var (gid, item) in _todoGids)
            {
                var members = MergeMembers(item.Name, [], out _);
                groupText.Append($"{item.Name}:x:{gid}:{string.Join(',', members)}\n");
                groups.Add(new AccountGroup(item.Name, gid, members));
            }
            foreach (var t in _groupTail) groupText.Append(t).Append('\n');

            foreach (var line in _gshadow)
            {
                var f = line.Split(':');
                if (f.Length == 4)
                {
                    var merged = MergeMembers(f[0], SplitMembers(f[3]), out var changed);
                    if (changed) { gshadowText.Append($"{f[0]}:{f[1]}:{f[2]}:{string.Join(',', merged)}\n"); continue; }
                }
                gshadowText.Append(line).Append('\n');
            }
            foreach (var (_, item) in _todoGids)
                gshadowText.Append($"{item.Name}:!*::{string.Join(',', MergeMembers(item.Name, [], out _))}\n");

            var passwdText = new StringBuilder();
            var shadowText = new StringBuilder();
            foreach (var p in _passwd)
            {
                passwdText.Append(p).Append('\n');
                users.Add(new AccountUser(p.Name, p.Uid, p.Gid, p.Gecos, p.Home, p.Shell));
            }
            foreach (var (uid, item) in _todoUids)
            {
                var line = new PasswdLine
                {
                    Name = item.Name, Password = "x", Uid = uid, Gid = item.Gid,
                    Gecos = item.Description ?? "", Home = item.Home ?? "/", Shell = PickShell(item),
                };
                passwdText.Append(line).Append('\n');
                users.Add(new AccountUser(line.Name, line.Uid, line.Gid, line.Gecos, line.Home, line.Shell));
            }
            foreach (var t in _passwdTail) passwdText.Append(t).Append('\n');
            foreach (var line in _shadow) shadowText.Append(line).Append('\n');
            foreach (var (_, item) in _todoUids)
            {
                if (_shadowNames.Contains(item.Name)) continue;
                shadowText.Append($"{item.Name}:!*:{Day.ToString(CultureInfo.InvariantCulture)}:::::{(item.Locked ? "1" : "")}:\n");
            }

            if (!anyChange) return new AccountDatabase(users, groups);

            var shadowGid = groups.FirstOrDefault(g => g.Name == "shadow")?.Gid;
            var secretMode = shadowGid is null ? FileModes.OwnerOnly : FileModes.OwnerWriteGroupRead;
            var secretGid = (int)(shadowGid ?? 0);
            tree.AddTextFile("etc/passwd", passwdText.ToString(), FileModes.Regular);
            tree.AddTextFile("etc/group", groupText.ToString(), FileModes.Regular);
            tree.AddTextFile("etc/shadow", shadowText.ToString(), secretMode, 0, secretGid);
            tree.AddTextFile("etc/gshadow", gshadowText.ToString(), secretMode, 0, secretGid);
            return new AccountDatabase(users, groups);
        }
    }
}
