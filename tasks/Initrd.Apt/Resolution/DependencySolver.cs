using System.Diagnostics.CodeAnalysis;
using System.Numerics;
using System.Runtime.InteropServices;
using Initrd.Apt.Repositories;
using Initrd.Formats.Deb;

namespace Initrd.Apt.Resolution;

/// <summary>Which <c>Essential: yes</c> packages an image gets without asking.</summary>
/// <remarks>
/// Debian packages do not declare dependencies on Essential packages (Policy §3.8): a system is assumed to
/// have all of them, so apt and debootstrap install them first and every other package may use them
/// silently. An initrd is not such a system. It lists what it needs, and most Essential packages (dpkg,
/// perl-base, the package tools) are dead weight in it; the ones it does need (bash, util-linux, mount,
/// coreutils…) are named in its package list, or are pulled in by packages that do declare them.
/// So the default is <see cref="Closure"/>; <see cref="All"/> gives the set a full Debian system would have.
/// </remarks>
public enum EssentialPolicy
{
    /// <summary>Only the requested packages and their dependencies; an Essential package comes in only when one depends on it.</summary>
    Closure,

    /// <summary>
    /// Every <c>Essential: yes</c> package of the target architecture (22 in trixie) is added to the request, as
    /// apt and debootstrap assume. <c>Priority: required</c> packages that are not Essential (in trixie: apt,
    /// debconf, mawk, login, passwd, mount, tzdata and PAM), which debootstrap's minbase also installs, are not
    /// added: request them by name.
    /// </summary>
    All,
}

/// <summary>Options of one resolution.</summary>
public sealed record SolverOptions
{
    public static SolverOptions Default { get; } = new();

    /// <summary>
    /// Install Recommends as well (apt's default, but not this resolver's). A Recommends that cannot be
    /// satisfied is skipped, as apt skips it; it is never an error. Default false.
    /// </summary>
    public bool IncludeRecommends { get; init; }

    /// <summary>How Essential packages are treated; default <see cref="EssentialPolicy.Closure"/>.</summary>
    public EssentialPolicy Essential { get; init; } = EssentialPolicy.Closure;

    /// <summary>Further architectures that may be installed (dpkg --add-architecture), besides the target and "all".</summary>
    public IReadOnlyList<string> ForeignArchitectures { get; init; } = [];

    /// <summary>
    /// The most obligations the search processes before giving up with
    /// <see cref="ResolutionErrorKind.SearchLimitExceeded"/>. Real sets take a few hundred. Default 200,000.
    /// </summary>
    public int MaxSteps { get; init; } = 200_000;
}

/// <summary>One requested package: <c>name</c>, <c>name:arch</c>, <c>name=version</c> or <c>name:arch=version</c>.</summary>
/// <param name="Name">A package name, or a virtual package name.</param>
/// <param name="Architecture">Only packages of this architecture (arch:all counting as the target's); null for the usual rules.</param>
/// <param name="Version">Exactly this version (dpkg equality); null for the highest installable one.</param>
public sealed record PackageRequest(string Name, string? Architecture = null, DebianVersion? Version = null)
{
    /// <exception cref="FormatException">The text is not a request.</exception>
    public static PackageRequest Parse(string text) =>
        TryParse(text, out var request) ? request : throw new FormatException(
            $"'{text}' is not a package request; write name, name:arch, name=version or name:arch=version");

    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out PackageRequest? request)
    {
        request = null;
        if (text is null) return false;
        text = text.Trim();
        DebianVersion? version = null;
        int eq = text.IndexOf('=');
        if (eq >= 0)
        {
            if (!DebianVersion.TryParse(text[(eq + 1)..], out version)) return false;
            text = text[..eq].TrimEnd();
        }
        string? arch = null;
        int colon = text.IndexOf(':');
        if (colon >= 0)
        {
            arch = text[(colon + 1)..];
            text = text[..colon];
            if (!DebianArchitecture.IsValidName(arch)) return false;
        }
        if (text.Length == 0 || !char.IsAsciiLetterOrDigit(text[0])) return false;
        foreach (var c in text)
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('-' or '+' or '.' or '_')) return false;
        request = new PackageRequest(text, arch, version);
        return true;
    }

    /// <summary>The request as written: name[:arch][=version].</summary>
    public override string ToString() =>
        Name + (Architecture is null ? "" : ":" + Architecture) + (Version is null ? "" : "=" + Version);
}

/// <summary>A package of a resolved set.</summary>
/// <param name="Package">The chosen package, with its provenance.</param>
/// <param name="IsRequested">Whether it satisfies a request (as opposed to being pulled in by a dependency or the Essential policy).</param>
/// <param name="Reason">Why it is in the set: "requested", "Essential: yes", or "systemd Depends: libc6 (>= 2.36)".</param>
/// <param name="Dependencies">
/// The names of the packages of the set its Depends and Pre-Depends resolved to (for each relation, the
/// package that satisfies its first satisfied alternative), sorted, without itself.
/// </param>
public sealed record ResolvedPackage(RepositoryPackage Package, bool IsRequested, string Reason, IReadOnlyList<string> Dependencies)
{
    public string Name => Package.Name;
    public DebianVersion Version => Package.Version;
    public string Architecture => Package.Architecture;

    public override string ToString() => $"{Name} {Version} {Architecture}";
}

/// <summary>How much work a resolution took.</summary>
/// <param name="Steps">Obligations (requests and relations) processed.</param>
/// <param name="Decisions">Choice points opened (more than one installable candidate).</param>
/// <param name="Backjumps">Returns to an earlier choice after a failure.</param>
/// <param name="Pruned">Packages the search chose that the final set turned out not to need (see the remarks on <see cref="DependencySolver"/>).</param>
public sealed record ResolutionStatistics(int Steps, int Decisions, int Backjumps, int Pruned);

