using System.Runtime.InteropServices;
using Initrd.Apt.Repositories;
using Initrd.Formats.Deb;

namespace Initrd.Apt.Resolution;

/// <summary>A package that declares <c>Provides: name</c> or <c>Provides: name (= version)</c>.</summary>
/// <param name="Provider">The real package.</param>
/// <param name="Version">The provided version, or null for an unversioned Provides (Policy §7.5).</param>
public readonly record struct VirtualProvider(RepositoryPackage Provider, DebianVersion? Version);

/// <summary>
/// Every candidate package the resolver may choose from, indexed by package name (all versions and
/// architectures) and by the names they provide (Debian Policy §7.5), with the duplicates that several
/// suites carry folded into one candidate.
/// </summary>
/// <remarks>
/// <para>
/// Pins: every suite counts with apt's default priority (500), so for a name the candidates are ordered by
/// version, highest first, whichever suite holds them: a version in trixie-security or trixie-updates beats
/// the release's own. When the same name, version and architecture appear in several suites (trixie and
/// trixie-security often carry the same build) one copy is kept: the one whose suite, then component, then
/// repository URI sorts first ordinally, so the choice does not depend on the input's order.
/// </para>
/// <para>
/// Building the index touches only the fields the index needs: name, version, architecture, Essential and
/// Provides (about 13,000 trixie packages provide some 70,000 names, most of them librust-*-dev features;
/// they are read by a small scanner, and their versions parsed only when looked at). Every other
/// relationship field is parsed by the solver on first use. Indexing trixie, trixie-updates and
/// trixie-security (~71,000 paragraphs) takes a fraction of a second; see the test output of
/// <c>ResolutionTimeOfTheDefaultInitrdSet</c> for this machine's figures.
/// </para>
/// </remarks>
public sealed class PackageUniverse
{
    static readonly Node[] NoNodes = [];
    static readonly ProvidedBy[] NoProviders = [];

    readonly Dictionary<string, Entry> entries;
    readonly Node[] nodes; // every node kept, in input order (ids carry no meaning beyond indexing)
    string[]? sortedNames;

    /// <summary>Indexes the packages of loaded repository indices.</summary>
    public PackageUniverse(IEnumerable<RepositoryIndex> indices)
        : this((indices ?? throw new ArgumentNullException(nameof(indices))).SelectMany(i => i.Packages))
    {
    }

    /// <summary>Indexes candidate packages (any order; the result does not depend on it).</summary>
    public PackageUniverse(IEnumerable<RepositoryPackage> packages)
    {
        ArgumentNullException.ThrowIfNull(packages);
        entries = new Dictionary<string, Entry>(packages.TryGetNonEnumeratedCount(out var n) ? n + n / 4 : 0, StringComparer.Ordinal);
        var lookup = entries.GetAlternateLookup<ReadOnlySpan<char>>();
        var all = new List<Node>(n);
        var essential = new List<Node>();
        var provided = new List<(string Name, string? Version)>();
        foreach (var p in packages)
        {
            ArgumentNullException.ThrowIfNull(p, nameof(packages));
            var node = new Node(all.Count, p);
            all.Add(node);
            ref var entry = ref CollectionsMarshal.GetValueRefOrAddDefault(entries, p.Name, out _);
            (entry ??= new Entry()).Add(node);
            if (p.Essential) essential.Add(node);

            // Virtual packages: most Provides are "name" or "name (= version)", read here without the general
            // relation parser (trixie has ~70,000 of them, most in librust-*-dev); anything else takes that parser.
            if (p.ProvidesField is not { } value) continue;
            provided.Clear();
            if (!ProvidesScanner.TryScan(value, provided)) ParseProvides(node, provided);
            if (provided.Count == 0) continue;
            var list = new ProvidedBy[provided.Count];
            for (int i = 0; i < list.Length; i++)
            {
                var (name, version) = provided[i];
                if (!lookup.TryGetValue(name, out var key, out var target))
                {
                    key = name;
                    target = new Entry();
                    entries.Add(key, target);
                }
                list[i] = new ProvidedBy(node, key, version);
                (target.BuildingProviders ??= new List<ProvidedBy>(1)).Add(list[i]);
            }
            node.Provides = list;
        }

        // Per name: real packages best first, duplicates folded; providers in a fixed order.
        int duplicates = 0;
        var kept = new List<Node>(all.Count);
        foreach (var entry in entries.Values)
        {
            if (entry.Single is { } single)
            {
                entry.Real = [single];
                kept.Add(single);
                continue;
            }
            if (entry.Building is not { } real) continue; // a virtual name only
            if (real.Count > 1)
            {
                real.Sort(CompareCandidates);
                // Same version and architecture from several suites: keep the first (see remarks).
                int count = 1;
                for (int i = 1; i < real.Count; i++)
                {
                    var previous = real[count - 1];
                    if (real[i].Architecture == previous.Architecture && real[i].Version == previous.Version)
                    {
                        real[i].Dropped = true;
                        duplicates++;
                        continue;
                    }
                    real[count++] = real[i];
                }
                real.RemoveRange(count, real.Count - count);
            }
            entry.Real = [.. real];
            entry.Building = null;
            kept.AddRange(entry.Real);
        }
        foreach (var entry in entries.Values)
        {
            if (entry.BuildingProviders is not { } providers) continue;
            entry.BuildingProviders = null;
            if (duplicates > 0) providers.RemoveAll(x => x.Node.Dropped);
            providers.Sort((a, b) =>
            {
                int c = string.CompareOrdinal(a.Node.Name, b.Node.Name);
                return c != 0 ? c : CompareCandidates(a.Node, b.Node);
            });
            entry.Providers = providers.Count == 0 ? NoProviders : [.. providers];
        }
        nodes = [.. kept];
        NodeCapacity = all.Count;
        DuplicatesDropped = duplicates;
        essential.RemoveAll(x => x.Dropped);
        essential.Sort((a, b) =>
        {
            int c = string.CompareOrdinal(a.Name, b.Name);
            return c != 0 ? c : CompareCandidates(a, b);
        });
        Essential = [.. essential];
    }

