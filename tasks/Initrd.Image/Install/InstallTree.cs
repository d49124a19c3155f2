using System.Text;
using Initrd.Formats.Tree;

namespace Initrd.Image.Install;

/// <summary>A path shipped by two packages: <see cref="Package"/>'s entry (the later one) is the one in the tree.</summary>
public sealed record PathOverlap(string Path, string PreviousPackage, string Package)
{
    public override string ToString() => $"/{Path}: {Package} overwrites {PreviousPackage}";
}

/// <summary>
/// A complete install tree in the cache: <c>&lt;treesRoot&gt;/&lt;key&gt;/</c> holding
/// <list type="bullet">
/// <item><c>root/</c> — the unpacked files (host modes 0644/0755, symlinks and hard links as such; no devices);</item>
/// <item><c>manifest</c> — a <see cref="TreeManifest"/> with the real modes, owners, times, link targets and device
/// numbers; regular files' <see cref="TreeEntry.ContentPath"/> point into <c>root/</c>;</item>
/// <item><c>owners</c> — image path → package (tab-separated, one line per path the packages ship);</item>
/// <item><c>overlaps</c> — paths shipped by two packages (path, earlier package, later package, which won);</item>
/// <item><c>packages</c> — the packages unpacked, in order (name, version, architecture);</item>
/// <item><c>complete</c> — written last, before the directory got its name: a tree without it is never used.</item>
/// </list>
/// The tree is shared between builds and projects: treat it as read-only. Its symlinks are the packages' own
/// (<c>lib → /usr/lib</c>, even <c>x → /etc/…</c>): they are meant for the image, not the host, so never resolve an
/// image path through <see cref="RootDirectory"/> with host calls; use the manifest (regular files'
/// <see cref="TreeEntry.ContentPath"/> contain no symlinks). The image root itself has no entry.
/// </summary>
public sealed class InstallTree
{
    internal const string RootName = "root";
    internal const string ManifestName = "manifest";
    internal const string OwnersName = "owners";
    internal const string OverlapsName = "overlaps";
    internal const string PackagesName = "packages";
    internal const string CompleteName = "complete";
    internal const string CompleteContent = "initrd-sdk install tree v1\n";
    internal const string OwnersHeader = "# initrd-sdk tree owners v1";
    internal const string OverlapsHeader = "# initrd-sdk tree overlaps v1";
    internal const string PackagesHeader = "# initrd-sdk tree packages v1";

    readonly Lazy<IReadOnlyList<TreeEntry>> _entries;
    readonly Lazy<IReadOnlyDictionary<string, string>> _owners;
    readonly Lazy<IReadOnlyList<PathOverlap>> _overlaps;

    internal InstallTree(string directory, bool built)
    {
        Directory = directory;
        Built = built;
        _entries = new(() => TreeManifest.Read(ManifestPath));
        _owners = new(() => ReadOwners(OwnersPath));
        _overlaps = new(() => ReadOverlaps(OverlapsPath));
    }

    /// <summary>The tree's folder, <c>&lt;treesRoot&gt;/&lt;key&gt;</c> (absolute).</summary>
    public string Directory { get; }

    /// <summary>The unpacked files: the image root.</summary>
    public string RootDirectory => Path.Combine(Directory, RootName);

    public string ManifestPath => Path.Combine(Directory, ManifestName);

    public string OwnersPath => Path.Combine(Directory, OwnersName);

    public string OverlapsPath => Path.Combine(Directory, OverlapsName);

    /// <summary>True when this call unpacked the tree; false when it was found complete in the cache.</summary>
    public bool Built { get; }

    /// <summary>The manifest's entries, sorted by path (read on first use).</summary>
    public IReadOnlyList<TreeEntry> Entries => _entries.Value;

    /// <summary>Image path ("usr/bin/bash") → the package that shipped what is there (read on first use).</summary>
    public IReadOnlyDictionary<string, string> PathOwners => _owners.Value;

    /// <summary>Paths shipped by more than one package (read on first use).</summary>
    public IReadOnlyList<PathOverlap> Overlaps => _overlaps.Value;

    internal static void WriteOwners(string path, IEnumerable<KeyValuePair<string, string>> owners) =>
        WriteRows(path, OwnersHeader, owners.Select(o => new[] { o.Key, o.Value }));

    internal static void WriteOverlaps(string path, IEnumerable<PathOverlap> overlaps) =>
        WriteRows(path, OverlapsHeader, overlaps.Select(o => new[] { o.Path, o.PreviousPackage, o.Package }));

    internal static void WritePackages(string path, IEnumerable<PackageArchive> packages) =>
        WriteRows(path, PackagesHeader, packages.Select(p => new[] { p.Name, p.Version, p.Architecture }));

    internal static string FormatPackages(IEnumerable<PackageArchive> packages)
    {
        var writer = new StringWriter { NewLine = "\n" };
        WriteRows(writer, PackagesHeader, packages.Select(p => new[] { p.Name, p.Version, p.Architecture }));
        return writer.ToString();
    }

    static Dictionary<string, string> ReadOwners(string path)
    {
        var owners = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var row in ReadRows(path, OwnersHeader, 2)) owners[row[0]] = row[1];
        return owners;
    }

    static List<PathOverlap> ReadOverlaps(string path) =>
        ReadRows(path, OverlapsHeader, 3).Select(r => new PathOverlap(r[0], r[1], r[2])).ToList();

    static void WriteRows(string path, string header, IEnumerable<string[]> rows)
    {
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false), 1 << 16);
        WriteRows(writer, header, rows);
    }

    static void WriteRows(TextWriter writer, string header, IEnumerable<string[]> rows)
    {
        writer.Write(header);
        writer.Write('\n');
        var sb = new StringBuilder(256);
        foreach (var row in rows)
        {
            sb.Clear();
            for (var i = 0; i < row.Length; i++)
            {
                if (i > 0) sb.Append('\t');
                foreach (var c in row[i])
                {
                    switch (c)
                    {
                        case '\\': sb.Append("\\\\"); break;
                        case '\t': sb.Append("\\t"); break;
                        case '\n': sb.Append("\\n"); break;
                        default: sb.Append(c); break;
                    }
                }
            }
            sb.Append('\n');
            writer.Write(sb);
        }
    }

    static IEnumerable<string[]> ReadRows(string path, string header, int columns)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, false, 1 << 16);
        var first = reader.ReadLine();
        if (first != header) throw new InvalidDataException($"{path}: line 1: expected '{header}', found '{first}'");
        var lineNumber = 1;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (line.Length == 0) continue;
            var fields = line.Split('\t');
            if (fields.Length != columns)
                throw new InvalidDataException($"{path}: line {lineNumber}: expected {columns} tab-separated fields, found {fields.Length}");
            for (var i = 0; i < fields.Length; i++) fields[i] = Unescape(fields[i]);
            yield return fields;
        }
    }

    static string Unescape(string s)
    {
        if (s.IndexOf('\\') < 0) return s;
        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\' || i + 1 == s.Length) { sb.Append(s[i]); continue; }
            var n = s[++i];
            sb.Append(n switch { 't' => '\t', 'n' => '\n', _ => n });
        }
        return sb.ToString();
    }
}
