using System.Text;
using Initrd.Apt.Repositories;
using Initrd.Formats.Deb;
using Initrd.Testing;

namespace Initrd.Apt.Tests.Repositories;

/// <summary>
/// The two caches that make a warm load cheap: the parsed-index file (<see cref="ParsedIndexCache"/>) and the
/// remembered signature verdicts (<see cref="SignatureCache"/>). Each must give exactly what the slow path gives,
/// and anything damaged, truncated or made for other input must be rebuilt, never trusted.
/// </summary>
public sealed class MetadataCacheLayersTests(GpgFixture gpg) : IClassFixture<GpgFixture>, IAsyncLifetime
{
    static readonly RepositoryOptions Fast = new() { RetryDelay = TimeSpan.FromMilliseconds(10), MaxAttempts = 3 };
    const string Key = "1111111111111111111111111111111111111111111111111111111111111111";
    static readonly PackageOrigin Origin = new("http://127.0.0.1/debian", "testing", "main", "main/binary-amd64/Packages");

    readonly TestHttpServer server = new();
    readonly TempDirectory cacheDir = new("initrd-metadata-layers");
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    public ValueTask InitializeAsync() => ValueTask.CompletedTask;

    public async ValueTask DisposeAsync()
    {
        await server.DisposeAsync();
        cacheDir.Dispose();
    }

    const string Index =
        "Package: base-files\nEssential: yes\nVersion: 1:13.8\nArchitecture: amd64\nMulti-Arch: foreign\n" +
        "Depends: libc6 (>= 2.34), awk | mawk\nFilename: pool/main/b/base-files/base-files_13.8_amd64.deb\nSize: 73000\n" +
        "SHA256: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\nDescription: Debian base system\n long text\n .\n more\n\n" +
        "Package: mawk\nVersion: 1.3.4.20250131-1\nArchitecture: amd64\nProvides: awk, x-awk (= 1.3)\nReplaces: gawk (<< 1)\n" +
        "Priority: required\nFilename: pool/main/m/mawk/mawk_1.3.4_amd64.deb\nSize: 12\n" +
        "SHA256: bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb\n\n" +
        "Package: libu-doc\nVersion: 2\nArchitecture: all\nSection: dõc\nFilename: pool/main/l/libu/libu-doc_2_all.deb\nSize: 1\n" +
        "SHA256: cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n";

    static byte[] Build(string index, string key = Key, string variant = "slim1")
    {
        var builder = new ParsedIndexCache.Builder(key, variant);
        foreach (var paragraph in Deb822.Parse(index))
        {
            var stanza = new PackageStanza(paragraph);
            builder.Add(new RepositoryPackage(stanza, Origin, stanza.Filename!, stanza.Size!.Value, stanza.Sha256!), paragraph);
        }
        var output = new MemoryStream();
        builder.WriteTo(output);
        return output.ToArray();
    }

    static List<RepositoryPackage>? Read(byte[] data, string key = Key, string variant = "slim1") =>
        ParsedIndexCache.TryRead(data, key, variant, Origin, "http://127.0.0.1/debian/dists/testing/main/binary-amd64/Packages.xz", out _);

    [Fact]
    public void ParsedIndex_RoundTrip_GivesTheSamePackagesAndParagraphs()
    {
        var expected = Deb822.Parse(Index).Select(p => new PackageStanza(p)).ToList();
        var read = Read(Build(Index));
        Assert.NotNull(read);
        Assert.Equal(expected.Count, read.Count);
        for (int i = 0; i < expected.Count; i++)
        {
            var (e, p) = (expected[i], read[i]);
            Assert.Equal(e.Package, p.Name);
            Assert.Equal(e.Version.ToString(), p.Version.ToString());
            Assert.Equal(e.Architecture, p.Architecture);
            Assert.Equal(e.MultiArch, p.MultiArch);
            Assert.Equal(e.Essential, p.Essential);
            Assert.Equal(e.Raw.GetValueOrDefault("Provides"), p.ProvidesField);
            Assert.Equal(e.Raw.GetValueOrDefault("Replaces"), p.ReplacesField);
            Assert.Equal(e.Filename, p.Filename);
            Assert.Equal(e.Size, p.Size);
            Assert.Equal(e.Sha256, p.Sha256);
            Assert.Same(Origin, p.Origin);
            // The paragraph parsed on demand is the same paragraph, field for field.
            Assert.Equal(e.Raw.Select(f => (f.Key, f.Value)), p.Stanza.Raw.Select(f => (f.Key, f.Value)));
            Assert.Equal(e.Depends.Select(g => g.ToString()), p.Stanza.Depends.Select(g => g.ToString()));
            Assert.Equal(e.Priority, p.Stanza.Priority);
        }
    }

