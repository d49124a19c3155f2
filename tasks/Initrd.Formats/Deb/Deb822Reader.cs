namespace Initrd.Formats.Deb;

/// <summary>
/// The deb822 tokenizer behind <see cref="Deb822.Parse(TextReader, string?)"/>. It reads characters into
/// its own buffer and finds lines with a vectorized search, so the only allocations are the strings it
/// keeps: one per field value (field names are interned), one array per paragraph. A field's lines stay
/// in the buffer until the field ends, so a multi-line value is usually one copy of a buffer slice.
/// </summary>
sealed class Deb822Reader
{
    const int MaxInternedNames = 4096;

    readonly TextReader source;
    readonly string? sourceName;
    char[] buffer = new char[64 * 1024];
    int filled;       // characters of buffer that hold input
    int position;     // start of the next line
    bool endOfInput;
    int lineNumber;   // number of the line last returned by NextLine

    readonly Dictionary<string, string> names = new(StringComparer.Ordinal);
    readonly Dictionary<string, string>.AlternateLookup<ReadOnlySpan<char>> nameLookup;
    readonly List<Deb822Field> fields = [];
    int paragraphLine;

    // The field being read: its value is buffer[valueStart..valueEnd) until the field ends.
    string? fieldName;
    int fieldLine;
    int valueStart;
    int valueEnd;
    bool valueNeedsCleanup; // a '\r' or a comment line inside the value: not one plain slice
    char[] scratch = [];

