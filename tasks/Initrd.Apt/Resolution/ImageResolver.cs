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

    /// <summary>
    /// Kernel packages (<c>KernelPackage</c> items, e.g. <c>linux-image-amd64</c>): only their files are used — the
    /// modules and the kernel image — so their Depends, which describe installing a kernel onto a running system
    /// (initramfs-tools, linux-base, kmod), are not followed, except to the <c>linux-image-*</c> package a
    /// metapackage names.
    /// </summary>
    public IReadOnlyList<string> KernelPackages { get; init; } = [];

    /// <summary>
    /// The lock of the image this one extends (a system or configuration extension's base): those packages count as
    /// installed. They are pinned to their locked versions while solving, so dependencies are checked against what
    /// the base really has and alternatives prefer what it already holds, and they are left out of the result: the
    /// extension installs only what the base lacks. A base package whose locked version the repositories no longer
    /// serve is not pinned, but still left out (<see cref="ImageResolver.UnpinnedBasePackages"/> names them).
    /// </summary>
    public IReadOnlyList<LockedPackage> BasePackages { get; init; } = [];
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
        var pins = BasePins(universe, request.BasePackages, request.Architecture);
        var resolution = new DependencySolver(universe).Solve([.. pins, .. request.Packages], request.Architecture, new SolverOptions
        {
            IncludeRecommends = request.IncludeRecommends,
            Essential = request.Essential,
        });
        var locked = ToLock(resolution, request.Distribution, request.Release, inputsHash);
        if (request.BasePackages.Count > 0)
        {
            var inBase = request.BasePackages.Select(p => (p.Name, p.Architecture)).ToHashSet();
            locked = locked with { Packages = [.. locked.Packages.Where(p => !inBase.Contains((p.Name, p.Architecture)))] };
        }
        if (request.KernelPackages.Count == 0) return locked;
        var kernels = ResolveKernels(universe, request.KernelPackages, request.Architecture)
            .Where(k => !locked.Packages.Any(p => p.Name == k.Name && p.Architecture == k.Architecture));
        return locked with
        {
            Packages = [.. locked.Packages.Concat(kernels).OrderBy(p => p.Name, StringComparer.Ordinal).ThenBy(p => p.Architecture, StringComparer.Ordinal)],
        };
    }

    /// <summary>
    /// The base packages (<see cref="ImageResolveRequest.BasePackages"/>) the repositories serve at their locked
    /// version: those are pinned while solving; the others are not (and are still left out of the result).
    /// </summary>
    public static IReadOnlyList<LockedPackage> UnpinnedBasePackages(PackageUniverse universe, IReadOnlyList<LockedPackage> basePackages) =>
        [.. basePackages.Where(b => b.Type != "Kernel" && FindLocked(universe, b) is null)];

    /// <summary>Requests "name:arch=version" for every non-kernel base package the repositories still serve.</summary>
    static IEnumerable<string> BasePins(PackageUniverse universe, IReadOnlyList<LockedPackage> basePackages, string architecture) =>
        basePackages.Where(b => b.Type != "Kernel" && FindLocked(universe, b) is not null)
            .Select(b => b.Architecture == "all" || b.Architecture == architecture ? $"{b.Name}={b.Version}" : $"{b.Name}:{b.Architecture}={b.Version}");

    static RepositoryPackage? FindLocked(PackageUniverse universe, LockedPackage locked) =>
        universe.GetPackages(locked.Name).FirstOrDefault(p => p.Architecture == locked.Architecture && p.Version.ToString() == locked.Version);

    /// <summary>Kernel packages and the linux-image-* packages they depend on (highest satisfying version), as "Kernel" entries.</summary>
    static IEnumerable<LockedPackage> ResolveKernels(PackageUniverse universe, IReadOnlyList<string> requests, string architecture)
    {
        var chosen = new SortedDictionary<string, (RepositoryPackage Package, List<string> Dependencies)>(StringComparer.Ordinal);
        var queue = new Queue<(string Name, Func<RepositoryPackage, bool> Accept)>(requests.Select(r => (r, (Func<RepositoryPackage, bool>)(_ => true))));
        while (queue.TryDequeue(out var next))
        {
            if (chosen.ContainsKey(next.Name)) continue;
            var package = universe.GetPackages(next.Name)
                .FirstOrDefault(p => (p.Architecture == architecture || p.Architecture == "all") && next.Accept(p));
            if (package is null)
            {
                // Let the solver explain (not found, or no version that fits), with its suggestions.
                new DependencySolver(universe).Solve([next.Name], architecture);
                throw new InvalidOperationException($"kernel package '{next.Name}' has no candidate for {architecture}");
            }
            var dependencies = new List<string>();
            foreach (var group in package.Stanza.Depends)
                foreach (var alt in group.Alternatives)
                    if (alt.Name.StartsWith("linux-image-", StringComparison.Ordinal) && alt.AppliesTo(architecture))
                    {
                        queue.Enqueue((alt.Name, p => alt.IsSatisfiedBy(p.Version)));
                        dependencies.Add(alt.Name);
                        break;
                    }
            chosen[next.Name] = (package, dependencies);
        }
        return chosen.Values.Select(k => new LockedPackage
        {
            Name = k.Package.Name,
            Version = k.Package.Version.ToString(),
            Architecture = k.Package.Architecture,
            Type = "Kernel",
            Repository = k.Package.Origin.RepositoryUri,
            Origin = $"{k.Package.Origin.Suite}/{k.Package.Origin.Component}",
            Path = k.Package.Filename,
            Size = k.Package.Size,
            Sha256 = k.Package.Sha256,
            Dependencies = k.Dependencies,
        });
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
