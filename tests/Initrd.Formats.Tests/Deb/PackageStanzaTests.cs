using Initrd.Formats.Deb;

namespace Initrd.Formats.Tests.Deb;

public class PackageStanzaTests
{
    const string Libc = """
        Package: libc6
        Source: glibc (2.41-12)
        Version: 2.41-12+b1
        Installed-Size: 12345
        Maintainer: GNU Libc Maintainers <glibc@example.invalid>
        Architecture: amd64
        Multi-Arch: same
        Replaces: libc6-amd64
        Depends: libgcc-s1
        Recommends: libidn2-0 (>= 2.0.5~)
        Suggests: glibc-doc, debconf | debconf-2.0, libc-l10n, locales (>= 2.41), libnss-nis, libnss-nisplus
        Breaks: aide (<< 0.17.3-4+b3), busybox (<< 1.30.1-6)
        Description: GNU C Library: Shared libraries
        Multi-Arch: same
        Section: libs
        Priority: optional
        Filename: pool/main/g/glibc/libc6_2.41-12+b1_amd64.deb
        Size: 2850000
        SHA256: 0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef

        """;

    static PackageStanza Stanza(string text) => PackageStanza.Parse(new StringReader(text), "Packages").Single();

    [Fact]
    public void TypedFields()
    {
        var s = Stanza(Libc.Replace("Multi-Arch: same\nSection", "Section"));
        Assert.Equal("libc6", s.Package);
        Assert.Equal(DebianVersion.Parse("2.41-12+b1"), s.Version);
        Assert.Equal("amd64", s.Architecture);
        Assert.Equal(MultiArch.Same, s.MultiArch);
        Assert.False(s.Essential);
        Assert.Equal("optional", s.Priority);
        Assert.Equal("libs", s.Section);
        Assert.Equal("glibc", s.Source);
        Assert.Equal("2.41-12", s.SourceVersion.ToString());
        Assert.Equal(12345, s.InstalledSize);
        Assert.Equal("pool/main/g/glibc/libc6_2.41-12+b1_amd64.deb", s.Filename);
        Assert.Equal(2850000, s.Size);
        Assert.Equal(64, s.Sha256!.Length);
        Assert.Equal("libgcc-s1", s.Depends.Single().ToString());
        Assert.Empty(s.PreDepends);
        Assert.Empty(s.Conflicts);
        Assert.Empty(s.Provides);
        Assert.Equal(6, s.Suggests.Count);
        Assert.Equal(2, s.Breaks.Count);
        Assert.Equal("libc6-amd64", s.Replaces.Single().ToString());
        Assert.Equal(">= 2.0.5~", s.Recommends.Single().Alternatives.Single().Version!.ToString());
        Assert.Equal("GNU C Library: Shared libraries", s.Raw["Description"]);
        Assert.Equal("libc6 2.41-12+b1 amd64", s.ToString());
    }

    [Fact]
    public void DuplicateFieldIsAnError()
    {
        var e = Assert.Throws<InvalidDataException>(() => Stanza(Libc));
        Assert.Contains("line 14: duplicate field 'Multi-Arch' (first at line 7)", e.Message);
    }

    [Fact]
    public void Defaults()
    {
        var s = Stanza("Package: base-files\nVersion: 13.8\nArchitecture: amd64\nEssential: yes\n");
        Assert.Equal("base-files", s.Source);
        Assert.Same(s.Version, s.SourceVersion);
        Assert.True(s.Essential);
        Assert.Equal(MultiArch.No, s.MultiArch);
        Assert.Null(s.InstalledSize);
        Assert.Null(s.Size);
        Assert.Null(s.Filename);
        Assert.Null(s.Sha256);
        Assert.Null(s.Priority);

        var t = Stanza("Package: libfoo1\nSource: foo\nVersion: 1.0-1+b2\nArchitecture: all\nMulti-Arch: Foreign\n");
        Assert.Equal("foo", t.Source);
        Assert.Equal("1.0-1+b2", t.SourceVersion.ToString());
        Assert.Equal(MultiArch.Foreign, t.MultiArch);
        Assert.Equal(MultiArch.Allowed, Stanza("Package: a\nVersion: 1\nArchitecture: all\nMulti-Arch: allowed\n").MultiArch);
    }

    [Theory]
    [InlineData("Version: 1\nArchitecture: all\n", "Packages: paragraph at line 2: missing required field 'Package'")]
    [InlineData("Package: a\nArchitecture: all\n", "Packages: paragraph at line 2 (Package: a): missing required field 'Version'")]
    [InlineData("Package: a\nVersion: 1\n", "Packages: paragraph at line 2 (Package: a): missing required field 'Architecture'")]
    [InlineData("Package: a\nVersion: 1:\nArchitecture: all\n", "Packages: Version field at line 3 (Package: a): '1:': invalid version '1:': nothing after colon")]
    [InlineData("Package: A_\u00e9\nVersion: 1\nArchitecture: all\n", "Package field at line 2")]
    [InlineData("Package: a\nVersion: 1\nArchitecture: am_d64\n", "Architecture field at line 4 (Package: a): 'am_d64': invalid architecture name")]
    [InlineData("Package: a\nVersion: 1\nArchitecture: all\nMulti-Arch: sometimes\n", "Multi-Arch field at line 5 (Package: a): 'sometimes'")]
    [InlineData("Package: a\nVersion: 1\nArchitecture: all\nEssential: true\n", "Essential field at line 5 (Package: a): 'true': expected yes or no")]
    [InlineData("Package: a\nVersion: 1\nArchitecture: all\nSize: -1\n", "Size field at line 5 (Package: a): '-1'")]
    [InlineData("Package: a\nVersion: 1\nArchitecture: all\nInstalled-Size: 1k\n", "Installed-Size field at line 5")]
    [InlineData("Package: a\nVersion: 1\nArchitecture: all\nSource: b (1\n", "Source field at line 5 (Package: a): 'b (1'")]
    [InlineData("Package: a\nVersion: 1\nArchitecture: all\nSource: b (1:)\n", "invalid version '1:'")]
    public void InvalidStanzas(string body, string message)
    {
        var e = Assert.Throws<InvalidDataException>(() => Stanza("\n" + body));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void RelationErrorsNameFieldAndLineWhenRead()
    {
        var s = Stanza("Package: a\nVersion: 1\nArchitecture: all\nDepends: b (>= 1\n");
        var e = Assert.Throws<InvalidDataException>(() => s.Depends);
        Assert.StartsWith("Packages: Depends field at line 4: ", e.Message);
        Assert.Contains("b (>= 1", e.Message);
    }
}
