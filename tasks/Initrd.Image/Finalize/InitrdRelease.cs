using System.Text;
using Initrd.Formats.Tree;

namespace Initrd.Image.Finalize;

/// <summary>
/// Writes <c>/etc/initrd-release</c>, the file systemd checks to know it runs in an initrd (without it, it boots the
/// initrd as a full system and never switches root). The content is the tree's os-release — <c>etc/os-release</c>
/// followed through symlinks, else <c>usr/lib/os-release</c> — or an initrd-release already in the tree (from an
/// ImageFile), with the caller's fields set on top (os-release(5) syntax; a null value removes the field).
/// An existing initrd-release without extra fields is left as it is.
/// </summary>
public static class InitrdRelease
{
    public const string Path = "etc/initrd-release";

    /// <summary>The os-release files looked at, in order.</summary>
    public static readonly IReadOnlyList<string> OsReleasePaths = ["etc/os-release", "usr/lib/os-release"];

    /// <exception cref="FinalizeException"><see cref="FinalizeErrorKind.OsReleaseMissing"/>, <see cref="FinalizeErrorKind.InvalidOsReleaseField"/>.</exception>
    public static void Apply(ImageTree tree, IEnumerable<KeyValuePair<string, string?>>? fields = null)
    {
        ArgumentNullException.ThrowIfNull(tree);
        var extra = (fields ?? []).ToList();
        foreach (var (key, value) in extra) Validate(key, value);

        string? source = null;
        if (IsFile(tree.ResolveEntry(Path)))
        {
            if (extra.Count == 0 && tree.Find(Path)?.Kind != TreeEntryKind.Symlink) return;
            source = Path;
        }
        source ??= OsReleasePaths.FirstOrDefault(p => IsFile(tree.ResolveEntry(p)));
        if (source is null)
            throw new FinalizeException(FinalizeErrorKind.OsReleaseMissing, "/" + Path,
                $"Cannot write /{Path}: the image has no os-release (looked at {string.Join(" and ", OsReleasePaths.Select(p => "/" + p))}). " +
                "Add ImagePackage base-files (it ships os-release), or an ImageFile for /etc/os-release or /etc/initrd-release.");

        var text = Edit(tree.ReadAllText(source), extra);
        tree.AddTextFile(Path, text, FileModes.Regular);
    }

    /// <summary>Sets (or removes, for a null value) os-release fields in <paramref name="text"/>: the first assignment of a key is replaced, later ones dropped, new keys appended.</summary>
    public static string Edit(string text, IEnumerable<KeyValuePair<string, string?>> fields)
    {
        var lines = text.Replace("\r\n", "\n").Split('\n').ToList();
        if (lines.Count > 0 && lines[^1].Length == 0) lines.RemoveAt(lines.Count - 1);
        foreach (var (key, value) in fields)
        {
            var replaced = false;
            for (var i = 0; i < lines.Count; i++)
            {
                if (KeyOf(lines[i]) != key) continue;
                if (!replaced && value is not null)
                {
                    lines[i] = $"{key}={Quote(value)}";
                    replaced = true;
                }
                else
                {
                    lines.RemoveAt(i--);
                }
            }
            if (!replaced && value is not null) lines.Add($"{key}={Quote(value)}");
        }
        var sb = new StringBuilder();
        foreach (var l in lines) sb.Append(l).Append('\n');
        return sb.ToString();
    }

    /// <summary>Reads an os-release file's fields (unquoted), as os-release(5) describes.</summary>
    public static IReadOnlyDictionary<string, string> Parse(string text)
    {
        var result = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#' || KeyOf(line) is not { } key) continue;
            var value = line[(key.Length + 1)..];
            result[key] = Unquote(value);
        }
        return result;
    }

    static string? KeyOf(string line)
    {
        var eq = line.IndexOf('=');
        if (eq <= 0) return null;
        var key = line[..eq];
        return IsValidKey(key) ? key : null;
    }

    static bool IsValidKey(string key) =>
        key.Length > 0 && (char.IsAsciiLetterUpper(key[0]) || key[0] == '_') && key.All(c => char.IsAsciiLetterUpper(c) || char.IsAsciiDigit(c) || c == '_');

    static void Validate(string key, string? value)
    {
        if (!IsValidKey(key))
            throw new FinalizeException(FinalizeErrorKind.InvalidOsReleaseField, key,
                $"'{key}' is not a valid os-release field name: use upper-case letters, digits and '_' (e.g. VARIANT_ID).");
        if (value is not null && (value.Contains('\n') || value.Contains('\r') || value.Contains('\0')))
            throw new FinalizeException(FinalizeErrorKind.InvalidOsReleaseField, key,
                $"The value for os-release field {key} contains a line break or NUL character.");
    }

    static string Quote(string value)
    {
        if (value.Length > 0 && value.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-')) return value;
        var sb = new StringBuilder("\"");
        foreach (var c in value)
        {
            if (c is '"' or '\\' or '$' or '`') sb.Append('\\');
            sb.Append(c);
        }
        return sb.Append('"').ToString();
    }

    static string Unquote(string value)
    {
        if (value.Length >= 2 && (value[0] == '"' || value[0] == '\'') && value[^1] == value[0])
        {
            var inner = value[1..^1];
            if (value[0] == '\'') return inner;
            var sb = new StringBuilder(inner.Length);
            for (var i = 0; i < inner.Length; i++)
            {
                if (inner[i] == '\\' && i + 1 < inner.Length) i++;
                sb.Append(inner[i]);
            }
            return sb.ToString();
        }
        return value;
    }

    static bool IsFile(TreeEntry? e) => e is { Kind: TreeEntryKind.RegularFile or TreeEntryKind.HardLink };
}
