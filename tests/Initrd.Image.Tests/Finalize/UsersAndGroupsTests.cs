using Initrd.Formats.Tree;
using Initrd.Image.Finalize;
using Initrd.Testing;

namespace Initrd.Image.Tests.Finalize;

public class UsersAndGroupsTests(DownloadedPackages packages) : IClassFixture<DownloadedPackages>
{
    static readonly string[] SysusersPackages = ["systemd", "systemd-timesyncd", "dbus-system-bus-common", "polkitd"];

    /// <summary>Runs the host's systemd-sysusers --root on a folder with these files; returns (passwd, group, shadow, gshadow) text.</summary>
    static (string Passwd, string Group, string Shadow, string Gshadow) RunSystemdSysusers(string tempRoot, IEnumerable<(string Path, string Content)> files)
    {
        var tool = ReferenceTool.Require("systemd-sysusers", "systemd");
        var root = Path.Combine(tempRoot, "sysusers-root");
        if (Directory.Exists(root)) Directory.Delete(root, recursive: true);
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        foreach (var (path, content) in files)
        {
            var full = Path.Combine(root, path);
            Directory.CreateDirectory(Path.GetDirectoryName(full)!);
            File.WriteAllText(full, content);
        }
        var r = ReferenceTool.Run(tool, ["--root=" + root], environment: new Dictionary<string, string> { ["SYSTEMD_LOG_LEVEL"] = "warning" });
        Assert.True(r.ExitCode == 0, r.ToString());
        string Read(string name) => File.Exists(Path.Combine(root, "etc", name)) ? File.ReadAllText(Path.Combine(root, "etc", name)) : "";
        return (Read("passwd"), Read("group"), Read("shadow"), Read("gshadow"));
    }

