using Initrd.Testing;

namespace Initrd.Formats.Tests.Deb;

/// <summary>The test helper that finds the host's Debian archive: it must pick the right apt entry.</summary>
public class DebianMirrorTests
{
    [Fact]
    public void PicksTheFirstEnabledDebianReleaseEntry()
    {
        using var apt = new TempDirectory();
        apt.WriteFile("sources.list", """
            # deb http://commented.example.invalid/debian trixie main
            deb-src http://source.example.invalid/debian trixie main
            deb [signed-by=/usr/share/keyrings/x.gpg arch=amd64] http://vendor.example.invalid/apt cloud-sdk main
            """);
        apt.WriteFile("sources.list.d/a-security.sources", """
            Types: deb
            URIs: http://security.example.invalid/debian-security
            Suites: trixie-security
            Components: main
            """);
        apt.WriteFile("sources.list.d/b-disabled.sources", """
            Enabled: no
            Types: deb
            URIs: http://disabled.example.invalid/debian
            Suites: trixie
            """);
        apt.WriteFile("sources.list.d/c-debian.sources.disabled-by-admin", """
            Types: deb
            URIs: http://renamed.example.invalid/debian
            Suites: trixie
            """);
        apt.WriteFile("sources.list.d/d-debian.sources", """
            Types: deb deb-src
            # a comment inside the paragraph
            URIs: http://archive.example.invalid/debian/
            Suites: trixie trixie-updates
            Components: main
            Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

            Types: deb
            URIs: http://second.example.invalid/debian
            Suites: trixie
            """);

        var entries = DebianMirror.ReadAptSources(apt.Path).ToList();
        Assert.Equal(
            ["http://vendor.example.invalid/apt", "http://security.example.invalid/debian-security",
             "http://archive.example.invalid/debian/", "http://second.example.invalid/debian"],
            entries.Select(e => e.Uri));
        Assert.Equal(["trixie", "trixie-updates"], entries[2].Suites);

        if (Environment.GetEnvironmentVariable(DebianMirror.OverrideVariable) is { Length: > 0 })
            Assert.Skip($"{DebianMirror.OverrideVariable} is set and overrides the apt configuration");
        Assert.Equal("http://archive.example.invalid/debian/", DebianMirror.FindArchiveUri(apt.Path)?.ToString());
    }

    [Fact]
    public void NoDebianEntryMeansNoArchive()
    {
        if (Environment.GetEnvironmentVariable(DebianMirror.OverrideVariable) is { Length: > 0 })
            Assert.Skip($"{DebianMirror.OverrideVariable} is set and overrides the apt configuration");
        using var apt = new TempDirectory();
        apt.WriteFile("sources.list", "deb http://vendor.example.invalid/apt nodistro main\n");
        Assert.Null(DebianMirror.FindArchiveUri(apt.Path));
    }
}
