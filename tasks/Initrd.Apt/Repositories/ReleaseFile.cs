using System.Globalization;
using Initrd.Formats.Deb;

namespace Initrd.Apt.Repositories;

/// <summary>One index file listed in a Release file's SHA256 field: path relative to <c>dists/SUITE/</c>.</summary>
public sealed record ReleaseFileEntry(string Path, long Size, string Sha256);

/// <summary>
/// The signed body of a suite's InRelease (or Release) file, as described in
/// https://wiki.debian.org/DebianRepository/Format#A.22Release.22_files. Only SHA256 is read from the
/// checksum fields: MD5Sum and SHA1 are too weak to trust (apt ignores them as well).
/// </summary>
public sealed class ReleaseFile
{
    readonly Dictionary<string, ReleaseFileEntry> files;

    ReleaseFile(Dictionary<string, ReleaseFileEntry> files) => this.files = files;

    public string? Origin { get; private init; }
    public string? Label { get; private init; }
    public string? Suite { get; private init; }
    public string? Codename { get; private init; }
    public string? Version { get; private init; }
    public DateTimeOffset? Date { get; private init; }
    public DateTimeOffset? ValidUntil { get; private init; }
    public IReadOnlyList<string> Architectures { get; private init; } = [];
    public IReadOnlyList<string> Components { get; private init; } = [];

    /// <summary><c>Acquire-By-Hash: yes</c>: index files are also served as <c>DIR/by-hash/SHA256/HASH</c>, which
    /// never change while a mirror syncs, so a client never sees a Packages file newer than its Release.</summary>
    public bool AcquireByHash { get; private init; }

    /// <summary>
    /// <c>No-Support-for-Architecture-all</c>: index types ("Packages") for which the repository still lists
    /// Architecture: all packages in every architecture's index (for old clients), so a client must NOT read
    /// <c>binary-all</c> as well. Debian sets it for trixie and trixie-updates.
    /// </summary>
    public IReadOnlyList<string> NoSupportForArchitectureAll { get; private init; } = [];

    /// <summary>Every index file of the SHA256 field, by path.</summary>
    public IReadOnlyDictionary<string, ReleaseFileEntry> Files => files;

    public bool TryGetFile(string path, out ReleaseFileEntry entry) => files.TryGetValue(path, out entry!);

    /// <summary>apt's rule: an empty Architectures field supports every architecture.</summary>
    public bool SupportsArchitecture(string architecture) =>
        Architectures.Count == 0 || Architectures.Contains(architecture, StringComparer.Ordinal);

    /// <summary>
    /// Whether Architecture: all packages live (only) in <c>binary-all</c> for index type <paramref name="indexType"/>;
    /// apt's <c>debReleaseIndex::IsArchitectureAllSupportedFor</c>: "all" must be listed in Architectures and the
    /// type must not be named by No-Support-for-Architecture-all.
    /// </summary>
    public bool HasArchitectureAllIndex(string indexType = "Packages") =>
        Architectures.Contains("all", StringComparer.Ordinal) && !NoSupportForArchitectureAll.Contains(indexType, StringComparer.Ordinal);

    /// <summary>
    /// apt's rule: an empty Components field supports everything; "updates/main" (the security archive's
    /// style) also supports "main".
    /// </summary>
    public bool SupportsComponent(string component) =>
        Components.Count == 0 || Components.Any(c => c == component || c.EndsWith("/" + component, StringComparison.Ordinal));

    /// <summary>Whether this is the Release file of <paramref name="suite"/> (by Suite or by Codename).</summary>
    public bool IsForSuite(string suite) => suite == Suite || suite == Codename;

    /// <summary>Parses a Release body (the signed text of an InRelease, without the signature armour).</summary>
    /// <param name="location">The URL or file name for error messages.</param>
    /// <exception cref="RepositoryException">Malformed, with the field at fault.</exception>
    public static ReleaseFile Parse(string body, string location)
    {
        List<Deb822Paragraph> paragraphs;
        try
        {
            paragraphs = Deb822.Parse(body).ToList();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException)
        {
            throw RepositoryException.Malformed(location, e.Message, e);
        }
        if (paragraphs.Count != 1)
            throw RepositoryException.Malformed(location, $"a Release file has exactly one paragraph, found {paragraphs.Count}");
        var p = paragraphs[0];

        if (!p.TryGetValue("SHA256", out var sha256))
            throw RepositoryException.Malformed(location, "no SHA256 field (weaker hashes alone are not trusted)");
        var files = new Dictionary<string, ReleaseFileEntry>(StringComparer.Ordinal);
        foreach (var raw in sha256.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var parts = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length != 3 || parts[0].Length != 64 || !parts[0].All(char.IsAsciiHexDigit)
                || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
                throw RepositoryException.Malformed(location, $"SHA256 line '{line}' is not '<64 hex digits> <size> <path>'");
            if (parts[2].StartsWith('/') || parts[2].Split('/').Contains(".."))
                throw RepositoryException.Malformed(location, $"SHA256 line names a path outside the suite: '{parts[2]}'");
            files[parts[2]] = new ReleaseFileEntry(parts[2], size, parts[0].ToLowerInvariant());
        }

        return new ReleaseFile(files)
        {
            Origin = Get(p, "Origin"),
            Label = Get(p, "Label"),
            Suite = Get(p, "Suite"),
            Codename = Get(p, "Codename"),
            Version = Get(p, "Version"),
            Date = GetDate(p, "Date", location),
            ValidUntil = GetDate(p, "Valid-Until", location),
            Architectures = Words(Get(p, "Architectures")),
            Components = Words(Get(p, "Components")),
            AcquireByHash = string.Equals(Get(p, "Acquire-By-Hash"), "yes", StringComparison.OrdinalIgnoreCase),
            NoSupportForArchitectureAll = Words(Get(p, "No-Support-for-Architecture-all")),
        };
    }

    static string? Get(Deb822Paragraph p, string field) => p.TryGetValue(field, out var v) ? v.Trim() : null;

    static string[] Words(string? value) =>
        value is null ? [] : value.Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);

    static DateTimeOffset? GetDate(Deb822Paragraph p, string field, string location)
    {
        var value = Get(p, field);
        if (value is null) return null;
        return ParseRfc2822Date(value)
               ?? throw RepositoryException.Malformed(location, $"{field} '{value}' is not an RFC 2822 date");
    }

    static readonly string[] DateFormats =
    [
        "ddd, d MMM yyyy HH:mm:ss zzz",
        "d MMM yyyy HH:mm:ss zzz",
        "ddd, d MMM yyyy HH:mm zzz",
    ];

    /// <summary>Release dates as written by dak and reprepro: "Sat, 12 Sep 2026 07:55:41 UTC" (also GMT, Z, +0000).</summary>
    internal static DateTimeOffset? ParseRfc2822Date(string value)
    {
        var v = value.Trim();
        foreach (var zone in (string[])[" UTC", " GMT", " Z", " UT"])
            if (v.EndsWith(zone, StringComparison.Ordinal)) { v = v[..^zone.Length] + " +00:00"; break; }
        // "+0000" → "+00:00", which the zzz specifier wants.
        if (v.Length > 5 && (v[^5] == '+' || v[^5] == '-') && v[^4..].All(char.IsAsciiDigit))
            v = v[..^2] + ":" + v[^2..];
        return DateTimeOffset.TryParseExact(v, DateFormats, CultureInfo.InvariantCulture,
            DateTimeStyles.AllowInnerWhite, out var date) ? date : null;
    }
}
