namespace Initrd.Apt.Repositories;

/// <summary>
/// One suite of one repository that a project resolves packages against.
/// </summary>
/// <param name="Uri">Archive root (the directory holding <c>dists/</c>), without a trailing slash.</param>
/// <param name="Suite">Directory under <c>dists/</c>: a codename ("trixie", "trixie-security") or suite name.</param>
/// <param name="Components">Components to load ("main", "contrib"…).</param>
/// <param name="Keyrings">The keys that may sign the suite's InRelease: keyring file paths (binary OpenPGP
/// keyrings as gpgv reads them, or ASCII-armoured <c>.asc</c> files) and/or inline ASCII-armoured key blocks.</param>
/// <param name="Architectures">Architectures this repository is used for; empty means any.</param>
public sealed record RepositorySpec(
    string Uri,
    string Suite,
    IReadOnlyList<string> Components,
    IReadOnlyList<string> Keyrings,
    IReadOnlyList<string>? Architectures = null)
{
    /// <summary>The URL of the suite's directory, ending in '/': <c>URI/dists/SUITE/</c>.</summary>
    public string SuiteUrl => $"{Uri.TrimEnd('/')}/dists/{Suite}/";

    public override string ToString() => $"{Uri.TrimEnd('/')} {Suite} {string.Join(' ', Components)}";
}

/// <summary>
/// The repositories a project uses when it names none: the target release's suites on the archives the
/// host's apt configuration already uses (no mirror is ever written into the code).
/// </summary>
public static class DefaultRepositories
{
    public const string DefaultRelease = "trixie";

    /// <summary>Where Debian's archive keyring lives when the host's sources have no Signed-By.</summary>
    public const string DebianArchiveKeyring = "/usr/share/keyrings/debian-archive-keyring.gpg";

    /// <summary>
    /// From the host's sources, takes the main archive (the URI whose suites are plain release names, such as
    /// "bookworm") and the security archive (suites ending in "-security"), and returns for
    /// <paramref name="release"/>: <c>release</c> and <c>release-updates</c> on the main archive and
    /// <c>release-security</c> on the security archive (left out when the host has no security source).
    /// </summary>
    /// <exception cref="RepositoryException">NoRepositoryConfigured when no main archive can be identified.</exception>
    public static IReadOnlyList<RepositorySpec> For(string? release, IReadOnlyList<AptSource> sources,
        IReadOnlyList<string>? components = null)
    {
        release = string.IsNullOrWhiteSpace(release) ? DefaultRelease : release.Trim();
        components ??= ["main"];
        var binary = sources.Where(s => s.Type == "deb" && s.Components.Count > 0).ToList();

        var main = FindMainArchive(binary);
        if (main is null)
            throw new RepositoryException(RepositoryErrorKind.NoRepositoryConfigured,
                sources.FirstOrDefault()?.SourceFile ?? "/etc/apt/sources.list.d",
                "The host's apt configuration names no Debian archive (an entry whose suite is a release codename such as " +
                "'bookworm', with a matching '-security' or '-updates' suite). Add one to /etc/apt/sources.list.d/debian.sources, " +
                "or name the repositories in the project.");

        var mainSuite = main.Suites.First(IsPlainRelease);
        var security = binary
            .Where(s => s.Suites.Any(x => x.EndsWith("-security", StringComparison.Ordinal)))
            .OrderByDescending(s => s.Suites.Contains(mainSuite + "-security"))
            .FirstOrDefault();

        var result = new List<RepositorySpec>
        {
            new(main.Uri, release, components, KeyringsOf(main)),
            new(main.Uri, release + "-updates", components, KeyringsOf(main)),
        };
        if (security is not null)
            result.Add(new RepositorySpec(security.Uri, release + "-security", components, KeyringsOf(security)));
        return result;
    }

    /// <summary>
    /// The main archive is the entry with a plain suite S for which the configuration also has S-security or
    /// S-updates; so a third-party repository with a one-word suite ("stable", "nodistro") is not mistaken for it.
    /// </summary>
    static AptSource? FindMainArchive(List<AptSource> binary)
    {
        var allSuites = binary.SelectMany(s => s.Suites).ToHashSet(StringComparer.Ordinal);
        return binary.FirstOrDefault(s => s.Suites.Any(x => IsPlainRelease(x)
                   && (allSuites.Contains(x + "-security") || allSuites.Contains(x + "-updates"))))
               ?? binary.FirstOrDefault(s => s.Suites.Any(IsPlainRelease)
                   && s.Uri.TrimEnd('/').EndsWith("/debian", StringComparison.Ordinal));
    }

    static bool IsPlainRelease(string suite) =>
        suite.Length > 0 && !suite.EndsWith('/') && suite.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c));

    /// <summary>
    /// The entry's Signed-By keyrings (files and inline keys); fingerprint-only or missing Signed-By falls back to
    /// Debian's archive keyring, the keyring apt's global trust would use for these archives.
    /// </summary>
    static IReadOnlyList<string> KeyringsOf(AptSource source)
    {
        var keys = source.SignedByKeyringFiles.ToList();
        if (source.SignedByInlineKey is { } inline) keys.Add(inline);
        return keys.Count > 0 ? keys : [DebianArchiveKeyring];
    }
}
