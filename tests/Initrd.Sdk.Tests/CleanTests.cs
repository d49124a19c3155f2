using Initrd.Sdk.Tests.LocalRepository;

namespace Initrd.Sdk.Tests;

/// <summary>`dotnet clean` removes what the build wrote under bin/ and obj/, never the shared cache or the lock.</summary>
public sealed class CleanTests(LocalRepositoryFixture fixture) : IClassFixture<LocalRepositoryFixture>
{
    [Fact]
    public void CleanRemovesOutputsAndKeepsTheSharedCache()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemd");
        HermeticImage.AssertSucceeded(image.Build());
        var image1 = File.ReadAllBytes(image.ImagePath);
        var trees = image.CompleteTrees();
        Assert.Single(trees);
        var packages = TestPackages.SystemdClosure.Select(n => image.CachedPackagePath(repo.Sha256Of(n))).ToList();
        Assert.All(packages, p => Assert.True(File.Exists(p), p));

        var clean = image.Project.Run("clean");
        HermeticImage.AssertSucceeded(clean);
        var bin = Path.Combine(image.Directory, "bin");
        Assert.False(Directory.Exists(bin) && Directory.EnumerateFiles(bin, "*", SearchOption.AllDirectories).Any(),
            "clean must remove the image from bin/\n" + clean);
        Assert.False(Directory.Exists(image.IntermediateDirectory), "clean must remove obj/<Configuration>/\n" + clean);

        // The shared cache is untouched, and so is the lock (a source file, committed like NuGet's).
        Assert.Equal(trees, image.CompleteTrees());
        Assert.All(packages, p => Assert.True(File.Exists(p), p));
        Assert.True(File.Exists(image.LockPath));

        // Proof that the cache is whole: the next build needs no repository at all.
        repo.Server.Stop();
        HermeticImage.AssertSucceeded(image.Build());
        Assert.Equal(image1, File.ReadAllBytes(image.ImagePath));
    }
}
