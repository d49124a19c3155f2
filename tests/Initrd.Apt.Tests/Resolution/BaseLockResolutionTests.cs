using Initrd.Apt.Resolution;

namespace Initrd.Apt.Tests.Resolution;

/// <summary>An extension resolved against its base's lock: the base's packages count as installed.</summary>
public sealed class BaseLockResolutionTests
{
    const string Universe = """
        Package: libc6
        Version: 2.41-12

        Package: libc6
        Version: 2.42-1
        X-Suite: trixie-backports

        Package: mawk
        Depends: libc6

        Package: gawk
        Depends: libc6

        Package: tool
        Depends: libc6 (>= 2.36), mawk | gawk, libtool-data

        Package: libtool-data
        Architecture: all

        Package: needs-new-libc
        Depends: libc6 (>= 2.42)
        """;

    static ImageResolveRequest Request(params string[] packages) => new() { Packages = packages, Architecture = "amd64", Release = "trixie" };

    [Fact]
    public void OnlyWhatTheBaseLacksIsLockedAndAlternativesPreferTheBase()
    {
        var universe = TestUniverse.Of(Universe);
        // The base holds libc6 2.41-12 and gawk (the second alternative of tool's "mawk | gawk").
        var baseLock = ImageResolver.Resolve(Request("libc6=2.41-12", "gawk"), universe, "sha256:base");
        var extension = ImageResolver.Resolve(Request("tool") with { BasePackages = baseLock.Packages }, universe, "sha256:ext");
        Assert.Equal(["libtool-data", "tool"], extension.Packages.Select(p => p.Name));
        Assert.Equal("Direct", extension.Packages.Single(p => p.Name == "tool").Type);
    }

    [Fact]
    public void DependenciesAreCheckedAgainstTheBasesVersions()
    {
        var universe = TestUniverse.Of(Universe);
        var baseLock = ImageResolver.Resolve(Request("libc6=2.41-12"), universe, "sha256:base");
        // needs-new-libc cannot use the base's libc6 2.41, and installing another libc6 beside it is not possible.
        Assert.Throws<ResolutionException>(() => ImageResolver.Resolve(Request("needs-new-libc") with { BasePackages = baseLock.Packages }, universe, "sha256:ext"));
        // Without the base it resolves (to the newer libc6).
        Assert.Contains(ImageResolver.Resolve(Request("needs-new-libc"), universe, "sha256:x").Packages, p => p.Name == "libc6" && p.Version == "2.42-1");
    }
}
