using System.Globalization;

namespace Initrd.Formats.Deb;

/// <summary>
/// A typed view of one binary-package paragraph of a Packages index (or a DEBIAN/control file, or a
/// dpkg status entry): Debian Policy §5.3 and §5.6. Scalar fields are read and checked when the view is
/// made; relationship fields are parsed on first use and then kept.
/// </summary>
public sealed class PackageStanza
{
    readonly string? sourceName;
    IReadOnlyList<RelationGroup>? depends, preDepends, recommends, suggests, conflicts, breaks, provides, replaces;

    /// <exception cref="InvalidDataException">
    /// Package, Version or Architecture is missing, or a field has a malformed value; the message names the
    /// field, the value and the line.
    /// </exception>
    public PackageStanza(Deb822Paragraph paragraph, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(paragraph);
        Raw = paragraph;
        this.sourceName = sourceName;

        var package = Required("Package");
        if (!IsValidPackageName(package.Value)) throw Invalid(package, "invalid package name");
        Package = package.Value;

        var version = Required("Version");
        Version = ParseVersion(version, version.Value);

        var architecture = Required("Architecture");
        if (!DebianArchitecture.IsValidName(architecture.Value)) throw Invalid(architecture, "invalid architecture name");
        Architecture = architecture.Value;

        if (paragraph.TryGetField("Multi-Arch", out var multiArch))
        {
            // dpkg matches these keywords without regard to case.
            var value = multiArch.Value;
            MultiArch = Is(value, "same") ? MultiArch.Same
                : Is(value, "foreign") ? MultiArch.Foreign
                : Is(value, "allowed") ? MultiArch.Allowed
                : Is(value, "no") ? MultiArch.No
                : throw Invalid(multiArch, "expected no, same, foreign or allowed");
        }

        if (paragraph.TryGetField("Essential", out var essential))
        {
            Essential = Is(essential.Value, "yes") ? true
                : Is(essential.Value, "no") ? false
                : throw Invalid(essential, "expected yes or no");
        }

        (Source, SourceVersion) = paragraph.TryGetField("Source", out var source)
            ? ParseSource(source)
            : (Package, Version);

        InstalledSize = OptionalNumber("Installed-Size");
        Size = OptionalNumber("Size");
    }

    /// <summary>Reads every paragraph of a Packages index as a stanza, lazily.</summary>
    public static IEnumerable<PackageStanza> Parse(TextReader reader, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return Iterate(reader, sourceName);
    }

    static IEnumerable<PackageStanza> Iterate(TextReader reader, string? sourceName)
    {
        foreach (var paragraph in Deb822.Parse(reader, sourceName)) yield return new PackageStanza(paragraph, sourceName);
    }

    /// <summary>The paragraph this view reads, for any field not modelled here.</summary>
    public Deb822Paragraph Raw { get; }

    public string Package { get; }

    public DebianVersion Version { get; }

    /// <summary>The architecture name, or "all".</summary>
    public string Architecture { get; }

    /// <summary>The Multi-Arch field; <see cref="Deb.MultiArch.No"/> when absent.</summary>
    public MultiArch MultiArch { get; }

    /// <summary>Essential: yes.</summary>
    public bool Essential { get; }

    public string? Priority => Raw.GetValueOrDefault("Priority");

    public string? Section => Raw.GetValueOrDefault("Section");

    /// <summary>The source package's name: from <c>Source: name [(version)]</c>, else the package's own name.</summary>
    public string Source { get; }

    /// <summary>The source package's version: from the Source field when it has one, else the package's version.</summary>
    public DebianVersion SourceVersion { get; }

    /// <summary>Installed-Size, an estimate in KiB (1024 bytes); null when absent.</summary>
    public long? InstalledSize { get; }

    /// <summary>The .deb's path relative to the archive root; null when absent (e.g. in a control file).</summary>
    public string? Filename => Raw.GetValueOrDefault("Filename");

    /// <summary>The .deb's size in bytes; null when absent.</summary>
    public long? Size { get; }

    /// <summary>The SHA256 field: the .deb's SHA-256 as lowercase hex; null when absent.</summary>
    public string? Sha256 => Raw.GetValueOrDefault("SHA256");

    public IReadOnlyList<RelationGroup> Depends => depends ??= Relations("Depends");
    public IReadOnlyList<RelationGroup> PreDepends => preDepends ??= Relations("Pre-Depends");
    public IReadOnlyList<RelationGroup> Recommends => recommends ??= Relations("Recommends");
    public IReadOnlyList<RelationGroup> Suggests => suggests ??= Relations("Suggests");
    public IReadOnlyList<RelationGroup> Conflicts => conflicts ??= Relations("Conflicts");
    public IReadOnlyList<RelationGroup> Breaks => breaks ??= Relations("Breaks");
    public IReadOnlyList<RelationGroup> Provides => provides ??= Relations("Provides");
    public IReadOnlyList<RelationGroup> Replaces => replaces ??= Relations("Replaces");

    /// <summary>"package version architecture", as apt prints it.</summary>
    public override string ToString() => $"{Package} {Version} {Architecture}";

    IReadOnlyList<RelationGroup> Relations(string field) =>
        Raw.TryGetField(field, out var f) ? PackageRelation.ParseField(f.Value, f.Name, f.LineNumber, sourceName) : [];

    Deb822Field Required(string field)
    {
        if (Raw.TryGetField(field, out var f)) return f;
        throw new InvalidDataException(
            $"{Prefix}paragraph at line {Raw.LineNumber}{PackageHint}: missing required field '{field}'");
    }

    long? OptionalNumber(string field)
    {
        if (!Raw.TryGetField(field, out var f)) return null;
        return long.TryParse(f.Value, NumberStyles.None, CultureInfo.InvariantCulture, out var n)
            ? n
            : throw Invalid(f, "expected a non-negative integer");
    }

    DebianVersion ParseVersion(Deb822Field field, string text) =>
        DebianVersion.TryParseCore(text, strict: false, out var version, out var error)
            ? version
            : throw Invalid(field, $"invalid version '{text}': {error}");

    /// <summary>Policy §5.6.1: "Source: name" or "Source: name (version)" when the versions differ.</summary>
    (string, DebianVersion) ParseSource(Deb822Field field)
    {
        var value = field.Value.AsSpan().Trim();
        int open = value.IndexOf('(');
        var name = (open < 0 ? value : value[..open]).TrimEnd();
        if (!IsValidPackageName(name)) throw Invalid(field, "expected 'name' or 'name (version)'");
        if (open < 0) return (new string(name), Version);
        var rest = value[(open + 1)..];
        if (!rest.EndsWith(')')) throw Invalid(field, "expected 'name' or 'name (version)'");
        return (new string(name), ParseVersion(field, new string(rest[..^1].Trim())));
    }

    /// <summary>dpkg's pkg_name_is_illegal: a letter or digit, then letters, digits and "-+._".</summary>
    static bool IsValidPackageName(ReadOnlySpan<char> name)
    {
        if (name.IsEmpty || !char.IsAsciiLetterOrDigit(name[0])) return false;
        foreach (var c in name)
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '+' or '.' or '_')) return false;
        return true;
    }

    static bool Is(string value, string keyword) => string.Equals(value, keyword, StringComparison.OrdinalIgnoreCase);

    string Prefix => sourceName is null ? "" : sourceName + ": ";

    string PackageHint => Raw.GetValueOrDefault("Package") is { } p ? $" (Package: {p})" : "";

    InvalidDataException Invalid(Deb822Field field, string problem) =>
        new($"{Prefix}{field.Name} field at line {field.LineNumber}{PackageHint}: '{field.Value}': {problem}");
}
