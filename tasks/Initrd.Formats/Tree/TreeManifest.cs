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

    /// <summary>Reads a manifest; a malformed one throws <see cref="InvalidDataException"/> naming the line.</summary>
    public static List<TreeEntry> Read(string path) => Parse(File.ReadAllBytes(path), path);

    /// <summary>Parses a manifest's UTF-8 bytes; <paramref name="source"/> names it in messages.</summary>
    public static List<TreeEntry> Parse(ReadOnlySpan<byte> manifest, string? source = null)
    {
        // Fields are parsed from the bytes in place: the only strings made are the three text fields (manifests of
        // thousands of lines are read by every stage; garbage here is collector pauses there).
        var result = new List<TreeEntry>();
        Span<Range> f = stackalloc Range[12];
        var lineNumber = 0;
        while (!manifest.IsEmpty)
        {
            lineNumber++;
            var newline = manifest.IndexOf((byte)'\n');
            var l = newline < 0 ? manifest : manifest[..newline];
            manifest = newline < 0 ? [] : manifest[(newline + 1)..];
            if (l.EndsWith((byte)'\r')) l = l[..^1];
            if (lineNumber == 1)
            {
                if (Encoding.UTF8.GetString(l) is var first && first != Header)
                    throw new InvalidDataException($"{source ?? "manifest"}: line 1: expected '{Header}', found '{first}'");
                continue;
            }
            if (l.IsEmpty) continue;
            var count = 0;
            for (var at = 0; count < f.Length; count++)
            {
                var tab = l[at..].IndexOf((byte)'\t');
                if (tab < 0) { f[count++] = at..; break; }
                f[count] = at..(at + tab);
                at += tab + 1;
            }
            if (count != 11)
                throw new InvalidDataException($"{source ?? "manifest"}: line {lineNumber}: expected 11 tab-separated fields, found {(count > 11 ? "more" : count)}");
            try
            {
                result.Add(new TreeEntry
                {
                    Kind = ParseKind(l[f[0]]),
                    Permissions = ParseOctal(l[f[1]]),
                    Uid = checked((int)ParseDecimal(l[f[2]])),
                    Gid = checked((int)ParseDecimal(l[f[3]])),
                    ModificationTime = ParseDecimal(l[f[4]]),
                    Size = ParseDecimal(l[f[5]]),
                    DeviceMajor = checked((int)ParseDecimal(l[f[6]])),
                    DeviceMinor = checked((int)ParseDecimal(l[f[7]])),
                    Path = Unescape(l[f[8]]),
                    LinkTarget = l[f[9]] is [(byte)'-'] ? null : Unescape(l[f[9]]),
                    ContentPath = l[f[10]] is [(byte)'-'] ? null : Unescape(l[f[10]]),
                });
            }
            catch (Exception e) when (e is FormatException or OverflowException)
            {
                throw new InvalidDataException($"{source ?? "manifest"}: line {lineNumber}: {e.Message}", e);
            }
        }
        if (lineNumber == 0) throw new InvalidDataException($"{source ?? "manifest"}: line 1: expected '{Header}', found nothing");
        return result;
    }

    static long ParseDecimal(ReadOnlySpan<byte> text)
    {
        var negative = text.StartsWith((byte)'-');
        var digits = negative ? text[1..] : text;
        if (digits.IsEmpty || digits.Length > 18) throw new FormatException($"'{Encoding.UTF8.GetString(text)}' is not a decimal number");
        var value = 0L;
        foreach (var c in digits)
        {
            if (c is < (byte)'0' or > (byte)'9') throw new FormatException($"'{Encoding.UTF8.GetString(text)}' is not a decimal number");
            value = value * 10 + (c - '0');
        }
        return negative ? -value : value;
    }

    static int ParseOctal(ReadOnlySpan<byte> text)
    {
        if (text.IsEmpty || text.Length > 11) throw new FormatException($"'{Encoding.UTF8.GetString(text)}' is not an octal mode");
        var value = 0L;
        foreach (var c in text)
        {
            if (c is < (byte)'0' or > (byte)'7') throw new FormatException($"'{Encoding.UTF8.GetString(text)}' is not an octal mode");
            value = value * 8 + (c - '0');
        }
        return value <= uint.MaxValue ? unchecked((int)(uint)value) : throw new FormatException($"'{Encoding.UTF8.GetString(text)}' is not an octal mode");
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

    static TreeEntryKind ParseKind(ReadOnlySpan<byte> code) => code switch
    {
        [(byte)'d'] => TreeEntryKind.Directory,
        [(byte)'f'] => TreeEntryKind.RegularFile,
        [(byte)'l'] => TreeEntryKind.Symlink,
        [(byte)'h'] => TreeEntryKind.HardLink,
        [(byte)'c'] => TreeEntryKind.CharacterDevice,
        [(byte)'b'] => TreeEntryKind.BlockDevice,
        [(byte)'p'] => TreeEntryKind.Fifo,
        [(byte)'s'] => TreeEntryKind.Socket,
        _ => throw new FormatException($"unknown entry kind '{Encoding.UTF8.GetString(code)}'"),
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

    static string Unescape(ReadOnlySpan<byte> field) => Unescape(Encoding.UTF8.GetString(field));

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
