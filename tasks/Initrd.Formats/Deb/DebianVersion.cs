using System.Diagnostics.CodeAnalysis;

namespace Initrd.Formats.Deb;

/// <summary>
/// A Debian package version, <c>[epoch:]upstream_version[-debian_revision]</c>
/// (Debian Policy §5.6.12, deb-version(7)), ordered and compared exactly as dpkg does
/// (lib/dpkg/version.c: <c>dpkg_version_compare</c> and <c>verrevcmp</c>).
/// </summary>
/// <remarks>
/// Equality is dpkg's <c>eq</c>, not string equality: <c>1.0</c> = <c>1.00</c> = <c>0:1.0</c> = <c>1.0-0</c>,
/// because digit runs compare numerically and an absent epoch or revision is 0 / "".
/// <see cref="ToString"/> still returns the text as written (without surrounding blanks).
/// </remarks>
public sealed class DebianVersion : IComparable<DebianVersion>, IEquatable<DebianVersion>, IComparable
{
    readonly string text;
    readonly int upstreamStart;
    readonly int upstreamLength;
    readonly int revisionStart; // -1 when there is no revision

    DebianVersion(string text, int epoch, int upstreamStart, int upstreamLength, int revisionStart)
    {
        this.text = text;
        Epoch = epoch;
        this.upstreamStart = upstreamStart;
        this.upstreamLength = upstreamLength;
        this.revisionStart = revisionStart;
    }

    /// <summary>The epoch; 0 when the version has none.</summary>
    public int Epoch { get; }

    /// <summary>The upstream version: after the first ':' (if any), up to the last '-' (if any).</summary>
    public string Upstream => text.Substring(upstreamStart, upstreamLength);

    /// <summary>The Debian revision after the last '-'; "" when the version has none (dpkg treats both alike).</summary>
    public string Revision => revisionStart < 0 ? "" : text[revisionStart..];

    /// <summary>Whether the text names a revision ("1.0-1"); "1.0" has none.</summary>
    public bool HasRevision => revisionStart >= 0;

    ReadOnlySpan<char> UpstreamSpan => text.AsSpan(upstreamStart, upstreamLength);

    ReadOnlySpan<char> RevisionSpan => revisionStart < 0 ? default : text.AsSpan(revisionStart);

    /// <summary>The version as written, without surrounding blanks.</summary>
    public override string ToString() => text;

