using Initrd.Formats.Deb;
using Initrd.Formats.Tree;
using Initrd.Image.Finalize;
using Initrd.Image.Pack;
using Initrd.Testing;

namespace Initrd.Image.Tests.Finalize;

/// <summary>
/// The oracle: the host's <c>systemctl --root=DIR preset-all</c> (systemd 252 on Debian 12) on a directory written from
/// the same tree before our step; the symlinks under etc/systemd/system (name → target) must be the same.
/// </summary>
public class SystemdPresetOracleTests(ITestOutputHelper output)
{
    /// <summary>
    /// The default initrd's packages with units (systemd, udev, cryptsetup, repart, e2fsprogs, util-linux…) plus
    /// packages whose [Install] sections use Alias=, Also=, templates and sockets (homed, resolved, timesyncd, ssh,
    /// rsyslog, cron, lvm2, dbus, nspawn).
    /// </summary>
    static readonly string[] Packages =
    [
        "base-files", "systemd", "udev", "systemd-cryptsetup", "systemd-repart", "e2fsprogs", "util-linux", "btrfs-progs",
        "kmod", "procps", "dmsetup", "tpm-udev", "systemd-timesyncd", "systemd-resolved", "systemd-homed", "systemd-userdbd",
        "systemd-container", "dbus-daemon", "dbus-system-bus-common", "openssh-server", "rsyslog", "cron", "lvm2",
    ];

    static int CompareVersions(string a, string b) => DebianVersion.Parse(a).CompareTo(DebianVersion.Parse(b));

    [Fact]
    public void RealTrixiePackagesMatchSystemctlPresetAll()
    {
        var systemctl = ReferenceTool.Require("systemctl", "systemd");
        ReferenceTool.Require("dpkg-deb", "dpkg");
        var roots = Packages.Select(p => TrixiePackages.Extract(TrixiePackages.Download(n => n == p, CompareVersions))).ToList();
        using var temp = new TempDirectory("initrd-presets-oracle");
        var entries = Merge(roots);
        var (ours, theirs, result) = Compare(systemctl, entries, temp);
        output.WriteLine($"enabled {result.EnabledUnits.Count} units, {ours.Count} links (systemctl: {theirs.Count})");
        foreach (var s in result.Skipped) output.WriteLine("skipped: " + s);
        AssertSame(theirs, ours);
        Assert.Contains("etc/systemd/system/sysinit.target.wants/systemd-sysext.service", ours.Keys);
        Assert.Contains("etc/systemd/system/sysinit.target.wants/systemd-confext.service", ours.Keys);
        Assert.True(ours.Count > 40, $"only {ours.Count} links");
    }

    [Fact]
    public void HandMadeEdgeCasesMatchSystemctlPresetAll()
    {
        var systemctl = ReferenceTool.Require("systemctl", "systemd");
        const string Lib = "usr/lib/systemd/system";
        using var f = new TreeFixture()
            .Dir("usr/bin").Link("bin", "usr/bin").Link("lib", "usr/lib")
            // No UpheldBy= here: systemd 252's systemctl does not know it yet ("Unknown key"); 257 does, and so do we.
            .File($"{Lib}/plain.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nRequiredBy=sysinit.target\nAlias=plain-alias.service\n")
            .File($"{Lib}/static.service", "[Service]\nExecStart=/bin/true\n")
            .File($"{Lib}/getty@.service", "[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\nAlias=tty-%i.service\n")
            .File($"{Lib}/nodefault@.service", "[Install]\nWantedBy=multi-user.target\nAlias=nd@.service\n")
            .File($"{Lib}/pertarget@.service", "[Install]\nWantedBy=x@%i.target %p-%i.target\nAlias=pt@.service\n")
            .File($"{Lib}/tmpl@.service", "[Install]\nWantedBy=tmpl-%i.target\n")
            .Link($"{Lib}/autovt@.service", "getty@.service")
            .File($"{Lib}/main.service", "[Install]\nWantedBy=multi-user.target\nAlso=helper.socket aux.service\n")
            .File($"{Lib}/helper.socket", "[Install]\nWantedBy=sockets.target\n")
            .File($"{Lib}/aux.service", "[Install]\nRequiredBy=graphical.target\nAlso=main.service\n")
            .File($"{Lib}/off.service", "[Install]\nWantedBy=multi-user.target\nAlias=off-alias.service\nAlso=off-helper.service\n")
            .File($"{Lib}/off-helper.service", "[Install]\nWantedBy=multi-user.target\n")
            .Link($"{Lib}/masked.service", "/dev/null")
            .File($"{Lib}/empty.service", "")
            // Two units claiming one Alias= are left out: systemctl takes the first in read order, we the first by name.
            .File($"{Lib}/mnt.mount", "[Install]\nWantedBy=local-fs.target\nAlias=other.mount\n")
            .File($"{Lib}/local.service", "[Install]\nWantedBy=default.target\n")
            .File("usr/local/lib/systemd/system/local.service", "[Install]\nWantedBy=local.target\n")
            .File("etc/systemd/system/etc.service", "[Install]\nWantedBy=multi-user.target\n")
            .Link("etc/systemd/system/off-alias.service", "/usr/lib/systemd/system/off.service")
            .Link("etc/systemd/system/multi-user.target.wants/off.service", "/usr/lib/systemd/system/off.service")
            .Link("etc/systemd/system/multi-user.target.wants/off-helper.service", "/usr/lib/systemd/system/off-helper.service")
            .Link("etc/systemd/system/sockets.target.wants/off-alias.service", "/etc/systemd/system/off-alias.service")
            .File("usr/lib/systemd/system-preset/90-test.preset",
                "disable off.service\ndisable helper.socket\nenable tmpl@.service one two\ndisable tmpl@*\nenable *\n")
            .File("usr/lib/systemd/system-preset/10-masked.preset", "disable local.service\n")
            .File("etc/systemd/system-preset/10-masked.preset", "enable local.service\n");
        using var temp = new TempDirectory("initrd-presets-oracle");
        var (ours, theirs, _) = Compare(systemctl, f.Entries.ToList(), temp, f.OverlayDirectory);
        AssertSame(theirs, ours);
        Assert.Contains("etc/systemd/system/tmpl-one.target.wants/tmpl@one.service", ours.Keys);
        Assert.DoesNotContain("etc/systemd/system/off-alias.service", ours.Keys);
    }

