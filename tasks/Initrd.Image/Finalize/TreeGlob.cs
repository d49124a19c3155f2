namespace Initrd.Image.Finalize;

/// <summary>
/// A path pattern over image paths, as ImageRemove items use them. Rules:
/// <list type="bullet">
/// <item>a leading '/' is optional (patterns are always anchored at the image root);</item>
/// <item><c>*</c> matches any run of characters inside one path component (also a leading dot), <c>?</c> one
/// character, <c>[abc]</c>/<c>[a-z]</c>/<c>[!a]</c> one character of (not of) a set; a backslash makes the next
/// character literal;</item>
/// <item><c>**</c> as a whole component matches zero or more components (<c>**/*.pyc</c> finds them at any depth,
/// <c>a/**/b</c> matches <c>a/b</c>); a trailing <c>/**</c> matches everything <em>inside</em> the directory but not the
/// directory itself, so <c>/usr/share/doc/**</c> empties /usr/share/doc and keeps it;</item>
/// <item>"." components are ignored; ".." is rejected.</item>
/// </list>
/// Matching is literal on the paths stored in the tree (case-sensitive, ordinal); <see cref="ImageTree.Match"/>
/// additionally resolves the pattern's literal leading directories through the image's symlinks.
/// </summary>
public sealed class TreeGlob
{
    readonly string[] _segments;

    TreeGlob(string pattern, string[] segments)
    {
        Pattern = pattern;
        _segments = segments;
    }

    /// <summary>The pattern as given.</summary>
    public string Pattern { get; }

    /// <summary>The normalized components ("**" kept as its own component).</summary>
    public IReadOnlyList<string> Segments => _segments;

    /// <summary>True when any component holds a wildcard.</summary>
    public bool HasWildcards => _segments.Any(IsWildcardSegment);

    /// <summary>
    /// The leading components without wildcards, excluding the last component (the directory part a resolver may
    /// follow symlinks through): "usr/share/doc" for <c>/usr/share/doc/**</c>, "lib" for <c>/lib/modules</c>.
    /// </summary>
    public string LiteralDirectoryPrefix
    {
        get
        {
            var n = 0;
            while (n < _segments.Length - 1 && !IsWildcardSegment(_segments[n])) n++;
            return string.Join('/', _segments.Take(n).Select(Unescape));
        }
    }

    public static TreeGlob Parse(string pattern)
    {
        ArgumentNullException.ThrowIfNull(pattern);
        var segments = new List<string>();
        foreach (var part in pattern.Split('/'))
        {
            if (part.Length == 0 || part == ".") continue;
            if (part == "..")
                throw new FinalizeException(FinalizeErrorKind.InvalidGlob, pattern,
                    $"The pattern '{pattern}' contains '..'; write the path from the image root without '..'.");
            if (part.Contains('\0') || part.Contains('\n'))
                throw new FinalizeException(FinalizeErrorKind.InvalidGlob, pattern,
                    $"The pattern '{pattern}' contains a NUL or newline character.");
            ValidateSegment(pattern, part);
            segments.Add(part);
        }
        if (segments.Count == 0)
            throw new FinalizeException(FinalizeErrorKind.InvalidGlob, pattern,
                $"The pattern '{pattern}' names the image root; use '/**' to remove everything, or name a path.");
        return new TreeGlob(pattern, segments.ToArray());
    }

    /// <summary>Rebuilds the pattern with its literal directory prefix replaced (after resolving it through symlinks).</summary>
    internal TreeGlob WithDirectoryPrefix(string resolvedPrefix)
    {
        var n = LiteralDirectoryPrefix.Length == 0 ? 0 : LiteralDirectoryPrefix.Split('/').Length;
        var head = resolvedPrefix.Length == 0 ? [] : resolvedPrefix.Split('/').Select(Escape);
        return new TreeGlob(Pattern, head.Concat(_segments.Skip(n)).ToArray());
    }

    /// <summary>True when the image path (with or without leading '/') matches the whole pattern.</summary>
    public bool IsMatch(string path)
    {
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        return MatchFrom(0, parts, 0);
    }

