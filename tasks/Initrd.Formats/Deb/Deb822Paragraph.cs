using System.Collections;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Initrd.Formats.Deb;

/// <summary>
/// One deb822 paragraph (Debian Policy §5.1): fields in file order, looked up by name without regard
/// to case. Field names are unique within a paragraph (the parser rejects duplicates).
/// </summary>
public sealed class Deb822Paragraph : IReadOnlyDictionary<string, string>
{
    readonly Deb822Field[] fields;

    internal Deb822Paragraph(Deb822Field[] fields, int lineNumber)
    {
        this.fields = fields;
        LineNumber = lineNumber;
    }

    /// <summary>The 1-based line of the paragraph's first field.</summary>
    public int LineNumber { get; }

    /// <summary>The fields in file order.</summary>
    public IReadOnlyList<Deb822Field> Fields => fields;

    public int Count => fields.Length;

    /// <summary>The value of a field (case-insensitive name).</summary>
    /// <exception cref="KeyNotFoundException">The paragraph has no such field.</exception>
    public string this[string name] => TryGetValue(name, out var value)
        ? value
        : throw new KeyNotFoundException($"the paragraph at line {LineNumber} has no '{name}' field");

    public bool TryGetValue(string name, [MaybeNullWhen(false)] out string value)
    {
        int i = IndexOf(name);
        value = i < 0 ? null : fields[i].Value;
        return i >= 0;
    }

    /// <summary>The value of a field, or null when the paragraph has none.</summary>
    public string? GetValueOrDefault(string name)
    {
        int i = IndexOf(name);
        return i < 0 ? null : fields[i].Value;
    }

    /// <summary>The whole field (name as written, value, line), for messages that point at a line.</summary>
    public bool TryGetField(string name, out Deb822Field field)
    {
        int i = IndexOf(name);
        field = i < 0 ? default : fields[i];
        return i >= 0;
    }

    public bool ContainsKey(string name) => IndexOf(name) >= 0;

    // A linear scan beats hashing for the ~20 fields of a Packages paragraph; names the parser saw
    // before are the same string instance, which string.Equals checks first.
    int IndexOf(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        for (int i = 0; i < fields.Length; i++)
            if (string.Equals(fields[i].Name, name, StringComparison.OrdinalIgnoreCase)) return i;
        return -1;
    }

    public IEnumerable<string> Keys => fields.Select(f => f.Name);

    public IEnumerable<string> Values => fields.Select(f => f.Value);

    public IEnumerator<KeyValuePair<string, string>> GetEnumerator()
    {
        foreach (var f in fields) yield return new(f.Name, f.Value);
    }

    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    /// <summary>The paragraph in deb822 syntax, one field per line, ending with '\n' (no blank line).</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        foreach (var f in fields) sb.Append(f.ToString()).Append('\n');
        return sb.ToString();
    }
}
