using System.Diagnostics;
using System.Globalization;
using Initrd.Apt.Lock;
using Initrd.Apt.Repositories;
using Initrd.Apt.Resolution;
using Initrd.Formats.Deb;
using Initrd.Sdk.Tasks.Common;
using Microsoft.Build.Framework;

namespace Initrd.Sdk.Tasks;

/// <summary>
/// Restore phase: resolves the image's packages against the repositories and writes packages.lock.json.
/// A lock whose recorded inputs hash matches the project is used as is, with no network access; in
/// locked mode a lock that would change is an error, as with NuGet.
/// </summary>
public sealed class ResolveImagePackages : InitrdTask
{
    /// <summary>Debian release architectures (dpkg-architecture names) this SDK resolves for.</summary>
    static readonly string[] SupportedArchitectures = ["amd64", "arm64", "armel", "armhf", "i386", "ppc64el", "riscv64", "s390x"];

    /// <summary>ImagePackage items; may be empty when the image holds only a KernelPackage.</summary>
    public ITaskItem[] Packages { get; set; } = [];

    /// <summary>KernelPackage items: kernels whose files (modules, kernel image) the image uses; their Depends are not installed.</summary>
    public ITaskItem[] KernelPackages { get; set; } = [];

    public ITaskItem[] Repositories { get; set; } = [];

    public string Distribution { get; set; } = "debian";

    [Required] public string Release { get; set; } = "";

    [Required] public string Architecture { get; set; } = "";

    public string Components { get; set; } = "main";

    public bool IncludeRecommends { get; set; }

    public string EssentialPackages { get; set; } = "closure";

    public bool AllowExpiredMetadata { get; set; }

    [Required] public string LockFile { get; set; } = "";

    public bool LockedMode { get; set; }

    [Required] public string CacheDirectory { get; set; } = "";

    public string? ProjectFile { get; set; }

    /// <summary>
    /// The lock of the image this one extends (a sysext's or confext's base, from its ProjectReference): its packages
    /// count as installed, so they are neither locked nor installed again. Empty: no base.
    /// </summary>
    public string? BaseLockFile { get; set; }

    /// <summary>Root of the apt configuration to read default repositories from (tests point it elsewhere).</summary>
    public string AptConfigurationRoot { get; set; } = "/";

    protected override void ExecuteCore()
    {
        if (!SupportedArchitectures.Contains(Architecture, StringComparer.Ordinal))
            throw new BuildErrorException(Strings.UnsupportedArchitecture, Architecture, string.Join(", ", SupportedArchitectures)) { File = ProjectFile };
        var essential = EssentialPackages switch
        {
            "closure" => EssentialPolicy.Closure,
            "all" => EssentialPolicy.All,
            _ => throw new BuildErrorException(Strings.UnknownEssentialPolicy, EssentialPackages) { File = ProjectFile },
        };
        var requests = Packages.Select(p => p.ItemSpec.Trim()).Where(p => p.Length > 0).Distinct(StringComparer.Ordinal).OrderBy(p => p, StringComparer.Ordinal).ToList();
        var kernels = KernelPackages.Select(p => p.ItemSpec.Trim()).Where(p => p.Length > 0).Distinct(StringComparer.Ordinal).OrderBy(p => p, StringComparer.Ordinal).ToList();
        foreach (var r in requests.Concat(kernels))
            if (!PackageRequest.TryParse(r, out _))
                throw new BuildErrorException(Strings.InvalidPackageRequest, r) { File = ProjectFile };
        var components = Components.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var explicitRepositories = Repositories.SelectMany(ToSpecs).ToList();

        var baseLock = ReadBaseLock();
        var inputsHash = PackageLock.HashInputs(InputLines(requests, kernels, explicitRepositories, components, essential, baseLock));
        var lockPath = FullPath(LockFile);
        if (File.Exists(lockPath))
        {
            var existing = LockFiles.Read(lockPath);
            if (existing.InputsHash == inputsHash)
            {
                LogInfo(MessageImportance.Normal, $"Resolve: {lockPath} is up to date ({existing.Packages.Count} packages); no repository was contacted.");
                return;
            }
            if (LockedMode)
                throw new BuildErrorException(Strings.LockWouldChange, lockPath) { File = lockPath };
        }
        else if (LockedMode)
            throw new BuildErrorException(Strings.LockMissingInLockedMode, lockPath) { File = ProjectFile };

        var watch = Stopwatch.StartNew();
        var specs = explicitRepositories.Count > 0 ? explicitRepositories : DefaultSpecs(components);
        using var client = CacheLayout.CreateClient(CacheDirectory, m => LogInfo(MessageImportance.Low, m));
        IReadOnlyList<RepositoryIndex> indexes;
        try
        {
            indexes = client.LoadAllAsync(specs, Architecture, new RepositoryOptions { AllowExpired = AllowExpiredMetadata }).GetAwaiter().GetResult();
        }
        catch (RepositoryException e)
        {
            throw RepositoryErrors.ToBuildError(e, ProjectFile);
        }
        var loaded = watch.Elapsed;

        PackageLock resolved;
        try
        {
            resolved = ImageResolver.Resolve(new ImageResolveRequest
            {
                Packages = requests,
                KernelPackages = kernels,
                Architecture = Architecture,
                Distribution = Distribution,
                Release = Release,
                IncludeRecommends = IncludeRecommends,
                Essential = essential,
                BasePackages = baseLock?.Packages ?? [],
            }, indexes, inputsHash);
        }
        catch (ResolutionException e)
        {
            throw new BuildErrorException(e, ProjectFile, e.Kind switch
            {
                ResolutionErrorKind.NotFound => Strings.PackageNotFound,
                ResolutionErrorKind.Conflict => Strings.PackagesConflict,
                _ => Strings.DependencyUnsatisfiable,
            }, e.Message) { File = ProjectFile };
        }
        var written = resolved.WriteIfChanged(lockPath);
        LogInfo(MessageImportance.High, string.Format(CultureInfo.InvariantCulture,
            "Resolve: {0} packages ({1} requested, {2:F1} MiB) from {3} suites in {4:F1} s (metadata {5:F1} s); {6} {7}{8}",
            resolved.Packages.Count, requests.Count, resolved.Packages.Sum(p => p.Size) / 1048576.0, specs.Count,
            watch.Elapsed.TotalSeconds, loaded.TotalSeconds, written ? "wrote" : "unchanged", lockPath,
            baseLock is null ? "" : $" ({baseLock.Packages.Count} packages of the base counted as installed)"));
    }

