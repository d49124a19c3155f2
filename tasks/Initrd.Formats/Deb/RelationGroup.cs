namespace Initrd.Formats.Deb;

/// <summary>
/// One comma-separated element of a relationship field: alternatives separated by '|', of which any
/// one satisfies the group (Policy §7.1). Most groups have a single alternative.
/// </summary>
public sealed class RelationGroup
{
    internal RelationGroup(PackageRelation[] alternatives) => Alternatives = alternatives;

    public IReadOnlyList<PackageRelation> Alternatives { get; }

    public override string ToString() => string.Join(" | ", Alternatives);
}
