using Initrd.Formats.Tree;
using Initrd.Image.Finalize;

namespace Initrd.Image.Tests.Finalize;

public class SystemdPresetRuleTests
{
    static PresetRules Rules(params (string Path, string Text)[] files) => PresetRules.Parse(files);

    [Fact]
    public void TheFirstMatchingLineWins()
    {
        var rules = Rules(("/usr/lib/systemd/system-preset/50-a.preset", "disable foo.service\nenable *\n"),
            ("/usr/lib/systemd/system-preset/90-b.preset", "enable foo.service\ndisable bar.*\n"));
        Assert.Equal(PresetAction.Disable, rules.Query("foo.service").Action);
        Assert.Equal(PresetAction.Enable, rules.Query("bar.socket").Action); // "enable *" comes first
        Assert.Equal("/usr/lib/systemd/system-preset/50-a.preset", rules.Query("foo.service").Rule!.File);
    }

    [Fact]
    public void NoMatchMeansEnable()
    {
        var decision = Rules(("/x.preset", "disable other.service\n")).Query("foo.service");
        Assert.Equal(PresetAction.Unspecified, decision.Action);
        Assert.True(decision.Enables);
    }

    [Fact]
    public void IgnoreCommentsAndBadLines()
    {
        var rules = Rules(("/x.preset", "# comment\n; comment\n\n  ignore  foo.service \nbogus line\nenable\nenablefoo.service\nenable plain.service a b\n"));
        Assert.Equal(PresetAction.Ignore, rules.Query("foo.service").Action);
        Assert.False(rules.Query("foo.service").Enables);
        Assert.Single(rules.Rules);
        Assert.Equal(4, rules.IgnoredLines.Count); // "bogus", empty "enable", "enablefoo", instances after a non-template
    }

    [Theory]
    [InlineData("systemd-journal-gatewayd.*", "systemd-journal-gatewayd.socket", true)]
    [InlineData("*", "anything@x.service", true)]
    [InlineData("getty@.service", "getty@tty1.service", false)]
    [InlineData("?etty@*.service", "getty@tty1.service", true)]
    [InlineData("foo[0-9].service", "foo7.service", true)]
    [InlineData("foo[!0-9].service", "foo7.service", false)]
    [InlineData("foo[.service", "foo[.service", true)]
    [InlineData("a\\*.service", "a\\x.service", true)] // FNM_NOESCAPE: the backslash is literal
    public void PatternsAreFnmatchGlobs(string pattern, string name, bool match) => Assert.Equal(match, UnitFnmatch.IsMatch(pattern, name));

    [Fact]
    public void TemplateRulesWithInstances()
    {
        var rules = Rules(("/x.preset", "enable getty@.service tty1 tty2\ndisable getty@*\n"));
        var template = rules.Query("getty@.service");
        Assert.Equal(PresetAction.Enable, template.Action);
        Assert.Equal(["getty@tty1.service", "getty@tty2.service"], template.InstanceUnits);
        Assert.Equal(PresetAction.Enable, rules.Query("getty@tty2.service").Action);
        Assert.Equal(PresetAction.Disable, rules.Query("getty@tty3.service").Action);
    }

    [Fact]
    public void APresetFileNameInAnEarlierFolderMasksTheLaterOne()
    {
        using var f = new TreeFixture()
            .File("usr/lib/systemd/system-preset/90-vendor.preset", "disable foo.service\n")
            .File("usr/lib/systemd/system-preset/80-other.preset", "disable baz.service\n")
            .File("etc/systemd/system-preset/90-vendor.preset", "enable bar.service\n")
            .Dir("run/systemd/system-preset")
            .Link("etc/systemd/system-preset/80-other.preset", "/dev/null");
        var tree = f.Build();
        var files = PresetRules.FilesIn(tree);
        Assert.Equal(["/etc/systemd/system-preset/80-other.preset", "/etc/systemd/system-preset/90-vendor.preset"], files.Select(x => x.Path));
        var rules = PresetRules.Read(tree);
        Assert.Equal(PresetAction.Unspecified, rules.Query("foo.service").Action);
        Assert.Equal(PresetAction.Unspecified, rules.Query("baz.service").Action);
        Assert.Equal(PresetAction.Enable, rules.Query("bar.service").Action);
    }

    [Fact]
    public void InstallSectionParsing()
    {
        var s = UnitInstallSection.Parse("""
            [Unit]
            WantedBy=not-install.target
            [Install]
            WantedBy=a.target \
              b.target
            WantedBy=c.target
            RequiredBy=x.target
            RequiredBy=
            RequiredBy=y.target
            UpheldBy=u.target
            Alias="alias one.service" two.service
            # Also=commented.service
            Also=helper.socket
            DefaultInstance=tty1
            """);
        Assert.Equal(["a.target", "b.target", "c.target"], s.WantedBy);
        Assert.Equal(["y.target"], s.RequiredBy);
        Assert.Equal(["u.target"], s.UpheldBy);
        Assert.Equal(["alias one.service", "two.service"], s.Alias);
        Assert.Equal(["helper.socket"], s.Also);
        Assert.Equal("tty1", s.DefaultInstance);
    }