    [Fact]
    public void ParsedIndex_DamagedOrTruncated_IsRejected()
    {
        var good = Build(Index);
        for (int at = 0; at < good.Length; at += Math.Max(1, good.Length / 97))
        {
            var bad = good.ToArray();
            bad[at] ^= 0x20;
            Assert.Null(Read(bad));
        }
        foreach (var length in (int[])[0, 1, 8, 40, good.Length / 2, good.Length - 1])
            Assert.Null(Read(good[..length]));
        Assert.Null(Read([.. good, 0]));
        Assert.NotNull(Read(good));
    }

    [Fact]
    public void ParsedIndex_ForAnotherKeyOrVariant_IsRejected()
    {
        var data = Build(Index);
        Assert.Null(ParsedIndexCache.TryRead(data, new string('2', 64), "slim1", Origin, "x", out var problem));
        Assert.Contains("another index file", problem);
        Assert.Null(ParsedIndexCache.TryRead(data, Key, "full", Origin, "x", out problem));
        Assert.Contains("another cache variant", problem);
    }

    [Fact]
    public void ParsedIndex_EmptyIndex_RoundTrips()
    {
        var output = new MemoryStream();
        new ParsedIndexCache.Builder(Key, "slim1").WriteTo(output);
        Assert.Empty(Read(output.ToArray())!);
    }

    // ------------------------------------------------------------------ through RepositoryClient

    FakeRepository NewRepository()
    {
        var repo = new FakeRepository(server, gpg.Keys)
        {
            Packages = FakeRepository.Stanza("hello", "1.0-1", "amd64", "Depends: libc6 (>= 2.36)\nProvides: greeting (= 1)\n") + "\n" +
                       FakeRepository.Stanza("hello-data", "1.0-1", "all"),
        };
        repo.Publish();
        return repo;
    }

    string ParsedDirectory => Path.Combine(cacheDir.Path, "parsed");

    async Task<RepositoryIndex> Load(FakeRepository repo, ISignatureVerifier? verifier = null, TimeProvider? time = null,
        bool cacheSignatures = true, string? keyring = null)
    {
        using var client = new RepositoryClient(new MetadataCache(cacheDir.Path), verifier: verifier, time: time) { CacheSignatures = cacheSignatures };
        return await client.LoadAsync(repo.Spec(keyring), "amd64", Fast, Ct);
    }

    static void AssertSamePackages(RepositoryIndex expected, RepositoryIndex actual)
    {
        static string Describe(RepositoryPackage p) =>
            $"{p.Name} {p.Version} {p.Architecture} {p.MultiArch} {p.Essential} {p.ProvidesField} {p.Filename} {p.Size} {p.Sha256} " +
            $"{p.Origin} [{string.Join("|", p.Stanza.Raw.Select(f => f.Key + "=" + f.Value))}]";
        Assert.Equal(expected.Packages.Select(Describe), actual.Packages.Select(Describe));
    }