/// <summary>A closed, consistent package set.</summary>
public sealed class ResolvedSet
{
    internal ResolvedSet(string architecture, IReadOnlyList<ResolvedPackage> packages, ResolutionStatistics statistics)
    {
        Architecture = architecture;
        Packages = packages;
        Statistics = statistics;
    }

    public string Architecture { get; }

    /// <summary>The packages, sorted by name, then architecture (ordinal).</summary>
    public IReadOnlyList<ResolvedPackage> Packages { get; }

    public ResolutionStatistics Statistics { get; }

    /// <summary>The package of that name in the set (of that architecture, when given), or null.</summary>
    public ResolvedPackage? Find(string name, string? architecture = null) =>
        Packages.FirstOrDefault(p => p.Name == name && (architecture is null || p.Architecture == architecture));
}

/// <summary>
/// Resolves requested packages into a closed, consistent set over a <see cref="PackageUniverse"/>: every
/// Depends and Pre-Depends satisfied inside the set, no Conflicts or Breaks violated, one version per
/// package (Multi-Arch: same packages once per architecture).
/// </summary>
/// <remarks>
/// <para><b>Search.</b> A depth-first search over the dependency relations with conflict-directed
/// backjumping. Relations wait in three queues, served in this order: relations with a single alternative,
/// then relations with several alternatives, then Recommends (when enabled). Serving the single-alternative
/// relations first means that, by the time a choice is made, everything that was going to be installed
/// anyway is already in the set, so an alternative that is already there is reused (apt 2.x does the same).
/// A relation already satisfied by the set is dropped. Otherwise its candidates are listed in preference
/// order (below) and the ones that cannot be installed beside the current set (a Conflicts or Breaks either
/// way, another version of the same package) are set aside. One candidate left: it is installed. Several:
/// the first is installed and a choice point remembers the others. None: the search returns to the latest
/// choice point that can make a difference — the choices that brought in the package declaring the relation,
/// or the packages that excluded its candidates — skipping the unrelated ones, so independent choices do not
/// multiply. Each installed package carries the set of choice points it depends on; that is what makes the
/// jump exact. Loops (A → B → A, Pre-Depends loops included) need no care: a relation whose target is
/// already installed is satisfied.</para>
/// <para><b>Pruning.</b> A choice made early can become redundant: logrotate's "cron | anacron | cron-daemon
/// | systemd-sysv" takes cron, and later libpam-systemd needs systemd-sysv, which satisfies logrotate too.
/// So the found set is walked once more from the requests, in the same order (single-satisfier relations
/// first, a relation with several satisfiers in the set only when nothing else is left, then by its first
/// alternative), and what the walk does not reach is dropped. Removing packages from a consistent set
/// cannot create a conflict, and every kept package keeps its satisfiers, so the set stays closed. This
/// is where the resolver can end up smaller than apt, whose depth-first order keeps such packages when it
/// meets the choice first (gnome-core: apt keeps pinentry-curses for gpg-agent's "pinentry-curses |
/// pinentry" although pinentry-gnome3 comes in anyway).</para>
/// <para><b>Preference order</b> (the same inputs always give the same set: no hash order, no parallelism):
/// <list type="number">
/// <item>the alternatives of a relation in the order written (apt: the first satisfiable alternative);</item>
/// <item>within an alternative, the real package of that name before any package that provides the name;</item>
/// <item>real packages by version, highest first (every suite has apt's default pin, so the highest version
/// across trixie, trixie-updates and trixie-security wins), then the target architecture, then arch:all;</item>
/// <item>providers of a virtual name (versioned Provides satisfy versioned relations, unversioned ones only
/// unversioned relations — Policy §7.5) by the provider's Priority (required, important, standard,
/// optional, extra, none), then by the size of the dependency closure it would add to the current set
/// (smallest first), then by name (ordinal), then by version, highest first.</item>
/// </list>
/// apt orders providers by Priority too, but breaks the remaining ties by its cache order, which this
/// resolver cannot reproduce; the closure size is the tie-break the project asked for.</para>
/// <para><b>Multi-Arch.</b> An unqualified relation is satisfied by a package of the dependent's
/// architecture (arch:all packages, and relations of arch:all packages, count as the target architecture)
/// or by a <c>Multi-Arch: foreign</c> package of any installable architecture; <c>name:any</c> only by a
/// <c>Multi-Arch: allowed</c> package (dpkg's deparchsatisfied). Conflicts and Breaks without a qualifier
/// apply to every architecture. <c>Multi-Arch: same</c> packages may be installed once per architecture,
/// at the same version.</para>
/// <para><b>Threads.</b> A solver keeps no state between calls, and a <see cref="PackageUniverse"/> is
/// read-only (its lazily parsed fields are computed idempotently), so one universe can serve concurrent
/// resolutions.</para>
/// <para><b>Versions.</b> The highest version that satisfies the relations is tried first, and lower
/// ones after it. apt considers only its candidate version; so wherever apt succeeds this resolver picks
/// the same versions, and it may succeed where apt would give up.</para>
/// </remarks>
public sealed class DependencySolver
{
    public DependencySolver(PackageUniverse universe)
    {
        ArgumentNullException.ThrowIfNull(universe);
        Universe = universe;
    }

    public PackageUniverse Universe { get; }

    /// <summary>Resolves requests written as <c>name[:arch][=version]</c>.</summary>
    /// <exception cref="ResolutionException">A request is malformed, or no consistent set exists.</exception>
    public ResolvedSet Solve(IEnumerable<string> request, string architecture, SolverOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        var parsed = new List<PackageRequest>();
        foreach (var text in request)
        {
            if (!PackageRequest.TryParse(text, out var r))
                throw new ResolutionException(ResolutionErrorKind.InvalidRequest, new ResolutionFailure
                {
                    RequestedPackage = text ?? "",
                    Chain = [],
                    Field = "request",
                    Relation = text ?? "",
                    AvailableVersions = [],
                    Rejections = [],
                }, architecture);
            parsed.Add(r);
        }
        return Solve(parsed, architecture, options);
    }

