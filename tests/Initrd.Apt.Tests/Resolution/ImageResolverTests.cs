using Initrd.Apt.Lock;
using Initrd.Apt.Resolution;
using Initrd.Testing;

namespace Initrd.Apt.Tests.Resolution;

public sealed class ImageResolverTests
{
    const string Universe = """
        Package: systemd
        Version: 257.9-1
        Depends: libc6 (>= 2.36), libsystemd-shared (= 257.9-1), mount | util-linux
        Recommends: dbus

        Package: libsystemd-shared
        Version: 257.9-1
        Depends: libc6

        Package: libc6
        Version: 2.41-12

        Package: libc6
        Version: 2.41-12+deb13u1
        X-Suite: trixie-security

        Package: mount

        Package: util-linux

        Package: dbus
        """;

    static ImageResolveRequest Request(params string[] packages) =>
        new() { Packages = packages, Architecture = "amd64", Release = "trixie" };

    [Fact]
    public void LockCarriesProvenanceTypesAndDependencies()
    {
        var lockFile = ImageResolver.Resolve(Request("systemd", "util-linux"), TestUniverse.Of(Universe), "sha256:abc");
        Assert.Equal("sha256:abc", lockFile.InputsHash);
        Assert.Equal("debian", lockFile.Distribution);
        Assert.Equal("trixie", lockFile.Release);
        Assert.Equal("amd64", lockFile.Architecture);
        Assert.Equal(["libc6", "libsystemd-shared", "systemd", "util-linux"], lockFile.Packages.Select(p => p.Name));

        var systemd = lockFile.Packages.Single(p => p.Name == "systemd");
        Assert.Equal("Direct", systemd.Type);
        Assert.Equal("257.9-1", systemd.Version);
        Assert.Equal(TestUniverse.Repository, systemd.Repository);
        Assert.Equal("trixie/main", systemd.Origin);
        Assert.Equal("pool/main/s/systemd/systemd_257.9-1_amd64.deb", systemd.Path);
        Assert.Equal(1007, systemd.Size);
        Assert.Matches("^[0-9a-f]{64}$", systemd.Sha256);
        // "mount | util-linux": util-linux was requested, so the alternative already in the set satisfies it.
        Assert.Equal(["libc6", "libsystemd-shared", "util-linux"], systemd.Dependencies);

        var libc = lockFile.Packages.Single(p => p.Name == "libc6");
        Assert.Equal("Transitive", libc.Type);
        Assert.Equal("2.41-12+deb13u1", libc.Version);
        Assert.Equal("trixie-security/main", libc.Origin);
        Assert.Equal("Direct", lockFile.Packages.Single(p => p.Name == "util-linux").Type);
    }

    [Fact]
    public void OptionsReachTheSolver()
    {
        var universe = TestUniverse.Of(Universe + "\n\nPackage: base-files\nEssential: yes");
        Assert.DoesNotContain(ImageResolver.Resolve(Request("systemd"), universe, "sha256:x").Packages, p => p.Name is "dbus" or "base-files");
        var more = ImageResolver.Resolve(Request("systemd") with { IncludeRecommends = true, Essential = EssentialPolicy.All }, universe, "sha256:x");
        Assert.Equal("Transitive", more.Packages.Single(p => p.Name == "dbus").Type);
        Assert.Equal("Transitive", more.Packages.Single(p => p.Name == "base-files").Type);
    }

    [Fact]
    public void SameInputsGiveTheSameLockBytes()
    {
        var packages = TestUniverse.Packages(Universe);
        var first = ImageResolver.Resolve(Request("systemd"), new PackageUniverse(packages), "sha256:x").ToJson();
        packages.Reverse();
        var second = ImageResolver.Resolve(Request("systemd"), new PackageUniverse(packages), "sha256:x").ToJson();
        Assert.Equal(first, second);

        using var temp = new TempDirectory();
        var path = temp.Combine("packages.lock.json");
        File.WriteAllBytes(path, first);
        Assert.Equal(first, PackageLock.Read(path).ToJson());
    }

    [Fact]
    public void FailuresAreResolutionExceptions()
    {
        var e = Assert.Throws<ResolutionException>(() => ImageResolver.Resolve(Request("systemd", "nosuchpackage"), TestUniverse.Of(Universe), "sha256:x"));
        Assert.Equal(ResolutionErrorKind.NotFound, e.Kind);
        Assert.Equal("nosuchpackage", e.Failure.RequestedPackage);
    }
}
