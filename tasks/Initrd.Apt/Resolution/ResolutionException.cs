using System.Text;

namespace Initrd.Apt.Resolution;

/// <summary>Why a package set could not be resolved.</summary>
public enum ResolutionErrorKind
{
    /// <summary>A requested package is not in any repository, neither as a package nor as a virtual package.</summary>
    NotFound,

    /// <summary>A dependency has no candidate of a suitable version or architecture anywhere.</summary>
    Unsatisfiable,

    /// <summary>
    /// Every candidate of some dependency is excluded by a package that must also be installed: a Conflicts or
    /// Breaks either way, or another version of the same package that something else needs.
    /// </summary>
    Conflict,

    /// <summary>The search gave up after <see cref="SolverOptions.MaxSteps"/> steps without an answer either way.</summary>
    SearchLimitExceeded,

    /// <summary>A request is not <c>name[:arch][=version]</c>.</summary>
    InvalidRequest,
}

/// <summary>Why one candidate package could not satisfy a dependency.</summary>
public enum RejectionReason
{
    /// <summary>No package of that name, and nothing provides it, in any repository.</summary>
    NotFound,

    /// <summary>Built for an architecture the image cannot install (not the target, not "all", not an added foreign one).</summary>
    Architecture,

    /// <summary>
    /// Its architecture does not satisfy the dependency under the Multi-Arch rules: ":any" needs
    /// <c>Multi-Arch: allowed</c>; an unqualified dependency needs the dependent's own architecture (arch:all
    /// counting as native) unless the candidate is <c>Multi-Arch: foreign</c>.
    /// </summary>
    MultiArch,

    /// <summary>Its version (or its provided version) does not satisfy the version constraint.</summary>
    Version,

    /// <summary>It provides the name without a version, which does not satisfy a versioned dependency (Policy §7.5).</summary>
    UnversionedProvides,

    /// <summary>Another version or architecture of the same package is already in the set.</summary>
    OtherVersionSelected,

    /// <summary>Its own Conflicts or Breaks name a package already in the set.</summary>
    Conflicts,

    /// <summary>A package already in the set Conflicts with or Breaks it.</summary>
    ConflictedBy,

    /// <summary>
    /// It was tried, and the set could not be completed with it: one of its dependencies (or of what they pulled
    /// in) failed, or something needed later conflicted with it (see <see cref="CandidateRejection.Cause"/>).
    /// </summary>
    DependenciesFailed,

    /// <summary>Its control data (a relationship field) is malformed.</summary>
    Malformed,
}

/// <summary>One candidate that was considered for a dependency and turned down.</summary>
/// <param name="Name">The candidate's package name (or the name looked for, for <see cref="RejectionReason.NotFound"/>).</param>
/// <param name="Version">The candidate's version; null for <see cref="RejectionReason.NotFound"/>.</param>
/// <param name="Architecture">The candidate's architecture; null for <see cref="RejectionReason.NotFound"/>.</param>
/// <param name="Origin">"suite/component" it comes from; null for <see cref="RejectionReason.NotFound"/>.</param>
/// <param name="Reason">Why it was turned down.</param>
/// <param name="Detail">The reason in words, e.g. "version 1.0 does not satisfy (>= 2)".</param>
public sealed record CandidateRejection(string Name, string? Version, string? Architecture, string? Origin,
    RejectionReason Reason, string Detail)
{
    /// <summary>The selected package that excluded it ("name version arch"), for the conflict reasons.</summary>
    public string? BlockedBy { get; init; }

    /// <summary>Why <see cref="BlockedBy"/> is in the set: its chain from a request, e.g. "b → libcommon (&lt;&lt; 2)".</summary>
    public string? BlockedByChain { get; init; }

    /// <summary>For <see cref="RejectionReason.DependenciesFailed"/>: what went wrong below it.</summary>
    public ResolutionFailure? Cause { get; init; }

    /// <summary>"name version arch (suite/component): detail".</summary>
    public override string ToString() =>
        (Version is null ? $"{Name}: {Detail}" : $"{Name} {Version} {Architecture} ({Origin}): {Detail}") +
        (BlockedByChain is null ? "" : $" [{BlockedBy} is in the set for: {BlockedByChain}]");
}

/// <summary>
/// One link of the chain from a requested package to the failing dependency: the relation written by the
/// previous package (or the request itself) and the package chosen for it.
/// </summary>
/// <param name="Field">"request", "Essential", "Pre-Depends", "Depends" or "Recommends".</param>
/// <param name="Relation">The relation as written, e.g. "libc6 (>= 2.36)" or "awk | mawk".</param>
public sealed record DependencyStep(string Field, string Relation, string Package, string Version, string Architecture);

/// <summary>The structured explanation of a failed resolution, for rendering by a caller (an MSBuild task).</summary>
public sealed record ResolutionFailure
{
    /// <summary>The requested package whose closure failed (as requested, e.g. "systemd" or "bash=5.2-1").</summary>
    public required string RequestedPackage { get; init; }

    /// <summary>From the request down to the package whose dependency failed; empty when the request itself failed.</summary>
    public required IReadOnlyList<DependencyStep> Chain { get; init; }

    /// <summary>"request", "Essential", "Pre-Depends", "Depends" or "Recommends": the kind of the failing relation.</summary>
    public required string Field { get; init; }

    /// <summary>The failing relation as written (alternatives included).</summary>
    public required string Relation { get; init; }

    /// <summary>"name version arch" of the package that declares <see cref="Relation"/>; null for a request.</summary>
    public string? Dependent { get; init; }