    /// <summary>Resolves <paramref name="request"/> for <paramref name="architecture"/> into a closed, consistent set.</summary>
    /// <exception cref="ResolutionException">No consistent set exists (or the search limit was reached).</exception>
    public ResolvedSet Solve(IEnumerable<PackageRequest> request, string architecture, SolverOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(request);
        ArgumentException.ThrowIfNullOrWhiteSpace(architecture);
        return new Search(Universe, architecture, options ?? SolverOptions.Default).Run(request);
    }
}

/// <summary>The state of one resolution; see <see cref="DependencySolver"/> for the algorithm.</summary>
internal sealed class Search
{
    enum Field { Request, Essential, PreDepends, Depends, Recommends }

    /// <summary>One alternative of a relation (or a request), reduced to what matching needs.</summary>
    readonly record struct Want(string Name, string? Qualifier, VersionConstraint? Constraint);

    /// <summary>A relation of a selected package (or a request) that the set must satisfy.</summary>
    sealed class Obligation(Node? owner, Field field, RelationGroup? group, PackageRequest? request, Want[] wants)
    {
        public readonly Node? Owner = owner;
        public readonly Field Field = field;
        public readonly RelationGroup? Group = group;
        public readonly PackageRequest? Request = request;
        public readonly Want[] Wants = wants;

        public bool Soft => Field == Field.Recommends;

        public string FieldName => Field switch
        {
            Field.Request => "request",
            Field.Essential => "Essential",
            Field.PreDepends => "Pre-Depends",
            Field.Depends => "Depends",
            _ => "Recommends",
        };

        public string RelationText => Group?.ToString() ?? Request!.ToString();
    }

    /// <summary>Why a package is in the set: the relation it was chosen for and the choice points it rests on.</summary>
    sealed class Selection(Obligation parent, DecisionSet reasons)
    {
        public readonly Obligation Parent = parent;
        public readonly DecisionSet Reasons = reasons;
    }

    /// <summary>A choice point: a relation with several installable candidates, and the state before the choice.</summary>
    sealed class Decision
    {
        public required int Level;
        public required Obligation Obligation;
        public required List<Node?> Options; // null: skip (a Recommends)
        public required DecisionSet Base;    // what brought the relation in and what excluded its other candidates
        public required Snapshot State;
        public int Index;
        public DecisionSet Accumulated = DecisionSet.Empty;
        public readonly List<CandidateRejection> Tried = [];
    }

    readonly record struct Snapshot(int Trail, int Q0, int Q1, int Q2, int H0, int H1, int H2);

    sealed class Failure(Obligation obligation, DecisionSet culprits, ResolutionFailure explanation)
    {
        public readonly Obligation Obligation = obligation;
        public readonly DecisionSet Culprits = culprits;
        public readonly ResolutionFailure Explanation = explanation;
    }

    readonly PackageUniverse universe;
    readonly string target;
    readonly SolverOptions options;
    readonly HashSet<string> installable;

    readonly Selection?[] selected;
    readonly List<Node> trail = [];
    readonly Dictionary<string, List<Node>> byName = new(StringComparer.Ordinal);
    readonly Dictionary<string, List<ProvidedBy>> provided = new(StringComparer.Ordinal);
    readonly Dictionary<string, List<(Node Owner, PackageRelation Relation, bool Breaks)>> negatives = new(StringComparer.Ordinal);
    readonly List<Obligation>[] queues = [[], [], []];
    readonly int[] heads = new int[3];
    readonly List<Decision> decisions = [];
    readonly List<Obligation> roots = [];
    int steps, decisionCount, backjumps;

    public Search(PackageUniverse universe, string architecture, SolverOptions options)
    {
        this.universe = universe;
        target = architecture;
        this.options = options;
        installable = new HashSet<string>(StringComparer.Ordinal) { architecture, "all" };
        installable.UnionWith(options.ForeignArchitectures);
        selected = new Selection?[universe.NodeCapacity];
    }

    public ResolvedSet Run(IEnumerable<PackageRequest> requests)
    {
        foreach (var r in requests)
        {
            ArgumentNullException.ThrowIfNull(r, nameof(requests));
            var constraint = r.Version is null ? null : new VersionConstraint(RelationOperator.Equal, r.Version);
            AddRoot(new Obligation(null, Field.Request, null, r, [new Want(r.Name, r.Architecture, constraint)]));
        }
        if (options.Essential == EssentialPolicy.All)
        {
            string? last = null;
            foreach (var node in universe.Essential)
            {
                if (node.Name == last || !IsInstallable(node)) continue;
                last = node.Name;
                AddRoot(new Obligation(null, Field.Essential, null, new PackageRequest(node.Name), [new Want(node.Name, null, null)]));
            }
        }

        Failure? lastFailure = null;
        while (NextObligation() is { } ob)
        {
            if (++steps > options.MaxSteps)
                throw new ResolutionException(ResolutionErrorKind.SearchLimitExceeded,
                    (lastFailure ?? MakeFailure(ob, DecisionSet.Empty, null)).Explanation, target);
            if (FindSatisfier(ob) is not null) continue;

            var blockers = DecisionSet.Empty;
            var candidates = Enumerate(ob, ref blockers, null);
            var ownerReasons = ob.Owner is null ? DecisionSet.Empty : selected[ob.Owner.Id]!.Reasons;
            if (candidates.Count == 0)
            {
                if (ob.Soft) continue;
                var failure = MakeFailure(ob, ownerReasons.Union(blockers), null);
                lastFailure = failure;
                if (!Backjump(ref failure)) throw Fail(failure);
                lastFailure = failure;
                continue;
            }
            if (candidates.Count == 1 && !ob.Soft)
            {
                Select(candidates[0]!, ob, ownerReasons.Union(blockers));
                continue;
            }
            if (ob.Soft) candidates.Add(null);
            var decision = new Decision
            {
                Level = decisions.Count,
                Obligation = ob,
                Options = candidates,
                Base = ownerReasons.Union(blockers),
                State = TakeSnapshot(),
            };
            decisions.Add(decision);
            decisionCount++;
            Select(candidates[0]!, ob, decision.Base.With(decision.Level));
        }
        return BuildResult();
    }

