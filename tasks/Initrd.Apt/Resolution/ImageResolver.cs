using Initrd.Apt.Lock;
using Initrd.Apt.Repositories;

namespace Initrd.Apt.Resolution;

/// <summary>What an image project asks the resolver for.</summary>
public sealed record ImageResolveRequest
{
    /// <summary>The requested packages (<c>ImagePackage</c> items): <c>name</c>, <c>name:arch</c>, <c>name=version</c>.</summary>
    public required IReadOnlyList<string> Packages { get; init; }

    /// <summary>The image's Debian architecture (amd64, arm64…).</summary>
    public required string Architecture { get; init; }

    /// <summary>Recorded in the lock; "debian" by default.</summary>
    public string Distribution { get; init; } = "debian";

    /// <summary>Recorded in the lock, e.g. "trixie".</summary>
    public required string Release { get; init; }

    /// <summary>Install Recommends too (default false; see <see cref="SolverOptions.IncludeRecommends"/>).</summary>
    public bool IncludeRecommends { get; init; }

    /// <summary>Default <see cref="EssentialPolicy.Closure"/>; see <see cref="EssentialPolicy"/> for why.</summary>
    public EssentialPolicy Essential { get; init; } = EssentialPolicy.Closure;
}

/// <summary>
/// The restore-phase orchestration: the loaded repositories and the project's request in, the lock
/// (<c>packages.lock.json</c>) out. Network, caching and the lock's inputs hash are the caller's; this is
/// pure computation, so the same inputs always give the same lock.
/// </summary>
public static class ImageResolver
{
    /// <summary>Resolves against the packages of loaded repositories (see <see cref="RepositoryClient.LoadAllAsync"/>).</summary>
    /// <param name="inputsHash">The caller's hash of the resolution inputs ("sha256:…", see <see cref="PackageLock.HashInputs"/>).</param>
    /// <exception cref="ResolutionException">The request cannot be resolved; the exception says why.</exception>
    public static PackageLock Resolve(ImageResolveRequest request, IEnumerable<RepositoryIndex> repositories, string inputsHash) =>
        Resolve(request, new PackageUniverse(repositories), inputsHash);

    /// <summary>Resolves against an already indexed universe (several images over the same repositories).</summary>
    /// <exception cref="ResolutionException">The request cannot be resolved; the exception says why.</exception>
    public static PackageLock Resolve(ImageResolveRequest request, PackageUniverse universe, string inputsHash)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(universe);
        var resolution = new DependencySolver(universe).Solve(request.Packages, request.Architecture, new SolverOptions
        {
            IncludeRecommends = request.IncludeRecommends,
            Essential = request.Essential,
        });
        return ToLock(resolution, request.Distribution, request.Release, inputsHash);
    }

    /// <summary>
    /// The lock of a resolution: every package with its provenance (repository URI, "suite/component",
    /// pool path, size, SHA-256), "Direct" when it satisfies a request and "Transitive" otherwise (also for
    /// Essential packages added by <see cref="EssentialPolicy.All"/>), and the names its dependencies resolved to.
    /// </summary>
    public static PackageLock ToLock(ResolvedSet resolution, string distribution, string release, string inputsHash)
    {
        ArgumentNullException.ThrowIfNull(resolution);
        ArgumentException.ThrowIfNullOrWhiteSpace(inputsHash);
        return new PackageLock
        {
            InputsHash = inputsHash,
            Distribution = distribution,
            Release = release,
            Architecture = resolution.Architecture,
            Packages = resolution.Packages.Select(p => new LockedPackage
            {
                Name = p.Name,
                Version = p.Version.ToString(),
                Architecture = p.Architecture,
                Type = p.IsRequested ? "Direct" : "Transitive",
                Repository = p.Package.Origin.RepositoryUri,
                Origin = $"{p.Package.Origin.Suite}/{p.Package.Origin.Component}",
                Path = p.Package.Filename,
                Size = p.Package.Size,
                Sha256 = p.Package.Sha256,
                Dependencies = p.Dependencies,
            }).ToList(),
        };
    }
}