    /// <summary>Every package and provider of the names in <see cref="Relation"/>, e.g. "libfoo 1.0 amd64 (trixie/main)".</summary>
    public required IReadOnlyList<string> AvailableVersions { get; init; }

    /// <summary>Each candidate considered and why it was turned down, in the order they were preferred.</summary>
    public required IReadOnlyList<CandidateRejection> Rejections { get; init; }

    /// <summary>For a name found nowhere: known names close to it.</summary>
    public IReadOnlyList<string> Suggestions { get; init; } = [];

    /// <summary>For a name found nowhere: packages that declare <c>Replaces</c> on it (its successors, usually).</summary>
    public IReadOnlyList<string> ReplacedBy { get; init; } = [];

    /// <summary>"systemd → libbar (>= 1) → libfoo (>= 2)".</summary>
    public string ChainText
    {
        get
        {
            var parts = Chain.Select(s => s.Relation).ToList();
            if (Field != "request" || Chain.Count == 0) parts.Add(Relation);
            return string.Join(" → ", parts);
        }
    }

    /// <summary>Renders the explanation as indented lines.</summary>
    public string Describe() => Describe(0, 0);

    internal string Describe(int indent, int depth)
    {
        var pad = new string(' ', indent);
        var sb = new StringBuilder();
        sb.Append(pad).Append("chain: ").Append(ChainText).Append('\n');
        sb.Append(pad).Append(Dependent is null ? $"request '{Relation}'" : $"{Dependent} {Field}: {Relation}")
            .Append(" cannot be satisfied\n");
        if (AvailableVersions.Count > 0)
            sb.Append(pad).Append("available: ").AppendJoin(", ", AvailableVersions).Append('\n');
        if (ReplacedBy.Count > 0)
            sb.Append(pad).Append("replaced by: ").AppendJoin(", ", ReplacedBy).Append('\n');
        if (Suggestions.Count > 0)
            sb.Append(pad).Append("did you mean: ").AppendJoin(", ", Suggestions).Append('\n');
        foreach (var r in Rejections)
        {
            sb.Append(pad).Append("  - ").Append(r).Append('\n');
            if (r.Cause is { } cause)
            {
                if (depth >= 4) sb.Append(pad).Append("      (…)\n");
                else sb.Append(cause.Describe(indent + 6, depth + 1));
            }
        }
        return sb.ToString();
    }

    /// <summary>Every rejection, nested ones included.</summary>
    public IEnumerable<CandidateRejection> AllRejections()
    {
        foreach (var r in Rejections)
        {
            yield return r;
            if (r.Cause is { } cause)
                foreach (var inner in cause.AllRejections()) yield return inner;
        }
    }
}

/// <summary>
/// The requested package set cannot be resolved. <see cref="Failure"/> holds the structured explanation:
/// which request, the chain of dependencies down to the relation that failed, what exists for it and why
/// each candidate was turned down; the message renders the same.
/// </summary>
public sealed class ResolutionException : Exception
{
    public ResolutionException(ResolutionErrorKind kind, ResolutionFailure failure, string architecture)
        : base(Render(kind, failure, architecture))
    {
        Kind = kind;
        Failure = failure;
        Architecture = architecture;
    }

    public ResolutionErrorKind Kind { get; }

    public ResolutionFailure Failure { get; }

    /// <summary>The target architecture of the resolution.</summary>
    public string Architecture { get; }

    static string Render(ResolutionErrorKind kind, ResolutionFailure f, string architecture)
    {
        var headline = kind switch
        {
            ResolutionErrorKind.NotFound =>
                $"Package '{f.Relation}' is not in any repository" +
                (f.ReplacedBy.Count > 0 ? $"; these packages replace it: {string.Join(", ", f.ReplacedBy.Select(s => $"'{s}'"))}" : "") +
                (f.Suggestions.Count > 0 ? $" (did you mean {string.Join(", ", f.Suggestions.Select(s => $"'{s}'"))}?)" : "") +
                ". Check the name, or add the repository (or component) that has it.",
            ResolutionErrorKind.Conflict =>
                $"The packages for '{f.RequestedPackage}' ({architecture}) conflict with other packages of the set: {Blockers(f)}. " +
                "Drop one of the conflicting requests, or request an alternative explicitly.",
            ResolutionErrorKind.SearchLimitExceeded =>
                $"Resolving '{f.RequestedPackage}' ({architecture}) gave up after too many steps without an answer. " +
                "Request the packages that provide the contested alternatives explicitly to narrow the search.",
            ResolutionErrorKind.InvalidRequest =>
                $"'{f.RequestedPackage}' is not a package request; write name, name:arch, name=version or name:arch=version.",
            _ =>
                $"'{f.RequestedPackage}' ({architecture}) cannot be installed: {f.ChainText} has no installable candidate. " +
                "Request another version, or add the repository that has a suitable one.",
        };
        return kind == ResolutionErrorKind.InvalidRequest ? headline : headline + "\n" + f.Describe().TrimEnd('\n');
    }

    static string Blockers(ResolutionFailure f)
    {
        var names = f.AllRejections().Where(r => r.BlockedBy is not null)
            .Select(r => r.Reason switch
            {
                RejectionReason.Conflicts => $"{r.Name} {r.Version} conflicts with {r.BlockedBy}",
                RejectionReason.ConflictedBy => $"{r.BlockedBy} conflicts with {r.Name} {r.Version}",
                _ => $"{r.Name} {r.Version} is needed, but {r.BlockedBy} is selected",
            })
            .Distinct().Take(6).ToList();
        return names.Count == 0 ? f.ChainText : string.Join("; ", names);
    }
}
