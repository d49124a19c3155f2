namespace Initrd.Apt.Lock;

/// <summary>One package pinned by the lock file: exactly which file to fetch and how to verify it.</summary>
public sealed record LockedPackage
{
    public required string Name { get; init; }

    /// <summary>The Debian version string, exactly as the Packages index gives it.</summary>
    public required string Version { get; init; }

    /// <summary>Debian architecture of the package (amd64, all, …).</summary>
    public required string Architecture { get; init; }

    /// <summary>"Direct" when a project item asked for it, "Transitive" when a dependency pulled it in.</summary>
    public required string Type { get; init; }

    /// <summary>Base URI of the repository (archive root, as in apt's sources).</summary>
    public required string Repository { get; init; }

    /// <summary>Suite and component it was found in, e.g. "trixie/main".</summary>
    public required string Origin { get; init; }

    /// <summary>Path below the repository URI (the Packages index's Filename).</summary>
    public required string Path { get; init; }

    public required long Size { get; init; }

    /// <summary>Lower-case hex SHA-256 of the .deb.</summary>
    public required string Sha256 { get; init; }

    /// <summary>Names of the locked packages this one depends on (its resolved Depends/Pre-Depends), sorted.</summary>
    public IReadOnlyList<string> Dependencies { get; init; } = [];

    /// <summary>The URI the .deb is fetched from.</summary>
    public Uri DownloadUri => new(new Uri(Repository.EndsWith('/') ? Repository : Repository + "/"), Path);
}