    [Theory]
    [InlineData("foo.service", UnitNameKind.Plain)]
    [InlineData("foo@.service", UnitNameKind.Template)]
    [InlineData("foo@bar@baz.service", UnitNameKind.Instance)]
    [InlineData("@foo.service", UnitNameKind.Invalid)]
    [InlineData("foo.unknown", UnitNameKind.Invalid)]
    [InlineData("foo bar.service", UnitNameKind.Invalid)]
    [InlineData("sys-fs-fuse-connections.mount", UnitNameKind.Plain)]
    public void UnitNames(string name, UnitNameKind kind) => Assert.Equal(kind, UnitName.Classify(name));

    [Fact]
    public void Specifiers()
    {
        Assert.True(UnitSpecifiers.TryExpand("%p-%i.target %n %N %j %%", "foo-bar@tty1.service", null, out var r));
        Assert.Equal("foo-bar-tty1.target foo-bar@tty1.service foo-bar@tty1 bar %", r);
        Assert.True(UnitSpecifiers.TryExpand("x@%i.target", "getty@.service", "tty1", out r));
        Assert.Equal("x@tty1.target", r);
        Assert.False(UnitSpecifiers.TryExpand("%H.target", "foo.service", null, out _));
    }
}

public class SystemdPresetApplyTests
{
    const string Lib = "usr/lib/systemd/system";

    static TreeFixture Units() => new TreeFixture()
        .Dir("etc/systemd/system")
        .File($"{Lib}/plain.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\nRequiredBy=sysinit.target\nUpheldBy=up.target\nAlias=plain-alias.service\n")
        .File($"{Lib}/static.service", "[Service]\nExecStart=/bin/true\n")
        .File($"{Lib}/getty@.service", "[Install]\nWantedBy=getty.target\nDefaultInstance=tty1\n")
        .File($"{Lib}/nodefault@.service", "[Install]\nWantedBy=multi-user.target\nAlias=nd@.service\n")
        .File($"{Lib}/pertarget@.service", "[Install]\nWantedBy=x@%i.target\n")
        .Link($"{Lib}/autovt@.service", "getty@.service")
        .File($"{Lib}/main.service", "[Install]\nWantedBy=multi-user.target\nAlso=helper.socket\n")
        .File($"{Lib}/helper.socket", "[Install]\nWantedBy=sockets.target\n")
        .File($"{Lib}/off.service", "[Install]\nWantedBy=multi-user.target\n")
        .Link($"{Lib}/masked.service", "/dev/null")
        .File($"{Lib}/empty.service", "")
        .File($"{Lib}/ignored.service", "[Install]\nWantedBy=multi-user.target\n")
        .File("usr/lib/systemd/system-preset/90-test.preset",
            "disable off.service\ndisable helper.socket\nignore ignored.service\nenable pertarget@.service a b\nenable *\n");

    static Dictionary<string, string> LinksUnder(ImageTree tree, string dir) =>
        tree.EnumerateSubtree(dir).Where(e => e.Kind == TreeEntryKind.Symlink).ToDictionary(e => e.Path, e => e.LinkTarget!);

    [Fact]
    public void EnablesAsSystemctlWould()
    {
        using var f = Units().Link("etc/systemd/system/multi-user.target.wants/off.service", "/usr/lib/systemd/system/off.service");
        var tree = f.Build();
        var result = SystemdPresets.Apply(tree);
        var links = LinksUnder(tree, "etc/systemd/system");
        Assert.Equal(new Dictionary<string, string>
        {
            ["etc/systemd/system/multi-user.target.wants/plain.service"] = "/usr/lib/systemd/system/plain.service",
            ["etc/systemd/system/sysinit.target.requires/plain.service"] = "/usr/lib/systemd/system/plain.service",
            ["etc/systemd/system/up.target.upholds/plain.service"] = "/usr/lib/systemd/system/plain.service",
            ["etc/systemd/system/plain-alias.service"] = "/usr/lib/systemd/system/plain.service",
            ["etc/systemd/system/getty.target.wants/getty@tty1.service"] = "/usr/lib/systemd/system/getty@.service",
            ["etc/systemd/system/nd@.service"] = "/usr/lib/systemd/system/nodefault@.service", // no instance: only the alias
            ["etc/systemd/system/x@a.target.wants/pertarget@a.service"] = "/usr/lib/systemd/system/pertarget@.service",
            ["etc/systemd/system/x@b.target.wants/pertarget@b.service"] = "/usr/lib/systemd/system/pertarget@.service",
            ["etc/systemd/system/multi-user.target.wants/main.service"] = "/usr/lib/systemd/system/main.service",
            ["etc/systemd/system/sockets.target.wants/helper.socket"] = "/usr/lib/systemd/system/helper.socket", // Also= beats its own "disable"
        }, links);
        Assert.Equal(["/etc/systemd/system/multi-user.target.wants/off.service"], result.RemovedLinks);
        Assert.Contains("off.service", result.DisabledUnits);
        Assert.DoesNotContain("static.service", result.EnabledUnits);
        Assert.All(tree.EnumerateSubtree("etc/systemd/system").Where(e => !f.Entries.Any(o => o.Path == e.Path)),
            e => Assert.Equal(TreeFixture.Timestamp, e.ModificationTime));
    }