    void AddRoot(Obligation ob)
    {
        roots.Add(ob);
        queues[0].Add(ob);
    }

    Obligation? NextObligation()
    {
        for (int q = 0; q < queues.Length; q++)
            if (heads[q] < queues[q].Count) return queues[q][heads[q]++];
        return null;
    }

    // ------------------------------------------------------------ backjumping

    /// <summary>
    /// Returns to the latest choice point among the failure's culprits and moves it to its next candidate;
    /// a choice point without candidates left fails in turn, with its own culprits. False when the failure
    /// rests on no choice at all: then no consistent set exists, and <paramref name="failure"/> explains why.
    /// </summary>
    bool Backjump(ref Failure failure)
    {
        while (true)
        {
            var culprits = failure.Culprits;
            if (culprits.IsEmpty) return false;
            int level = culprits.Max;
            backjumps++;
            decisions.RemoveRange(level + 1, decisions.Count - level - 1);
            var d = decisions[level];
            Restore(d.State);
            d.Accumulated = d.Accumulated.Union(culprits.Without(level));
            if (d.Options[d.Index] is { } failed)
                d.Tried.Add(Rejection(failed, RejectionReason.DependenciesFailed,
                    $"tried, and the set cannot be completed with it: {failure.Explanation.ChainText} fails") with { Cause = failure.Explanation });
            d.Index++;
            if (d.Index < d.Options.Count)
            {
                if (d.Options[d.Index] is { } next) Select(next, d.Obligation, d.Base.With(level));
                return true;
            }
            decisions.RemoveAt(level);
            failure = MakeFailure(d.Obligation, d.Base.Union(d.Accumulated), d.Tried);
        }
    }

    Snapshot TakeSnapshot() => new(trail.Count, queues[0].Count, queues[1].Count, queues[2].Count, heads[0], heads[1], heads[2]);

    void Restore(Snapshot s)
    {
        while (trail.Count > s.Trail)
        {
            Unselect(trail[^1]);
            trail.RemoveAt(trail.Count - 1);
        }
        Truncate(queues[0], s.Q0);
        Truncate(queues[1], s.Q1);
        Truncate(queues[2], s.Q2);
        heads[0] = s.H0;
        heads[1] = s.H1;
        heads[2] = s.H2;

        static void Truncate(List<Obligation> list, int count) => list.RemoveRange(count, list.Count - count);
    }

    // ------------------------------------------------------------ the set

    void Select(Node node, Obligation parent, DecisionSet reasons)
    {
        selected[node.Id] = new Selection(parent, reasons);
        trail.Add(node);
        Add(byName, node.Name, node);
        foreach (var p in node.Provides) Add(provided, p.Name, p);
        var arch = Native(node.Architecture);
        var relations = node.Relations;
        foreach (var (relation, breaks) in Negatives(node, relations, arch)) Add(negatives, relation.Name, (node, relation, breaks));
        Enqueue(node, Field.PreDepends, relations.PreDepends, arch);
        Enqueue(node, Field.Depends, relations.Depends, arch);
        if (options.IncludeRecommends) Enqueue(node, Field.Recommends, relations.Recommends, arch);

        static void Add<T>(Dictionary<string, List<T>> index, string key, T value)
        {
            ref var list = ref CollectionsMarshal.GetValueRefOrAddDefault(index, key, out _);
            (list ??= new List<T>(2)).Add(value);
        }
    }

    /// <summary>Undoes <see cref="Select"/> of the most recently selected package (its index entries are the last ones).</summary>
    void Unselect(Node node)
    {
        var relations = node.Relations;
        foreach (var (relation, _) in Negatives(node, relations, Native(node.Architecture))) RemoveLast(negatives, relation.Name);
        foreach (var p in node.Provides) RemoveLast(provided, p.Name);
        RemoveLast(byName, node.Name);
        selected[node.Id] = null;

        static void RemoveLast<T>(Dictionary<string, List<T>> index, string key)
        {
            var list = index[key];
            list.RemoveAt(list.Count - 1);
            if (list.Count == 0) index.Remove(key);
        }
    }

    void Enqueue(Node owner, Field field, IReadOnlyList<RelationGroup> groups, string arch)
    {
        foreach (var group in groups)
        {
            var wants = WantsOf(group, arch);
            if (wants.Length == 0) continue;
            int queue = field == Field.Recommends ? 2 : wants.Length == 1 ? 0 : 1;
            queues[queue].Add(new Obligation(owner, field, group, null, wants));
        }
    }

    static Want[] WantsOf(RelationGroup group, string arch)
    {
        var alternatives = group.Alternatives;
        if (alternatives.Count == 1)
        {
            var r = alternatives[0];
            return r.AppliesTo(arch) ? [new Want(r.Name, r.ArchitectureQualifier, r.Version)] : [];
        }
        var list = new List<Want>(alternatives.Count);
        foreach (var r in alternatives)
            if (r.AppliesTo(arch)) list.Add(new Want(r.Name, r.ArchitectureQualifier, r.Version));
        return [.. list];
    }

    static IEnumerable<(PackageRelation Relation, bool Breaks)> Negatives(Node node, NodeRelations relations, string arch)
    {
        foreach (var group in relations.Conflicts)
            foreach (var r in group.Alternatives)
                if (r.AppliesTo(arch)) yield return (r, false);
        foreach (var group in relations.Breaks)
            foreach (var r in group.Alternatives)
                if (r.AppliesTo(arch)) yield return (r, true);
    }

    // ------------------------------------------------------------ matching

    string Native(string architecture) => architecture == "all" ? target : architecture;

    bool IsInstallable(Node node) => installable.Contains(node.Architecture);