    static void ParseProvides(Node node, List<(string Name, string? Version)> provided)
    {
        provided.Clear();
        try
        {
            foreach (var group in node.Package.Stanza.Provides)
                foreach (var relation in group.Alternatives)
                    // Policy §7.5 allows only "=" in Provides; dpkg refuses anything else, so read it as unversioned.
                    provided.Add((relation.Name, relation.Version is { Operator: RelationOperator.Equal } v ? v.Version.ToString() : null));
        }
        catch (InvalidDataException e)
        {
            // One malformed paragraph must not make the whole archive unusable: the package is never chosen.
            node.ProvidesError = e.Message;
            provided.Clear();
        }
    }

    /// <summary>Real packages, once each (after folding duplicates).</summary>
    public int Count => nodes.Length;

    /// <summary>How many copies of a name/version/architecture already held from another suite were dropped.</summary>
    public int DuplicatesDropped { get; }

    /// <summary>Every package, ordered by name, then version (highest first), then architecture.</summary>
    public IEnumerable<RepositoryPackage> Packages =>
        entries.OrderBy(e => e.Key, StringComparer.Ordinal).SelectMany(e => e.Value.Real).Select(n => n.Package);

    /// <summary>The real packages named <paramref name="name"/>: highest version first, then by architecture.</summary>
    public IReadOnlyList<RepositoryPackage> GetPackages(string name) =>
        entries.TryGetValue(name, out var e) ? e.Real.Select(n => n.Package).ToArray() : [];

    /// <summary>The packages that provide <paramref name="name"/>: by provider name, then version (highest first).</summary>
    public IReadOnlyList<VirtualProvider> GetProviders(string name) =>
        entries.TryGetValue(name, out var e) ? e.Providers.Select(p => new VirtualProvider(p.Node.Package, p.Version)).ToArray() : [];

    /// <summary>Whether any package has this name or provides it.</summary>
    public bool Contains(string name) => entries.ContainsKey(name);

