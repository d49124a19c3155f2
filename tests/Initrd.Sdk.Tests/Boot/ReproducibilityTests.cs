using Initrd.Sdk.Tests.Common;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Boot;

/// <summary>
/// Two builds of the default image from the same lock, in different directories and with different
/// caches, give byte-identical initrds and kernels.
/// </summary>
public sealed class ReproducibilityTests(DefaultInitrd image) : IClassFixture<DefaultInitrd>
{
    [Fact]
    public void SameLockInAnotherDirectoryAndCacheGivesTheSameBytes()
    {
        Assert.True(image.InitrdBuild.Succeeded, image.InitrdBuild.ToString());
        using var cache = new TempDirectory("initrd-cache");
        using var again = new ImageProject(DefaultInitrd.TemplateBody(), "MyInitrd", cache.Path);
        File.Copy(Path.Combine(image.Initrd.Directory, "packages.lock.json"), Path.Combine(again.Directory, "packages.lock.json"));
        var result = again.Run("build");
        Assert.True(result.Succeeded, result.ToString());
        Assert.Contains("Resolve: ", image.InitrdBuild.Output);
        Assert.DoesNotContain("Resolve: ", result.Output.Replace("Resolve: " + Path.Combine(again.Directory, "packages.lock.json"), "", StringComparison.Ordinal)
            .Split('\n').Where(l => l.Contains("wrote", StringComparison.Ordinal)).FirstOrDefault() ?? "");

        foreach (var name in new[] { "MyInitrd.cpio.zst", "MyInitrd.vmlinuz" })
        {
            var a = File.ReadAllBytes(Path.Combine(image.Initrd.OutputDirectory, name));
            var b = File.ReadAllBytes(Path.Combine(again.OutputDirectory, name));
            Assert.True(a.AsSpan().SequenceEqual(b), $"{name} differs between the two builds ({a.Length} vs {b.Length} bytes)");
        }
    }
}
