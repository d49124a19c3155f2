using System.Text;

namespace Initrd.Formats.Deb;

/// <summary>
/// One alternative of a relationship field (Depends, Pre-Depends, Recommends, Suggests, Enhances, Breaks,
/// Conflicts, Provides, Replaces, Build-Depends…; Debian Policy §7.1):
/// <c>name[:archqual] [(op version)] [[arch …]] [&lt;profile …&gt;]…</c>.
/// </summary>
public sealed class PackageRelation
{
    static readonly RestrictionTerm[] NoTerms = [];
    static readonly IReadOnlyList<RestrictionTerm>[] NoProfiles = [];

    internal PackageRelation(string name, string? architectureQualifier, VersionConstraint? version,
        IReadOnlyList<RestrictionTerm>? architectures, IReadOnlyList<IReadOnlyList<RestrictionTerm>>? buildProfiles)
    {
        Name = name;
        ArchitectureQualifier = architectureQualifier;
        Version = version;
        Architectures = architectures ?? NoTerms;
        BuildProfiles = buildProfiles ?? NoProfiles;
    }

    /// <summary>The package name as written.</summary>
    public string Name { get; }

    /// <summary>"any", "native" or an architecture after the name ("python3:any"); null when absent.</summary>
    public string? ArchitectureQualifier { get; }

    /// <summary>The version constraint; null when any version will do.</summary>
    public VersionConstraint? Version { get; }

    /// <summary>The architecture restriction list (<c>[amd64 !i386]</c>); empty when the relation has none.</summary>
    public IReadOnlyList<RestrictionTerm> Architectures { get; }

    /// <summary>
    /// The build-profile restriction formula: each <c>&lt;…&gt;</c> list is a conjunction of its terms and the
    /// relation applies when any list holds (BuildProfileSpec). Empty when the relation has none.
    /// </summary>
    public IReadOnlyList<IReadOnlyList<RestrictionTerm>> BuildProfiles { get; }

    /// <summary>Whether the architecture restriction list includes <paramref name="architecture"/> (dpkg-dev's rules).</summary>
    public bool AppliesTo(string architecture) => DebianArchitecture.IsConcerned(architecture, Architectures);

    /// <summary>Whether the build-profile formula holds with <paramref name="activeProfiles"/> active.</summary>
    public bool AppliesToProfiles(IReadOnlyCollection<string> activeProfiles)
    {
        ArgumentNullException.ThrowIfNull(activeProfiles);
        if (BuildProfiles.Count == 0) return true;
        foreach (var list in BuildProfiles)
            if (list.All(t => activeProfiles.Contains(t.Name) != t.Negated)) return true;
        return false;
    }

    /// <summary>Whether a package of version <paramref name="candidate"/> meets the version constraint (true without one).</summary>
    public bool IsSatisfiedBy(DebianVersion candidate) => Version?.Satisfies(candidate) ?? true;

    /// <summary>Policy syntax, e.g. "libc6:amd64 (&gt;= 2.36) [amd64] &lt;!nocheck&gt;".</summary>
    public override string ToString()
    {
        var sb = new StringBuilder(Name);
        if (ArchitectureQualifier is not null) sb.Append(':').Append(ArchitectureQualifier);
        if (Version is not null) sb.Append(" (").Append(Version).Append(')');
        if (Architectures.Count > 0) sb.Append(" [").AppendJoin(' ', Architectures).Append(']');
        foreach (var list in BuildProfiles) sb.Append(" <").AppendJoin(' ', list).Append('>');
        return sb.ToString();
    }

    /// <summary>
    /// Parses a whole relationship field into its comma-separated groups of '|'-separated alternatives.
    /// White space (newlines included) may surround every token; an empty field has no groups, and a
    /// trailing comma is accepted (as dpkg-dev does; dpkg refuses it). <paramref name="fieldName"/> and
    /// <paramref name="lineNumber"/> go into error messages; a field name of Conflicts, Breaks, Provides or
    /// Replaces also forbids alternatives, as dpkg does.
    /// </summary>
    /// <exception cref="InvalidDataException">The text is malformed; the message names field, value and line.</exception>
    public static IReadOnlyList<RelationGroup> ParseField(string value, string? fieldName = null, int lineNumber = 0)
    {
        ArgumentNullException.ThrowIfNull(value);
        return new RelationParser(value, fieldName, lineNumber).ParseField();
    }

    /// <summary><see cref="ParseField(string, string?, int)"/> with the file's name in error messages.</summary>
    internal static IReadOnlyList<RelationGroup> ParseField(string value, string fieldName, int lineNumber, string? sourceName) =>
        new RelationParser(value, fieldName, lineNumber, sourceName).ParseField();

    /// <summary>Parses a single alternative, such as "libc6 (&gt;= 2.36)".</summary>
    /// <exception cref="InvalidDataException">The text is not exactly one relation.</exception>
    public static PackageRelation Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return new RelationParser(text, null, 0).ParseSingle();
    }
}