    /// <summary>
    /// Up to <paramref name="max"/> known names (real or virtual) close to <paramref name="name"/>, for a
    /// "did you mean" hint: edit distance of at most 2 (transpositions count once), or names that start
    /// with it; closest first, then in name order.
    /// </summary>
    public IReadOnlyList<string> SuggestNames(string name, int max = 5)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (sortedNames is null)
        {
            var names = entries.Keys.ToArray();
            Array.Sort(names, StringComparer.Ordinal);
            sortedNames = names;
        }
        var found = new List<(int Distance, string Name)>();
        var lower = name.ToLowerInvariant();
        foreach (var candidate in sortedNames)
        {
            if (candidate == name) continue;
            int d = EditDistance(lower, candidate, 2);
            if (d <= 2) found.Add((d, candidate));
            else if (lower.Length >= 3 && candidate.StartsWith(lower, StringComparison.Ordinal)) found.Add((3, candidate));
        }
        return found.OrderBy(f => f.Distance).ThenBy(f => f.Name.Length).ThenBy(f => f.Name, StringComparer.Ordinal)
            .Take(max).Select(f => f.Name).ToArray();
    }

    /// <summary>
    /// The names of packages that declare <c>Replaces: name</c>, sorted: what apt offers ("However the following
    /// packages replace it") when a requested package is gone from the archive (policykit-1 → polkitd, pkexec).
    /// Reads every Replaces field; meant for error messages, not for the solver's hot path.
    /// </summary>
    public IReadOnlyList<string> FindReplacements(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        var result = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            if (node.Package.ReplacesField is not { } value || !value.Contains(name, StringComparison.Ordinal)) continue;
            try
            {
                if (node.Package.Stanza.Replaces.Any(g => g.Alternatives.Any(a => a.Name == name))) result.Add(node.Name);
            }
            catch (InvalidDataException)
            {
                // A malformed Replaces field says nothing useful here.
            }
        }
        return [.. result];
    }

    // ------------------------------------------------------------ solver access

    /// <summary>One more than the highest node id: the size of arrays indexed by id.</summary>
    internal int NodeCapacity { get; }

    /// <summary><c>Essential: yes</c> packages, by name, then best first.</summary>
    internal Node[] Essential { get; }

    internal Node[] RealOf(string name) => entries.TryGetValue(name, out var e) ? e.Real : NoNodes;

    internal ProvidedBy[] ProvidersOf(string name) => entries.TryGetValue(name, out var e) ? e.Providers : NoProviders;

    /// <summary>Highest version first; equal versions by architecture, then the suite/component/URI tie-break.</summary>
    static int CompareCandidates(Node x, Node y)
    {
        RepositoryPackage a = x.Package, b = y.Package;
        int c = DebianVersion.Compare(b.Version, a.Version);
        if (c != 0) return c;
        c = string.CompareOrdinal(a.Architecture, b.Architecture);
        if (c != 0) return c;
        c = string.CompareOrdinal(a.Origin.Suite, b.Origin.Suite);
        if (c != 0) return c;
        c = string.CompareOrdinal(a.Origin.Component, b.Origin.Component);
        if (c != 0) return c;
        c = string.CompareOrdinal(a.Origin.RepositoryUri, b.Origin.RepositoryUri);
        if (c != 0) return c;
        // Same version by dpkg's equality but spelled differently ("1.0" and "1.00"), or a true duplicate.
        c = string.CompareOrdinal(a.Version.ToString(), b.Version.ToString());
        if (c != 0) return c;
        c = string.CompareOrdinal(a.Filename, b.Filename);
        return c != 0 ? c : string.CompareOrdinal(a.Sha256, b.Sha256);
    }

    /// <summary>Optimal string alignment distance, giving up (returning limit + 1) once it exceeds <paramref name="limit"/>.</summary>
    static int EditDistance(string a, string b, int limit)
    {
        if (Math.Abs(a.Length - b.Length) > limit) return limit + 1;
        Span<int> previous2 = stackalloc int[b.Length + 1];
        Span<int> previous = stackalloc int[b.Length + 1];
        Span<int> current = stackalloc int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) previous[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            int rowMin = i;
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                int v = Math.Min(Math.Min(previous[j] + 1, current[j - 1] + 1), previous[j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) v = Math.Min(v, previous2[j - 2] + 1);
                current[j] = v;
                rowMin = Math.Min(rowMin, v);
            }
            if (rowMin > limit) return limit + 1;
            var t = previous2;
            previous2 = previous;
            previous = current;
            current = t;
        }
        return previous[b.Length];
    }

    sealed class Entry
    {
        // While building: the one package of the name (the common case), or all of them.
        public Node? Single;
        public List<Node>? Building;
        public List<ProvidedBy>? BuildingProviders;

        public Node[] Real = NoNodes;
        public ProvidedBy[] Providers = NoProviders;

        public void Add(Node node)
        {
            if (Building is not null) Building.Add(node);
            else if (Single is null) Single = node;
            else
            {
                Building = [Single, node];
                Single = null;
            }
        }
    }
}

/// <summary>A package of the universe as the solver sees it: an id for array-indexed state, and its Provides.</summary>
internal sealed class Node
{
    public Node(int id, RepositoryPackage package)
    {
        Id = id;
        Package = package;
        Name = package.Name;
        Version = package.Version;
        Architecture = package.Architecture;
        MultiArch = package.MultiArch;
    }

    public readonly int Id;
    public readonly RepositoryPackage Package;
    public readonly string Name;
    public readonly DebianVersion Version;
    public readonly string Architecture;
    public readonly MultiArch MultiArch;

    int priorityRank = -1;

    /// <summary>0 required, 1 important, 2 standard, 3 optional, 4 extra, 5 none or unknown.</summary>
    public int PriorityRank => priorityRank >= 0 ? priorityRank : priorityRank = RankOf(Package.Stanza.Priority);

