namespace Initrd.Formats.Deb;

/// <summary>The version part of a relation, e.g. <c>(&gt;= 2.36)</c>.</summary>
public sealed record VersionConstraint(RelationOperator Operator, DebianVersion Version)
{
    /// <summary>Whether <paramref name="candidate"/> stands in this relation to <see cref="Version"/>.</summary>
    public bool Satisfies(DebianVersion candidate)
    {
        ArgumentNullException.ThrowIfNull(candidate);
        int c = DebianVersion.Compare(candidate, Version);
        return Operator switch
        {
            RelationOperator.StrictlyEarlier => c < 0,
            RelationOperator.EarlierOrEqual => c <= 0,
            RelationOperator.Equal => c == 0,
            RelationOperator.LaterOrEqual => c >= 0,
            RelationOperator.StrictlyLater => c > 0,
            _ => throw new InvalidOperationException($"unknown relation {Operator}"),
        };
    }

    /// <summary>The relation's symbol in Policy syntax: &lt;&lt; &lt;= = &gt;= &gt;&gt;.</summary>
    public static string Symbol(RelationOperator op) => op switch
    {
        RelationOperator.StrictlyEarlier => "<<",
        RelationOperator.EarlierOrEqual => "<=",
        RelationOperator.Equal => "=",
        RelationOperator.LaterOrEqual => ">=",
        RelationOperator.StrictlyLater => ">>",
        _ => throw new ArgumentOutOfRangeException(nameof(op)),
    };

    /// <summary>Policy syntax, e.g. "&gt;= 2.36" (without parentheses).</summary>
    public override string ToString() => $"{Symbol(Operator)} {Version}";
}
