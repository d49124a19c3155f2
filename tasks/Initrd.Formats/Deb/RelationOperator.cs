namespace Initrd.Formats.Deb;

/// <summary>The version relations of Debian Policy §7.1.</summary>
public enum RelationOperator
{
    /// <summary><c>&lt;&lt;</c> strictly earlier.</summary>
    StrictlyEarlier,
    /// <summary><c>&lt;=</c> earlier or equal (also the obsolete <c>&lt;</c>).</summary>
    EarlierOrEqual,
    /// <summary><c>=</c> exactly equal (dpkg equality: 1.0 = 1.00).</summary>
    Equal,
    /// <summary><c>&gt;=</c> later or equal (also the obsolete <c>&gt;</c>).</summary>
    LaterOrEqual,
    /// <summary><c>&gt;&gt;</c> strictly later.</summary>
    StrictlyLater,
}