    /// <summary>A copy of a package another suite also has; not in the universe.</summary>
    public bool Dropped;

    public ProvidedBy[] Provides = [];

    /// <summary>Why the Provides field could not be read, when it could not.</summary>
    public string? ProvidesError;

    NodeRelations? relations;

    /// <summary>The relationship fields, parsed on first use (a benign race between threads: both parse the same).</summary>
    public NodeRelations Relations => relations ??= NodeRelations.Load(Package.Stanza, ProvidesError);

    /// <summary>"name version arch" as apt prints it.</summary>
    public override string ToString() => $"{Name} {Version} {Architecture}";

    internal static int RankOf(string? priority) => priority?.Trim().ToLowerInvariant() switch
    {
        "required" => 0,
        "important" => 1,
        "standard" => 2,
        "optional" => 3,
        "extra" => 4,
        _ => 5,
    };
}

/// <summary>One Provides entry: <see cref="Node"/> provides <see cref="Name"/>, at <see cref="Version"/> when versioned.</summary>
internal sealed class ProvidedBy(Node node, string name, string? versionText)
{
    DebianVersion? version;

    public Node Node { get; } = node;

    public string Name { get; } = name;

    /// <summary>
    /// The provided version, parsed on first use (most of the archive's ~70,000 are never looked at);
    /// null when unversioned, or when the version is not one dpkg would accept.
    /// </summary>
    public DebianVersion? Version => versionText is null ? null : version ??= DebianVersion.TryParse(versionText, out var v) ? v : null;
}

/// <summary>
/// Reads a Provides field of the usual form, <c>name [(= version)], …</c>, without the general relation parser.
/// Anything else (other operators, qualifiers, alternatives, restrictions, stray characters) makes it give up,
/// and the caller takes the general parser, which also reports malformed text.
/// </summary>
internal static class ProvidesScanner
{
    public static bool TryScan(string value, List<(string Name, string? Version)> output)
    {
        int i = 0, n = value.Length;
        while (true)
        {
            SkipSpace(value, ref i);
            if (i == n) return true;
            int start = i;
            if (!char.IsAsciiLetterOrDigit(value[i])) return false;
            while (i < n && (char.IsAsciiLetterOrDigit(value[i]) || value[i] is '-' or '+' or '.' or '_')) i++;
            var name = value[start..i];
            SkipSpace(value, ref i);
            string? version = null;
            if (i < n && value[i] == '(')
            {
                i++;
                SkipSpace(value, ref i);
                if (i >= n || value[i] != '=') return false;
                i++;
                if (i < n && value[i] is '<' or '>' or '=') return false;
                SkipSpace(value, ref i);
                int vstart = i;
                while (i < n && value[i] != ')' && !IsSpace(value[i])) i++;
                if (i == vstart) return false;
                version = value[vstart..i];
                SkipSpace(value, ref i);
                if (i >= n || value[i] != ')') return false;
                i++;
                SkipSpace(value, ref i);
            }
            output.Add((name, version));
            if (i == n) return true;
            if (value[i] != ',') return false;
            i++;
        }
    }

    static bool IsSpace(char c) => c is ' ' or '\t' or '\n' or '\r';

    static void SkipSpace(string value, ref int i)
    {
        while (i < value.Length && IsSpace(value[i])) i++;
    }
}

/// <summary>The relationship fields the solver reads; all empty, with <see cref="Error"/> set, when one is malformed.</summary>
internal sealed class NodeRelations
{
    static readonly IReadOnlyList<RelationGroup> None = [];

    public IReadOnlyList<RelationGroup> PreDepends { get; private init; } = None;
    public IReadOnlyList<RelationGroup> Depends { get; private init; } = None;
    public IReadOnlyList<RelationGroup> Recommends { get; private init; } = None;
    public IReadOnlyList<RelationGroup> Conflicts { get; private init; } = None;
    public IReadOnlyList<RelationGroup> Breaks { get; private init; } = None;

    /// <summary>The parse error of a malformed relationship field; such a package is never chosen.</summary>
    public string? Error { get; private init; }

    public static NodeRelations Load(PackageStanza stanza, string? providesError)
    {
        if (providesError is not null) return new NodeRelations { Error = "malformed control data: " + providesError };
        try
        {
            return new NodeRelations
            {
                PreDepends = stanza.PreDepends,
                Depends = stanza.Depends,
                Recommends = stanza.Recommends,
                Conflicts = stanza.Conflicts,
                Breaks = stanza.Breaks,
            };
        }
        catch (InvalidDataException e)
        {
            return new NodeRelations { Error = "malformed control data: " + e.Message };
        }
    }
}
