using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using Initrd.Formats.Compression;
using Initrd.Formats.Deb;

namespace Initrd.Apt.Repositories;

/// <summary>How <see cref="RepositoryClient"/> loads metadata.</summary>
public sealed class RepositoryOptions
{
    /// <summary>Accept a Release file whose Valid-Until has passed (archived snapshots). Default false.</summary>
    public bool AllowExpired { get; init; }

    /// <summary>
    /// How long a cached InRelease is used without asking the server again (its signature and Valid-Until are
    /// still checked every time). Default zero: always revalidate, which costs one small conditional request.
    /// </summary>
    public TimeSpan MetadataMaxAge { get; init; } = TimeSpan.Zero;

    /// <summary>Use only the cache; fail with <see cref="RepositoryErrorKind.NotCached"/> when something is missing.</summary>
    public bool Offline { get; init; }

    /// <summary>
    /// Keep every field of the Packages paragraphs. By default fields no build step reads (Description,
    /// Description-md5, Maintainer, Original-Maintainer, Homepage, Tag, MD5sum, SHA1, SHA512) are dropped when
    /// the index is cached, which makes loading ~40% faster and smaller in memory.
    /// </summary>
    public bool KeepAllFields { get; init; }

    /// <summary>Attempts per download for transient failures (5xx, 408, 429, timeouts, broken connections). Default 4.</summary>
    public int MaxAttempts { get; init; } = 4;

    /// <summary>Delay before the first retry; doubled for each further one. Default 0.5 s.</summary>
    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(0.5);

    /// <summary>Time limit of one attempt (request and body). Default 5 minutes.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromMinutes(5);

    internal static readonly RepositoryOptions Default = new();
}

/// <summary>Where a package's paragraph came from; shared by all packages of one index file.</summary>
/// <param name="RepositoryUri">The archive root, without a trailing slash.</param>
/// <param name="Suite">The suite directory under dists/ (as the spec names it).</param>
/// <param name="Component">"main"…</param>
/// <param name="IndexPath">The Packages index, relative to dists/SUITE/ (e.g. "main/binary-amd64/Packages").</param>
public sealed record PackageOrigin(string RepositoryUri, string Suite, string Component, string IndexPath);

/// <summary>A package of a repository index: its typed paragraph and its provenance, as a lock file records it.</summary>
/// <remarks>
/// The fields every package of the universe is indexed by (name, version, architecture, Multi-Arch, Essential,
/// Provides, Replaces) are held directly. The typed paragraph (<see cref="Stanza"/>) is either given, or made on
/// first use from the paragraph's text kept in a parsed-index cache file (<see cref="ParsedIndexCache"/>): a
/// resolution looks at a few hundred of the ~70,000 paragraphs, so the others are never parsed.
/// </remarks>
public sealed class RepositoryPackage
{
    PackageStanza? stanza;
    readonly ParagraphText? text;

    public RepositoryPackage(PackageStanza stanza, PackageOrigin origin, string filename, long size, string sha256)
    {
        ArgumentNullException.ThrowIfNull(stanza);
        this.stanza = stanza;
        Origin = origin;
        Filename = filename;
        Size = size;
        Sha256 = sha256;
        Name = stanza.Package;
        Version = stanza.Version;
        Architecture = stanza.Architecture;
        MultiArch = stanza.MultiArch;
        Essential = stanza.Essential;
        ProvidesField = stanza.Raw.GetValueOrDefault("Provides");
        ReplacesField = stanza.Raw.GetValueOrDefault("Replaces");
    }

    /// <summary>A package read back from a parsed-index cache: the paragraph is parsed from <paramref name="text"/> on first use.</summary>
    internal RepositoryPackage(string name, DebianVersion version, string architecture, MultiArch multiArch, bool essential,
        string? provides, string? replaces, PackageOrigin origin, string filename, long size, string sha256, ParagraphText text)
    {
        Name = name;
        Version = version;
        Architecture = architecture;
        MultiArch = multiArch;
        Essential = essential;
        ProvidesField = provides;
        ReplacesField = replaces;
        Origin = origin;
        Filename = filename;
        Size = size;
        Sha256 = sha256;
        this.text = text;
    }

    /// <summary>The typed paragraph (for a cached index: parsed now, on first use; a benign race between threads parses it twice).</summary>
    public PackageStanza Stanza => stanza ??= text!.Parse();

    public PackageOrigin Origin { get; }
    public string Name { get; }
    public DebianVersion Version { get; }
    public string Architecture { get; }

    /// <summary>The Multi-Arch field (<see cref="PackageStanza.MultiArch"/>).</summary>
    public MultiArch MultiArch { get; }

