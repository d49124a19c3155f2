using Initrd.Apt.Repositories;
using Initrd.Testing;

namespace Initrd.Apt.Tests.Repositories;

public sealed class AptSourcesReaderTests
{
    const string InlineKeySources = """
        # The distribution's archive
        Types: deb deb-src
        URIs: http://archive.example/debian/
        Suites: bookworm bookworm-updates
        Components: main contrib
        Architectures: amd64 arm64
        Signed-By:
         -----BEGIN PGP PUBLIC KEY BLOCK-----
         .
         mDMEZZZZZZYJKwYBBAHaRw8BAQdAAAAA
         =abcd
         -----END PGP PUBLIC KEY BLOCK-----

        Types: deb
        # a comment inside a stanza
        URIs: http://security.example/debian-security
        Suites: bookworm-security
        Components: main
        Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

        Enabled: no
        Types: deb
        URIs: http://disabled.example/debian
        Suites: sid
        Components: main
        """;

    [Fact]
    public void Deb822_WithInlineKey_CommentsAndDisabledStanza()
    {
        var sources = AptSourcesReader.ParseDeb822(InlineKeySources, "debian.sources").ToList();
        Assert.Equal(3, sources.Count); // deb + deb-src of the first stanza, the security stanza; the disabled one is left out
        var deb = sources[0];
        Assert.Equal("deb", deb.Type);
        Assert.Equal("deb-src", sources[1].Type);
        Assert.Equal("http://archive.example/debian", deb.Uri);
        Assert.Equal(["bookworm", "bookworm-updates"], deb.Suites);
        Assert.Equal(["main", "contrib"], deb.Components);
        Assert.Equal(["amd64", "arm64"], deb.Architectures);
        Assert.Equal("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nmDMEZZZZZZYJKwYBBAHaRw8BAQdAAAAA\n=abcd\n-----END PGP PUBLIC KEY BLOCK-----\n",
            deb.SignedByInlineKey);
        Assert.Empty(deb.SignedByKeyringFiles);
        Assert.Equal(2, deb.LineNumber); // the first field's line (the comment above it counts)

        var security = sources[2];
        Assert.Equal(["bookworm-security"], security.Suites);
        Assert.Equal(["/usr/share/keyrings/debian-archive-keyring.gpg"], security.SignedByKeyringFiles);
        Assert.Null(security.SignedByInlineKey);
    }

    [Fact]
    public void OneLine_WithOptions_CommentsAndFlatRepositories()
    {
        const string list = """
            # comment
            deb [signed-by=/usr/share/keyrings/a.gpg arch=amd64,i386] http://archive.example/debian bookworm main non-free-firmware # trailing
            deb-src http://archive.example/debian bookworm main
              deb  [ arch=arm64 ]   http://ports.example/debian/   sid   main
            deb http://flat.example/repo ./
            deb [enabled=no] http://off.example/debian bookworm main

            """;
        var sources = AptSourcesReader.ParseOneLine(list, "sources.list").ToList();
        Assert.Equal(4, sources.Count);
        Assert.Equal("deb", sources[0].Type);
        Assert.Equal("http://archive.example/debian", sources[0].Uri);
        Assert.Equal(["bookworm"], sources[0].Suites);
        Assert.Equal(["main", "non-free-firmware"], sources[0].Components);
        Assert.Equal(["amd64", "i386"], sources[0].Architectures);
        Assert.Equal(["/usr/share/keyrings/a.gpg"], sources[0].SignedBy);
        Assert.Equal(2, sources[0].LineNumber);
        Assert.Equal("deb-src", sources[1].Type);
        Assert.Equal(["arm64"], sources[2].Architectures);
        Assert.Equal("http://ports.example/debian", sources[2].Uri);
        Assert.Equal(["./"], sources[3].Suites);
        Assert.Empty(sources[3].Components);
    }

    [Theory]
    [InlineData("deb http://x.example/debian")]
    [InlineData("deb http://x.example/debian bookworm")]
    [InlineData("deb [arch=amd64 http://x.example/debian bookworm main")]
    [InlineData("rpm http://x.example/ fedora main")]
    public void OneLine_Malformed(string line)
    {
        var e = Assert.Throws<RepositoryException>(() => AptSourcesReader.ParseOneLine(line, "bad.list").ToList());
        Assert.Equal(RepositoryErrorKind.Malformed, e.Kind);
        Assert.Equal("bad.list:1", e.Location);
    }

    [Fact]
    public void Deb822_MissingField_IsMalformed()
    {
        var e = Assert.Throws<RepositoryException>(() =>
            AptSourcesReader.ParseDeb822("Types: deb\nURIs: http://x.example/debian\nSuites: bookworm\n", "x.sources").ToList());
        Assert.Equal(RepositoryErrorKind.Malformed, e.Kind);
        Assert.Contains("Components", e.Message);
    }

