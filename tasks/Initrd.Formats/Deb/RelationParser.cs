namespace Initrd.Formats.Deb;

/// <summary>
/// The relationship-field grammar of Debian Policy §7.1 with dpkg's leniencies (lib/dpkg/fields.c
/// f_dependency) and dpkg-dev's source-only parts (Dpkg::Deps: architecture lists, build profiles):
/// <code>
/// field       = [ group *( "," group ) [ "," ] ]
/// group       = alternative *( "|" alternative )
/// alternative = name [ ":" arch ] [ "(" [ op ] version ")" ] [ "[" archterm+ "]" ] *( "&lt;" profile+ "&gt;" )
/// op          = "&lt;&lt;" / "&lt;=" / "=" / "&gt;=" / "&gt;&gt;" / "&lt;" / "&gt;"
/// </code>
/// White space (C isspace: space, tab, newline…) may stand between any two tokens.
/// </summary>
sealed class RelationParser(string text, string? fieldName, int lineNumber, string? sourceName = null)
{
    // dpkg refuses alternatives in the fields that name packages rather than require one of them.
    readonly bool alternativesAllowed = fieldName is null ||
        !(fieldName.Equals("Conflicts", StringComparison.OrdinalIgnoreCase) || fieldName.Equals("Breaks", StringComparison.OrdinalIgnoreCase) ||
          fieldName.Equals("Provides", StringComparison.OrdinalIgnoreCase) || fieldName.Equals("Replaces", StringComparison.OrdinalIgnoreCase));

    int p;

    public IReadOnlyList<RelationGroup> ParseField()
    {
        SkipSpace();
        if (p == text.Length) return [];
        var groups = new List<RelationGroup>();
        while (true)
        {
            groups.Add(ParseGroup());
            if (p == text.Length) break;
            if (text[p] != ',')
                throw Error($"syntax error after the reference to '{groups[^1].Alternatives[^1].Name}': unexpected '{text[p]}'");
            p++;
            SkipSpace();
            // A trailing comma is harmless (dpkg-dev accepts it in source control files).
            if (p == text.Length) break;
        }
        return [.. groups];
    }

    /// <summary>Parses one group and the white space after it.</summary>
    RelationGroup ParseGroup()
    {
        var first = ParseAlternative();
        if (p == text.Length || text[p] != '|') return new RelationGroup([first]);
        if (!alternativesAllowed) throw Error($"alternatives ('|') are not allowed in the {fieldName} field");
        var alternatives = new List<PackageRelation>(4) { first };
        while (p < text.Length && text[p] == '|')
        {
            p++;
            SkipSpace();
            alternatives.Add(ParseAlternative());
        }
        return new RelationGroup([.. alternatives]);
    }

    public PackageRelation ParseSingle()
    {
        SkipSpace();
        var relation = ParseAlternative();
        if (p != text.Length) throw Error($"unexpected '{text[p]}' after the reference to '{relation.Name}'");
        return relation;
    }

    /// <summary>Parses one alternative and the white space after it.</summary>
    PackageRelation ParseAlternative()
    {
        int start = p;
        int length = text.AsSpan(p).IndexOfAny(NameEnd);
        p = length < 0 ? text.Length : p + length;
        if (p == start)
            throw Error(p == text.Length ? "missing package name" : $"missing package name, found '{text[p]}'");
        var name = text[start..p];
        // dpkg's pkg_name_is_illegal: a letter or digit first, then letters, digits and "-+._".
        if (!char.IsAsciiLetterOrDigit(name[0]) || name.AsSpan().ContainsAnyExcept(NameCharacters))
            throw Error($"invalid package name '{name}'");

        // The qualifier follows the name without white space ("python3:any"); dpkg reads it up to white
        // space, '(', ',' or '|' and then requires an architecture name: "any", "native" (build
        // dependencies) and concrete names are what occur. Its meaning is the solver's business.
        string? qualifier = null;
        if (Peek(':'))
        {
            p++;
            start = p;
            length = text.AsSpan(p).IndexOfAny(NameEnd);
            p = length < 0 ? text.Length : p + length;
            if (p == start) throw Error($"missing architecture name after '{name}:'");
            qualifier = text[start..p] switch { "any" => "any", "native" => "native", var q => q }; // share the common strings
            if (!DebianArchitecture.IsValidName(qualifier))
                throw Error($"invalid architecture name '{qualifier}' in the reference to '{name}'");
        }
        SkipSpace();

        VersionConstraint? version = null;
        if (Peek('('))
        {
            p++;
            version = ParseVersion(name);
            SkipSpace();
        }

        RestrictionTerm[]? architectures = null;
        if (Peek('['))
        {
            p++;
            architectures = ParseTerms(']', name, architecture: true);
            SkipSpace();
        }

        List<IReadOnlyList<RestrictionTerm>>? profiles = null;
        while (Peek('<'))
        {
            p++;
            (profiles ??= []).Add(ParseTerms('>', name, architecture: false));
            SkipSpace();
        }
        return new PackageRelation(name, qualifier, version, architectures, profiles?.ToArray());
    }

