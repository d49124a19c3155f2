using Initrd.Apt.Lock;
using Initrd.Apt.Repositories;

namespace Initrd.Apt.Fetch;

/// <summary>One locked package and where its verified .deb is in the cache.</summary>
public sealed record FetchedPackage(LockedPackage Package, string Path, bool Downloaded);

/// <summary>
/// Brings every package a lock names into the shared content-addressed cache, in parallel. A package
/// already cached (and intact) is not downloaded again, so a build with a full cache runs offline.
/// Downloads go through <see cref="RepositoryClient.FetchAsync"/>: temporary file, size and SHA-256
/// checked against the lock, then an atomic rename — a partial or corrupt file is never trusted.
/// </summary>
public sealed class PackageFetcher(RepositoryClient client)
{
    /// <summary>Concurrent downloads; a mirror serves a handful of connections per client well.</summary>
    public int Parallelism { get; init; } = 6;

    /// <summary>Called after each package with (done, total, bytes downloaded so far).</summary>
    public Action<int, int, long>? Progress { get; init; }

    public async Task<IReadOnlyList<FetchedPackage>> FetchAsync(IReadOnlyList<LockedPackage> packages, RepositoryOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        var results = new FetchedPackage[packages.Count];
        var done = 0;
        long bytes = 0;
        var failures = new List<RepositoryException>();
        // Largest first: the kernel package dominates, start it early.
        var order = Enumerable.Range(0, packages.Count).OrderByDescending(i => packages[i].Size).ThenBy(i => packages[i].Name, StringComparer.Ordinal);
        await Parallel.ForEachAsync(order, new ParallelOptions { MaxDegreeOfParallelism = Parallelism, CancellationToken = cancellationToken },
            async (i, ct) =>
            {
                var p = packages[i];
                try
                {
                    var url = p.DownloadUri.AbsoluteUri;
                    var before = Exists(client, p);
                    var path = await client.FetchAsync(url, p.Sha256, p.Size, options, ct).ConfigureAwait(false);
                    results[i] = new FetchedPackage(p, path, !before);
                    if (!before) Interlocked.Add(ref bytes, p.Size);
                }
                catch (RepositoryException e)
                {
                    lock (failures) failures.Add(e);
                }
                Progress?.Invoke(Interlocked.Increment(ref done), packages.Count, Interlocked.Read(ref bytes));
            }).ConfigureAwait(false);
        if (failures.Count > 0) throw new PackageFetchException(failures.OrderBy(f => f.Location, StringComparer.Ordinal).ToList());
        return results;
    }

    static bool Exists(RepositoryClient client, LockedPackage p) => File.Exists(client.Cache.PathOf(p.Sha256));
}

/// <summary>Some packages could not be fetched; each inner failure names its URL and why.</summary>
public sealed class PackageFetchException(IReadOnlyList<RepositoryException> failures)
    : Exception($"{failures.Count} package(s) could not be fetched: " + string.Join("; ", failures.Select(f => f.Message)))
{
    public IReadOnlyList<RepositoryException> Failures { get; } = failures;
}