    static List<(string Name, string Id1, string Id2)> Columns(string text, int a, int b) =>
        text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(':')).Select(f => (f[0], f[a], b < 0 ? "" : f[b])).ToList();

    static TreeFixture FixtureWith(IEnumerable<(string Path, string Content)> files)
    {
        var f = new TreeFixture().Dir("etc").Dir("usr/lib");
        foreach (var (path, content) in files) f.File(path, content);
        return f;
    }

    static List<(string Path, string Content)> SysusersFiles(string root) =>
        Directory.GetFiles(Path.Combine(root, "usr/lib/sysusers.d"), "*.conf").Order(StringComparer.Ordinal)
            .Select(p => ("usr/lib/sysusers.d/" + Path.GetFileName(p), File.ReadAllText(p))).ToList();

    [Fact]
    public void RealSysusersFilesGiveWhatSystemdSysusersWrites()
    {
        var root = packages.Get(SysusersPackages);
        var files = SysusersFiles(root);
        Assert.Contains(files, f => f.Path.EndsWith("/basic.conf", StringComparison.Ordinal));
        using var f = FixtureWith(files);
        var tree = f.Build();
        var accounts = UsersAndGroups.Apply(tree);

        var expected = RunSystemdSysusers(f.TempPath, files);
        Assert.Equal(expected.Passwd, tree.ReadAllText("etc/passwd"));
        Assert.Equal(expected.Group, tree.ReadAllText("etc/group"));
        Assert.Equal(Columns(expected.Shadow, 1, -1), Columns(tree.ReadAllText("etc/shadow"), 1, -1));   // names and "!*"
        Assert.Equal(expected.Gshadow, tree.ReadAllText("etc/gshadow"));
        Assert.Contains(accounts.Users, u => u.Name == "systemd-network" && u.Uid is > 0 and <= 999);
        Assert.Contains(accounts.Groups, g => g.Name == "systemd-journal" && g.Gid == 999); // the first allocated ID
    }

    [Fact]
    public void BasePasswdMasterFilesAreTheStartingDatabase()
    {
        var root = packages.Get([.. SysusersPackages, "base-passwd"]);
        var files = SysusersFiles(root);
        var passwdMaster = File.ReadAllText(Path.Combine(root, "usr/share/base-passwd/passwd.master"));
        var groupMaster = File.ReadAllText(Path.Combine(root, "usr/share/base-passwd/group.master"));
        using var f = FixtureWith([.. files, ("usr/share/base-passwd/passwd.master", passwdMaster), ("usr/share/base-passwd/group.master", groupMaster)]);
        var tree = f.Build();
        UsersAndGroups.Apply(tree);

        // systemd-sysusers with the master files as /etc/passwd and /etc/group: same names and IDs, same order.
        var expected = RunSystemdSysusers(f.TempPath, [.. files, ("etc/passwd", passwdMaster), ("etc/group", groupMaster)]);
        Assert.Equal(Columns(expected.Passwd, 2, 3), Columns(tree.ReadAllText("etc/passwd"), 2, 3));
        Assert.Equal(Columns(expected.Group, 2, 3), Columns(tree.ReadAllText("etc/group"), 2, 3));

        // As Debian's update-passwd + pwconv leave them: "x" in passwd, "*" in shadow; new users locked with "!*".
        Assert.StartsWith("root:x:0:0:root:/root:/bin/bash\n", tree.ReadAllText("etc/passwd"));
        var shadow = tree.ReadAllText("etc/shadow");
        Assert.StartsWith($"root:*:{TreeFixture.Timestamp / 86400}:0:99999:7:::\n", shadow);
        Assert.Contains($"\nsystemd-network:!*:{TreeFixture.Timestamp / 86400}::::::\n", shadow);
        Assert.StartsWith("root:*::\n", tree.ReadAllText("etc/gshadow"));
        var entry = tree.Find("etc/shadow")!;
        Assert.Equal((FileModes.OwnerWriteGroupRead, 0, 42), (entry.Permissions, entry.Uid, entry.Gid));
        var gshadow = tree.Find("etc/gshadow")!;
        Assert.Equal((FileModes.OwnerWriteGroupRead, 0, 42), (gshadow.Permissions, gshadow.Uid, gshadow.Gid));
        Assert.Equal(FileModes.Regular, tree.Find("etc/passwd")!.Permissions);
    }

    static readonly (string Path, string Content)[] EdgeCases =
    [
        ("usr/lib/sysusers.d/10-base.conf",
            "g grpfixed 555\n" +
            "u fixeduser 556 \"Fixed user\" /home/fixed /bin/sh\n" +
            "u auto1 - \"Auto one\"\n" +
            "u takenid 556\n" +              // taken: allocated instead
            "u pairid 600:555\n" +           // explicit existing GID
            "u named 601:grpfixed\n" +       // group by name
            "g clash 556\n" +                // groups go first: 556 is then a group's, so fixeduser's 556 is refused
            "m auto1 grpfixed\n" +
            "m fixeduser grpfixed\n" +
            "m newmember newgroup\n"),      // implies user and group
        ("usr/lib/sysusers.d/20-more.conf",
            "u auto1 - \"Different\"\n" +    // conflict: first wins
            "g auto-group -\n" +
            "u 'quoted' - \"a \\\"q\\\" gecos\"\n"),
    ];

    [Fact]
    public void EdgeCasesMatchSystemdSysusers()
    {
        using var f = FixtureWith(EdgeCases);
        var tree = f.Build();
        var warnings = new List<FinalizeWarning>();
        UsersAndGroups.Apply(tree, warnings);
        var expected = RunSystemdSysusers(f.TempPath, EdgeCases);
        Assert.Equal(expected.Passwd, tree.ReadAllText("etc/passwd"));
        Assert.Equal(expected.Group, tree.ReadAllText("etc/group"));
        Assert.Equal(expected.Gshadow, tree.ReadAllText("etc/gshadow"));
        Assert.Contains(warnings, w => w.Kind == FinalizeWarningKind.SysusersLineIgnored && w.Location == "/usr/lib/sysusers.d/20-more.conf:1");
        // No "shadow" group here: the secret files are root-only.
        var shadow = tree.Find("etc/shadow")!;
        Assert.Equal((FileModes.OwnerOnly, 0), (shadow.Permissions, shadow.Gid));
    }

    static readonly (string Path, string Content)[] Ranges =
    [
        ("usr/lib/sysusers.d/a.conf", "r - 500-502\nr - 700\nu a -\nu b -\ng c -\nu d -\n"),
    ];

    [Fact]
    public void RangesAreRespectedLikeSystemdSysusers()
    {
        using var f = FixtureWith(Ranges);
        var tree = f.Build();
        var accounts = UsersAndGroups.Apply(tree);
        var expected = RunSystemdSysusers(f.TempPath, Ranges);
        Assert.Equal(expected.Passwd, tree.ReadAllText("etc/passwd"));
        Assert.Equal(expected.Group, tree.ReadAllText("etc/group"));
        Assert.All(accounts.Users, u => Assert.True(u.Uid == 700 || u.Uid is >= 500 and <= 502, u.ToString()));
    }

    [Fact]
    public void RunningOutOfIdsIsAnError()
    {
        using var f = FixtureWith([("usr/lib/sysusers.d/a.conf", "r - 500-501\nu a -\nu b -\nu c -\n")]);
        var e = Assert.Throws<FinalizeException>(() => UsersAndGroups.Apply(f.Build()));
        Assert.Equal(FinalizeErrorKind.AccountIdsExhausted, e.Kind);
    }

    [Fact]
    public void EtcOverridesAndMasksByFileNameAndExistingEntriesWin()
    {
        using var f = FixtureWith(
        [
            ("usr/lib/sysusers.d/a.conf", "u fromusr -\n"),
            ("etc/sysusers.d/a.conf", "u frometc -\n"),
            ("usr/lib/sysusers.d/b.conf", "u masked -\n"),
            ("usr/lib/sysusers.d/c.conf", "u messagebus - \"System Message Bus\"\nu newone -\n"),
            ("etc/passwd", "root:x:0:0:root:/root:/bin/sh\nmessagebus:x:100:101::/nonexistent:/usr/sbin/nologin\n"),
            ("etc/group", "root:x:0:\nmessagebus:x:101:\n"),
        ]);
        f.Link("etc/sysusers.d/b.conf", "/dev/null");
        var tree = f.Build();
        Assert.Equal(["etc/sysusers.d/a.conf", "usr/lib/sysusers.d/c.conf"], UsersAndGroups.FindConfigurationFiles(tree).Select(c => c.Path));
        var accounts = UsersAndGroups.Apply(tree);
        Assert.Equal(["root", "messagebus", "frometc", "newone"], accounts.Users.Select(u => u.Name));
        Assert.Equal(100u, accounts.Users[1].Uid);
        Assert.StartsWith("root:x:0:0:root:/root:/bin/sh\nmessagebus:x:100:101::/nonexistent:/usr/sbin/nologin\nfrometc:x:999:999::/:/usr/sbin/nologin\n",
            tree.ReadAllText("etc/passwd"));
    }

    [Fact]
    public void RootWithoutAShellGetsBashOnlyWhenTheImageHasIt()
    {
        using var f = FixtureWith([("usr/lib/sysusers.d/a.conf", "u root 0\n")]);
        var tree = f.Build();
        UsersAndGroups.Apply(tree);
        Assert.Equal("root:x:0:0::/:/bin/sh\n", tree.ReadAllText("etc/passwd"));
        using var g = FixtureWith([("usr/lib/sysusers.d/a.conf", "u root 0\n"), ("usr/bin/bash", "ELF")]);
        g.Link("bin", "usr/bin");
        var tree2 = g.Build();
        UsersAndGroups.Apply(tree2);
        Assert.Equal("root:x:0:0::/:/bin/bash\n", tree2.ReadAllText("etc/passwd"));
    }

    [Fact]
    public void NothingToDoIsAWarning()
    {
        using var f = new TreeFixture().Dir("etc");
        var tree = f.Build();
        var warnings = new List<FinalizeWarning>();
        Assert.Empty(UsersAndGroups.Apply(tree, warnings).Users);
        Assert.False(tree.Contains("etc/passwd"));
        Assert.Equal(FinalizeWarningKind.NoAccounts, Assert.Single(warnings).Kind);
    }

    [Fact]
    public void SyntaxErrorsAreWarningsNamingTheLine()
    {
        using var f = FixtureWith([("usr/lib/sysusers.d/x.conf", "u ok -\nx bad -\nu \"unterminated\nu %m -\nu 9bad -\ng grp notanumber\nu a b c d e f\n")]);
        var warnings = new List<FinalizeWarning>();
        var accounts = UsersAndGroups.Apply(f.Build(), warnings);
        Assert.Equal(["ok"], accounts.Users.Select(u => u.Name));
        Assert.Equal(["/usr/lib/sysusers.d/x.conf:2", "/usr/lib/sysusers.d/x.conf:3", "/usr/lib/sysusers.d/x.conf:4",
                      "/usr/lib/sysusers.d/x.conf:5", "/usr/lib/sysusers.d/x.conf:6", "/usr/lib/sysusers.d/x.conf:7"],
            warnings.Select(w => w.Location));
    }

    [Fact]
    public void OutputIsDeterministic()
    {
        using var f = FixtureWith(EdgeCases);
        var a = f.Build();
        UsersAndGroups.Apply(a);
        var b = f.Build();
        UsersAndGroups.Apply(b);
        Assert.Equal(a.ToManifestText(), b.ToManifestText());
        Assert.Equal(a.ReadAllText("etc/shadow"), b.ReadAllText("etc/shadow"));
    }
}