    /// <summary><c>Essential: yes</c>.</summary>
    public bool Essential { get; }

    /// <summary>The raw Provides field, or null.</summary>
    public string? ProvidesField { get; }

    /// <summary>The raw Replaces field, or null.</summary>
    public string? ReplacesField { get; }

    /// <summary>The .deb's path relative to the repository URI (pool/…).</summary>
    public string Filename { get; }

    /// <summary>The .deb's size in bytes.</summary>
    public long Size { get; }

    /// <summary>The .deb's SHA-256, lowercase hex.</summary>
    public string Sha256 { get; }

    /// <summary>Where the .deb is downloaded from.</summary>
    public string DownloadUrl => $"{Origin.RepositoryUri}/{Filename}";

    public override string ToString() => $"{Name} {Version} {Architecture} ({Origin.Suite}/{Origin.Component})";
}

/// <summary>One index file that went into a <see cref="RepositoryIndex"/>.</summary>
/// <param name="Path">Relative to dists/SUITE/, as the Release file lists it (e.g. "main/binary-amd64/Packages.xz").</param>
/// <param name="Sha256">Its SHA-256 from the signed Release file.</param>
public sealed record IndexFileInfo(string Path, string Url, string Sha256, long Size);

/// <summary>Everything one suite offers for one architecture, verified.</summary>
public sealed class RepositoryIndex
{
    internal RepositoryIndex(RepositorySpec spec, string architecture, ReleaseFile release, IReadOnlyList<string> signedBy,
        IReadOnlyList<IndexFileInfo> indexFiles, IReadOnlyList<RepositoryPackage> packages)
    {
        Spec = spec;
        Architecture = architecture;
        Release = release;
        SignedBy = signedBy;
        IndexFiles = indexFiles;
        Packages = packages;
    }

    public RepositorySpec Spec { get; }
    public string Architecture { get; }
    public ReleaseFile Release { get; }

    /// <summary>Fingerprints of the keys whose signatures on the InRelease were good.</summary>
    public IReadOnlyList<string> SignedBy { get; }

    public IReadOnlyList<IndexFileInfo> IndexFiles { get; }
    public IReadOnlyList<RepositoryPackage> Packages { get; }
}

/// <summary>
/// Loads a suite's package index the way apt does, with apt's checks: InRelease (conditional GET, verified
/// with gpgv, Valid-Until checked), then for each component <c>COMPONENT/binary-ARCH/Packages</c> (and
/// <c>binary-all</c> when the Release says arch:all packages live only there), preferring .xz, then .gz, then
/// the plain file, by hash (<c>…/by-hash/SHA256/HASH</c>) when the Release offers it, each file checked
/// against the size and SHA-256 the signed Release lists before it is cached or parsed.
/// </summary>
public sealed class RepositoryClient : IDisposable
{
    /// <summary>The cached, decompressed index variant: every field, or fields a build uses (see <see cref="RepositoryOptions.KeepAllFields"/>).</summary>
    const string FullVariant = "full";
    const string SlimVariant = "slim1";

    /// <summary>The largest InRelease accepted (Debian's biggest is ~150 KB).</summary>
    const int MaxReleaseSize = 64 << 20;

    readonly MetadataCache cache;

    /// <summary>The content-addressed store this client downloads into.</summary>
    public MetadataCache Cache => cache;
    readonly HttpMessageInvoker http;
    readonly bool ownsHttp;
    readonly ISignatureVerifier verifier;
    readonly SignatureCache signatures;
    readonly TimeProvider time;

