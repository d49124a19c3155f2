using System.Text;
using Initrd.Sdk.Tests.LocalRepository;

namespace Initrd.Sdk.Tests;

/// <summary>
/// A repository that lies, through the whole SDK: each kind of bad metadata stops the build at resolve with its own
/// code and nothing in bin/; once the repository is right again, the next build with the same cache succeeds (the
/// failed attempt left nothing a later build would trust).
/// </summary>
public sealed class HostileRepositoryTests(LocalRepositoryFixture fixture) : IClassFixture<LocalRepositoryFixture>
{
    [Fact]
    public void EditedInReleaseBodyIsInitrd1003()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemd");
        // The signed text changes after signing: one more component listed, signature untouched.
        repo.EditInRelease(text => text.Replace("Components: main", "Components: main contrib", StringComparison.Ordinal));

        var result = image.Build();
        image.AssertFailedWith(result, "INITRD1003");
        Assert.Contains($"{repo.Uri}/dists/{repo.Suite}/InRelease", result.Output);
        Assert.False(File.Exists(image.LockPath));
        Assert.DoesNotContain(repo.Server.Requests, r => r.Contains("/binary-amd64/", StringComparison.Ordinal));

        repo.Publish();
        HermeticImage.AssertSucceeded(image.Build());
    }

    [Fact]
    public void PackagesIndexNotMatchingReleaseIsInitrd1005()
    {
        using var repo = fixture.NewRepository();
        using var image = new HermeticImage(repo, "systemd");
        // A validly signed Release, but the Packages.xz served (by hash and by name) is another one: a package's
        // hash changed, as a compromised mirror would serve it.
        var forged = repo.PackagesText().Replace(repo.Sha256Of("systemd"), new string('0', 64), StringComparison.Ordinal);
        var listed = repo.ReplaceIndexFile("main/binary-amd64/Packages.xz", LocalAptRepository.Xz(Encoding.UTF8.GetBytes(forged)));

        var result = image.Build();
        image.AssertFailedWith(result, "INITRD1005");
        // Fetched by hash (Acquire-By-Hash): the message names that URL.
        Assert.Contains($"main/binary-amd64/by-hash/SHA256/{listed}", result.Output);
        Assert.False(File.Exists(image.LockPath));
        AssertNoTemporaryFiles(image.CacheDirectory);

        repo.Publish();
        var fixedBuild = image.Build();
        HermeticImage.AssertSucceeded(fixedBuild);
        Assert.Contains(repo.Sha256Of("systemd"), File.ReadAllText(image.LockPath));
    }

    [Fact]
    public void ExpiredValidUntilIsInitrd1004AndAcceptedWhenAllowed()
    {
        using var repo = fixture.NewRepository(r =>
        {
            r.Date = DateTimeOffset.UtcNow.AddDays(-30);
            r.ValidUntil = DateTimeOffset.UtcNow.AddDays(-1);
        });
        using var image = new HermeticImage(repo, "systemd");

        var result = image.Build();
        image.AssertFailedWith(result, "INITRD1004");
        Assert.Contains("AllowExpiredRepositoryMetadata", result.Output);
        Assert.False(File.Exists(image.LockPath));

        var allowed = image.Build("-p:AllowExpiredRepositoryMetadata=true");
        HermeticImage.AssertSucceeded(allowed);
        Assert.True(File.Exists(image.ImagePath));
        Assert.Equal(TestPackages.SystemdClosure, image.LockedPackages());
    }

    [Fact]
    public void MalformedStanzaInASignedIndexIsInitrd1006()
    {
        // Signed and hashed correctly, but systemd's paragraph has no SHA256, which a repository index must give.
        using var repo = fixture.NewRepository(r => r.EditPackagesIndex = WithoutSystemdHash);
        using var image = new HermeticImage(repo, "systemd");

        var result = image.Build();
        image.AssertFailedWith(result, "INITRD1006");
        Assert.Contains("lacks Filename, Size or SHA256", result.Output);
        Assert.False(File.Exists(image.LockPath));

        repo.EditPackagesIndex = null;
        repo.Publish();
        HermeticImage.AssertSucceeded(image.Build());
    }

    static string WithoutSystemdHash(string index) => string.Join("\n\n", index.Split("\n\n").Select(paragraph =>
        paragraph.StartsWith("Package: systemd\n", StringComparison.Ordinal)
            ? string.Join("\n", paragraph.Split('\n').Where(line => !line.StartsWith("SHA256: ", StringComparison.Ordinal)))
            : paragraph));

    static void AssertNoTemporaryFiles(string cacheDirectory)
    {
        if (!Directory.Exists(cacheDirectory)) return;
        Assert.Empty(Directory.EnumerateFiles(cacheDirectory, "*.tmp", SearchOption.AllDirectories));
    }
}