    [Fact]
    public void NothingToDoWithoutUnits()
    {
        using var f = new TreeFixture().File("usr/lib/os-release", "ID=debian\n");
        var tree = f.Build();
        var count = tree.Count;
        var result = SystemdPresets.Apply(tree);
        Assert.Empty(result.Links);
        Assert.Equal(count, tree.Count);
    }

    [Fact]
    public void AUnitInEtcOverridesTheVendorOne()
    {
        using var f = new TreeFixture()
            .File($"{Lib}/foo.service", "[Install]\nWantedBy=multi-user.target\n")
            .File("etc/systemd/system/foo.service", "[Install]\nWantedBy=graphical.target\n");
        var tree = f.Build();
        SystemdPresets.Apply(tree);
        Assert.Equal(new Dictionary<string, string> { ["etc/systemd/system/graphical.target.wants/foo.service"] = "/etc/systemd/system/foo.service" },
            LinksUnder(tree, "etc/systemd/system"));
    }

    [Fact]
    public void TheFirstUnitKeepsAContestedAlias()
    {
        using var f = new TreeFixture()
            .File($"{Lib}/a.service", "[Install]\nAlias=syslog.service\n")
            .File($"{Lib}/b.service", "[Install]\nAlias=syslog.service\n");
        var tree = f.Build();
        var result = SystemdPresets.Apply(tree);
        Assert.Equal("/usr/lib/systemd/system/a.service", tree.Find("etc/systemd/system/syslog.service")!.LinkTarget);
        Assert.Contains(result.Skipped, s => s.Contains("syslog.service", StringComparison.Ordinal));
    }

    [Fact]
    public void WhatThePresetsStepSkipsBecomesAFinalizeWarning()
    {
        using var f = new TreeFixture()
            .File("usr/lib/os-release", "ID=debian\n")
            .File($"{Lib}/a.service", "[Install]\nAlias=syslog.service\n")
            .File($"{Lib}/b.service", "[Install]\nAlias=syslog.service\n");
        var result = FinalizePipeline.Run(f.Build(), new FinalizeOptions { Kind = ImageKind.Tree, RemovePackageMetadata = false });
        Assert.Contains(result.Warnings, w => w.Kind == FinalizeWarningKind.PresetSkipped && w.Message.Contains("syslog.service", StringComparison.Ordinal));
    }

    [Fact]
    public void ThePipelineRunsPresetsForInitrdsAndTreesOnlyAndCanBeTurnedOff()
    {
        Assert.Contains(nameof(SystemdPresets), FinalizePipeline.StepsFor(ImageKind.Initrd));
        Assert.Contains(nameof(SystemdPresets), FinalizePipeline.StepsFor(ImageKind.Tree));
        Assert.DoesNotContain(nameof(SystemdPresets), FinalizePipeline.StepsFor(ImageKind.Sysext));
        Assert.DoesNotContain(nameof(SystemdPresets), FinalizePipeline.StepsFor(ImageKind.Confext));
        var steps = FinalizePipeline.StepsFor(ImageKind.Initrd).ToList();
        Assert.True(steps.IndexOf(nameof(ImageFiles)) < steps.IndexOf(nameof(SystemdPresets)));
        Assert.True(steps.IndexOf(nameof(SystemdPresets)) < steps.IndexOf(nameof(UsersAndGroups)));

        foreach (var (kind, apply, expected) in new[] { (ImageKind.Tree, true, true), (ImageKind.Tree, false, false), (ImageKind.Sysext, true, false) })
        {
            using var f = new TreeFixture()
                .File("usr/lib/os-release", "ID=debian\n")
                .File($"{Lib}/systemd-sysext.service", "[Install]\nWantedBy=sysinit.target\n");
            // A user's own preset file (an ImageFile) counts.
            var preset = Path.Combine(f.TempPath, "99-mine.preset");
            File.WriteAllText(preset, "disable systemd-sysext.service\n");
            var tree = FinalizePipeline.Run(f.Build(), new FinalizeOptions { Kind = kind, ApplyPresets = apply }).Tree;
            Assert.Equal(expected, tree.Contains("etc/systemd/system/sysinit.target.wants/systemd-sysext.service"));

            using var g = new TreeFixture()
                .File("usr/lib/os-release", "ID=debian\n")
                .File($"{Lib}/systemd-sysext.service", "[Install]\nWantedBy=sysinit.target\n");
            var tree2 = FinalizePipeline.Run(g.Build(), new FinalizeOptions
            {
                Kind = kind, ApplyPresets = apply, Files = [new ImageFileSpec(preset, "/etc/systemd/system-preset/99-mine.preset")],
            }).Tree;
            Assert.False(tree2.Contains("etc/systemd/system/sysinit.target.wants/systemd-sysext.service"));
        }
    }
}