    [Fact]
    public async Task SecondLoad_ReadsTheParsedIndex_WithoutTheTextIndex()
    {
        var repo = NewRepository();
        var first = await Load(repo);
        var parsed = Assert.Single(Directory.EnumerateFiles(ParsedDirectory, "*", SearchOption.AllDirectories));
        Assert.EndsWith(repo.PackagesXzSha256, parsed);

        // With the text index and the compressed file gone, only the parsed file can answer.
        Directory.Delete(Path.Combine(cacheDir.Path, "by-hash"), recursive: true);
        server.Requests.Clear();
        var second = await Load(repo);
        AssertSamePackages(first, second);
        Assert.Equal(0, server.CountRequests(p => p.Contains("/binary-amd64/")));
    }

    [Fact]
    public async Task DamagedParsedIndex_IsRebuiltFromTheVerifiedIndex()
    {
        var repo = NewRepository();
        var first = await Load(repo);
        var parsed = Directory.EnumerateFiles(ParsedDirectory, "*", SearchOption.AllDirectories).Single();
        var good = File.ReadAllBytes(parsed);

        foreach (var damage in (Func<byte[], byte[]>[])[b => b[..(b.Length / 2)], b => { var c = b.ToArray(); c[c.Length / 3] ^= 1; return c; }, _ => []])
        {
            File.WriteAllBytes(parsed, damage(good));
            server.Requests.Clear();
            var again = await Load(repo);
            AssertSamePackages(first, again);
            // Rebuilt from the cached (hash-checked) text index, not downloaded, and the file is whole again.
            Assert.Equal(0, server.CountRequests(p => p.Contains("/binary-amd64/")));
            Assert.Equal(good, File.ReadAllBytes(parsed));
        }
        Assert.Empty(Directory.EnumerateFiles(cacheDir.Path, "*.tmp", SearchOption.AllDirectories));
    }

    [Fact]
    public async Task ParsedIndexOfAnotherIndex_IsNotUsed()
    {
        var repo = NewRepository();
        await Load(repo);
        var parsed = Directory.EnumerateFiles(ParsedDirectory, "*", SearchOption.AllDirectories).Single();
        var oldBytes = File.ReadAllBytes(parsed);

        // The archive moves on; someone copies the old parsed file under the new index's name.
        repo.Packages = FakeRepository.Stanza("goodbye", "2", "amd64");
        repo.Publish();
        var newName = Path.Combine(Path.GetDirectoryName(parsed)!, repo.PackagesXzSha256);
        File.WriteAllBytes(newName, oldBytes);
        var index = await Load(repo);
        Assert.Equal(["goodbye"], index.Packages.Select(p => p.Name));
    }

    /// <summary>Counts calls on the way to the real gpgv.</summary>
    sealed class CountingVerifier : ISignatureVerifier
    {
        readonly Gpgv inner = new();
        public int Calls;