    public Deb822Reader(TextReader source, string? sourceName)
    {
        this.source = source;
        this.sourceName = sourceName;
        nameLookup = names.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The next paragraph, or null at the end of the input.</summary>
    public Deb822Paragraph? ReadParagraph()
    {
        while (NextLine(out int start, out int end))
        {
            bool carriageReturn = end > start && buffer[end - 1] == '\r';
            if (carriageReturn) end--;
            var line = buffer.AsSpan(start, end - start);
            if (lineNumber == 1 && line.StartsWith('\uFEFF')) { start++; line = line[1..]; }

            // Policy §5.1: paragraphs are separated by empty lines; parsers may accept lines of only
            // spaces and tabs as separators too, and we do.
            if (!line.ContainsAnyExcept(' ', '\t'))
            {
                EndField();
                if (fields.Count > 0) return EndParagraph();
                continue;
            }

            char first = line[0];
            if (first == '#')
            {
                // A comment (debian/control, apt .sources) is skipped; inside a value it is not part of it.
                if (fieldName is not null) valueNeedsCleanup = true;
                continue;
            }

            if (first == ' ' || first == '\t')
            {
                if (fieldName is null)
                    throw Error($"continuation line before any field: '{Shorten(line)}'");
                valueEnd = end;
                valueNeedsCleanup |= carriageReturn;
                continue;
            }

            EndField();
            StartField(line, start, end, carriageReturn);
        }
        EndField();
        return fields.Count > 0 ? EndParagraph() : null;
    }

    void StartField(ReadOnlySpan<char> line, int start, int end, bool carriageReturn)
    {
        int colon = line.IndexOf(':');
        if (colon < 0)
            throw Error($"line is neither 'Field: value', a continuation nor a comment: '{Shorten(line)}'");
        var name = line[..colon];
        ValidateName(name, line);

        if (!nameLookup.TryGetValue(name, out var interned))
        {
            interned = new string(name);
            if (names.Count < MaxInternedNames) names.Add(interned, interned);
        }
        foreach (var f in fields)
        {
            if (f.Name.Length == interned.Length && string.Equals(f.Name, interned, StringComparison.OrdinalIgnoreCase))
                throw Error($"duplicate field '{interned}' (first at line {f.LineNumber})");
        }

        int valueAt = start + colon + 1;
        while (valueAt < end && (buffer[valueAt] == ' ' || buffer[valueAt] == '\t')) valueAt++;
        if (fields.Count == 0) paragraphLine = lineNumber;
        fieldName = interned;
        fieldLine = lineNumber;
        valueStart = valueAt;
        valueEnd = end;
        valueNeedsCleanup = carriageReturn;
    }

    /// <summary>
    /// Policy §5.1: a field name is US-ASCII from '!' to '~' except ':', and does not start with '#' or '-'.
    /// </summary>
    void ValidateName(ReadOnlySpan<char> name, ReadOnlySpan<char> line)
    {
        if (name.IsEmpty) throw Error($"empty field name: '{Shorten(line)}'");
        if (name[0] == '-') throw Error($"field name starts with '-': '{Shorten(line)}'");
        foreach (var c in name)
        {
            if (c <= ' ' || c > '~')
                throw Error($"field name '{Shorten(name)}' contains a space, a control or a non-ASCII character");
        }
    }

    void EndField()
    {
        if (fieldName is null) return;
        var raw = buffer.AsSpan(valueStart, valueEnd - valueStart);
        string value = valueNeedsCleanup ? CleanValue(raw) : new string(raw.TrimEnd(" \t"));
        fields.Add(new Deb822Field(fieldName, value, fieldLine));
        fieldName = null;
    }

    /// <summary>The slow path for a value whose lines hold '\r' or comment lines: rebuild it line by line.</summary>
    string CleanValue(ReadOnlySpan<char> raw)
    {
        if (scratch.Length < raw.Length) scratch = new char[Math.Max(raw.Length, 2 * scratch.Length)];
        int length = 0;
        bool firstLine = true;
        foreach (var range in raw.Split('\n'))
        {
            var part = raw[range];
            if (part.EndsWith('\r')) part = part[..^1];
            if (!firstLine)
            {
                if (part.StartsWith('#')) continue;
                scratch[length++] = '\n';
            }
            part.CopyTo(scratch.AsSpan(length));
            length += part.Length;
            firstLine = false;
        }
        return new string(scratch.AsSpan(0, length).TrimEnd(" \t"));
    }

    Deb822Paragraph EndParagraph()
    {
        var paragraph = new Deb822Paragraph([.. fields], paragraphLine);
        fields.Clear();
        return paragraph;
    }

    /// <summary>Returns the next line as buffer[start..end) without its '\n'.</summary>
    bool NextLine(out int start, out int end)
    {
        int searched = 0;
        while (true)
        {
            int newline = buffer.AsSpan(position + searched, filled - position - searched).IndexOf('\n');
            if (newline >= 0)
            {
                start = position;
                end = position + searched + newline;
                position = end + 1;
                lineNumber++;
                return true;
            }
            if (endOfInput)
            {
                start = end = position;
                if (position == filled) return false;
                end = filled;
                position = filled;
                lineNumber++;
                return true;
            }
            searched = filled - position;
            Fill(ref searched);
        }
    }

    /// <summary>
    /// Reads more input. What is still needed (the current field's value, the current line) moves to
    /// the start of the buffer, which doubles when that alone fills it (a long Description, a Release
    /// file's checksum lists).
    /// </summary>
    void Fill(ref int searched)
    {
        int keep = fieldName is not null ? Math.Min(valueStart, position) : position;
        if (keep > 0)
        {
            Array.Copy(buffer, keep, buffer, 0, filled - keep);
            filled -= keep;
            position -= keep;
            valueStart -= keep;
            valueEnd -= keep;
        }
        if (filled == buffer.Length) Array.Resize(ref buffer, buffer.Length * 2);
        int read = source.Read(buffer, filled, buffer.Length - filled);
        if (read == 0) endOfInput = true;
        filled += read;
    }

    InvalidDataException Error(string message) =>
        new($"{(sourceName is null ? "" : sourceName + ": ")}line {lineNumber}: {message}");

    static string Shorten(ReadOnlySpan<char> text) =>
        text.Length <= 80 ? new string(text) : string.Concat(text[..77], "...");
}
