using Initrd.Apt.Repositories;
using Initrd.Formats.Deb;

namespace Initrd.Apt.Tests.Resolution;

/// <summary>
/// An independent check of a package set, written without the solver's code: every Depends and Pre-Depends
/// of every package is satisfied by a package of the set (by name and version, or by a Provides: unversioned
/// relations by any Provides, versioned ones by a versioned Provides in range), and no Conflicts or Breaks of
/// one package hits another. Single-architecture sets (the target plus arch:all) only.
/// </summary>
internal static class ClosureCheck
{
    public static List<string> Problems(IReadOnlyCollection<RepositoryPackage> set, string architecture = "amd64")
    {
        var problems = new List<string>();
        foreach (var p in set)
        {
            foreach (var (field, groups) in (ReadOnlySpan<(string, IReadOnlyList<RelationGroup>)>)[("Pre-Depends", p.Stanza.PreDepends), ("Depends", p.Stanza.Depends)])
            {
                foreach (var group in groups)
                {
                    var alternatives = group.Alternatives.Where(a => a.AppliesTo(architecture)).ToList();
                    if (alternatives.Count == 0) continue;
                    if (!set.Any(x => alternatives.Any(a => Satisfies(x, a))))
                        problems.Add($"{p.Stanza}: {field}: {group} is not satisfied in the set");
                }
            }
            foreach (var (field, groups) in (ReadOnlySpan<(string, IReadOnlyList<RelationGroup>)>)[("Conflicts", p.Stanza.Conflicts), ("Breaks", p.Stanza.Breaks)])
            {
                foreach (var relation in groups.SelectMany(g => g.Alternatives).Where(a => a.AppliesTo(architecture)))
                {
                    foreach (var x in set)
                    {
                        if (ReferenceEquals(x, p) || x.Name == p.Name) continue;
                        // "Conflicts: libc6-x32:i386" is about the i386 package only (arch:all counts as native).
                        if (relation.ArchitectureQualifier is { } q && q != "any"
                            && (x.Architecture == "all" ? architecture : x.Architecture) != q) continue;
                        if (x.Name == relation.Name && relation.IsSatisfiedBy(x.Version))
                            problems.Add($"{p.Stanza}: {field}: {relation} hits {x.Stanza}");
                        else if (ProvidesMatch(x, relation))
                            problems.Add($"{p.Stanza}: {field}: {relation} hits {x.Stanza}, which provides it");
                    }
                }
            }
        }
        return problems;
    }

    /// <summary>Whether <paramref name="x"/> satisfies one alternative (its name and version, or a Provides; ":any" needs Multi-Arch: allowed).</summary>
    public static bool Satisfies(RepositoryPackage x, PackageRelation alternative)
    {
        if (alternative.ArchitectureQualifier == "any" && x.Stanza.MultiArch != MultiArch.Allowed) return false;
        if (x.Name == alternative.Name && alternative.IsSatisfiedBy(x.Version)) return true;
        return ProvidesMatch(x, alternative);
    }

    static bool ProvidesMatch(RepositoryPackage x, PackageRelation relation)
    {
        foreach (var provided in x.Stanza.Provides.SelectMany(g => g.Alternatives))
        {
            if (provided.Name != relation.Name) continue;
            if (relation.Version is null) return true;
            if (provided.Version is { Operator: RelationOperator.Equal } v && relation.Version.Satisfies(v.Version)) return true;
        }
        return false;
    }
}
