using System.Globalization;
using System.Text;

namespace Initrd.Formats.Tree;

/// <summary>
/// Reads and writes a tree manifest: one <see cref="TreeEntry"/> per line, tab-separated, so install
/// trees and finalized images carry ownership, modes and device nodes without root. Columns:
/// <c>kind perms(octal) uid gid mtime size major minor path link content</c>; text fields escape
/// backslash, tab and newline as <c>\\</c>, <c>\t</c>, <c>\n</c>; an empty field is written as <c>-</c>
/// only for link/content (a path is never empty).
/// </summary>
public static class TreeManifest
{
    public const string Header = "# initrd-sdk tree manifest v1";

    public static void Write(string path, IEnumerable<TreeEntry> entries)
    {
        using var writer = new StreamWriter(path, append: false, new UTF8Encoding(false), 1 << 16);
        Write(writer, entries);
    }

    public static void Write(TextWriter writer, IEnumerable<TreeEntry> entries)
    {
        writer.Write(Header);
        writer.Write('\n');
        var sb = new StringBuilder(256);
        foreach (var e in entries)
        {
            sb.Clear();
            sb.Append(KindCode(e.Kind)).Append('\t')
              .Append(Convert.ToString(e.Permissions, 8)).Append('\t')
              .Append(e.Uid.ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append(e.Gid.ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append(e.ModificationTime.ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append(e.Size.ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append(e.DeviceMajor.ToString(CultureInfo.InvariantCulture)).Append('\t')
              .Append(e.DeviceMinor.ToString(CultureInfo.InvariantCulture)).Append('\t');
            AppendEscaped(sb, e.Path);
            sb.Append('\t');
            if (e.LinkTarget is null) sb.Append('-'); else AppendEscaped(sb, e.LinkTarget);
            sb.Append('\t');
            if (e.ContentPath is null) sb.Append('-'); else AppendEscaped(sb, e.ContentPath);
            sb.Append('\n');
            writer.Write(sb);
        }
    }

    public static List<TreeEntry> Read(string path)
    {
        using var reader = new StreamReader(path, Encoding.UTF8, false, 1 << 16);
        return Read(reader, path);
    }

    public static List<TreeEntry> Read(TextReader reader, string? source = null)
    {
        var result = new List<TreeEntry>();
        var first = reader.ReadLine();
        if (first != Header)
            throw new InvalidDataException($"{source ?? "manifest"}: line 1: expected '{Header}', found '{first}'");
        string? line;
        var lineNumber = 1;
        while ((line = reader.ReadLine()) is not null)
        {
            lineNumber++;
            if (line.Length == 0) continue;
            var f = line.Split('\t');
            if (f.Length != 11)
                throw new InvalidDataException($"{source ?? "manifest"}: line {lineNumber}: expected 11 tab-separated fields, found {f.Length}");
            try
            {
                result.Add(new TreeEntry
                {
                    Kind = ParseKind(f[0]),
                    Permissions = Convert.ToInt32(f[1], 8),
                    Uid = int.Parse(f[2], CultureInfo.InvariantCulture),
                    Gid = int.Parse(f[3], CultureInfo.InvariantCulture),
                    ModificationTime = long.Parse(f[4], CultureInfo.InvariantCulture),
                    Size = long.Parse(f[5], CultureInfo.InvariantCulture),
                    DeviceMajor = int.Parse(f[6], CultureInfo.InvariantCulture),
                    DeviceMinor = int.Parse(f[7], CultureInfo.InvariantCulture),
                    Path = Unescape(f[8]),
                    LinkTarget = f[9] == "-" ? null : Unescape(f[9]),
                    ContentPath = f[10] == "-" ? null : Unescape(f[10]),
                });
            }
            catch (FormatException e)
            {
                throw new InvalidDataException($"{source ?? "manifest"}: line {lineNumber}: {e.Message}", e);
            }
        }
        return result;
    }

    static char KindCode(TreeEntryKind kind) => kind switch
    {
        TreeEntryKind.Directory => 'd',
        TreeEntryKind.RegularFile => 'f',
        TreeEntryKind.Symlink => 'l',
        TreeEntryKind.HardLink => 'h',
        TreeEntryKind.CharacterDevice => 'c',
        TreeEntryKind.BlockDevice => 'b',
        TreeEntryKind.Fifo => 'p',
        TreeEntryKind.Socket => 's',
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, null),
    };

    static TreeEntryKind ParseKind(string code) => code switch
    {
        "d" => TreeEntryKind.Directory,
        "f" => TreeEntryKind.RegularFile,
        "l" => TreeEntryKind.Symlink,
        "h" => TreeEntryKind.HardLink,
        "c" => TreeEntryKind.CharacterDevice,
        "b" => TreeEntryKind.BlockDevice,
        "p" => TreeEntryKind.Fifo,
        "s" => TreeEntryKind.Socket,
        _ => throw new FormatException($"unknown entry kind '{code}'"),
    };

    static void AppendEscaped(StringBuilder sb, string s)
    {
        if (s == "-") { sb.Append("\\-"); return; }
        foreach (var c in s)
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
