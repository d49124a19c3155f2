using System.Text;
using Initrd.Formats.Deb;

namespace Initrd.Apt.Repositories;

/// <summary>
/// One repository entry of the host's apt configuration, for one URI (a deb822 stanza naming several
/// URIs yields one record per URI).
/// </summary>
/// <param name="Type">"deb" or "deb-src".</param>
/// <param name="Uri">The archive root, without a trailing slash (e.g. the directory that holds dists/).</param>
/// <param name="Suites">Suite or codename directories under dists/ ("bookworm", "bookworm-security"); a suite
/// ending in '/' is a flat repository with no components.</param>
/// <param name="Components">"main", "contrib"…; empty for a flat repository.</param>
/// <param name="Architectures">The arch= restriction; empty means apt's configured architectures.</param>
/// <param name="SignedBy">Keyring file paths, or one inline ASCII-armoured key block, or key fingerprints,
/// as apt's Signed-By allows; empty means apt's global trusted keyrings.</param>
/// <param name="SourceFile">The file the entry came from.</param>
/// <param name="LineNumber">The 1-based line of the entry (of the stanza's first field, for deb822).</param>
public sealed record AptSource(
    string Type,
    string Uri,
    IReadOnlyList<string> Suites,
    IReadOnlyList<string> Components,
    IReadOnlyList<string> Architectures,
    IReadOnlyList<string> SignedBy,
    string SourceFile,
    int LineNumber)
{
    /// <summary>Signed-By entries that name keyring files (absolute paths).</summary>
    public IEnumerable<string> SignedByKeyringFiles => SignedBy.Where(s => s.StartsWith('/'));

    /// <summary>The inline ASCII-armoured key block of a deb822 Signed-By, if that is what it holds.</summary>
    public string? SignedByInlineKey => SignedBy.FirstOrDefault(s => s.StartsWith("-----BEGIN", StringComparison.Ordinal));
}

/// <summary>
/// Reads the host's apt sources the way apt does: <c>sources.list.d/*.sources</c> (deb822, sources.list(5)
/// "DEB822-STYLE FORMAT"), <c>sources.list</c> and <c>sources.list.d/*.list</c> (one-line form). Files with
/// other suffixes (<c>*.disabled</c>, <c>*.save</c>, <c>*.disabled-by-farm</c>…) are ignored, as apt ignores
/// them; entries with <c>Enabled: no</c> are left out.
/// </summary>
public static class AptSourcesReader
{
    /// <summary>Reads the configuration under <paramref name="root"/> (default "/"), i.e. <c>ROOT/etc/apt</c>.</summary>
    public static IReadOnlyList<AptSource> Read(string root = "/")
    {
        var etcApt = Path.Combine(root, "etc", "apt");
        var result = new List<AptSource>();
        var mainList = Path.Combine(etcApt, "sources.list");
        if (File.Exists(mainList))
            result.AddRange(ParseOneLine(File.ReadAllText(mainList), mainList));
        var partsDir = Path.Combine(etcApt, "sources.list.d");
        if (Directory.Exists(partsDir))
        {
            // apt reads the parts directory in alphabetical order; keep that order, it decides precedence.
            foreach (var file in Directory.GetFiles(partsDir).Order(StringComparer.Ordinal))
            {
                if (file.EndsWith(".list", StringComparison.Ordinal))
                    result.AddRange(ParseOneLine(File.ReadAllText(file), file));
                else if (file.EndsWith(".sources", StringComparison.Ordinal))
                    result.AddRange(ParseDeb822(File.ReadAllText(file), file));
            }
        }
        return result;
    }