    (Dictionary<string, string> Ours, Dictionary<string, string> Theirs, PresetsResult Result) Compare(
        string systemctl, List<TreeEntry> entries, TempDirectory temp, string? overlay = null)
    {
        var tree = new ImageTree(entries, overlay ?? temp.Combine("overlay"), TreeFixture.Timestamp);
        var dir = temp.Combine("tree");
        DirectoryImageWriter.Write(tree.Entries, dir, null);
        var run = ReferenceTool.Run(systemctl, ["--root=" + dir, "preset-all"], timeout: TimeSpan.FromMinutes(2));
        // preset-all exits non-zero when any unit could not be handled (a masked unit, an invalid alias), yet does the rest.
        output.WriteLine($"systemctl preset-all: exit {run.ExitCode}");
        foreach (var line in run.StandardError.Split('\n').Where(l => !l.StartsWith("Created symlink", StringComparison.Ordinal) && !l.Contains("non-existent unit", StringComparison.Ordinal)))
            output.WriteLine("  " + line);
        Assert.True(run.ExitCode is 0 or 1, run.ToString());
        var theirs = HostLinks(dir);

        var result = SystemdPresets.Apply(tree);
        var ours = tree.EnumerateSubtree(SystemdPresets.ConfigDirectory).Where(e => e.Kind == TreeEntryKind.Symlink)
            .ToDictionary(e => e.Path, e => e.LinkTarget!, StringComparer.Ordinal);
        return (ours, theirs, result);
    }

    /// <summary>
    /// The symlinks systemctl left under etc/systemd/system. systemd 252 as Debian 12 builds it is split-/usr: its
    /// unit path lists /lib/systemd/system before /usr/lib/systemd/system, and with /lib → usr/lib it keeps the first
    /// name of the folder, so its links say /lib/systemd/system/UNIT. systemd 257 (trixie, what boots the image) has no
    /// /lib in its search path and writes /usr/lib/systemd/system/UNIT, as we do: that prefix is the one difference
    /// mapped here.
    /// </summary>
    static Dictionary<string, string> HostLinks(string root)
    {
        var links = new Dictionary<string, string>(StringComparer.Ordinal);
        var config = Path.Combine(root, "etc/systemd/system");
        if (!Directory.Exists(config)) return links;
        foreach (var path in Directory.EnumerateFileSystemEntries(config, "*", SearchOption.AllDirectories))
        {
            var info = new FileInfo(path);
            if (info.LinkTarget is not { } target) continue;
            if (target.StartsWith("/lib/systemd/system/", StringComparison.Ordinal)) target = "/usr" + target;
            links[Path.GetRelativePath(root, path).Replace('\\', '/')] = target;
        }
        return links;
    }

    void AssertSame(Dictionary<string, string> theirs, Dictionary<string, string> ours)
    {
        var missing = theirs.Where(kv => !ours.TryGetValue(kv.Key, out var t) || t != kv.Value).Select(kv => $"systemctl only: {kv.Key} -> {kv.Value}");
        var extra = ours.Where(kv => !theirs.TryGetValue(kv.Key, out var t) || t != kv.Value).Select(kv => $"ours only: {kv.Key} -> {kv.Value}");
        var diff = missing.Concat(extra).Order(StringComparer.Ordinal).ToList();
        foreach (var d in diff) output.WriteLine(d);
        output.WriteLine($"links: systemctl {theirs.Count}, ours {ours.Count}, differences {diff.Count}");
        Assert.True(diff.Count == 0, string.Join("\n", diff));
    }

    /// <summary>One manifest from several unpacked packages (a path from the first package that has it wins).</summary>
    static List<TreeEntry> Merge(IEnumerable<string> roots)
    {
        var byPath = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
        foreach (var root in roots)
            foreach (var e in TreeFixture.FromHostDirectory(root))
                if (e.Path != ".complete") byPath.TryAdd(e.Path, e);
        // Drop what lies below a path another package made a symlink (e.g. a leftover lib/… under base-files' lib → usr/lib).
        bool UnderNonDirectory(string path)
        {
            for (var i = path.LastIndexOf('/'); i > 0; i = path.LastIndexOf('/', i - 1))
                if (byPath.TryGetValue(path[..i], out var parent) && parent.Kind != TreeEntryKind.Directory) return true;
            return false;
        }
        return [.. byPath.Values.Where(e => !UnderNonDirectory(e.Path)).OrderBy(e => e.Path, StringComparer.Ordinal)];
    }
}
