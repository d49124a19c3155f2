using Initrd.Formats.Tree;
using Initrd.Image.Extension;
using Initrd.Image.Tests.Finalize;

namespace Initrd.Image.Tests.Extension;

public class ExtensionReleaseTests
{
    [Theory]
    [InlineData("hello.sysext.raw", "hello")]
    [InlineData("hello.confext.raw", "hello")]
    [InlineData("hello.raw", "hello")]
    [InlineData("/x/y/hello_1.2.3.sysext.raw", "hello")]
    [InlineData("hello+3-0.raw", "hello")]
    [InlineData("my.tools.sysext.raw", "my.tools")]
    public void NameComesFromTheFileNameAsSystemdDerivesIt(string file, string name) =>
        Assert.Equal(name, ExtensionRelease.NameFromFileName(file));

    [Fact]
    public void AGivenNameMustMatchTheFileName()
    {
        Assert.Equal("hello", ExtensionRelease.ResolveName(null, "hello.sysext.raw"));
        Assert.Equal("hello", ExtensionRelease.ResolveName("hello", "hello_2.sysext.raw"));
        var e = Assert.Throws<ExtensionException>(() => ExtensionRelease.ResolveName("other", "hello.sysext.raw"));
        Assert.Equal(ExtensionErrorKind.NameMismatch, e.Kind);
        Assert.Contains("extension-release.hello", e.Message);
        Assert.Throws<ExtensionException>(() => ExtensionRelease.ResolveName(null, ".hidden.sysext.raw"));
    }

    [Fact]
    public void BaseOsReleaseFillsIdAndVersionUnlessGiven()
    {
        var baseRelease = new Dictionary<string, string> { ["ID"] = "debian", ["VERSION_ID"] = "13", ["NAME"] = "Debian" };
        var plain = new ExtensionReleaseSettings { Kind = ExtensionKind.Sysext, Name = "x" };
        var filled = ExtensionRelease.WithBase(plain, baseRelease, "fallback");
        Assert.Equal(("debian", "13", null), (filled.Id, filled.VersionId, filled.Level));

        var level = ExtensionRelease.WithBase(plain with { Level = "2" }, baseRelease, "fallback");
        Assert.Equal(("debian", null, "2"), (level.Id, level.VersionId, level.Level));

        var baseLevel = ExtensionRelease.WithBase(plain, new Dictionary<string, string> { ["ID"] = "fedora", ["SYSEXT_LEVEL"] = "1.1", ["VERSION_ID"] = "41" }, "fallback");
        Assert.Equal(("fedora", null, "1.1"), (baseLevel.Id, baseLevel.VersionId, baseLevel.Level));

        var none = ExtensionRelease.WithBase(plain with { Id = "_any" }, null, "fallback");
        Assert.Equal(("_any", null), (none.Id, none.VersionId));
        Assert.Equal("fallback", ExtensionRelease.WithBase(plain, null, "fallback").Id);
    }

    [Fact]
    public void FieldsAreWrittenInOrderWithTheKindsPrefix()
    {
        var s = new ExtensionReleaseSettings
        {
            Kind = ExtensionKind.Confext, Name = "c", Id = "debian", Level = "3", Architecture = "arm64", ImageId = "c",
            ImageVersion = "1.2", Scope = "system portable", ReloadManager = true,
        };
        Assert.Equal("ID=debian\nCONFEXT_LEVEL=3\nARCHITECTURE=arm64\nCONFEXT_ID=c\nCONFEXT_VERSION_ID=1.2\nCONFEXT_SCOPE=\"system portable\"\nEXTENSION_RELOAD_MANAGER=1\n",
            ExtensionRelease.Format(ExtensionRelease.Fields(s)));
        Assert.Throws<ExtensionException>(() => ExtensionRelease.Fields(s with { ImageId = "a\nb" }));
    }

    [Fact]
    public void FilterKeepsUsrAndOptAndPromotesOrphanedHardLinks()
    {
        using var t = new TreeFixture();
        t.Dir("usr").Dir("usr/bin").Dir("bin").File("bin/tool", "x", 0b111_101_101).HardLink("usr/bin/tool", "bin/tool").HardLink("usr/bin/tool2", "bin/tool")
         .Dir("etc").File("etc/a", "a").File("usrfile", "top-level file named like nothing");
        var filtered = ExtensionTreeFilter.Apply(t.Entries, ExtensionKind.Sysext);
        Assert.Equal(["/bin", "/etc", "/usrfile"], filtered.Dropped.Select(d => d.Path));
        Assert.Equal([2, 2, 1], filtered.Dropped.Select(d => d.EntryCount));
        var tool = filtered.Entries.Single(e => e.Path == "usr/bin/tool");
        Assert.Equal(TreeEntryKind.RegularFile, tool.Kind);
        Assert.NotNull(tool.ContentPath);
        Assert.Equal(0b111_101_101, tool.Permissions);
        Assert.Equal("usr/bin/tool", filtered.Entries.Single(e => e.Path == "usr/bin/tool2").LinkTarget);
        Assert.True(ExtensionTreeFilter.IsAllowed("/opt/x", ExtensionKind.Sysext));
        Assert.False(ExtensionTreeFilter.IsAllowed("/usr", ExtensionKind.Sysext));
        Assert.False(ExtensionTreeFilter.IsAllowed("/etc/x", ExtensionKind.Sysext));
        Assert.True(ExtensionTreeFilter.IsAllowed("etc/x", ExtensionKind.Confext));
    }
}
