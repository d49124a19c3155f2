using System.Diagnostics;
using System.Net;
using Initrd.Apt.Repositories;
using Initrd.Testing;

namespace Initrd.Apt.Tests.Repositories;

/// <summary>
/// Loads trixie from the Debian mirror that the host's apt configuration names (no mirror is written here),
/// verified with the host's keyring. Skipped when the mirror cannot be reached on a developer machine; in CI
/// (CI=true) that is a failure.
/// </summary>
public sealed class RealMirrorTests(ITestOutputHelper output)
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static IReadOnlyList<RepositorySpec> HostSpecs()
    {
        var sources = AptSourcesReader.Read();
        if (sources.Count == 0)
        {
            if (ReferenceTool.InCi) Assert.Fail("the host has no apt sources");
            Assert.Skip("the host has no apt sources");
        }
        ReferenceTool.Require("gpgv", "gpgv");
        return DefaultRepositories.For("trixie", sources);
    }

    static async Task<T> OrSkipWhenOffline<T>(Func<Task<T>> load)
    {
        try
        {
            return await load();
        }
        catch (RepositoryException e) when (e.Kind == RepositoryErrorKind.Unreachable && !ReferenceTool.InCi)
        {
            Assert.Skip($"the host's Debian mirror is unreachable: {e.Message}");
            throw; // unreachable
        }
    }

    static (RepositoryClient Client, CountingHandler Counter) NewClient(string cacheRoot)
    {
        var counter = new CountingHandler(new SocketsHttpHandler { AutomaticDecompression = DecompressionMethods.None });
        return (new RepositoryClient(new MetadataCache(cacheRoot), new HttpMessageInvoker(counter)), counter);
    }

    [Fact]
    public async Task TrixieMain_Amd64_LoadsVerified_AndTheSecondLoadUsesTheCache()
    {
        var main = HostSpecs().First(s => s.Suite == "trixie");
        using var cacheDir = new TempDirectory("initrd-metadata");
        var (client, counter) = NewClient(cacheDir.Path);
        using var _ = client;

        var sw = Stopwatch.StartNew();
        var index = await OrSkipWhenOffline(() => client.LoadAsync(main, "amd64", null, Ct));
        var cold = sw.Elapsed;

        Assert.Equal("Debian", index.Release.Origin);
        Assert.Equal("trixie", index.Release.Codename);
        Assert.NotEmpty(index.SignedBy);
        Assert.True(index.Packages.Count > 60000, $"only {index.Packages.Count} packages");
        var systemd = Assert.Single(index.Packages, p => p.Name == "systemd");
        Assert.Equal("amd64", systemd.Architecture);
        Assert.StartsWith("pool/main/s/systemd/systemd_", systemd.Filename);
        Assert.Equal("main", systemd.Origin.Component);
        Assert.Equal("trixie", systemd.Origin.Suite);
        Assert.Contains(index.Packages, p => p.Name == "linux-image-amd64");
        // Architecture: all packages: trixie says No-Support-for-Architecture-all: Packages, so they are in
        // binary-amd64 and binary-all is not read (as apt does).
        var keyring = Assert.Single(index.Packages, p => p.Name == "debian-archive-keyring");
        Assert.Equal("all", keyring.Architecture);
        Assert.Equal(["Packages"], index.Release.NoSupportForArchitectureAll);
        Assert.Equal(["main/binary-amd64/Packages.xz"], index.IndexFiles.Select(f => f.Path));
        Assert.True(index.Release.AcquireByHash);
        Assert.Contains(counter.Requests, p => p.Contains("/main/binary-amd64/by-hash/SHA256/", StringComparison.Ordinal));

        counter.Requests.Clear();
        sw.Restart();
        var again = await client.LoadAsync(main, "amd64", null, Ct);
        var warm = sw.Elapsed;
        Assert.Equal(index.Packages.Count, again.Packages.Count);
        Assert.EndsWith("/dists/trixie/InRelease", Assert.Single(counter.Requests));

        counter.Requests.Clear();
        sw.Restart();
        await client.LoadAsync(main, "amd64", new RepositoryOptions { MetadataMaxAge = TimeSpan.FromMinutes(10) }, Ct);
        var fresh = sw.Elapsed;
        Assert.Empty(counter.Requests);

        output.WriteLine($"trixie main amd64: {index.Packages.Count} packages; cold {cold.TotalMilliseconds:0} ms, " +
                         $"warm (InRelease revalidated) {warm.TotalMilliseconds:0} ms, warm (within freshness window) {fresh.TotalMilliseconds:0} ms");
    }

    [Fact]
    public async Task DefaultSuites_LoadInParallel()
    {
        var specs = HostSpecs();
        Assert.Equal(["trixie", "trixie-updates", "trixie-security"], specs.Select(s => s.Suite));
        using var cacheDir = new TempDirectory("initrd-metadata");
        var (client, _) = NewClient(cacheDir.Path);
        using var __ = client;

        var sw = Stopwatch.StartNew();
        var indices = await OrSkipWhenOffline(() => client.LoadAllAsync(specs, "amd64", null, Ct));
        var cold = sw.Elapsed;
        sw.Restart();
        indices = await client.LoadAllAsync(specs, "amd64", null, Ct);
        var warm = sw.Elapsed;

        Assert.All(indices, i => Assert.NotEmpty(i.Packages));
        var security = indices[2];
        Assert.Equal("trixie-security", security.Release.Codename);
        Assert.True(security.Release.SupportsComponent("main")); // listed as "updates/main"
        Assert.All(security.Packages, p => Assert.Equal("trixie-security", p.Origin.Suite));
        Assert.Equal("trixie-updates", indices[1].Release.Codename);
        Assert.NotNull(indices[1].Release.ValidUntil);
        output.WriteLine($"trixie + updates + security: {string.Join(" + ", indices.Select(i => i.Packages.Count))} packages; " +
                         $"cold {cold.TotalMilliseconds:0} ms, warm {warm.TotalMilliseconds:0} ms");
    }
}
