namespace Initrd.Formats.Deb;

/// <summary>
/// One term of an architecture restriction list (<c>[amd64 !i386]</c>) or a build-profile list
/// (<c>&lt;!nocheck&gt;</c>): a name, possibly negated with '!'.
/// </summary>
public readonly record struct RestrictionTerm(string Name, bool Negated)
{
    public override string ToString() => Negated ? "!" + Name : Name;
}
