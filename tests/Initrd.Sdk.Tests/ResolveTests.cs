using Initrd.Sdk.Tests.LocalRepository;

namespace Initrd.Sdk.Tests;

/// <summary>
/// Resolution through the SDK against a hand-made signed repository on 127.0.0.1: the happy path down to a cpio
/// that the reference tools list, and each way a package set cannot be resolved, with its own code, the chain or a
/// suggestion in the message, and nothing in bin/. Hermetic: no mirror, no host apt sources.
/// </summary>
public sealed class ResolveTests(LocalRepositoryFixture fixture) : IClassFixture<LocalRepositoryFixture>
{
    [Fact]
    public void SystemdResolvesToItsClosureAndPacksAnImageTheReferenceToolsList()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemd");
        var result = image.Build();
        HermeticImage.AssertSucceeded(result);

        // The closure: first alternative (mawk, not gawk), the virtual dbus-system-bus through dbus-broker, the loop
        // systemd ↔ dbus-broker, the arch:all systemd-data from binary-amd64, Essential base-files because systemd
        // depends on it; nothing else.
        Assert.Equal(TestPackages.SystemdClosure, image.LockedPackages());
        // Trixie-style archive: binary-all is listed but must not be read (No-Support-for-Architecture-all).
        Assert.DoesNotContain(repo.Server.Requests, r => r.Contains("/binary-all/", StringComparison.Ordinal));
        // Acquire-By-Hash: the index came through by-hash/.
        Assert.Contains(repo.Server.Requests, r => r.Contains("/binary-amd64/by-hash/SHA256/", StringComparison.Ordinal));

        var lockText = File.ReadAllText(image.LockPath);
        foreach (var name in TestPackages.SystemdClosure)
            Assert.Contains(repo.Sha256Of(name), lockText, StringComparison.Ordinal);
        Assert.Contains(repo.Uri, lockText, StringComparison.Ordinal);

        var files = image.ListImage();
        foreach (var expected in TestPackages.SystemdClosureFiles)
            Assert.Contains(expected, files);
        // What finalize adds for an initrd.
        Assert.Contains("init", files);
        Assert.Contains("etc/initrd-release", files);
        Assert.Contains("etc/passwd", files);
        Assert.Contains("etc/group", files);
        Assert.Contains("bin", files);
        Assert.DoesNotContain("usr/bin/gawk", files);
        Assert.Contains($"Image -> {image.ImagePath}", result.Output);
    }

    [Fact]
    public void UnsatisfiableDependencyIsInitrd1012NamingTheChain()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemd;broken-app");
        var result = image.Build();
        image.AssertFailedWith(result, "INITRD1012");
        Assert.Contains("broken-app", result.Output);
        // The chain from the request to the relation that failed, and what exists for it.
        Assert.Contains("broken-lib (>= 1.0) → libc6 (>= 3.0)", result.Output);
        Assert.Contains("libc6 2.41-1", result.Output);
        Assert.False(File.Exists(image.LockPath), "no lock is written for a failed resolution");
    }

    [Fact]
    public void ConflictingPairIsInitrd1013()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "conflict-a;conflict-b");
        var result = image.Build();
        image.AssertFailedWith(result, "INITRD1013");
        Assert.Contains("conflict-a", result.Output);
        Assert.Contains("conflict-b", result.Output);
        Assert.False(File.Exists(image.LockPath));
    }

    [Fact]
    public void UnknownPackageIsInitrd1011WithASuggestion()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemdd");
        var result = image.Build();
        image.AssertFailedWith(result, "INITRD1011");
        Assert.Contains("'systemdd'", result.Output);
        Assert.Contains("did you mean 'systemd'", result.Output);
        Assert.False(File.Exists(image.LockPath));
    }

    [Fact]
    public void DependencyLoopResolves()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "loop-a");
        var result = image.Restore();
        HermeticImage.AssertSucceeded(result);
        Assert.Equal(["loop-a", "loop-b", "loop-c"], image.LockedPackages());
    }
}