    string DependentArchitecture(Obligation ob) => ob.Owner is null ? target : Native(ob.Owner.Architecture);

    /// <summary>dpkg's deparchsatisfied for positive relations (see the class remarks).</summary>
    bool ArchitectureSatisfies(string dependentArch, string? qualifier, Node node)
    {
        if (qualifier is null) return node.MultiArch == MultiArch.Foreign || Native(node.Architecture) == dependentArch;
        if (qualifier == "any") return node.MultiArch == MultiArch.Allowed;
        return Native(node.Architecture) == (qualifier == "native" ? target : qualifier);
    }

    /// <summary>Conflicts and Breaks: unqualified or ":any" hit every architecture, a concrete qualifier only its own.</summary>
    bool NegativeArchitectureHits(string? qualifier, Node node) =>
        qualifier is null or "any" || Native(node.Architecture) == (qualifier == "native" ? target : qualifier);

    static bool ProvideSatisfies(VersionConstraint? constraint, DebianVersion? providedVersion) =>
        constraint is null || (providedVersion is not null && constraint.Satisfies(providedVersion));

    Node? FindSatisfier(Obligation ob)
    {
        var arch = DependentArchitecture(ob);
        foreach (var want in ob.Wants)
            if (SatisfierOf(want, arch) is { } node) return node;
        return null;
    }

    Node? SatisfierOf(Want want, string dependentArch)
    {
        if (byName.TryGetValue(want.Name, out var real))
            foreach (var n in real)
                if ((want.Constraint?.Satisfies(n.Version) ?? true) && ArchitectureSatisfies(dependentArch, want.Qualifier, n))
                    return n;
        if (provided.TryGetValue(want.Name, out var providers))
            foreach (var p in providers)
                if (ProvideSatisfies(want.Constraint, p.Version) && ArchitectureSatisfies(dependentArch, want.Qualifier, p.Node))
                    return p.Node;
        return null;
    }

    /// <summary>
    /// The candidates of an unsatisfied relation that can be installed beside the current set, in preference
    /// order. The choice points of the packages that exclude other candidates go into <paramref name="blockers"/>;
    /// with <paramref name="rejections"/>, every candidate turned down is recorded with its reason.
    /// </summary>
    List<Node?> Enumerate(Obligation ob, ref DecisionSet blockers, List<CandidateRejection>? rejections)
    {
        var result = new List<Node?>(2);
        var arch = DependentArchitecture(ob);
        foreach (var want in ob.Wants)
        {
            var real = universe.RealOf(want.Name);
            var providers = universe.ProvidersOf(want.Name);
            if (real.Length == 0 && providers.Length == 0)
            {
                rejections?.Add(new CandidateRejection(want.Name, null, null, null, RejectionReason.NotFound,
                    "not found in any repository (no package has this name and none provides it)"));
                continue;
            }
            foreach (var node in Ordered(real))
            {
                if (want.Constraint is { } c && !c.Satisfies(node.Version))
                {
                    rejections?.Add(Rejection(node, RejectionReason.Version, $"version {node.Version} does not satisfy ({c})"));
                    continue;
                }
                if (Viable(node, want, arch, ref blockers, rejections) && !result.Contains(node)) result.Add(node);
            }
            if (providers.Length == 0) continue;
            List<Node>? viable = null;
            foreach (var p in providers)
            {
                if (want.Constraint is { } c && !ProvideSatisfies(c, p.Version))
                {
                    rejections?.Add(p.Version is null
                        ? Rejection(p.Node, RejectionReason.UnversionedProvides,
                            $"provides {p.Name} without a version, which cannot satisfy ({c})")
                        : Rejection(p.Node, RejectionReason.Version, $"provides {p.Name} (= {p.Version}), which does not satisfy ({c})"));
                    continue;
                }
                if (Viable(p.Node, want, arch, ref blockers, rejections) && !result.Contains(p.Node))
                    (viable ??= []).Add(p.Node);
            }
            if (viable is not null) result.AddRange(OrderProviders(viable));
        }
        return result;
    }

    /// <summary>Real packages of one name: highest version first; among equal versions the target architecture, then all.</summary>
    IEnumerable<Node> Ordered(Node[] real)
    {
        bool mixed = false;
        for (int i = 1; i < real.Length && !mixed; i++) mixed = real[i].Architecture != real[0].Architecture;
        if (!mixed) return real;
        var order = Enumerable.Range(0, real.Length).ToArray();
        Array.Sort(order, (a, b) =>
        {
            int c = DebianVersion.Compare(real[b].Version, real[a].Version);
            if (c != 0) return c;
            c = ArchRank(real[a]).CompareTo(ArchRank(real[b]));
            return c != 0 ? c : a.CompareTo(b);
        });
        return order.Select(i => real[i]);
    }

    int ArchRank(Node n) => n.Architecture == target ? 0 : n.Architecture == "all" ? 1 : 2;

    /// <summary>Whether a candidate can be installed for this want beside the current set; records why not.</summary>
    bool Viable(Node node, Want want, string dependentArch, ref DecisionSet blockers, List<CandidateRejection>? rejections)
    {
        if (node.Relations.Error is { } error)
        {
            rejections?.Add(Rejection(node, RejectionReason.Malformed, error));
            return false;
        }
        if (!IsInstallable(node))
        {
            rejections?.Add(Rejection(node, RejectionReason.Architecture,
                $"architecture {node.Architecture} is not installable for {target}"));
            return false;
        }
        if (!ArchitectureSatisfies(dependentArch, want.Qualifier, node))
        {
            rejections?.Add(Rejection(node, RejectionReason.MultiArch, want.Qualifier switch
            {
                "any" => $"'{want.Name}:any' needs Multi-Arch: allowed, and it is Multi-Arch: {node.MultiArch.ToString().ToLowerInvariant()}",
                null => $"it is {node.Architecture} and Multi-Arch: {node.MultiArch.ToString().ToLowerInvariant()}, so it cannot satisfy a dependency of a {dependentArch} package",
                _ => $"the relation asks for architecture {want.Qualifier}",
            }));
            return false;
        }
        if (FindBlocker(node) is var (blocker, reason, detail))
        {
            blockers = blockers.Union(selected[blocker.Id]!.Reasons);
            rejections?.Add(Rejection(node, reason, detail) with { BlockedBy = blocker.ToString(), BlockedByChain = ChainText(blocker) });
            return false;
        }
        return true;
    }

