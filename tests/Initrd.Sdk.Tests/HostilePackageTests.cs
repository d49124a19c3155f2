using Initrd.Sdk.Tests.LocalRepository;

namespace Initrd.Sdk.Tests;

/// <summary>
/// Packages that are not what they should be, through the whole SDK. A .deb that no longer matches the lock is a
/// coded fetch error and is never cached. A hostile or broken .deb that the repository lists with its true hash
/// (so it passes fetch and reaches the install stage) is INITRD3001 naming the package, and no install tree —
/// complete or temporary — is left in the cache; once the repository is fixed and the lock updated, the build succeeds.
/// </summary>
public sealed class HostilePackageTests(LocalRepositoryFixture fixture) : IClassFixture<LocalRepositoryFixture>
{
    [Fact]
    public void PoolFileReplacedAfterLockingIsInitrd2003AndNothingIsCached()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemd");
        HermeticImage.AssertSucceeded(image.Restore());
        var locked = repo.Sha256Of("systemd");

        // Same size, one byte different: only the hash can tell.
        var tampered = repo.DebOf("systemd").ToArray();
        tampered[tampered.Length / 2] ^= 0xFF;
        repo.ReplacePoolFile("systemd", tampered);

        var result = image.Build();
        image.AssertFailedWith(result, "INITRD2003");
        Assert.Contains("Package systemd 257-1 downloaded from", result.Output);
        Assert.Contains("is not the file packages.lock.json pins", result.Output);
        Assert.Contains(locked, result.Output);
        Assert.False(File.Exists(image.CachedPackagePath(locked)), "a file that failed its hash must not be cached under the locked hash");
        Assert.False(File.Exists(image.CachedPackagePath(LocalAptRepository.Hash(tampered))), "nor under its own hash");
        Assert.Empty(Directory.EnumerateFiles(image.CacheDirectory, "*.tmp", SearchOption.AllDirectories));
        Assert.Empty(image.CompleteTrees());

        // The mirror is right again: the same lock builds.
        repo.ReplacePoolFile("systemd", repo.DebOf("systemd"));
        HermeticImage.AssertSucceeded(image.Build());
        Assert.True(File.Exists(image.CachedPackagePath(locked)));
    }

    public static TheoryData<string> HostileKinds => ["truncated", "bad-ar-magic", "dot-dot-entry", "escaping-symlink"];

    [Theory]
    [MemberData(nameof(HostileKinds))]
    public void HostileDebIsInitrd3001AndLeavesNoTree(string kind)
    {
        var name = "evil-" + kind;
        var deb = fixture.Deb(name, () => HostileDeb(kind, TestPackages.Hostile(name)));
        using var repo = fixture.NewRepository(r => r.Add(TestPackages.Hostile(name), deb));
        using var image = new HermeticImage(repo, $"systemd;{name}");

        var result = image.Build();
        image.AssertFailedWith(result, "INITRD3001");
        Assert.Contains($"Package '{name}' could not be installed", result.Output);
        // The .deb is what the signed index lists, so it was fetched; the install tree was not kept.
        Assert.True(File.Exists(image.CachedPackagePath(LocalAptRepository.Hash(deb))));
        Assert.Empty(image.CompleteTrees());
        Assert.Empty(image.TemporaryTrees());
        Assert.False(File.Exists(Path.Combine(image.IntermediateDirectory, "initrd.install.stamp")));
        Assert.False(File.Exists("/etc/initrd-sdk-evil"));

        // Fixed: the repository serves a good package of that name, and the lock is updated (deleted, resolved again).
        var good = TestPackages.Fixed(name);
        repo.Remove(name).Add(good, fixture.Deb(name + "-fixed", () => DebBuilder.Build(good)));
        repo.Publish();
        File.Delete(image.LockPath);
        var fixedBuild = image.Build();
        HermeticImage.AssertSucceeded(fixedBuild);
        Assert.Contains($"usr/share/{name}/README", image.ListImage());
        Assert.Single(image.CompleteTrees());
        Assert.Empty(image.TemporaryTrees());
    }

    static byte[] HostileDeb(string kind, TestPackage package)
    {
        switch (kind)
        {
            case "truncated":
            {
                // A real package, cut off inside data.tar.
                var content = new byte[256 * 1024];
                new Random(7).NextBytes(content);
                var whole = DebBuilder.Build(package with { Entries = [TestEntry.Directory("usr"), TestEntry.File($"usr/share/{package.Name}/blob", content)] });
                return DebBuilder.Truncated(whole, whole.Length * 2 / 3);
            }
            case "bad-ar-magic":
                return DebBuilder.WithBadArMagic(DebBuilder.Build(package with { Entries = [TestEntry.File($"usr/share/{package.Name}/README", "x\n")] }));
            case "dot-dot-entry":
                return DebBuilder.HandMade(package, TestPackages.DotDotEntries);
            case "escaping-symlink":
                return DebBuilder.HandMade(package, TestPackages.EscapingSymlinkEntries);
            default:
                throw new ArgumentOutOfRangeException(nameof(kind), kind, null);
        }
    }
}