    [Fact]
    public void Read_TakesOnlyListAndSourcesFiles_InOrder()
    {
        using var root = new TempDirectory();
        root.WriteFile("etc/apt/sources.list", "deb http://main.example/debian bookworm main\n");
        root.WriteFile("etc/apt/sources.list.d/b.sources", "Types: deb\nURIs: http://b.example/debian\nSuites: bookworm\nComponents: main\n");
        root.WriteFile("etc/apt/sources.list.d/a.list", "deb http://a.example/debian bookworm main\n");
        root.WriteFile("etc/apt/sources.list.d/c.list.disabled-by-farm", "deb http://c.example/debian bookworm main\n");
        root.WriteFile("etc/apt/sources.list.d/d.sources.disabled-by-farm", "Types: deb\nURIs: http://d.example/x\nSuites: s\nComponents: main\n");
        root.WriteFile("etc/apt/sources.list.d/e.list.save", "deb http://e.example/debian bookworm main\n");
        var sources = AptSourcesReader.Read(root.Path);
        Assert.Equal(["http://main.example/debian", "http://a.example/debian", "http://b.example/debian"], sources.Select(s => s.Uri));
    }

    [Fact]
    public void Read_MissingConfiguration_IsEmpty()
    {
        using var root = new TempDirectory();
        Assert.Empty(AptSourcesReader.Read(root.Path));
    }

    [Fact]
    public void DefaultRepositories_FromHostLikeConfiguration()
    {
        var sources = AptSourcesReader.ParseDeb822(InlineKeySources, "debian.sources")
            .Concat(AptSourcesReader.ParseDeb822("""
                Types: deb
                URIs: https://thirdparty.example/node
                Suites: nodistro
                Components: main
                Signed-By: /usr/share/keyrings/thirdparty.gpg
                """, "third.sources"))
            .ToList();
        var specs = DefaultRepositories.For(null, sources);
        Assert.Equal(3, specs.Count);
        Assert.Equal(("http://archive.example/debian", "trixie"), (specs[0].Uri, specs[0].Suite));
        Assert.Equal(("http://archive.example/debian", "trixie-updates"), (specs[1].Uri, specs[1].Suite));
        Assert.Equal(("http://security.example/debian-security", "trixie-security"), (specs[2].Uri, specs[2].Suite));
        Assert.All(specs, s => Assert.Equal(["main"], s.Components));
        Assert.StartsWith("-----BEGIN PGP PUBLIC KEY BLOCK-----", Assert.Single(specs[0].Keyrings));
        Assert.Equal(["/usr/share/keyrings/debian-archive-keyring.gpg"], specs[2].Keyrings);
        Assert.Equal("http://archive.example/debian/dists/trixie/", specs[0].SuiteUrl);

        var custom = DefaultRepositories.For("forky", sources, ["main", "contrib"]);
        Assert.Equal("forky-security", custom[2].Suite);
        Assert.Equal(["main", "contrib"], custom[0].Components);
    }

    [Fact]
    public void DefaultRepositories_OneLineHostWithoutSignedBy_FallsBackToTheArchiveKeyring()
    {
        var sources = AptSourcesReader.ParseOneLine(
            "deb http://archive.example/debian bookworm main\ndeb http://archive.example/debian bookworm-updates main\n", "sources.list").ToList();
        var specs = DefaultRepositories.For("trixie", sources);
        Assert.Equal(2, specs.Count); // no security source on this host
        Assert.All(specs, s => Assert.Equal([DefaultRepositories.DebianArchiveKeyring], s.Keyrings));
    }

    [Fact]
    public void DefaultRepositories_NoDebianArchive_IsNoRepositoryConfigured()
    {
        var sources = AptSourcesReader.ParseOneLine("deb https://thirdparty.example/apt stable main\n", "x.list").ToList();
        var e = Assert.Throws<RepositoryException>(() => DefaultRepositories.For("trixie", sources));
        Assert.Equal(RepositoryErrorKind.NoRepositoryConfigured, e.Kind);
    }

    [Fact]
    public void HostConfiguration_YieldsTheDefaultRepositories()
    {
        var sources = AptSourcesReader.Read();
        if (sources.Count == 0) Assert.Skip("this host has no apt sources");
        var specs = DefaultRepositories.For("trixie", sources);
        Assert.Contains(specs, s => s.Suite == "trixie");
        Assert.Contains(specs, s => s.Suite == "trixie-updates");
        Assert.All(specs, s => Assert.NotEmpty(s.Keyrings));
    }
}