    IEnumerable<string> InputLines(IReadOnlyList<string> requests, IReadOnlyList<string> kernels, IReadOnlyList<RepositorySpec> repositories, string[] components, EssentialPolicy essential, PackageLock? baseLock)
    {
        yield return "distribution=" + Distribution;
        yield return "release=" + Release;
        yield return "architecture=" + Architecture;
        yield return "recommends=" + (IncludeRecommends ? "true" : "false");
        yield return "essential=" + essential.ToString().ToLowerInvariant();
        // Default repositories are the host's mirror: a different mirror serves the same archive, so the host's
        // URIs are not inputs (a lock made on one machine stays valid on another).
        if (repositories.Count == 0) yield return "repositories=host-default;components=" + string.Join(',', components);
        foreach (var r in repositories) yield return $"repository={r.Uri} {r.Suite} {string.Join(',', r.Components)} {string.Join(',', r.Keyrings)}";
        foreach (var p in requests) yield return "package=" + p;
        foreach (var k in kernels) yield return "kernel=" + k;
        // The base's package set, not its path: the same base lock elsewhere gives the same extension lock.
        if (baseLock is not null) yield return "base=" + baseLock.PackageSetHash();
    }

    /// <summary>The base image's lock, checked: present, well-formed, same architecture.</summary>
    PackageLock? ReadBaseLock()
    {
        if (string.IsNullOrWhiteSpace(BaseLockFile)) return null;
        var path = FullPath(BaseLockFile);
        if (!File.Exists(path))
            throw new BuildErrorException(Strings.ExtensionBaseLockMissing, path) { File = ProjectFile };
        var baseLock = LockFiles.Read(path);
        if (baseLock.Architecture != Architecture)
            throw new BuildErrorException(Strings.ExtensionBaseArchitectureMismatch, path, baseLock.Architecture, Architecture) { File = ProjectFile };
        return baseLock;
    }

    IReadOnlyList<RepositorySpec> DefaultSpecs(string[] components)
    {
        try
        {
            return DefaultRepositories.For(Release, AptSourcesReader.Read(AptConfigurationRoot), components);
        }
        catch (RepositoryException e)
        {
            throw RepositoryErrors.ToBuildError(e, ProjectFile);
        }
    }

    /// <summary>An ImageRepository item: Include = archive URI; Suites, Components, SignedBy metadata (';'-separated).</summary>
    IEnumerable<RepositorySpec> ToSpecs(ITaskItem item)
    {
        var suites = Split(item.GetMetadata("Suites"));
        if (suites.Length == 0)
            throw new BuildErrorException(Strings.RepositoryNeedsSuites, item.ItemSpec) { File = ProjectFile };
        var components = Split(item.GetMetadata("Components")) is { Length: > 0 } c ? c : ["main"];
        var signedBy = Split(item.GetMetadata("SignedBy")) is { Length: > 0 } k ? k : [DefaultRepositories.DebianArchiveKeyring];
        return suites.Select(suite => new RepositorySpec(item.ItemSpec.TrimEnd('/'), suite, components, signedBy));
    }

    static string[] Split(string value) => value.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
}
