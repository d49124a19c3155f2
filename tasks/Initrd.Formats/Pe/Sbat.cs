using System.Text;
using Initrd.Formats.Common;

namespace Initrd.Formats.Pe;

/// <summary>
/// SBAT metadata (shim's "UEFI Secure Boot Advanced Targeting", rhboot/shim SBAT.md): a CSV text in the
/// <c>.sbat</c> section, one component per line —
/// <c>component_name,component_generation,vendor_name,vendor_package_name,vendor_version,vendor_url</c> — whose
/// first line is the format's own entry, <see cref="HeaderLine"/>. Revocation compares component generations, so a
/// UKI carries the entries of every component it contains (stub, kernel, the UKI itself).
/// </summary>
/// <remarks>
/// <see cref="Merge"/> follows ukify's merge: the header line once and first, then the entries of each source in
/// order (stub, kernel, the caller's), one per line, then a newline and a terminating NUL. Lines are taken without
/// "\r" and trailing NULs; blank lines and every source's own header line are dropped; an entry repeated verbatim is
/// kept once (its first occurrence).
/// </remarks>
public static class Sbat
{
    /// <summary>The SBAT format's entry, which must be the first line of every <c>.sbat</c>.</summary>
    public const string HeaderLine = "sbat,1,SBAT Version,sbat,1,https://github.com/rhboot/shim/blob/main/SBAT.md";

    /// <summary>The component name of <see cref="HeaderLine"/>.</summary>
    public const string HeaderComponent = "sbat";

    /// <summary>
    /// The component entries of one SBAT text (no header line, no blank lines). An entry needs at least a component
    /// name and a generation (a positive decimal integer); shim ignores further fields but they are conventionally 6.
    /// </summary>
    /// <param name="text">The CSV text; trailing NULs (section padding) are ignored.</param>
    /// <param name="source">Names the text in error messages (".sbat of linuxx64.efi.stub", "SBAT item 2").</param>
    /// <param name="fromImage">
    /// True when the text comes from an image's section: a malformed line is then malformed input
    /// (<see cref="InvalidDataException"/>) rather than a refused argument (<see cref="PeException"/>).
    /// </param>
    public static IReadOnlyList<string> ParseEntries(string text, string source, bool fromImage = false)
    {
        var entries = new List<string>();
        var lineNumber = 0;
        foreach (var raw in text.TrimEnd('\0').Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0) continue;
            var fields = line.Split(',');
            string? problem = null;
            if (line.Any(c => c is < ' ' or > '~'))
                problem = "contains a character that is not printable ASCII";
            else if (fields.Length < 2 || fields[0].Length == 0)
                problem = "needs at least a component name and a generation, separated by a comma";
            else if (!uint.TryParse(fields[1], System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var generation) || generation == 0)
                problem = $"has generation '{fields[1]}', which is not a positive decimal number";
            if (problem is not null)
            {
                var message = $"SBAT line {lineNumber} of {source} ('{line}') {problem}. " +
                              "An SBAT entry reads component_name,component_generation,vendor_name,vendor_package_name,vendor_version,vendor_url.";
                if (fromImage) throw new InvalidDataException(message);
                throw new PeException(PeErrorKind.InvalidSbat, message, ".sbat");
            }
            if (fields[0] == HeaderComponent) continue;
            entries.Add(line);
        }
        return entries;
    }

    /// <summary>The entries of an image's <c>.sbat</c> section, or none when it has no such section.</summary>
    public static IReadOnlyList<string> ReadEntries(ByteSource image, PeFile headers, string source)
    {
        var section = headers.FindSection(UkiLayout.Sbat);
        if (section is null || section.SizeOfRawData == 0) return [];
        var content = new byte[section.ContentLength];
        image.ReadAt(section.PointerToRawData, content);
        return ParseEntries(Encoding.ASCII.GetString(content), $".sbat of {source}", fromImage: true);
    }

    /// <summary>
    /// The merged <c>.sbat</c> content: <see cref="HeaderLine"/>, then every source's entries in order (exact
    /// duplicates once), each line ending in "\n", then one NUL byte.
    /// </summary>
    public static byte[] Merge(IEnumerable<IReadOnlyList<string>> entrySources)
    {
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var text = new StringBuilder(HeaderLine).Append('\n');
        foreach (var source in entrySources)
        {
            foreach (var entry in source)
            {
                if (seen.Add(entry)) text.Append(entry).Append('\n');
            }
        }
        text.Append('\0');
        return Encoding.ASCII.GetBytes(text.ToString());
    }
}