    /// <summary>The selected package that keeps <paramref name="candidate"/> out of the set, if any.</summary>
    (Node Blocker, RejectionReason Reason, string Detail)? FindBlocker(Node candidate)
    {
        // One version per package; Multi-Arch: same packages once per architecture, at one version.
        if (byName.TryGetValue(candidate.Name, out var same))
            foreach (var s in same)
                if (s != candidate && !(s.MultiArch == MultiArch.Same && candidate.MultiArch == MultiArch.Same
                                        && s.Architecture != candidate.Architecture && s.Version == candidate.Version))
                    return (s, RejectionReason.OtherVersionSelected, $"{s} is already selected");

        // The candidate's own Conflicts and Breaks against the set. Never against itself (Policy §7.4): the
        // candidate is not selected yet, so it cannot be among the hits.
        var arch = Native(candidate.Architecture);
        foreach (var (relation, breaks) in Negatives(candidate, candidate.Relations, arch))
        {
            var verb = breaks ? "Breaks" : "Conflicts";
            if (byName.TryGetValue(relation.Name, out var hits))
                foreach (var s in hits)
                    if (s.Name != candidate.Name && NegativeArchitectureHits(relation.ArchitectureQualifier, s) && relation.IsSatisfiedBy(s.Version))
                        return (s, RejectionReason.Conflicts, $"it {verb}: {relation}, and {s} is selected");
            if (provided.TryGetValue(relation.Name, out var providers))
                foreach (var p in providers)
                    if (p.Node.Name != candidate.Name && NegativeArchitectureHits(relation.ArchitectureQualifier, p.Node)
                        && ProvideSatisfies(relation.Version, p.Version))
                        return (p.Node, RejectionReason.Conflicts, $"it {verb}: {relation}, and the selected {p.Node} provides {p.Name}");
        }

        // Conflicts and Breaks of selected packages against the candidate or what it provides.
        if (negatives.TryGetValue(candidate.Name, out var against))
            foreach (var (owner, relation, breaks) in against)
                if (owner.Name != candidate.Name && NegativeArchitectureHits(relation.ArchitectureQualifier, candidate)
                    && relation.IsSatisfiedBy(candidate.Version))
                    return (owner, RejectionReason.ConflictedBy, $"the selected {owner} {(breaks ? "Breaks" : "Conflicts")}: {relation}");
        foreach (var p in candidate.Provides)
            if (negatives.TryGetValue(p.Name, out var againstVirtual))
                foreach (var (owner, relation, breaks) in againstVirtual)
                    if (owner.Name != candidate.Name && NegativeArchitectureHits(relation.ArchitectureQualifier, candidate)
                        && ProvideSatisfies(relation.Version, p.Version))
                        return (owner, RejectionReason.ConflictedBy,
                            $"the selected {owner} {(breaks ? "Breaks" : "Conflicts")}: {relation}, and it provides {p.Name}{(p.Version is null ? "" : $" (= {p.Version})")}");
        return null;
    }

    /// <summary>
    /// Providers of a virtual name by Priority, then the closure they would add, then name, then version
    /// (highest first). The closure is only measured when two provider names tie on Priority.
    /// </summary>
    IEnumerable<Node> OrderProviders(List<Node> viable)
    {
        if (viable.Count == 1) return viable;
        var byProvider = new List<(string Name, int Rank, List<Node> Nodes)>();
        foreach (var n in viable) // already in name order, then version order
        {
            if (byProvider.Count > 0 && byProvider[^1].Name == n.Name) byProvider[^1].Nodes.Add(n);
            else byProvider.Add((n.Name, n.PriorityRank, [n]));
        }
        if (byProvider.Count == 1) return viable;
        var closure = new int[byProvider.Count];
        for (int i = 0; i < byProvider.Count; i++)
            if (byProvider.Where((p, j) => j != i && p.Rank == byProvider[i].Rank).Any())
                closure[i] = ClosureSize(byProvider[i].Nodes[0]);
        return Enumerable.Range(0, byProvider.Count)
            .OrderBy(i => byProvider[i].Rank).ThenBy(i => closure[i]).ThenBy(i => byProvider[i].Name, StringComparer.Ordinal)
            .SelectMany(i => byProvider[i].Nodes);
    }

    /// <summary>
    /// How many packages installing <paramref name="start"/> would add to the current set, following the first
    /// installable candidate of each unsatisfied Depends/Pre-Depends (conflicts ignored; an estimate for ordering).
    /// </summary>
    int ClosureSize(Node start)
    {
        const int Limit = 5000;
        var added = new List<Node> { start };
        var names = new Dictionary<string, List<Node>>(StringComparer.Ordinal) { [start.Name] = [start] };
        for (int i = 0; i < added.Count && added.Count < Limit; i++)
        {
            var node = added[i];
            var arch = Native(node.Architecture);
            foreach (var groups in (IReadOnlyList<RelationGroup>[])[node.Relations.PreDepends, node.Relations.Depends])
            foreach (var group in groups)
            {
                var wants = WantsOf(group, arch);
                if (wants.Length == 0 || wants.Any(w => SatisfierOf(w, arch) is not null || AddedSatisfies(w, arch))) continue;
                if (FirstCandidate(wants, arch) is { } pick && !names.ContainsKey(pick.Name))
                {
                    added.Add(pick);
                    names[pick.Name] = [pick];
                }
            }
        }
        return added.Count;

        bool AddedSatisfies(Want w, string arch)
        {
            if (names.TryGetValue(w.Name, out var list) && list.Any(n => (w.Constraint?.Satisfies(n.Version) ?? true) && ArchitectureSatisfies(arch, w.Qualifier, n)))
                return true;
            foreach (var p in universe.ProvidersOf(w.Name))
                if (names.TryGetValue(p.Node.Name, out var l) && l.Contains(p.Node) && ProvideSatisfies(w.Constraint, p.Version)) return true;
            return false;
        }
    }

