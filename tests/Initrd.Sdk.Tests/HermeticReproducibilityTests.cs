using Initrd.Sdk.Tests.LocalRepository;

namespace Initrd.Sdk.Tests;

/// <summary>
/// The same project built in two directories with two caches gives the same bytes, with no mirror involved:
/// resolution writes the same lock, and the image does not depend on paths, caches or the ImageFile's mtime.
/// </summary>
public sealed class HermeticReproducibilityTests(LocalRepositoryFixture fixture) : IClassFixture<LocalRepositoryFixture>
{
    [Fact]
    public void TwoDirectoriesAndTwoCachesGiveByteIdenticalImages()
    {
        using var repo = fixture.NewRepository();
        const string files = """
              <ItemGroup>
                <ImageFile Include="files/**" />
              </ItemGroup>
            """;
        using var a = new HermeticImage(repo, "systemd;extra-tool", files);
        using var b = new HermeticImage(repo, "systemd;extra-tool", files);
        Assert.NotEqual(a.CacheDirectory, b.CacheDirectory);
        var fa = a.Project.Folder.WriteFile("files/etc/motd", "same\n");
        var fb = b.Project.Folder.WriteFile("files/etc/motd", "same\n");
        // Different host mtimes for the same content: the image takes its own timestamp.
        File.SetLastWriteTimeUtc(fa, new DateTime(2001, 1, 1, 0, 0, 0, DateTimeKind.Utc));
        File.SetLastWriteTimeUtc(fb, DateTime.UtcNow);

        HermeticImage.AssertSucceeded(a.Build());
        HermeticImage.AssertSucceeded(b.Build());

        Assert.Equal(File.ReadAllBytes(a.LockPath), File.ReadAllBytes(b.LockPath));
        var ia = File.ReadAllBytes(a.ImagePath);
        var ib = File.ReadAllBytes(b.ImagePath);
        Assert.True(ia.AsSpan().SequenceEqual(ib), $"the images differ ({ia.Length} vs {ib.Length} bytes)");
        Assert.Contains("etc/motd", a.ListImage());
    }
}
