using Initrd.Sdk.Tests.LocalRepository;

namespace Initrd.Sdk.Tests;

/// <summary>
/// packages.lock.json through the SDK, NuGet-style: restore alone writes it; a current lock with a warm cache
/// builds with no repository at all; locked mode refuses to change it (INITRD1002) or to create it (INITRD1016).
/// </summary>
public sealed class LockedModeTests(LocalRepositoryFixture fixture) : IClassFixture<LocalRepositoryFixture>
{
    [Fact]
    public void CurrentLockAndWarmCacheBuildWithTheServerStopped()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemd");
        HermeticImage.AssertSucceeded(image.Build());
        var first = File.ReadAllBytes(image.ImagePath);
        var lockBytes = File.ReadAllBytes(image.LockPath);

        // Every stage runs again (obj/ and bin/ gone), yet nothing is requested: the lock is current, the cache warm.
        var requests = repo.Server.Requests.Count;
        DeleteOutputs(image);
        var again = image.Build();
        HermeticImage.AssertSucceeded(again);
        Assert.Contains("no repository was contacted", again.Output);
        Assert.Equal(requests, repo.Server.Requests.Count);

        // And with the mirror gone altogether.
        repo.Server.Stop();
        DeleteOutputs(image);
        var offline = image.Build();
        HermeticImage.AssertSucceeded(offline);
        Assert.Equal(first, File.ReadAllBytes(image.ImagePath));
        Assert.Equal(lockBytes, File.ReadAllBytes(image.LockPath));

        // An incremental build with the server stopped, too.
        HermeticImage.AssertSucceeded(image.Build());
    }

    [Fact]
    public void ChangedPackageListInLockedModeIsInitrd1002AndTheLockIsUnchanged()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemd");
        HermeticImage.AssertSucceeded(image.Restore());
        var lockBytes = File.ReadAllBytes(image.LockPath);

        image.SetBody("systemd;extra-tool");
        var build = image.Build("-p:RestoreLockedMode=true");
        image.AssertFailedWith(build, "INITRD1002");
        Assert.Contains(image.LockPath, build.Output);
        Assert.Equal(lockBytes, File.ReadAllBytes(image.LockPath));

        // NuGet's own switch on `dotnet restore` means the same.
        var restore = image.Restore("--locked-mode");
        image.AssertFailedWith(restore, "INITRD1002");
        Assert.Equal(lockBytes, File.ReadAllBytes(image.LockPath));

        // Without locked mode the lock is updated (the documented way).
        HermeticImage.AssertSucceeded(image.Restore());
        Assert.Contains("extra-tool", image.LockedPackages());
    }

    [Fact]
    public void LockedModeWithoutALockIsInitrd1016()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemd");
        var result = image.Build("-p:RestoreLockedMode=true");
        image.AssertFailedWith(result, "INITRD1016");
        Assert.False(File.Exists(image.LockPath));
        Assert.Empty(repo.Server.Requests);
    }

    [Fact]
    public void RestoreAloneWritesTheLockAndNothingElse()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemd");
        var result = image.Restore();
        HermeticImage.AssertSucceeded(result);
        Assert.Equal(TestPackages.SystemdClosure, image.LockedPackages());
        Assert.False(Directory.Exists(Path.Combine(image.Directory, "bin")), "restore must not write bin/\n" + result);
        // Restore resolves; it does not download packages.
        Assert.DoesNotContain(repo.Server.Requests, r => r.Contains("/pool/", StringComparison.Ordinal));
        Assert.False(File.Exists(image.CachedPackagePath(repo.Sha256Of("systemd"))));
    }

    static void DeleteOutputs(HermeticImage image)
    {
        foreach (var dir in new[] { "bin", "obj" })
        {
            var path = Path.Combine(image.Directory, dir);
            if (Directory.Exists(path)) Directory.Delete(path, recursive: true);
        }
    }
}