    Node? FirstCandidate(Want[] wants, string arch)
    {
        foreach (var w in wants)
        {
            foreach (var n in Ordered(universe.RealOf(w.Name)))
                if ((w.Constraint?.Satisfies(n.Version) ?? true) && IsInstallable(n) && ArchitectureSatisfies(arch, w.Qualifier, n))
                    return n;
            foreach (var p in universe.ProvidersOf(w.Name))
                if (ProvideSatisfies(w.Constraint, p.Version) && IsInstallable(p.Node) && ArchitectureSatisfies(arch, w.Qualifier, p.Node))
                    return p.Node;
        }
        return null;
    }

    // ------------------------------------------------------------ explanations

    static CandidateRejection Rejection(Node node, RejectionReason reason, string detail) =>
        new(node.Name, node.Version.ToString(), node.Architecture, $"{node.Package.Origin.Suite}/{node.Package.Origin.Component}", reason, detail);

    Failure MakeFailure(Obligation ob, DecisionSet culprits, List<CandidateRejection>? tried)
    {
        var rejections = new List<CandidateRejection>();
        var ignored = DecisionSet.Empty;
        Enumerate(ob, ref ignored, rejections);
        if (tried is not null) rejections.AddRange(tried);

        var available = new List<string>();
        var suggestions = new List<string>();
        var replacedBy = new List<string>();
        foreach (var want in ob.Wants)
        {
            foreach (var n in universe.RealOf(want.Name))
                available.Add($"{n.Name} {n.Version} {n.Architecture} ({n.Package.Origin.Suite}/{n.Package.Origin.Component})");
            foreach (var p in universe.ProvidersOf(want.Name))
                available.Add($"{p.Node.Name} {p.Node.Version} {p.Node.Architecture} provides {p.Name}{(p.Version is null ? "" : $" (= {p.Version})")}");
            if (ob.Owner is null && !universe.Contains(want.Name))
            {
                suggestions.AddRange(universe.SuggestNames(want.Name));
                replacedBy.AddRange(universe.FindReplacements(want.Name));
            }
        }

        var chain = ChainOf(ob.Owner);

        var explanation = new ResolutionFailure
        {
            RequestedPackage = chain.Count > 0 ? chain[0].Relation : ob.RelationText,
            Chain = chain,
            Field = ob.FieldName,
            Relation = ob.RelationText,
            Dependent = ob.Owner?.ToString(),
            AvailableVersions = available,
            Rejections = rejections,
            Suggestions = suggestions,
            ReplacedBy = replacedBy,
        };
        return new Failure(ob, culprits, explanation);
    }

    /// <summary>From the request down to <paramref name="node"/>: the relation each package was chosen for.</summary>
    List<DependencyStep> ChainOf(Node? node)
    {
        var chain = new List<DependencyStep>();
        for (var n = node; n is not null;)
        {
            var parent = selected[n.Id]!.Parent;
            chain.Add(new DependencyStep(parent.FieldName, parent.RelationText, n.Name, n.Version.ToString(), n.Architecture));
            n = parent.Owner;
        }
        chain.Reverse();
        return chain;
    }

    string ChainText(Node node)
    {
        var chain = ChainOf(node);
        return chain.Count == 1 && chain[0].Field is "request" or "Essential"
            ? chain[0].Field == "request" ? "requested" : "Essential: yes"
            : string.Join(" → ", chain.Select(s => s.Relation));
    }

    ResolutionException Fail(Failure failure)
    {
        var f = failure.Explanation;
        var kind = f.Dependent is null && f.Rejections.Count > 0 && f.Rejections.All(r => r.Reason == RejectionReason.NotFound)
            ? ResolutionErrorKind.NotFound
            : f.AllRejections().Any(r => r.Reason is RejectionReason.Conflicts or RejectionReason.ConflictedBy or RejectionReason.OtherVersionSelected)
                ? ResolutionErrorKind.Conflict
                : ResolutionErrorKind.Unsatisfiable;
        return new ResolutionException(kind, f, target);
    }

    // ------------------------------------------------------------ result

    ResolvedSet BuildResult()
    {
        var (kept, reasons) = Prune();
        var requested = new HashSet<Node>();
        foreach (var root in roots)
            if (root.Field == Field.Request && FindSatisfier(root) is { } n) requested.Add(n);

        var packages = new List<ResolvedPackage>(kept.Count);
        foreach (var node in kept)
        {
            var arch = Native(node.Architecture);
            var dependencies = new SortedSet<string>(StringComparer.Ordinal);
            var satisfiers = new List<Node>();
            foreach (var groups in (IReadOnlyList<RelationGroup>[])[node.Relations.PreDepends, node.Relations.Depends])
            foreach (var group in groups)
            {
                // The first alternative that a kept package satisfies, and the first such package.
                foreach (var want in WantsOf(group, arch))
                {
                    satisfiers.Clear();
                    AllSatisfiers(want, arch, satisfiers);
                    if (satisfiers.FirstOrDefault(reasons.ContainsKey) is not { } s) continue;
                    if (s != node) dependencies.Add(s.Name);
                    break;
                }
            }
            packages.Add(new ResolvedPackage(node.Package, requested.Contains(node), reasons[node], [.. dependencies]));
        }
        packages.Sort((a, b) =>
        {
            int c = string.CompareOrdinal(a.Name, b.Name);
            return c != 0 ? c : string.CompareOrdinal(a.Architecture, b.Architecture);
        });
        return new ResolvedSet(target, packages, new ResolutionStatistics(steps, decisionCount, backjumps, trail.Count - kept.Count));
    }