    /// <summary>Parses one-line entries: <c>deb [opt=value …] URI suite [component…]</c>.</summary>
    public static IEnumerable<AptSource> ParseOneLine(string text, string sourceFile)
    {
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine;
            var hash = line.IndexOf('#');
            if (hash >= 0) line = line[..hash];
            line = line.Trim();
            if (line.Length == 0) continue;

            var (type, options, rest) = SplitOneLine(line, sourceFile, lineNumber);
            if (type is not ("deb" or "deb-src"))
                throw Malformed(sourceFile, lineNumber, $"unknown type '{type}' (expected deb or deb-src)");
            if (rest.Count < 2)
                throw Malformed(sourceFile, lineNumber, "an entry needs a URI and a suite");

            var uri = NormalizeUri(rest[0]);
            var suite = rest[1];
            var components = rest.Skip(2).ToArray();
            if (!suite.EndsWith('/') && components.Length == 0)
                throw Malformed(sourceFile, lineNumber, $"suite '{suite}' needs at least one component (or end it in '/' for a flat repository)");

            options.TryGetValue("arch", out var arch);
            options.TryGetValue("signed-by", out var signedBy);
            if (options.TryGetValue("enabled", out var enabled) && !IsYes(enabled)) continue;
            yield return new AptSource(type, uri, [suite], components,
                SplitList(arch, ','), SplitList(signedBy, ','), sourceFile, lineNumber);
        }
    }

    /// <summary>Parses deb822 stanzas: Types, URIs, Suites, Components, Architectures, Signed-By, Enabled.</summary>
    public static IEnumerable<AptSource> ParseDeb822(string text, string sourceFile)
    {
        // sources.list(5): lines starting with '#' are comments, also inside a stanza; Deb822 skips them.
        IEnumerable<Deb822Paragraph> paragraphs;
        try
        {
            paragraphs = Deb822.Parse(text, sourceFile).ToList();
        }
        catch (Exception e) when (e is InvalidDataException or FormatException)
        {
            throw new RepositoryException(RepositoryErrorKind.Malformed, sourceFile,
                $"{sourceFile} is not a valid deb822 sources file: {e.Message}. Fix or remove the file (see sources.list(5)).", e);
        }

        foreach (var p in paragraphs)
        {
            var line = p.LineNumber;
            if (p.TryGetValue("Enabled", out var enabled) && !IsYes(enabled.Trim())) continue;
            var types = Words(Field(p, "Types"));
            var uris = Words(Field(p, "URIs"));
            var suites = Words(Field(p, "Suites"));
            var components = Words(Field(p, "Components"));
            if (types.Length == 0) throw Malformed(sourceFile, line, "stanza has no Types field");
            if (uris.Length == 0) throw Malformed(sourceFile, line, "stanza has no URIs field");
            if (suites.Length == 0) throw Malformed(sourceFile, line, "stanza has no Suites field");
            foreach (var s in suites)
                if (!s.EndsWith('/') && components.Length == 0)
                    throw Malformed(sourceFile, line, $"suite '{s}' needs a Components field (or end it in '/' for a flat repository)");

            var architectures = Words(Field(p, "Architectures"));
            var signedBy = ParseSignedBy(Field(p, "Signed-By"));
            foreach (var type in types)
            {
                if (type is not ("deb" or "deb-src"))
                    throw Malformed(sourceFile, line, $"unknown type '{type}' (expected deb or deb-src)");
                foreach (var uri in uris)
                    yield return new AptSource(type, NormalizeUri(uri), suites, components, architectures, signedBy, sourceFile, line);
            }
        }
    }

    /// <summary>
    /// A deb822 Signed-By holds either an inline key block (a multi-line value; "." marks an empty line) or a
    /// list of keyring paths / fingerprints separated by spaces or commas.
    /// </summary>
    static string[] ParseSignedBy(string? value)
    {
        if (string.IsNullOrWhiteSpace(value)) return [];
        if (value.Contains("-----BEGIN", StringComparison.Ordinal))
        {
            var sb = new StringBuilder();
            foreach (var raw in value.Replace("\r\n", "\n").Split('\n'))
            {
                var l = raw.Trim();
                if (l.Length == 0 && sb.Length == 0) continue; // the empty first line of "Signed-By:\n …"
                sb.Append(l == "." ? "" : l).Append('\n');
            }
            return [sb.ToString().TrimEnd('\n') + "\n"];
        }
        return value.Split([' ', ',', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
    }

    static (string Type, Dictionary<string, string> Options, List<string> Words) SplitOneLine(string line, string file, int lineNumber)
    {
        var options = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var firstSpace = line.IndexOfAny([' ', '\t']);
        if (firstSpace < 0) throw Malformed(file, lineNumber, "an entry needs a URI and a suite");
        var type = line[..firstSpace];
        var rest = line[firstSpace..].TrimStart();
        if (rest.StartsWith('['))
        {
            var close = rest.IndexOf(']');
            if (close < 0) throw Malformed(file, lineNumber, "option list '[' is not closed with ']'");
            foreach (var option in rest[1..close].Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries))
            {
                var eq = option.IndexOf('=');
                if (eq <= 0) throw Malformed(file, lineNumber, $"option '{option}' is not key=value");
                // arch+=, arch-= modify apt's defaults; keep the plain form only (the one that restricts).
                options[option[..eq]] = option[(eq + 1)..];
            }
            rest = rest[(close + 1)..];
        }
        return (type, options, rest.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries).ToList());
    }

    static string? Field(Deb822Paragraph p, string name) => p.TryGetValue(name, out var v) ? v : null;

    static string[] Words(string? value) =>
        value is null ? [] : value.Split([' ', '\t', '\n', '\r'], StringSplitOptions.RemoveEmptyEntries);

    static string[] SplitList(string? value, char separator) =>
        value is null ? [] : value.Split(separator, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    static bool IsYes(string value) => value is "yes" or "true" or "1";

    internal static string NormalizeUri(string uri) => uri.TrimEnd('/');

    static RepositoryException Malformed(string file, int line, string detail) =>
        new(RepositoryErrorKind.Malformed, $"{file}:{line}",
            $"{file}:{line}: {detail}. Fix the apt source entry (see sources.list(5)) or name the repositories in the project instead.");
}