    /// <param name="cache">Where verified metadata is kept between builds.</param>
    /// <param name="http">HTTP seam; default a <see cref="SocketsHttpHandler"/> without content decoding.</param>
    /// <param name="verifier">Signature seam; default <see cref="Gpgv"/>.</param>
    /// <param name="time">Clock seam for Valid-Until and the freshness window; default the system clock.</param>
    public RepositoryClient(MetadataCache cache, HttpMessageInvoker? http = null, ISignatureVerifier? verifier = null,
        TimeProvider? time = null)
    {
        this.cache = cache;
        ownsHttp = http is null;
        this.http = http ?? new HttpMessageInvoker(new SocketsHttpHandler
        {
            // Index files are hashed as served; a transparent Content-Encoding must not change the bytes.
            AutomaticDecompression = DecompressionMethods.None,
            ConnectTimeout = TimeSpan.FromSeconds(30),
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
        });
        this.verifier = verifier ?? new Gpgv();
        signatures = new SignatureCache(cache);
        CacheSignatures = this.verifier is Gpgv;
        this.time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Whether a successful verification of an InRelease is remembered (<see cref="SignatureCache"/>), so the same
    /// bytes with the same keyrings are not given to the verifier again within a day. Default: on for gpgv, off for
    /// any other verifier.
    /// </summary>
    internal bool CacheSignatures { get; init; }

    /// <summary>Whether parsed indices are kept in and read from the cache (<see cref="ParsedIndexCache"/>). Default on.</summary>
    internal bool CacheParsedIndices { get; init; } = true;

    /// <summary>Receives one line per step (downloads, cache hits, timings), for diagnostic logs.</summary>
    public Action<string>? Log { get; init; }

    public void Dispose()
    {
        if (ownsHttp) http.Dispose();
    }

    /// <summary>Loads several suites in parallel (e.g. the three of <see cref="DefaultRepositories.For"/>).</summary>
    public async Task<IReadOnlyList<RepositoryIndex>> LoadAllAsync(IEnumerable<RepositorySpec> specs, string architecture,
        RepositoryOptions? options = null, CancellationToken cancellationToken = default) =>
        await Task.WhenAll(specs.Select(s => LoadAsync(s, architecture, options, cancellationToken))).ConfigureAwait(false);

    /// <summary>Loads one suite's packages for <paramref name="architecture"/> (plus Architecture: all).</summary>
    /// <exception cref="RepositoryException">See <see cref="RepositoryErrorKind"/>.</exception>
    public async Task<RepositoryIndex> LoadAsync(RepositorySpec spec, string architecture, RepositoryOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentException.ThrowIfNullOrWhiteSpace(architecture);
        options ??= RepositoryOptions.Default;
        if (spec.Components.Count == 0)
            throw new RepositoryException(RepositoryErrorKind.ComponentUnsupported, spec.SuiteUrl,
                $"The repository {spec} names no component. Give it at least one (e.g. main).");

        var (release, signedBy) = await LoadReleaseAsync(spec, options, cancellationToken).ConfigureAwait(false);
        var location = spec.SuiteUrl + "InRelease";
        if (spec.Architectures is { Count: > 0 } archs && !archs.Contains(architecture))
            return new RepositoryIndex(spec, architecture, release, signedBy, [], []);
        if (!release.SupportsArchitecture(architecture))
            throw new RepositoryException(RepositoryErrorKind.ArchitectureUnsupported, location,
                $"The repository {spec} does not support architecture '{architecture}' (it has: {string.Join(' ', release.Architectures)}). " +
                "Choose another Architecture, or restrict this repository to the architectures it has.");

        var targets = new List<(string Component, string BasePath, bool Optional)>();
        foreach (var component in spec.Components)
        {
            if (!release.SupportsComponent(component))
                throw new RepositoryException(RepositoryErrorKind.ComponentUnsupported, location,
                    $"The repository {spec} has no component '{component}' (it has: {string.Join(' ', release.Components)}). Fix the component list.");
            targets.Add((component, $"{component}/binary-{architecture}/Packages", false));
            if (architecture != "all" && release.HasArchitectureAllIndex())
                targets.Add((component, $"{component}/binary-all/Packages", true));
        }

        var loads = new List<Task<(IndexFileInfo File, List<RepositoryPackage> Packages)>>();
        foreach (var (component, basePath, optional) in targets)
        {
            var entry = ChooseIndexFile(release, basePath);
            if (entry is null)
            {
                if (optional) continue;
                throw new RepositoryException(RepositoryErrorKind.ComponentUnsupported, location,
                    $"The Release file of {spec} lists no {basePath} index (.xz, .gz or plain). The suite does not carry " +
                    $"'{component}' for {architecture}; fix the component or architecture.");
            }
            release.TryGetFile(basePath, out var uncompressed);
            var origin = new PackageOrigin(spec.Uri.TrimEnd('/'), spec.Suite, component, basePath);
            loads.Add(LoadIndexFileAsync(spec, release, entry, uncompressed, origin, options, cancellationToken));
        }
        var loaded = await Task.WhenAll(loads).ConfigureAwait(false);

        var packages = new List<RepositoryPackage>(loaded.Sum(l => l.Packages.Count));
        var seenAll = new HashSet<(string, string, string)>();
        var hasAllIndex = loaded.Any(l => l.Packages.Count > 0 && l.File.Path.Contains("/binary-all/", StringComparison.Ordinal));
        foreach (var (_, list) in loaded)
        {
            foreach (var p in list)
            {
                // An arch:all package listed in both binary-ARCH and binary-all (a repository mid-transition) counts once.
                if (hasAllIndex && p.Architecture == "all"
                    && !seenAll.Add((p.Origin.Component, p.Name, p.Stanza.Version.ToString())))
                    continue;
                packages.Add(p);
            }
        }
        return new RepositoryIndex(spec, architecture, release, signedBy, loaded.Select(l => l.File).ToList(), packages);
    }

    /// <summary>Preference among the variants the Release lists: xz (smallest), zstd, gzip, then the plain file.</summary>
    static ReleaseFileEntry? ChooseIndexFile(ReleaseFile release, string basePath)
    {
        foreach (var suffix in (string[])[".xz", ".zst", ".gz", ""])
            if (release.TryGetFile(basePath + suffix, out var entry)) return entry;
        return null;
    }

    // ---------------------------------------------------------------- InRelease

    enum ReleaseSource { Cache, NotModified, Network }

    async Task<(ReleaseFile Release, IReadOnlyList<string> SignedBy)> LoadReleaseAsync(RepositorySpec spec, RepositoryOptions options,
        CancellationToken cancellationToken)
    {
        var url = spec.SuiteUrl + "InRelease";
        var cached = cache.TryGetRelease(spec.Uri, spec.Suite);
        var now = time.GetUtcNow();
        var started = Stopwatch.GetTimestamp();

        if (cached is not null && (options.Offline || (cached.FetchedAt <= now && now - cached.FetchedAt <= options.MetadataMaxAge)))
        {
            try
            {
                var fromCache = await CheckReleaseAsync(spec, cached.Content, url, options, now, cancellationToken).ConfigureAwait(false);
                Log?.Invoke($"{url}: cached copy from {cached.FetchedAt:u} used and verified in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");
                return fromCache;
            }
            catch (RepositoryException e) when (!options.Offline && e.Kind == RepositoryErrorKind.Expired)
            {
                // Expired while it sat in the cache: the server may have a newer one.
            }
            catch (RepositoryException) when (!options.Offline)
            {
                cache.EvictRelease(spec.Uri, spec.Suite);
                cached = null;
            }
        }
        if (options.Offline)
            throw new RepositoryException(RepositoryErrorKind.NotCached, url,
                $"Offline mode, and {url} is not in the metadata cache ({cache.Root}). Load the repositories once while online.");

        var (status, content, etag, lastModified) = await SendAsync(url, options, cancellationToken, configure: request =>
        {
            if (cached?.ETag is { } e && EntityTagHeaderValue.TryParse(e, out var tag)) request.Headers.IfNoneMatch.Add(tag);
            else if (cached?.LastModified is { } lm && DateTimeOffset.TryParse(lm, out var since)) request.Headers.IfModifiedSince = since;
        }, handle: async (response, ct) =>
        {
            if (response.StatusCode == HttpStatusCode.NotModified && cached is not null)
                return (ReleaseSource.NotModified, cached.Content, cached.ETag, cached.LastModified);
            var body = await ReadLimitedAsync(response.Content, MaxReleaseSize, url, ct).ConfigureAwait(false);
            return (ReleaseSource.Network, body, response.Headers.ETag?.ToString(),
                response.Content.Headers.LastModified?.ToString("R"));
        }).ConfigureAwait(false);

        try
        {
            var fetched = Stopwatch.GetElapsedTime(started);
            var result = await CheckReleaseAsync(spec, content, url, options, now, cancellationToken).ConfigureAwait(false);
            if (status == ReleaseSource.Network) cache.SetRelease(spec.Uri, spec.Suite, content, etag, lastModified, now);
            else cache.TouchRelease(spec.Uri, spec.Suite, content, etag, lastModified, now);
            Log?.Invoke($"{url}: {(status == ReleaseSource.Network ? $"downloaded {content.Length} bytes" : "not modified")} in " +
                        $"{fetched.TotalMilliseconds:0} ms, verified in {(Stopwatch.GetElapsedTime(started) - fetched).TotalMilliseconds:0} ms");
            return result;
        }
        catch (RepositoryException e) when (status == ReleaseSource.NotModified && e.Kind != RepositoryErrorKind.Expired)
        {
            // The copy the server called current does not verify (keyring changed, file damaged): fetch afresh next time.
            cache.EvictRelease(spec.Uri, spec.Suite);
            throw;
        }
    }

    async Task<(ReleaseFile, IReadOnlyList<string>)> CheckReleaseAsync(RepositorySpec spec, byte[] content, string url,
        RepositoryOptions options, DateTimeOffset now, CancellationToken cancellationToken)
    {
        var key = CacheSignatures ? SignatureCache.KeyFor(content, spec.Keyrings) : null;
        VerifiedContent verified;
        if (key is not null && signatures.TryGet(key, content, url, now) is { } remembered)
        {
            verified = remembered;
            Log?.Invoke($"{url}: these bytes were verified with these keyrings less than {SignatureCache.MaxAge.TotalHours:0} h ago; the verifier is not run again");
        }
        else
        {
            verified = await verifier.VerifyAsync(content, spec.Keyrings, url, cancellationToken).ConfigureAwait(false);
            if (key is not null) signatures.TrySet(key, content, verified, now);
        }
        var release = ReleaseFile.Parse(verified.Body, url);
        if (!release.IsForSuite(spec.Suite))
            throw new RepositoryException(RepositoryErrorKind.SuiteMismatch, url,
                $"{url} is the signed Release file of suite '{release.Suite}' (codename '{release.Codename}'), not of '{spec.Suite}': " +
                "the mirror serves another suite's metadata (a replay or a misconfigured mirror). Use another mirror.");
        if (!options.AllowExpired && release.ValidUntil is { } validUntil && validUntil < now)
            throw RepositoryException.Expired(url, validUntil, now);
        return (release, verified.SignerFingerprints);
    }

    // ---------------------------------------------------------------- Packages

    async Task<(IndexFileInfo, List<RepositoryPackage>)> LoadIndexFileAsync(RepositorySpec spec, ReleaseFile release,
        ReleaseFileEntry entry, ReleaseFileEntry? uncompressed, PackageOrigin origin, RepositoryOptions options,
        CancellationToken cancellationToken)
    {
        var plainUrl = spec.SuiteUrl + entry.Path;
        var info = new IndexFileInfo(entry.Path, plainUrl, entry.Sha256, entry.Size);
        var variant = options.KeepAllFields ? FullVariant : SlimVariant;

        var started = Stopwatch.GetTimestamp();
        var parsedKind = ParsedIndexCache.KindFor(variant);
        if (CacheParsedIndices && cache.TryReadParsed(parsedKind, entry.Sha256) is { } parsedBytes)
        {
            var read = Stopwatch.GetElapsedTime(started);
            var fromCache = await Task.Run(() => ParsedIndexCache.TryRead(parsedBytes, entry.Sha256, variant, origin, plainUrl, out var problem)
                ?? ParsedCacheMiss(parsedKind, entry.Sha256, plainUrl, problem), cancellationToken).ConfigureAwait(false);
            if (fromCache is not null)
            {
                Log?.Invoke($"{plainUrl}: {fromCache.Count} packages from the parsed-index cache ({parsedBytes.Length} bytes read in " +
                            $"{read.TotalMilliseconds:0} ms, checked and loaded in {(Stopwatch.GetElapsedTime(started) - read).TotalMilliseconds:0} ms)");
                return (info, fromCache);
            }
            started = Stopwatch.GetTimestamp();
        }
        var derived = cache.TryGetDerived(entry.Sha256, variant);
        if (derived is not null)
            Log?.Invoke($"{plainUrl}: cached ({entry.Sha256[..12]}…, checked in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms)");
        else
        {
            if (options.Offline)
                throw new RepositoryException(RepositoryErrorKind.NotCached, plainUrl,
                    $"Offline mode, and {plainUrl} ({entry.Sha256}) is not in the metadata cache ({cache.Root}). Load the repositories once while online.");
            var compressed = cache.TryGetVerified(entry.Sha256, entry.Size);
            if (compressed is null)
            {
                compressed = await DownloadIndexAsync(spec, release, entry, options, cancellationToken).ConfigureAwait(false);
                Log?.Invoke($"{plainUrl}: downloaded {entry.Size} bytes in {Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms");
            }
            var decompressing = Stopwatch.GetTimestamp();
            derived = await Task.Run(() => Derive(compressed, entry, uncompressed, variant, plainUrl), cancellationToken).ConfigureAwait(false);
            Log?.Invoke($"{plainUrl}: decompressed to {derived.Value.Size} bytes ({variant}) in {Stopwatch.GetElapsedTime(decompressing).TotalMilliseconds:0} ms");
        }

        var path = derived.Value.Path;
        try
        {
            var parsing = Stopwatch.GetTimestamp();
            var builder = CacheParsedIndices ? new ParsedIndexCache.Builder(entry.Sha256, variant) : null;
            var packages = await Task.Run(() => Parse(path, origin, plainUrl, builder), cancellationToken).ConfigureAwait(false);
            Log?.Invoke($"{plainUrl}: {packages.Count} packages parsed in {Stopwatch.GetElapsedTime(parsing).TotalMilliseconds:0} ms");
            if (builder is not null)
            {
                var writing = Stopwatch.GetTimestamp();
                try
                {
                    await Task.Run(() => cache.WriteParsed(parsedKind, entry.Sha256, builder.WriteTo), cancellationToken).ConfigureAwait(false);
                    Log?.Invoke($"{plainUrl}: parsed-index cache written in {Stopwatch.GetElapsedTime(writing).TotalMilliseconds:0} ms");
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    Log?.Invoke($"{plainUrl}: parsed-index cache not written ({e.Message})");
                }
            }
            return (info, packages);
        }
        catch (RepositoryException)
        {
            // The index is signed but unusable; do not keep it around for a later load to stumble over.
            cache.EvictDerived(entry.Sha256, variant);
            cache.Evict(entry.Sha256);
            throw;
        }
    }

    /// <summary>Downloads an index file by hash when offered (falling back to its plain path on 404), into the cache.</summary>
    async Task<string> DownloadIndexAsync(RepositorySpec spec, ReleaseFile release, ReleaseFileEntry entry, RepositoryOptions options,
        CancellationToken cancellationToken)
    {
        var plainUrl = spec.SuiteUrl + entry.Path;
        if (release.AcquireByHash)
        {
            var dir = entry.Path.Contains('/') ? entry.Path[..entry.Path.LastIndexOf('/')] + "/" : "";
            var byHashUrl = $"{spec.SuiteUrl}{dir}by-hash/SHA256/{entry.Sha256}";
            try
            {
                return await FetchAsync(byHashUrl, entry.Sha256, entry.Size, options, cancellationToken).ConfigureAwait(false);
            }
            catch (RepositoryException e) when (e.Kind == RepositoryErrorKind.NotFound)
            {
                // Mirrors that copy dists/ without by-hash/ exist; the plain path is as good when it matches the hash.
            }
        }
        return await FetchAsync(plainUrl, entry.Sha256, entry.Size, options, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// The cached file with this SHA-256 and size, downloaded from <paramref name="url"/> first if the cache lacks
    /// it (retried like every request; written to a temporary file, checked, then renamed into the content-addressed
    /// store). Used for index files and for packages alike.
    /// </summary>
    /// <exception cref="RepositoryException">NotFound, Unreachable, SizeMismatch, HashMismatch, NotCached (offline).</exception>
    public async Task<string> FetchAsync(string url, string sha256, long size, RepositoryOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= RepositoryOptions.Default;
        if (cache.TryGetVerified(sha256, size) is { } cached) return cached;
        if (options.Offline)
            throw new RepositoryException(RepositoryErrorKind.NotCached, url,
                $"{url} is not in the cache and the build is offline. Build once with network access to fill the cache.");
        return await SendAsync(url, options, cancellationToken, configure: null, handle: async (response, ct) =>
        {
            using var writer = cache.BeginWrite(sha256, size, url);
            await using (var body = await response.Content.ReadAsStreamAsync(ct).ConfigureAwait(false))
                await body.CopyToAsync(writer.Stream, 1 << 16, ct).ConfigureAwait(false);
            return writer.Commit().Path;
        }).ConfigureAwait(false);
    }

    /// <summary>
    /// Decompresses a verified index file into the cache (dropping unneeded fields for the slim variant), checking
    /// the decompressed bytes against the Release's entry for the uncompressed file when it lists one.
    /// </summary>
    (string Path, string Sha256, long Size) Derive(string compressedPath, ReleaseFileEntry entry, ReleaseFileEntry? uncompressed,
        string variant, string url)
    {
        var format = entry.Path.EndsWith(".xz", StringComparison.Ordinal) ? CompressionFormat.Xz
            : entry.Path.EndsWith(".zst", StringComparison.Ordinal) ? CompressionFormat.Zstd
            : entry.Path.EndsWith(".gz", StringComparison.Ordinal) ? CompressionFormat.Gzip
            : CompressionFormat.None;
        using var writer = cache.BeginWrite(null, null, url);
        long fullSize;
        string fullHash;
        try
        {
            using var input = new FileStream(compressedPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
            using var decompressed = CompressionStreams.OpenRead(input, format);
            (fullSize, fullHash) = variant == SlimVariant
                ? PackagesFilter.Copy(decompressed, writer.Stream, PackagesFilter.SlimDroppedFields)
                : PackagesFilter.Copy(decompressed, writer.Stream, null);
        }
        catch (Exception e) when (e is InvalidDataException or IOException and not FileNotFoundException)
        {
            cache.Evict(entry.Sha256);
            throw RepositoryException.Malformed(url, $"cannot be decompressed ({e.Message})", e);
        }
        if (uncompressed is not null && (uncompressed.Size != fullSize || uncompressed.Sha256 != fullHash))
        {
            cache.Evict(entry.Sha256);
            var plain = url[..^(entry.Path.Length - uncompressed.Path.Length)];
            throw uncompressed.Size != fullSize
                ? RepositoryException.SizeMismatch(plain + " (decompressed)", uncompressed.Size, fullSize)
                : RepositoryException.HashMismatch(plain + " (decompressed)", uncompressed.Sha256, fullHash);
        }
        var result = writer.Commit();
        cache.SetDerived(entry.Sha256, variant, result.Sha256, result.Size);
        return result;
    }

    List<RepositoryPackage>? ParsedCacheMiss(string kind, string sha256, string url, string? problem)
    {
        Log?.Invoke($"{url}: parsed-index cache not used ({problem}); parsing the index again");
        cache.EvictParsed(kind, sha256);
        return null;
    }

    static List<RepositoryPackage> Parse(string path, PackageOrigin origin, string url, ParsedIndexCache.Builder? builder)
    {
        var packages = new List<RepositoryPackage>();
        try
        {
            using var reader = new StreamReader(path, Encoding.UTF8, detectEncodingFromByteOrderMarks: false,
                new FileStreamOptions { BufferSize = 1 << 16, Share = FileShare.ReadWrite | FileShare.Delete });
            foreach (var paragraph in Deb822.Parse(reader, url))
            {
                var stanza = new PackageStanza(paragraph, url);
                var filename = stanza.Filename;
                var sha256 = stanza.Sha256;
                if (filename is null || stanza.Size is not { } size || sha256 is null)
                    throw RepositoryException.Malformed(url,
                        $"the paragraph at line {paragraph.LineNumber} ({stanza}) lacks Filename, Size or SHA256, which a repository index must give");
                if (!MetadataCache.IsHash(sha256))
                    throw RepositoryException.Malformed(url, $"the paragraph at line {paragraph.LineNumber} ({stanza}) has SHA256 '{sha256}', not 64 lowercase hex digits");
                if (filename.StartsWith('/') || filename.Contains("..", StringComparison.Ordinal) || filename.Contains('\\'))
                    throw RepositoryException.Malformed(url, $"the paragraph at line {paragraph.LineNumber} ({stanza}) has Filename '{filename}', which leaves the archive");
                var package = new RepositoryPackage(stanza, origin, filename, size, sha256);
                packages.Add(package);
                builder?.Add(package, paragraph);
            }
        }
        catch (InvalidDataException e)
        {
            // Line numbers of the slim variant are those of the cached file, not of the original index.
            throw RepositoryException.Malformed(url, e.Message, e);
        }
        return packages;
    }

    // ---------------------------------------------------------------- HTTP

    /// <summary>A status that is worth another attempt (the server's or a proxy's temporary trouble).</summary>
    sealed class TransientStatusException(HttpStatusCode status) : Exception($"HTTP {(int)status} {status}");

    /// <summary>
    /// Sends a GET and hands a successful (or 304) response to <paramref name="handle"/>, retrying with exponential
    /// backoff when the request or the handler fails transiently: connection errors, timeouts, broken bodies,
    /// 5xx/408/429. 404/410 fail at once as NotFound; hash and size mismatches are never retried.
    /// </summary>
    async Task<T> SendAsync<T>(string url, RepositoryOptions options, CancellationToken cancellationToken,
        Action<HttpRequestMessage>? configure, Func<HttpResponseMessage, CancellationToken, Task<T>> handle)
    {
        var delay = options.RetryDelay;
        for (var attempt = 1; ; attempt++)
        {
            using var attemptToken = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            attemptToken.CancelAfter(options.RequestTimeout);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.UserAgent.Add(new ProductInfoHeaderValue("Initrd.Sdk", "1"));
                configure?.Invoke(request);
                using var response = await http.SendAsync(request, attemptToken.Token).ConfigureAwait(false);
                var status = (int)response.StatusCode;
                if (response.StatusCode is HttpStatusCode.NotFound or HttpStatusCode.Gone)
                    throw RepositoryException.NotFound(url, status);
                if (status >= 500 || response.StatusCode is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests)
                    throw new TransientStatusException(response.StatusCode);
                if (!response.IsSuccessStatusCode && response.StatusCode != HttpStatusCode.NotModified)
                    throw RepositoryException.Unreachable(url, $"the server answered HTTP {status} {response.ReasonPhrase}");
                return await handle(response, attemptToken.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (IsTransient(e, cancellationToken))
            {
                if (attempt >= options.MaxAttempts)
                    throw RepositoryException.Unreachable(url, $"{Describe(e)} (after {attempt} attempts)", e);
                await Task.Delay(delay, time, cancellationToken).ConfigureAwait(false);
                delay *= 2;
            }
        }
    }

    static bool IsTransient(Exception e, CancellationToken cancellationToken) => e switch
    {
        RepositoryException => false,
        TransientStatusException => true,
        OperationCanceledException => !cancellationToken.IsCancellationRequested, // our per-attempt timeout
        HttpRequestException or IOException => true,
        _ => false,
    };

    static string Describe(Exception e) => e switch
    {
        OperationCanceledException => "the request timed out",
        _ => e.InnerException is { } inner && e is HttpRequestException ? $"{e.Message} ({inner.Message})" : e.Message,
    };

    static async Task<byte[]> ReadLimitedAsync(HttpContent content, int limit, string url, CancellationToken ct)
    {
        await using var stream = await content.ReadAsStreamAsync(ct).ConfigureAwait(false);
        var buffer = new MemoryStream();
        var chunk = ArrayPool<byte>.Shared.Rent(1 << 16);
        try
        {
            int n;
            while ((n = await stream.ReadAsync(chunk, ct).ConfigureAwait(false)) > 0)
            {
                if (buffer.Length + n > limit)
                    throw RepositoryException.Malformed(url, $"it is larger than {limit >> 20} MiB, far beyond any real Release file");
                buffer.Write(chunk, 0, n);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(chunk);
        }
        return buffer.ToArray();
    }
}

/// <summary>
/// Copies a Packages index line by line, optionally leaving out fields (with their continuation lines), and
/// hashes the full input on the way, so the result can be checked against the Release's uncompressed entry.
/// </summary>
internal static class PackagesFilter
{
    /// <summary>Fields no build step reads: long texts, people, and checksums weaker than SHA256.</summary>
    public static readonly HashSet<string> SlimDroppedFields = new(StringComparer.OrdinalIgnoreCase)
    {
        "Description", "Description-md5", "Maintainer", "Original-Maintainer", "Homepage", "Tag", "MD5sum", "SHA1", "SHA512",
    };

    /// <returns>The size and SHA-256 of the full (unfiltered) input.</returns>
    public static (long Size, string Sha256) Copy(Stream input, Stream output, HashSet<string>? dropped)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        var buffer = ArrayPool<byte>.Shared.Rent(1 << 20);
        var lookup = dropped?.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> name = stackalloc char[64];
        long total = 0;
        var filled = 0;
        var dropping = false;
        try
        {
            while (true)
            {
                var n = input.Read(buffer, filled, buffer.Length - filled);
                if (n > 0)
                {
                    hash.AppendData(buffer, filled, n);
                    total += n;
                    filled += n;
                }
                if (lookup is null)
                {
                    output.Write(buffer, 0, filled);
                    filled = 0;
                    if (n == 0) break;
                    continue;
                }
                var data = buffer.AsSpan(0, filled);
                var consumed = 0;
                while (true)
                {
                    var rest = data[consumed..];
                    var newline = rest.IndexOf((byte)'\n');
                    if (newline < 0)
                    {
                        if (n > 0) break;
                        newline = rest.Length - 1; // the last line has no '\n'
                        if (rest.IsEmpty) break;
                    }
                    var line = rest[..(newline + 1)];
                    var first = line[0];
                    if (first is (byte)' ' or (byte)'\t')
                    {
                        if (line.TrimEnd("\r\n \t"u8).Length == 0) dropping = false; // a blank separator line
                    }
                    else if (first is (byte)'\n' or (byte)'\r')
                        dropping = false;
                    else
                    {
                        var colon = line.IndexOf((byte)':');
                        dropping = colon > 0 && colon <= name.Length
                                   && Encoding.ASCII.GetChars(line[..colon], name) == colon
                                   && lookup.Value.Contains(name[..colon]);
                    }
                    if (!dropping) output.Write(line);
                    consumed += line.Length;
                }
                if (n == 0) break;
                // Keep the incomplete last line; grow when one line fills the whole buffer.
                data[consumed..].CopyTo(buffer);
                filled -= consumed;
                if (filled == buffer.Length)
                {
                    var bigger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                    buffer.AsSpan(0, filled).CopyTo(bigger);
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = bigger;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
        return (total, Convert.ToHexStringLower(hash.GetHashAndReset()));
    }
}