    /// <summary>
    /// The packages of the found set that the requests still need. A choice made early may have become
    /// redundant: "cron | anacron | systemd-sysv" takes cron, and later another package needs systemd-sysv,
    /// which satisfies the relation too. This pass walks the set again from the requests, the way the search
    /// does (relations with a single satisfier in the set first; a relation with several waits until nothing
    /// else is left, and is then satisfied by its first alternative present), and keeps only what it reaches.
    /// Removing packages from a consistent set cannot create a conflict, and every relation of a kept package
    /// keeps a satisfier, so the result is still closed and consistent. Also yields each package's reason.
    /// </summary>
    (List<Node> Kept, Dictionary<Node, string> Reasons) Prune()
    {
        var kept = new List<Node>(trail.Count);
        var reasons = new Dictionary<Node, string>();
        var deferred = new List<(Node Owner, Obligation Relation, List<Node> Satisfiers)>();
        int expanded = 0;

        void Keep(Node node, string reason)
        {
            if (reasons.TryAdd(node, reason)) kept.Add(node);
        }

        foreach (var root in roots)
            if (FindSatisfier(root) is { } n) Keep(n, root.Field == Field.Request ? "requested" : "Essential: yes");

        while (true)
        {
            for (; expanded < kept.Count; expanded++)
            {
                var node = kept[expanded];
                var arch = Native(node.Architecture);
                var relations = node.Relations;
                Walk(node, Field.PreDepends, relations.PreDepends, arch);
                Walk(node, Field.Depends, relations.Depends, arch);
                if (options.IncludeRecommends) Walk(node, Field.Recommends, relations.Recommends, arch);
            }
            bool progress = false;
            foreach (var (owner, relation, satisfiers) in deferred)
            {
                if (satisfiers.Any(reasons.ContainsKey)) continue;
                Keep(satisfiers[0], $"{owner.Name} {relation.FieldName}: {relation.RelationText}");
                progress = true;
                break;
            }
            if (!progress) return (kept, reasons);
        }

        void Walk(Node owner, Field field, IReadOnlyList<RelationGroup> groups, string arch)
        {
            foreach (var group in groups)
            {
                var wants = WantsOf(group, arch);
                if (wants.Length == 0) continue;
                var satisfiers = new List<Node>(1);
                foreach (var want in wants) AllSatisfiers(want, arch, satisfiers);
                if (satisfiers.Count == 0 || satisfiers.Any(reasons.ContainsKey)) continue;
                var relation = new Obligation(owner, field, group, null, wants);
                if (satisfiers.Count == 1) Keep(satisfiers[0], $"{owner.Name} {relation.FieldName}: {relation.RelationText}");
                else deferred.Add((owner, relation, satisfiers));
            }
        }
    }

    /// <summary>Every selected package that satisfies <paramref name="want"/>, real ones before providers, in selection order.</summary>
    void AllSatisfiers(Want want, string dependentArch, List<Node> into)
    {
        if (byName.TryGetValue(want.Name, out var real))
            foreach (var n in real)
                if ((want.Constraint?.Satisfies(n.Version) ?? true) && ArchitectureSatisfies(dependentArch, want.Qualifier, n) && !into.Contains(n))
                    into.Add(n);
        if (provided.TryGetValue(want.Name, out var providers))
            foreach (var p in providers)
                if (ProvideSatisfies(want.Constraint, p.Version) && ArchitectureSatisfies(dependentArch, want.Qualifier, p.Node) && !into.Contains(p.Node))
                    into.Add(p.Node);
    }
}

/// <summary>An immutable set of choice-point levels (a bit set), shared between packages where it does not change.</summary>
internal sealed class DecisionSet
{
    public static readonly DecisionSet Empty = new([]);

    readonly ulong[] words; // no trailing zero word

    DecisionSet(ulong[] words) => this.words = words;

    public bool IsEmpty => words.Length == 0;

    /// <summary>The highest level in the set; -1 when empty.</summary>
    public int Max => words.Length == 0 ? -1 : (words.Length - 1) * 64 + 63 - BitOperations.LeadingZeroCount(words[^1]);

    public bool Contains(int level) => level >> 6 < words.Length && (words[level >> 6] & (1UL << level)) != 0;

    public DecisionSet With(int level)
    {
        if (Contains(level)) return this;
        var w = new ulong[Math.Max(words.Length, (level >> 6) + 1)];
        words.CopyTo(w, 0);
        w[level >> 6] |= 1UL << level;
        return new DecisionSet(w);
    }

    public DecisionSet Without(int level)
    {
        if (!Contains(level)) return this;
        var w = (ulong[])words.Clone();
        w[level >> 6] &= ~(1UL << level);
        int n = w.Length;
        while (n > 0 && w[n - 1] == 0) n--;
        return n == 0 ? Empty : new DecisionSet(n == w.Length ? w : w[..n]);
    }

    public DecisionSet Union(DecisionSet other)
    {
        if (other.IsEmpty || ReferenceEquals(other, this)) return this;
        if (IsEmpty) return other;
        if (IsSubsetOf(other, this)) return this;
        if (IsSubsetOf(this, other)) return other;
        var (longer, shorter) = words.Length >= other.words.Length ? (words, other.words) : (other.words, words);
        var w = (ulong[])longer.Clone();
        for (int i = 0; i < shorter.Length; i++) w[i] |= shorter[i];
        return new DecisionSet(w);
    }

    static bool IsSubsetOf(DecisionSet a, DecisionSet b)
    {
        if (a.words.Length > b.words.Length) return false;
        for (int i = 0; i < a.words.Length; i++)
            if ((a.words[i] & ~b.words[i]) != 0) return false;
        return true;
    }

    public override string ToString() =>
        "{" + string.Join(",", Enumerable.Range(0, words.Length * 64).Where(Contains)) + "}";
}
