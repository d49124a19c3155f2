using System.Text;

namespace Initrd.Formats.Deb;

/// <summary>
/// The deb822 control-file syntax (Debian Policy §5.1, deb822(5)) used by control files, Packages and
/// Sources indices, Release files and apt .sources files.
/// </summary>
/// <remarks>
/// Rules: a paragraph is a run of fields, paragraphs are separated by blank lines (lines of only spaces
/// and tabs count as blank); a field is <c>Name: value</c> and continues on following lines that start
/// with a space or tab; lines starting with '#' are comments and skipped; CRLF line ends are accepted.
/// A line that fits none of these, a continuation before any field and a duplicate field name (in any
/// case) are errors (<see cref="InvalidDataException"/> with the line number).
/// </remarks>
public static class Deb822
{
    /// <summary>
    /// Reads paragraphs lazily, one per iteration; errors surface while enumerating.
    /// <paramref name="sourceName"/> (a file name or URI) prefixes error messages.
    /// </summary>
    public static IEnumerable<Deb822Paragraph> Parse(TextReader reader, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(reader);
        return Iterate(reader, sourceName);
    }

    /// <inheritdoc cref="Parse(TextReader, string?)"/>
    public static IEnumerable<Deb822Paragraph> Parse(string text, string? sourceName = null)
    {
        ArgumentNullException.ThrowIfNull(text);
        return Iterate(new StringReader(text), sourceName);
    }

    static IEnumerable<Deb822Paragraph> Iterate(TextReader reader, string? sourceName)
    {
        var tokenizer = new Deb822Reader(reader, sourceName);
        while (tokenizer.ReadParagraph() is { } paragraph) yield return paragraph;
    }

    const string SignedMessageHeader = "-----BEGIN PGP SIGNED MESSAGE-----";
    const string SignatureHeader = "-----BEGIN PGP SIGNATURE-----";
    const string SignatureFooter = "-----END PGP SIGNATURE-----";

    /// <summary>
    /// Returns the signed text of an OpenPGP cleartext-signed message (RFC 9580 §7, RFC 4880 §7), such as
    /// an InRelease file, with dash-escaping ("- ") undone and '\n' after every line. It does NOT verify
    /// the signature (gpgv does that, on the original file).
    /// </summary>
    /// <remarks>
    /// Strict on purpose, so that the text parsed is exactly the text gpgv verified: nothing but blank
    /// lines may surround the message, the only armor headers accepted are "Hash:", a body line that
    /// starts with '-' must be dash-escaped, and there is exactly one signature block.
    /// </remarks>
    /// <exception cref="InvalidDataException">The text is not a single well-formed clear-signed message.</exception>
    public static string StripClearsign(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var body = new StringBuilder(text.Length);
        var state = ClearsignState.Before;
        int lineNumber = 0;
        foreach (var range in text.AsSpan().Split('\n'))
        {
            lineNumber++;
            var line = text.AsSpan(range.Start.Value, range.End.Value - range.Start.Value);
            if (line.EndsWith('\r')) line = line[..^1];
            // Armor lines may carry trailing white space (RFC 4880 §6.2); body lines are kept as they are.
            var trimmed = line.TrimEnd(" \t");
            switch (state)
            {
                case ClearsignState.Before:
                    if (trimmed.IsEmpty) break;
                    if (!trimmed.SequenceEqual(SignedMessageHeader))
                        throw ClearsignError(lineNumber, $"expected '{SignedMessageHeader}', found '{Shorten(line)}'");
                    state = ClearsignState.Headers;
                    break;
                case ClearsignState.Headers:
                    if (trimmed.IsEmpty) { state = ClearsignState.Body; break; }
                    if (!trimmed.StartsWith("Hash:", StringComparison.Ordinal))
                        throw ClearsignError(lineNumber, $"unexpected armor header '{Shorten(line)}' (only 'Hash:' is accepted)");
                    break;
                case ClearsignState.Body:
                    if (line.StartsWith('-'))
                    {
                        if (trimmed.SequenceEqual(SignatureHeader)) { state = ClearsignState.Signature; break; }
                        if (!line.StartsWith("- "))
                            throw ClearsignError(lineNumber, $"line starting with '-' is not dash-escaped: '{Shorten(line)}'");
                        line = line[2..];
                    }
                    body.Append(line).Append('\n');
                    break;
                case ClearsignState.Signature:
                    if (trimmed.SequenceEqual(SignatureFooter)) state = ClearsignState.After;
                    break;
                case ClearsignState.After:
                    if (!trimmed.IsEmpty)
                        throw ClearsignError(lineNumber, $"text after the signature: '{Shorten(line)}'");
                    break;
            }
        }
        if (state != ClearsignState.After)
        {
            throw ClearsignError(lineNumber, state switch
            {
                ClearsignState.Before => $"no '{SignedMessageHeader}' line: not a clear-signed message",
                ClearsignState.Headers or ClearsignState.Body => $"no '{SignatureHeader}' line: the signed text has no signature",
                _ => $"no '{SignatureFooter}' line: the signature block is not terminated",
            });
        }
        return body.ToString();
    }

    enum ClearsignState { Before, Headers, Body, Signature, After }

    static InvalidDataException ClearsignError(int lineNumber, string message) =>
        new($"clear-signed message, line {lineNumber}: {message}");

    static string Shorten(ReadOnlySpan<char> text) =>
        text.Length <= 80 ? new string(text) : string.Concat(text[..77], "...");
}
