using System.Security.Cryptography;
using System.Text;
using Initrd.Apt.Repositories;
using Initrd.Testing;

namespace Initrd.Apt.Tests.Repositories;

/// <summary>
/// Crafted repositories served from 127.0.0.1 and signed with throwaway keys: every way the metadata can be
/// wrong gives its own <see cref="RepositoryErrorKind"/>, and afterwards the cache holds nothing a later load
/// would trust — once the server is fixed, the next load succeeds with the right content and no *.tmp is left.
/// </summary>
public sealed class HostileRepositoryTests(GpgFixture gpg) : IClassFixture<GpgFixture>, IAsyncLifetime
{
    static readonly RepositoryOptions Fast = new() { RetryDelay = TimeSpan.FromMilliseconds(10), MaxAttempts = 3 };

    readonly TestHttpServer server = new();
    readonly TempDirectory cacheDir = new("initrd-metadata");
    TestKeys Keys => gpg.Keys;
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        cacheDir.Dispose();
    }

    RepositoryClient NewClient(TimeProvider? time = null) => new(new MetadataCache(cacheDir.Path), time: time);

    FakeRepository NewRepository()
    {
        var repo = new FakeRepository(server, Keys);
        repo.Publish();
        return repo;
    }

    async Task<RepositoryException> LoadFails(FakeRepository repo, RepositoryErrorKind kind, RepositoryOptions? options = null,
        string architecture = "amd64", RepositorySpec? spec = null, TimeProvider? time = null)
    {
        using var client = NewClient(time);
        var e = await Assert.ThrowsAsync<RepositoryException>(() => client.LoadAsync(spec ?? repo.Spec(), architecture, options ?? Fast, Ct));
        Assert.True(kind == e.Kind, $"expected {kind}, got {e.Kind}: {e.Message}");
        AssertCacheConsistent();
        return e;
    }

    /// <summary>After the server is fixed, a load with the same cache succeeds with the published content.</summary>
    async Task<RepositoryIndex> LoadSucceeds(FakeRepository repo, RepositoryOptions? options = null)
    {
        using var client = NewClient();
        var index = await client.LoadAsync(repo.Spec(), "amd64", options ?? Fast, Ct);
        var expected = repo.Packages.Split("\n\n").Select(p => p.Split('\n')[0]["Package: ".Length..]).ToList();
        if (repo.AllPackages is not null && !repo.NoSupportForArchitectureAll)
            expected.AddRange(repo.AllPackages.Split("\n\n").Select(p => p.Split('\n')[0]["Package: ".Length..]));
        Assert.Equal(expected.Distinct().Order(), index.Packages.Select(p => p.Name).Order());
        AssertCacheConsistent();
        return index;
    }

    /// <summary>No temporary file is left, and every content-addressed file has the content its name says.</summary>
    void AssertCacheConsistent()
    {
        Assert.Empty(Directory.EnumerateFiles(cacheDir.Path, "*.tmp", SearchOption.AllDirectories));
        var byHash = Path.Combine(cacheDir.Path, "by-hash", "sha256");
        if (!Directory.Exists(byHash)) return;
        foreach (var file in Directory.EnumerateFiles(byHash))
            Assert.Equal(Path.GetFileName(file), Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(file))));
    }

    [Fact]
    public async Task GoodRepository_LoadsWithProvenance()
    {
        var repo = NewRepository();
        var index = await LoadSucceeds(repo);
        var hello = Assert.Single(index.Packages, p => p.Name == "hello");
        Assert.Equal("1.0-1", hello.Version.ToString());
        Assert.Equal(repo.Uri, hello.Origin.RepositoryUri);
        Assert.Equal("testing", hello.Origin.Suite);
        Assert.Equal("main", hello.Origin.Component);
        Assert.Equal("pool/main/h/hello/hello_1.0-1_amd64.deb", hello.Filename);
        Assert.Equal($"{repo.Uri}/pool/main/h/hello/hello_1.0-1_amd64.deb", hello.DownloadUrl);
        Assert.Equal(105, hello.Size);
        Assert.Equal(64, hello.Sha256.Length);
        Assert.Single(index.SignedBy, f => f.Equals(Keys.Trusted, StringComparison.OrdinalIgnoreCase));
        // By hash, as the Release offers; the slim cache copy drops Description but keeps what a build reads.
        Assert.Equal(1, server.CountRequests(p => p == repo.PackagesXzByHashPath));
        Assert.Equal(0, server.CountRequests(p => p == repo.PackagesXzPath));
        Assert.Null(hello.Stanza.Raw.GetValueOrDefault("Description"));
        Assert.Equal("amd64", hello.Stanza.Raw["Architecture"]);
    }

    [Fact]
    public async Task KeepAllFields_KeepsDescription()
    {
        var repo = NewRepository();
        var index = await LoadSucceeds(repo, new RepositoryOptions { KeepAllFields = true });
        Assert.Equal("hello for tests", index.Packages.First(p => p.Name == "hello").Stanza.Raw["Description"]);
    }

    [Fact]
    public async Task BodyModifiedAfterSigning_IsSignatureInvalid()
    {
        var repo = new FakeRepository(server, Keys);
        repo.Publish(mutateSigned: s => s.Replace("Origin: Initrd Test", "Origin: Initrd Evil"));
        await LoadFails(repo, RepositoryErrorKind.SignatureInvalid);
        repo.Publish();
        await LoadSucceeds(repo);
    }

    [Fact]
    public async Task UnsignedTextAfterTheSignature_IsRefused()
    {
        var repo = new FakeRepository(server, Keys);
        repo.Publish(mutateSigned: s => s + "\nSHA256:\n 0000000000000000000000000000000000000000000000000000000000000000 1 main/x\n");
        await LoadFails(repo, RepositoryErrorKind.SignatureInvalid);
        repo.Publish(mutateSigned: s => "Origin: Evil\n" + s);
        await LoadFails(repo, RepositoryErrorKind.SignatureInvalid);
        repo.Publish();
        await LoadSucceeds(repo);
    }

    [Fact]
    public async Task PlainTextInRelease_IsUnsigned()
    {
        var repo = NewRepository();
        server.Set($"{repo.SuiteDir}/InRelease", "Origin: Initrd Test\nSuite: testing\n"u8.ToArray());
        await LoadFails(repo, RepositoryErrorKind.Unsigned);
    }

    [Fact]
    public async Task SignedByUnknownKey_IsUnknownSigningKey()
    {
        var repo = new FakeRepository(server, Keys) { SigningKey = Keys.Unknown };
        repo.Publish();
        var e = await LoadFails(repo, RepositoryErrorKind.UnknownSigningKey);
        Assert.Contains(Keys.Unknown[^16..], e.Message, StringComparison.OrdinalIgnoreCase);
        repo.SigningKey = Keys.Trusted;
        repo.Publish();
        await LoadSucceeds(repo);
    }

    [Fact]
    public async Task SignedByExpiredKey_IsSigningKeyExpired()
    {
        var repo = new FakeRepository(server, Keys) { SigningKey = Keys.Expired };
        repo.Publish();
        await LoadFails(repo, RepositoryErrorKind.SigningKeyExpired);
        repo.SigningKey = Keys.Trusted;
        repo.Publish();
        await LoadSucceeds(repo);
    }

    [Fact]
    public async Task ValidUntilPassed_IsExpired_UnlessAllowed()
    {
        var repo = new FakeRepository(server, Keys) { Date = DateTimeOffset.UtcNow.AddDays(-30), ValidUntil = DateTimeOffset.UtcNow.AddDays(-23) };
        repo.Publish();
        var e = await LoadFails(repo, RepositoryErrorKind.Expired);
        Assert.Contains("AllowExpiredRepositoryMetadata=true", e.Message);
        await LoadSucceeds(repo, new RepositoryOptions { AllowExpired = true, RetryDelay = Fast.RetryDelay });
        repo.ValidUntil = DateTimeOffset.UtcNow.AddDays(7);
        repo.Publish();
        await LoadSucceeds(repo);
    }

    [Fact]
    public async Task ValidUntil_IsCheckedAgainstTheInjectedClock_AlsoForTheCachedCopy()
    {
        var repo = NewRepository();
        var clock = new FixedTime(DateTimeOffset.UtcNow);
        using (var client = NewClient(clock))
            await client.LoadAsync(repo.Spec(), "amd64", Fast, Ct);
        clock.Now = repo.ValidUntil!.Value.AddMinutes(1);
        // Within the freshness window the cached InRelease is used without a request, but Valid-Until still holds.
        await LoadFails(repo, RepositoryErrorKind.Expired, new RepositoryOptions { MetadataMaxAge = TimeSpan.FromDays(30) }, time: clock);
        await LoadFails(repo, RepositoryErrorKind.Expired, new RepositoryOptions { Offline = true }, time: clock);
    }

    [Fact]
    public async Task PackagesWithWrongHash_IsHashMismatch_AndIsNotRetriedOrCached()
    {
        var repo = NewRepository();
        var wrong = repo.PackagesXz.ToArray();
        wrong[^20] ^= 0xff;
        server.Set(repo.PackagesXzByHashPath, wrong);
        server.Set(repo.PackagesXzPath, wrong);
        var e = await LoadFails(repo, RepositoryErrorKind.HashMismatch);
        Assert.Contains(repo.PackagesXzSha256, e.Message);
        Assert.Equal(1, server.CountRequests(p => p == repo.PackagesXzByHashPath));
        repo.Publish();
        await LoadSucceeds(repo);
    }

    [Fact]
    public async Task TruncatedPackages_IsSizeMismatch()
    {
        var repo = NewRepository();
        var truncated = repo.PackagesXz[..^40];
        server.Set(repo.PackagesXzByHashPath, truncated);
        await LoadFails(repo, RepositoryErrorKind.SizeMismatch);
        // Longer than the Release says: refused as soon as the extra bytes arrive.
        server.Set(repo.PackagesXzByHashPath, [.. repo.PackagesXz, .. new byte[1 << 20]]);
        await LoadFails(repo, RepositoryErrorKind.SizeMismatch);
        repo.Publish();
        await LoadSucceeds(repo);
    }

    [Fact]
    public async Task ConnectionCutMidBody_IsRetried()
    {
        var repo = NewRepository();
        var calls = 0;
        server.Routes[repo.PackagesXzByHashPath] = _ => Interlocked.Increment(ref calls) == 1
            ? new TestResponse(200, repo.PackagesXz, CutAfter: repo.PackagesXz.Length / 2)
            : TestResponse.Ok(repo.PackagesXz);
        await LoadSucceeds(repo);
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task ServerErrors_AreRetriedWithBackoff_ThenUnreachable()
    {
        var repo = NewRepository();
        var calls = 0;
        server.Routes[$"{repo.SuiteDir}/InRelease"] = _ => new TestResponse(503, "busy"u8.ToArray());
        await LoadFails(repo, RepositoryErrorKind.Unreachable);
        Assert.Equal(Fast.MaxAttempts, server.CountRequests(p => p.EndsWith("/InRelease")));

        repo.Publish();
        server.Routes[repo.PackagesXzByHashPath] = _ => Interlocked.Increment(ref calls) <= 2
            ? new TestResponse(503, "busy"u8.ToArray())
            : TestResponse.Ok(repo.PackagesXz);
        await LoadSucceeds(repo);
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task MalformedStanza_IsMalformed()
    {
        var repo = new FakeRepository(server, Keys);
        repo.Packages = FakeRepository.Stanza("hello", "1.0-1", "amd64") + "\nPackage: broken\nVersion 1.0\n";
        repo.Publish();
        var e = await LoadFails(repo, RepositoryErrorKind.Malformed);
        Assert.Contains("Packages.xz", e.Message);

        repo.Packages = "Package: nosum\nVersion: 1\nArchitecture: amd64\nFilename: pool/n.deb\nSize: 1\n";
        repo.Publish();
        await LoadFails(repo, RepositoryErrorKind.Malformed);

        repo.Packages = FakeRepository.Stanza("escape", "1", "amd64").Replace("Filename: pool/", "Filename: ../../");
        repo.Publish();
        await LoadFails(repo, RepositoryErrorKind.Malformed);

        repo.Packages = FakeRepository.Stanza("hello", "1.0-1", "amd64");
        repo.Publish();
        await LoadSucceeds(repo);
    }

    [Fact]
    public async Task MalformedRelease_IsMalformed()
    {
        var repo = new FakeRepository(server, Keys);
        repo.Publish(mutateRelease: r => r.Replace("SHA256:\n", "SHA256:\n nothex 12 main/binary-amd64/Packages.bz2\n"));
        await LoadFails(repo, RepositoryErrorKind.Malformed);
        repo.Publish(mutateRelease: r => r.Replace("Valid-Until: ", "Valid-Until: someday "));
        await LoadFails(repo, RepositoryErrorKind.Malformed);
        repo.Publish(mutateRelease: r => r[..r.IndexOf("SHA256:", StringComparison.Ordinal)]);
        await LoadFails(repo, RepositoryErrorKind.Malformed);
        repo.Publish();
        await LoadSucceeds(repo);
    }

    [Fact]
    public async Task MissingPackages_IsNotFound_WithoutRetries()
    {
        var repo = NewRepository();
        server.Routes.TryRemove(repo.PackagesXzByHashPath, out _);
        server.Routes.TryRemove(repo.PackagesXzPath, out _);
        await LoadFails(repo, RepositoryErrorKind.NotFound);
        Assert.Equal(1, server.CountRequests(p => p == repo.PackagesXzByHashPath));
        Assert.Equal(1, server.CountRequests(p => p == repo.PackagesXzPath));
        repo.Publish();
        await LoadSucceeds(repo);
    }

    [Fact]
    public async Task MissingByHash_FallsBackToThePlainPath()
    {
        var repo = NewRepository();
        server.Routes.TryRemove(repo.PackagesXzByHashPath, out _);
        await LoadSucceeds(repo);
        Assert.Equal(1, server.CountRequests(p => p == repo.PackagesXzPath));
    }

    [Fact]
    public async Task MissingInRelease_IsNotFound()
    {
        var repo = NewRepository();
        await LoadFails(repo, RepositoryErrorKind.NotFound, spec: repo.Spec() with { Suite = "nosuchsuite" });
    }

    [Fact]
    public async Task AnotherSuitesRelease_IsSuiteMismatch()
    {
        var repo = new FakeRepository(server, Keys);
        repo.Publish(mutateRelease: r => r.Replace("Suite: testing", "Suite: stable").Replace("Codename: testing", "Codename: other"));
        await LoadFails(repo, RepositoryErrorKind.SuiteMismatch);
    }

    [Fact]
    public async Task UnsupportedArchitectureOrComponent()
    {
        var repo = NewRepository();
        await LoadFails(repo, RepositoryErrorKind.ArchitectureUnsupported, architecture: "riscv64");
        // Listed in Architectures, but the suite has no index for it.
        await LoadFails(repo, RepositoryErrorKind.ComponentUnsupported, architecture: "arm64");
        await LoadFails(repo, RepositoryErrorKind.ComponentUnsupported, spec: repo.Spec() with { Components = ["contrib"] });
    }

    [Fact]
    public async Task MissingKeyring_IsKeyringMissing()
    {
        var repo = NewRepository();
        await LoadFails(repo, RepositoryErrorKind.KeyringMissing, spec: repo.Spec("/nonexistent/initrd-test-keyring.gpg"));
    }

    [Fact]
    public async Task ArmouredKeyringFile_AndInlineKey_Work()
    {
        var repo = NewRepository();
        using (var client = NewClient())
            Assert.NotEmpty((await client.LoadAsync(repo.Spec(Keys.ArmoredKeyringPath), "amd64", Fast, Ct)).Packages);
        using (var client = NewClient())
            Assert.NotEmpty((await client.LoadAsync(repo.Spec(File.ReadAllText(Keys.ArmoredKeyringPath)), "amd64", Fast, Ct)).Packages);
    }

    [Fact]
    public async Task ArchitectureAll_IsReadFromBinaryAll_OnlyWhenTheReleaseSaysSo()
    {
        var repo = new FakeRepository(server, Keys) { AllPackages = FakeRepository.Stanza("only-in-all", "2", "all") };
        repo.Publish();
        var index = await LoadSucceeds(repo);
        Assert.Contains(index.Packages, p => p.Name == "only-in-all" && p.Origin.IndexPath == "main/binary-all/Packages");
        Assert.Equal(2, index.IndexFiles.Count);

        // With No-Support-for-Architecture-all: Packages, arch:all packages are in binary-amd64 and binary-all is not read (apt's rule).
        server.Requests.Clear();
        repo.NoSupportForArchitectureAll = true;
        repo.Publish();
        index = await LoadSucceeds(repo);
        Assert.DoesNotContain(index.Packages, p => p.Name == "only-in-all");
        Assert.Equal(0, server.CountRequests(p => p.Contains("/binary-all/")));
    }

    [Fact]
    public async Task ArchitectureAllInBothIndices_CountsOnce()
    {
        var repo = new FakeRepository(server, Keys) { AllPackages = FakeRepository.Stanza("hello-data", "1.0-1", "all") };
        repo.Publish();
        var index = await LoadSucceeds(repo);
        Assert.Single(index.Packages, p => p.Name == "hello-data");
    }

    [Fact]
    public async Task SecondLoad_UsesTheCache_ConditionalGetAndFreshnessWindow()
    {
        var repo = NewRepository();
        var etag = "\"v1\"";
        var inRelease = $"{repo.SuiteDir}/InRelease";
        var signed = server.Routes[inRelease](new TestRequest(inRelease, new Dictionary<string, string>())).Body;
        server.Routes[inRelease] = r => r.Headers.TryGetValue("If-None-Match", out var tag) && tag == etag
            ? new TestResponse(304, [])
            : new TestResponse(200, signed, new Dictionary<string, string> { ["ETag"] = etag });

        await LoadSucceeds(repo);
        server.Requests.Clear();
        var second = await LoadSucceeds(repo);
        Assert.Single(server.Requests);
        Assert.True(server.Requests.Single().Headers.ContainsKey("If-None-Match"));
        Assert.NotEmpty(second.Packages);

        server.Requests.Clear();
        await LoadSucceeds(repo, new RepositoryOptions { MetadataMaxAge = TimeSpan.FromHours(1) });
        await LoadSucceeds(repo, new RepositoryOptions { Offline = true });
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task Offline_WithoutCache_IsNotCached()
    {
        var repo = NewRepository();
        await LoadFails(repo, RepositoryErrorKind.NotCached, new RepositoryOptions { Offline = true });
        Assert.Empty(server.Requests);
    }

    [Fact]
    public async Task CorruptCacheFiles_AreNotTrusted()
    {
        var repo = NewRepository();
        await LoadSucceeds(repo);
        var byHash = Path.Combine(cacheDir.Path, "by-hash", "sha256");
        // Every cached form of the index: the compressed file, its decompressed text and the parsed-index file.
        var parsed = Directory.EnumerateFiles(Path.Combine(cacheDir.Path, "parsed"), "*", SearchOption.AllDirectories).ToList();
        Assert.NotEmpty(parsed);
        foreach (var file in Directory.EnumerateFiles(byHash).Concat(parsed))
        {
            var bytes = File.ReadAllBytes(file);
            bytes[bytes.Length / 2] ^= 0x55;
            File.WriteAllBytes(file, bytes);
        }
        server.Requests.Clear();
        await LoadSucceeds(repo);
        Assert.Equal(1, server.CountRequests(p => p == repo.PackagesXzByHashPath));
    }

    [Fact]
    public async Task ConcurrentLoads_ShareOneCache()
    {
        var repo = NewRepository();
        var loads = Enumerable.Range(0, 6).Select(async _ =>
        {
            using var client = NewClient();
            return await client.LoadAsync(repo.Spec(), "amd64", Fast, Ct);
        });
        var results = await Task.WhenAll(loads);
        Assert.All(results, r => Assert.Equal(2, r.Packages.Count));
        AssertCacheConsistent();
    }
}