    bool MatchFrom(int pi, string[] path, int si)
    {
        while (true)
        {
            if (pi == _segments.Length) return si == path.Length;
            var seg = _segments[pi];
            if (seg == "**")
            {
                if (pi == _segments.Length - 1) return path.Length - si >= 1; // trailing "/**": inside only
                for (var k = si; k <= path.Length; k++)
                    if (MatchFrom(pi + 1, path, k)) return true;
                return false;
            }
            if (si == path.Length || !SegmentMatches(seg, path[si])) return false;
            pi++;
            si++;
        }
    }

    /// <summary>Matches one path component against one pattern component (fnmatch without FNM_PATHNAME subtleties).</summary>
    public static bool SegmentMatches(string pattern, string name) => SegmentMatches(pattern, 0, name, 0);

    static bool SegmentMatches(string p, int pi, string s, int si)
    {
        // Iterative matcher with single-star backtracking (classic wildcard algorithm), extended with sets/escapes.
        int starP = -1, starS = -1;
        while (si < s.Length)
        {
            if (pi < p.Length)
            {
                var c = p[pi];
                if (c == '*')
                {
                    while (pi < p.Length && p[pi] == '*') pi++;
                    starP = pi;
                    starS = si;
                    continue;
                }
                if (c == '?')
                {
                    pi++;
                    si++;
                    continue;
                }
                if (c == '[' && TryMatchSet(p, pi, s[si], out var setEnd, out var inSet))
                {
                    if (inSet)
                    {
                        pi = setEnd;
                        si++;
                        continue;
                    }
                }
                else
                {
                    var literal = c;
                    var next = pi + 1;
                    if (c == '\\' && pi + 1 < p.Length)
                    {
                        literal = p[pi + 1];
                        next = pi + 2;
                    }
                    if (literal == s[si])
                    {
                        pi = next;
                        si++;
                        continue;
                    }
                }
            }
            if (starP < 0) return false;
            pi = starP;
            si = ++starS;
        }
        while (pi < p.Length && p[pi] == '*') pi++;
        return pi == p.Length;
    }

    /// <summary>Parses a "[...]" set at <paramref name="start"/>; false when it is not a well-formed set (then '[' is literal).</summary>
    static bool TryMatchSet(string p, int start, char ch, out int end, out bool matched)
    {
        end = start;
        matched = false;
        var i = start + 1;
        var negate = false;
        if (i < p.Length && (p[i] == '!' || p[i] == '^'))
        {
            negate = true;
            i++;
        }
        var first = true;
        var any = false;
        while (i < p.Length && (p[i] != ']' || first))
        {
            first = false;
            var lo = p[i];
            if (lo == '\\' && i + 1 < p.Length) lo = p[++i];
            var hi = lo;
            if (i + 2 < p.Length && p[i + 1] == '-' && p[i + 2] != ']')
            {
                hi = p[i + 2];
                i += 2;
                if (hi == '\\' && i + 1 < p.Length) hi = p[++i];
            }
            if (ch >= lo && ch <= hi) any = true;
            i++;
        }
        if (i >= p.Length) return false; // no closing bracket
        end = i + 1;
        matched = any != negate;
        return true;
    }

    static void ValidateSegment(string pattern, string segment)
    {
        if (segment.EndsWith('\\') && (segment.Length - segment.TrimEnd('\\').Length) % 2 == 1)
            throw new FinalizeException(FinalizeErrorKind.InvalidGlob, pattern,
                $"The pattern '{pattern}' ends a component with a lone backslash.");
    }

    static bool IsWildcardSegment(string segment)
    {
        for (var i = 0; i < segment.Length; i++)
        {
            var c = segment[i];
            if (c == '\\') { i++; continue; }
            if (c is '*' or '?' or '[') return true;
        }
        return false;
    }

    static string Unescape(string segment)
    {
        if (!segment.Contains('\\')) return segment;
        var sb = new System.Text.StringBuilder(segment.Length);
        for (var i = 0; i < segment.Length; i++)
        {
            if (segment[i] == '\\' && i + 1 < segment.Length) i++;
            sb.Append(segment[i]);
        }
        return sb.ToString();
    }

    static string Escape(string name)
    {
        if (name.IndexOfAny(['*', '?', '[', '\\']) < 0) return name;
        var sb = new System.Text.StringBuilder(name.Length + 4);
        foreach (var c in name)
        {
            if (c is '*' or '?' or '[' or '\\') sb.Append('\\');
            sb.Append(c);
        }
        return sb.ToString();
    }

    public override string ToString() => Pattern;
}