    VersionConstraint ParseVersion(string name)
    {
        SkipSpace();
        RelationOperator op;
        char c1 = p < text.Length ? text[p] : '\0';
        if (c1 is '<' or '>')
        {
            char c2 = p + 1 < text.Length ? text[p + 1] : '\0';
            bool less = c1 == '<';
            if (c2 == '=') { op = less ? RelationOperator.EarlierOrEqual : RelationOperator.LaterOrEqual; p += 2; }
            else if (c2 == c1) { op = less ? RelationOperator.StrictlyEarlier : RelationOperator.StrictlyLater; p += 2; }
            else if (c2 is '<' or '>') throw Error($"bad version relation '{c1}{c2}' in the reference to '{name}'");
            // The obsolete single '<' and '>' mean '<=' and '>=' (Policy §7.1; dpkg warns and reads them so).
            else { op = less ? RelationOperator.EarlierOrEqual : RelationOperator.LaterOrEqual; p++; }
        }
        else if (c1 == '=')
        {
            op = RelationOperator.Equal;
            p++;
        }
        else
        {
            // dpkg reads "(1.0)" as an exact match and only warns.
            op = RelationOperator.Equal;
        }
        SkipSpace();
        int start = p;
        while (p < text.Length && !IsSpace(text[p]) && text[p] != ')' && text[p] != '(') p++;
        var versionText = text[start..p];
        int end = p;
        SkipSpace();
        if (p == text.Length) throw Error($"version of '{name}' is not terminated by ')'");
        if (text[p] != ')')
            throw Error(p > end ? $"version of '{name}' contains white space" : $"version of '{name}' contains '{text[p]}'");
        p++;
        if (versionText.Length == 0) throw Error($"missing version in the reference to '{name}'");
        if (!DebianVersion.TryParseCore(versionText, strict: false, out var version, out var error))
            throw Error($"invalid version '{versionText}' in the reference to '{name}': {error}");
        return new VersionConstraint(op, version);
    }

    /// <summary>The terms of an architecture list up to ']' or of a build-profile list up to '>'.</summary>
    RestrictionTerm[] ParseTerms(char close, string name, bool architecture)
    {
        var what = architecture ? "architecture list" : "build-profile list";
        var terms = new List<RestrictionTerm>();
        while (true)
        {
            SkipSpace();
            if (p == text.Length) throw Error($"{what} of '{name}' is not terminated by '{close}'");
            if (text[p] == close) { p++; break; }
            bool negated = text[p] == '!';
            if (negated) p++;
            int start = p;
            while (p < text.Length && !IsSpace(text[p]) && text[p] != close && "[]<>()!,|".IndexOf(text[p]) < 0) p++;
            var termName = text[start..p];
            bool valid = architecture
                ? DebianArchitecture.IsValidName(termName)
                : termName.Length > 0 && !termName.AsSpan().ContainsAnyExcept(NameCharacters);
            if (!valid)
            {
                throw Error(p < text.Length && termName.Length == 0
                    ? $"unexpected '{text[p]}' in the {what} of '{name}'"
                    : $"invalid name '{termName}' in the {what} of '{name}'");
            }
            terms.Add(new RestrictionTerm(termName, negated));
        }
        if (terms.Count == 0) throw Error($"empty {what} in the reference to '{name}'");
        return [.. terms];
    }

    // Where a package name ends: C isspace, or a character of the syntax around it.
    static readonly System.Buffers.SearchValues<char> NameEnd = System.Buffers.SearchValues.Create(" \t\n\v\f\r():,|[]<>");

    static readonly System.Buffers.SearchValues<char> NameCharacters =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-+._");

    bool Peek(char c) => p < text.Length && text[p] == c;

    void SkipSpace()
    {
        while (p < text.Length && IsSpace(text[p])) p++;
    }

    // C isspace in the "C" locale: space, \t, \n, \v, \f, \r.
    static bool IsSpace(char c) => c == ' ' || (uint)(c - '\t') <= '\r' - '\t';

    InvalidDataException Error(string problem)
    {
        var where = (sourceName is null ? "" : sourceName + ": ") + (fieldName ?? "relationship") + " field" +
                    (lineNumber > 0 ? $" at line {lineNumber}" : "");
        var shown = text.Length <= 200 ? text : text[..197] + "...";
        return new InvalidDataException($"{where}: {problem} (at character {p + 1} of '{shown}')");
    }
}