        public Task<VerifiedContent> VerifyAsync(byte[] clearsigned, IReadOnlyList<string> keyrings, string location, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Calls);
            return inner.VerifyAsync(clearsigned, keyrings, location, cancellationToken);
        }
    }

    [Fact]
    public async Task SignatureVerdict_IsReusedForTheSameBytesAndKeyrings_ForADayAtMost()
    {
        var repo = NewRepository();
        var verifier = new CountingVerifier();
        var clock = new FixedTime(DateTimeOffset.UtcNow);
        var first = await Load(repo, verifier, clock);
        Assert.Equal(1, verifier.Calls);

        var second = await Load(repo, verifier, clock);
        Assert.Equal(1, verifier.Calls);
        Assert.Equal(first.SignedBy, second.SignedBy);
        Assert.Equal(first.Release.Suite, second.Release.Suite);

        // Another keyring (here the same key, armoured): another entry.
        await Load(repo, verifier, clock, keyring: gpg.Keys.ArmoredKeyringPath);
        Assert.Equal(2, verifier.Calls);

        // A day later gpgv looks again (keys expire), and the fresh verdict is reused after that.
        clock.Now += SignatureCache.MaxAge + TimeSpan.FromMinutes(1);
        await Load(repo, verifier, clock);
        Assert.Equal(3, verifier.Calls);
        await Load(repo, verifier, clock);
        Assert.Equal(3, verifier.Calls);

        // A clock set back before the verdict does not make it valid either.
        clock.Now -= TimeSpan.FromDays(3);
        await Load(repo, verifier, clock);
        Assert.Equal(4, verifier.Calls);

        // New bytes (a new Release): verified.
        repo.Date = repo.Date.AddMinutes(1);
        repo.Publish();
        clock.Now = DateTimeOffset.UtcNow;
        await Load(repo, verifier, clock);
        Assert.Equal(5, verifier.Calls);
    }

    [Fact]
    public async Task SignatureVerdict_TamperedOrDamagedEntry_IsNotTrusted()
    {
        var repo = NewRepository();
        var verifier = new CountingVerifier();
        await Load(repo, verifier);
        var entry = Directory.EnumerateFiles(Path.Combine(cacheDir.Path, "verified")).Single();
        var json = File.ReadAllText(entry);

        // The entry claims another InRelease (e.g. copied from another repository's entry).
        File.WriteAllText(entry, System.Text.RegularExpressions.Regex.Replace(json, "\"InReleaseSha256\":\"[0-9a-f]{64}\"",
            $"\"InReleaseSha256\":\"{new string('0', 64)}\""));
        await Load(repo, verifier);
        Assert.Equal(2, verifier.Calls);

        File.WriteAllText(entry, json[..(json.Length / 2)]);
        await Load(repo, verifier);
        Assert.Equal(3, verifier.Calls);

        await Load(repo, verifier);
        Assert.Equal(3, verifier.Calls);
    }

    [Fact]
    public async Task RefusedSignature_IsNeverRemembered()
    {
        var repo = new FakeRepository(server, gpg.Keys);
        repo.Publish(mutateSigned: s => s.Replace("Origin: Initrd Test", "Origin: Initrd Evil"));
        var verifier = new CountingVerifier();
        for (int i = 1; i <= 2; i++)
        {
            var e = await Assert.ThrowsAsync<RepositoryException>(() => Load(repo, verifier));
            Assert.Equal(RepositoryErrorKind.SignatureInvalid, e.Kind);
            Assert.Equal(i, verifier.Calls);
        }
        Assert.False(Directory.Exists(Path.Combine(cacheDir.Path, "verified")) &&
                     Directory.EnumerateFiles(Path.Combine(cacheDir.Path, "verified")).Any());
    }

    [Fact]
    public async Task OtherVerifiers_AreNotCachedByDefault()
    {
        var repo = NewRepository();
        var verifier = new CountingVerifier();
        using (var client = new RepositoryClient(new MetadataCache(cacheDir.Path), verifier: verifier))
        {
            Assert.False(client.CacheSignatures);
            await client.LoadAsync(repo.Spec(), "amd64", Fast, Ct);
            await client.LoadAsync(repo.Spec(), "amd64", Fast, Ct);
        }
        Assert.Equal(2, verifier.Calls);
        using var gpgvClient = new RepositoryClient(new MetadataCache(cacheDir.Path));
        Assert.True(gpgvClient.CacheSignatures);
    }

    [Fact]
    public void SignatureKey_DependsOnBytesAndKeyringContent()
    {
        using var dir = new TempDirectory("initrd-sigkey");
        var keyring = dir.Combine("k.gpg");
        File.WriteAllBytes(keyring, [1, 2, 3]);
        var content = Encoding.UTF8.GetBytes("signed");
        var k1 = SignatureCache.KeyFor(content, [keyring]);
        Assert.NotNull(k1);
        Assert.NotEqual(k1, SignatureCache.KeyFor(Encoding.UTF8.GetBytes("signed2"), [keyring]));
        File.WriteAllBytes(keyring, [1, 2, 4]);
        Assert.NotEqual(k1, SignatureCache.KeyFor(content, [keyring]));
        Assert.Null(SignatureCache.KeyFor(content, [dir.Combine("missing.gpg")]));
        Assert.Null(SignatureCache.KeyFor(content, []));
    }
}