    /// <summary>
    /// Parses a version as dpkg does when it reads a version it did not make (<c>dpkg --compare-versions</c>,
    /// the status and available files): syntax errors throw, mere policy warnings (an upstream version
    /// not starting with a digit, characters outside the allowed set) are accepted.
    /// </summary>
    /// <exception cref="InvalidDataException">dpkg rejects the text; the message names it and says why.</exception>
    public static DebianVersion Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseCore(text, strict: false, out var version, out var error)
            ? version
            : throw new InvalidDataException($"invalid Debian version '{text}': {error}");
    }

    /// <summary>
    /// Parses a version as dpkg does when it builds or installs a package (dpkg-deb, dpkg-gencontrol):
    /// like <see cref="Parse"/>, and policy warnings are errors too.
    /// </summary>
    /// <exception cref="InvalidDataException">The text is not a policy-compliant version.</exception>
    public static DebianVersion ParseStrict(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return TryParseCore(text, strict: true, out var version, out var error)
            ? version
            : throw new InvalidDataException($"invalid Debian version '{text}': {error}");
    }

    /// <summary>Like <see cref="Parse"/>, returning false instead of throwing.</summary>
    public static bool TryParse([NotNullWhen(true)] string? text, [NotNullWhen(true)] out DebianVersion? version)
    {
        if (text is null) { version = null; return false; }
        return TryParseCore(text, strict: false, out version, out _);
    }

    /// <summary>
    /// The rules of dpkg's <c>parseversion</c> (lib/dpkg/version.c). <paramref name="error"/> gets dpkg's reason.
    /// </summary>
    internal static bool TryParseCore(string input, bool strict,
        [NotNullWhen(true)] out DebianVersion? version, [NotNullWhen(false)] out string? error)
    {
        version = null;
        // Leading and trailing blanks (space, tab) are trimmed; blanks inside are an error.
        int start = 0, end = input.Length;
        while (start < end && IsBlank(input[start])) start++;
        while (end > start && IsBlank(input[end - 1])) end--;
        if (start == end) { error = "version string is empty"; return false; }
        var s = input.AsSpan(start, end - start);
        if (s.IndexOfAny(' ', '\t') >= 0) { error = "version string has embedded spaces"; return false; }
        // A C string ends at NUL: such text can never reach dpkg, so it is not a version.
        if (s.Contains('\0')) { error = "version string contains a NUL character"; return false; }

        int epoch = 0, upstream = 0;
        int colon = s.IndexOf(':');
        if (colon >= 0)
        {
            if (!TryParseEpoch(s[..colon], out epoch, out error)) return false;
            if (colon + 1 == s.Length) { error = "nothing after colon in version number"; return false; }
            upstream = colon + 1;
        }

        // The revision is everything after the LAST hyphen, so the upstream part may contain hyphens.
        int hyphen = s[upstream..].LastIndexOf('-');
        int revision = -1, upstreamEnd = s.Length;
        if (hyphen >= 0)
        {
            upstreamEnd = upstream + hyphen;
            revision = upstreamEnd + 1;
            if (revision == s.Length) { error = "revision number is empty"; return false; }
        }
        if (upstreamEnd == upstream) { error = "upstream version is empty"; return false; }

        if (strict && PolicyWarning(s[upstream..upstreamEnd], revision < 0 ? default : s[revision..]) is { } warning)
        {
            error = warning;
            return false;
        }

        var text = start == 0 && end == input.Length ? input : input[start..end];
        version = new DebianVersion(text, epoch, upstream, upstreamEnd - upstream, revision);
        error = null;
        return true;
    }

    /// <summary>
    /// dpkg reads the epoch with strtol(3) and then requires it to end exactly at the colon:
    /// leading white space and a sign are allowed ("-0" is epoch 0), a negative value or one above
    /// INT_MAX is an error.
    /// </summary>
    static bool TryParseEpoch(ReadOnlySpan<char> s, out int epoch, [NotNullWhen(false)] out string? error)
    {
        epoch = 0;
        int i = 0;
        while (i < s.Length && IsCSpace(s[i])) i++;
        bool negative = false;
        if (i < s.Length && (s[i] == '+' || s[i] == '-')) negative = s[i++] == '-';
        int digits = i;
        long value = 0;
        while (i < s.Length && IsDigit(s[i]))
        {
            if (value <= int.MaxValue) value = value * 10 + (s[i] - '0');
            i++;
        }
        if (i == digits) { error = "epoch in version is empty"; return false; }
        if (i != s.Length) { error = "epoch in version is not number"; return false; }
        if (negative && value != 0) { error = "epoch in version is negative"; return false; }
        if (value > int.MaxValue) { error = "epoch in version is too big"; return false; }
        epoch = (int)value;
        error = null;
        return true;
    }

    /// <summary>dpkg's warnings (errors in strict mode): Policy §5.6.12's character sets.</summary>
    static string? PolicyWarning(ReadOnlySpan<char> upstream, ReadOnlySpan<char> revision)
    {
        if (!IsDigit(upstream[0])) return "version number does not start with digit";
        foreach (var c in upstream[1..])
            if (!IsAsciiLetterOrDigit(c) && ".-+~:".IndexOf(c) < 0) return "invalid character in version number";
        foreach (var c in revision)
            if (!IsAsciiLetterOrDigit(c) && ".+~".IndexOf(c) < 0) return "invalid character in revision number";
        return null;
    }

    /// <summary>dpkg_version_compare: epochs numerically, then upstream, then revision with verrevcmp.</summary>
    public static int Compare(DebianVersion? a, DebianVersion? b)
    {
        if (ReferenceEquals(a, b)) return 0;
        if (a is null) return -1;
        if (b is null) return 1;
        if (a.Epoch != b.Epoch) return a.Epoch < b.Epoch ? -1 : 1;
        int rc = CompareFragment(a.UpstreamSpan, b.UpstreamSpan);
        return rc != 0 ? rc : CompareFragment(a.RevisionSpan, b.RevisionSpan);
    }

    /// <summary>
    /// dpkg's verrevcmp. The string is alternately a non-digit run and a digit run. Non-digit runs
    /// compare character by character by <see cref="Order"/>, the end of the string (or the start of
    /// a digit run) counting as 0; digit runs compare as numbers, of any length, leading zeros ignored.
    /// Returns -1, 0 or 1.
    /// </summary>
    internal static int CompareFragment(ReadOnlySpan<char> a, ReadOnlySpan<char> b)
    {
        int i = 0, j = 0;
        while (i < a.Length || j < b.Length)
        {
            while ((i < a.Length && !IsDigit(a[i])) || (j < b.Length && !IsDigit(b[j])))
            {
                int ac = i < a.Length ? Order(a[i]) : 0;
                int bc = j < b.Length ? Order(b[j]) : 0;
                if (ac != bc) return ac < bc ? -1 : 1;
                i++;
                j++;
            }
            while (i < a.Length && a[i] == '0') i++;
            while (j < b.Length && b[j] == '0') j++;
            int firstDiff = 0;
            while (i < a.Length && j < b.Length && IsDigit(a[i]) && IsDigit(b[j]))
            {
                if (firstDiff == 0) firstDiff = a[i] - b[j];
                i++;
                j++;
            }
            // The longer run of significant digits is the larger number; equal lengths: first difference.
            if (i < a.Length && IsDigit(a[i])) return 1;
            if (j < b.Length && IsDigit(b[j])) return -1;
            if (firstDiff != 0) return firstDiff < 0 ? -1 : 1;
        }
        return 0;
    }

    /// <summary>
    /// dpkg's order(): '~' sorts before everything, even the end of the string (so "1.0~rc1" &lt; "1.0");
    /// then the end and digits (0); then ASCII letters by code; then every other character.
    /// dpkg works on bytes with a signed char (amd64, i386): bytes ≥ 0x80 of UTF-8 text have order
    /// 128…255, between letters and the other ASCII characters (which get c + 256). Mapping non-ASCII
    /// UTF-16 code units to that band in code-point order (surrogates above the BMP) gives the same
    /// signs as dpkg comparing the UTF-8 bytes.
    /// </summary>
    static int Order(char c)
    {
        if (IsDigit(c)) return 0;
        if (IsAsciiLetter(c)) return c;
        if (c == '~') return -1;
        if (c < 0x80) return 0x20000 + c;
        return char.IsSurrogate(c) ? 0x100 + 0x10000 + c : 0x100 + c;
    }

    public int CompareTo(DebianVersion? other) => Compare(this, other);

    int IComparable.CompareTo(object? obj) => obj switch
    {
        null => 1,
        DebianVersion v => Compare(this, v),
        _ => throw new ArgumentException($"object is not a {nameof(DebianVersion)}", nameof(obj)),
    };

    public bool Equals(DebianVersion? other) => other is not null && Compare(this, other) == 0;

    public override bool Equals(object? obj) => obj is DebianVersion v && Equals(v);

    /// <summary>Consistent with dpkg equality: hashes the epoch and the numeric value of each digit run.</summary>
    public override int GetHashCode()
    {
        var hash = new HashCode();
        hash.Add(Epoch);
        AddFragment(ref hash, UpstreamSpan);
        hash.Add(-2);
        AddFragment(ref hash, RevisionSpan);
        return hash.ToHashCode();
    }

    /// <summary>
    /// Hashes a fragment so that verrevcmp-equal fragments hash alike: non-digit characters as they are,
    /// digit runs without leading zeros, each run closed by a marker. A fragment that is all zeros is equal
    /// to an empty one, so it adds nothing.
    /// </summary>
    static void AddFragment(ref HashCode hash, ReadOnlySpan<char> s)
    {
        if (!s.ContainsAnyExcept('0')) return;
        int i = 0;
        while (i < s.Length)
        {
            while (i < s.Length && !IsDigit(s[i])) hash.Add(s[i++]);
            hash.Add(-1);
            while (i < s.Length && s[i] == '0') i++;
            while (i < s.Length && IsDigit(s[i])) hash.Add(s[i++]);
            hash.Add(-1);
        }
    }

    public static bool operator ==(DebianVersion? a, DebianVersion? b) => Compare(a, b) == 0;
    public static bool operator !=(DebianVersion? a, DebianVersion? b) => Compare(a, b) != 0;
    public static bool operator <(DebianVersion? a, DebianVersion? b) => Compare(a, b) < 0;
    public static bool operator <=(DebianVersion? a, DebianVersion? b) => Compare(a, b) <= 0;
    public static bool operator >(DebianVersion? a, DebianVersion? b) => Compare(a, b) > 0;
    public static bool operator >=(DebianVersion? a, DebianVersion? b) => Compare(a, b) >= 0;

    static bool IsDigit(char c) => (uint)(c - '0') <= 9;
    static bool IsAsciiLetter(char c) => (uint)((c | 0x20) - 'a') <= 'z' - 'a';
    static bool IsAsciiLetterOrDigit(char c) => IsDigit(c) || IsAsciiLetter(c);
    static bool IsBlank(char c) => c == ' ' || c == '\t';
    static bool IsCSpace(char c) => c == ' ' || (uint)(c - '\t') <= '\r' - '\t';
}
