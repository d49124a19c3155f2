using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Initrd.Formats.Deb;

namespace Initrd.Apt.Repositories;

/// <summary>
/// A binary form of a parsed Packages index, kept in the metadata cache so that a warm load does not tokenize the
/// ~36 MB of deb822 text again: for each package the fields the resolver indexes every package by (name, version,
/// architecture, Multi-Arch, Essential, Provides, Replaces) and those a lock records (Filename, Size, SHA256),
/// plus the paragraph's text, from which <see cref="RepositoryPackage.Stanza"/> is parsed on first use.
/// </summary>
/// <remarks>
/// <para>
/// Keyed by the SHA-256 of the index file the signed Release lists (the compressed Packages file) and the cache
/// variant (slim or full), so it only ever describes verified content; written only after that content was
/// fully parsed and checked (every paragraph a valid <see cref="PackageStanza"/> with Filename, Size and SHA256).
/// </para>
/// <para>
/// Layout (little-endian): magic <c>INRDPIX\0</c>, format version, the key (32 bytes), the variant, package
/// count, text length; the package records; the UTF-8 text of all paragraphs; the SHA-256 of everything before
/// it (32 bytes). A file that is truncated, damaged, of another format version, or made for another key does
/// not pass <see cref="TryRead"/>, and the caller rebuilds it from the verified index. Bump
/// <see cref="FormatVersion"/> whenever the record layout or the checks made before writing change.
/// </para>
/// </remarks>
internal static class ParsedIndexCache
{
    public const int FormatVersion = 1;

    /// <summary>The name of this format in the cache (<c>parsed/NAME-VARIANT/HASH</c>).</summary>
    public static string KindFor(string variant) => $"pidx{FormatVersion}-{variant}";

    static ReadOnlySpan<byte> Magic => "INRDPIX\0"u8;

    const int HashSize = 32;

    /// <summary>Collects the packages of one index while it is parsed, then writes the cache file.</summary>
    public sealed class Builder(string keySha256, string variant)
    {
        readonly MemoryStream records = new();
        readonly MemoryStream text = new();
        readonly byte[] key = Convert.FromHexString(keySha256);
        BinaryWriter? writer;
        int count;

        public void Add(RepositoryPackage package, Deb822Paragraph paragraph)
        {
            var start = checked((int)text.Length);
            foreach (var field in paragraph.Fields)
            {
                WriteUtf8(text, field.ToString());
                text.WriteByte((byte)'\n');
            }
            var w = writer ??= new BinaryWriter(records, Encoding.UTF8, leaveOpen: true);
            w.Write(package.Name);
            w.Write(package.Version.ToString());
            w.Write(package.Architecture);
            w.Write((byte)package.MultiArch);
            w.Write(package.Essential);
            WriteOptional(w, package.ProvidesField);
            WriteOptional(w, package.ReplacesField);
            w.Write(package.Filename);
            w.Write(package.Size);
            w.Write(Convert.FromHexString(package.Sha256));
            w.Write(start);
            w.Write(checked((int)text.Length - start));
            w.Write(paragraph.LineNumber);
            count++;
        }

        /// <summary>Writes the complete file (header, records, text, trailing SHA-256).</summary>
        public void WriteTo(Stream output)
        {
            writer?.Flush();
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            var header = new MemoryStream();
            using (var w = new BinaryWriter(header, Encoding.UTF8, leaveOpen: true))
            {
                w.Write(Magic);
                w.Write(FormatVersion);
                w.Write(key);
                w.Write(variant);
                w.Write(count);
                w.Write(checked((int)text.Length));
            }
            foreach (var part in (MemoryStream[])[header, records, text])
            {
                var segment = new ReadOnlySpan<byte>(part.GetBuffer(), 0, (int)part.Length);
                hash.AppendData(segment);
                output.Write(segment);
            }
            output.Write(hash.GetHashAndReset());
        }

        static void WriteOptional(BinaryWriter w, string? value)
        {
            w.Write(value is not null);
            if (value is not null) w.Write(value);
        }

        static void WriteUtf8(MemoryStream stream, string s)
        {
            Span<byte> small = stackalloc byte[512];
            var max = Encoding.UTF8.GetMaxByteCount(s.Length);
            var buffer = max <= small.Length ? small : new byte[max];
            var n = Encoding.UTF8.GetBytes(s, buffer);
            stream.Write(buffer[..n]);
        }
    }

    /// <summary>
    /// Reads a cache file back, or returns null (with the reason) when it is not an intact file of this format for
    /// <paramref name="keySha256"/> and <paramref name="variant"/>.
    /// </summary>
    /// <param name="sourceName">The index's URL, for messages of paragraphs parsed later.</param>
    public static List<RepositoryPackage>? TryRead(byte[] data, string keySha256, string variant, PackageOrigin origin,
        string sourceName, out string? problem)
    {
        try
        {
            problem = null;
            if (data.Length < Magic.Length + HashSize)
                return Fail("it is truncated", out problem);
            var content = data.AsSpan(0, data.Length - HashSize);
            if (!SHA256.HashData(content).AsSpan().SequenceEqual(data.AsSpan(data.Length - HashSize)))
                return Fail("its checksum does not match its content (truncated or damaged)", out problem);

            var r = new SpanReader(content);
            if (!r.Bytes(Magic.Length).SequenceEqual(Magic)) return Fail("it is not a parsed-index file", out problem);
            if (r.Int32() != FormatVersion) return Fail("it has another format version", out problem);
            if (!r.Bytes(HashSize).SequenceEqual(Convert.FromHexString(keySha256)))
                return Fail("it was made for another index file", out problem);
            if (r.String() != variant) return Fail("it was made for another cache variant", out problem);
            var count = r.Int32();
            var textLength = r.Int32();
            if (count < 0 || textLength < 0 || textLength > content.Length) return Fail("its header is inconsistent", out problem);
            var textStart = content.Length - textLength;

            var packages = new List<RepositoryPackage>(count);
            var architectures = new Dictionary<string, string>(StringComparer.Ordinal);
            for (int i = 0; i < count; i++)
            {
                var name = r.String();
                var versionText = r.String();
                var architecture = r.String();
                if (!architectures.TryGetValue(architecture, out var interned)) architectures[architecture] = interned = architecture;
                var multiArch = r.Byte();
                var essential = r.Byte();
                var provides = r.OptionalString();
                var replaces = r.OptionalString();
                var filename = r.String();
                var size = r.Int64();
                var sha256 = Convert.ToHexStringLower(r.Bytes(HashSize));
                var offset = r.Int32();
                var length = r.Int32();
                var line = r.Int32();
                if (multiArch > (byte)MultiArch.Allowed || essential > 1 || size < 0 || offset < 0 || length <= 0
                    || (long)offset + length > textLength || r.Position > textStart
                    || !DebianVersion.TryParse(versionText, out var version))
                    return Fail($"record {i} is inconsistent", out problem);
                packages.Add(new RepositoryPackage(name, version, interned, (MultiArch)multiArch, essential == 1, provides, replaces,
                    origin, filename, size, sha256, new ParagraphText(data, textStart + offset, length, line, sourceName)));
            }
            if (r.Position != textStart) return Fail("its records and text do not line up", out problem);
            return packages;
        }
        catch (InvalidDataException e)
        {
            return Fail(e.Message, out problem);
        }
    }

    static List<RepositoryPackage>? Fail(string reason, out string? problem)
    {
        problem = reason;
        return null;
    }

    /// <summary>A bounds-checked reader of what <see cref="BinaryWriter"/> wrote.</summary>
    ref struct SpanReader(ReadOnlySpan<byte> data)
    {
        readonly ReadOnlySpan<byte> data = data;
        int position;

        public readonly int Position => position;

        public ReadOnlySpan<byte> Bytes(int n)
        {
            if (n < 0 || n > data.Length - position) throw new InvalidDataException("it ends early");
            var s = data.Slice(position, n);
            position += n;
            return s;
        }

        public byte Byte() => Bytes(1)[0];

        public int Int32() => BinaryPrimitives.ReadInt32LittleEndian(Bytes(4));

        public long Int64() => BinaryPrimitives.ReadInt64LittleEndian(Bytes(8));

        /// <summary>BinaryWriter's string: a 7-bit encoded length, then UTF-8.</summary>
        public string String()
        {
            int length = 0, shift = 0;
            byte b;
            do
            {
                if (shift > 28) throw new InvalidDataException("a string length is malformed");
                b = Byte();
                length |= (b & 0x7f) << shift;
                shift += 7;
            } while ((b & 0x80) != 0);
            return Encoding.UTF8.GetString(Bytes(length));
        }

        public string? OptionalString() => Byte() switch
        {
            0 => null,
            1 => String(),
            _ => throw new InvalidDataException("an optional field is malformed"),
        };
    }
}

/// <summary>One paragraph's text inside a parsed-index cache file, parsed into a <see cref="PackageStanza"/> on demand.</summary>
internal sealed class ParagraphText(byte[] buffer, int offset, int length, int lineNumber, string sourceName)
{
    public PackageStanza Parse()
    {
        // Line numbers inside the paragraph count from its first field; say where that is in the cached index.
        var source = $"{sourceName} (paragraph at line {lineNumber})";
        var text = Encoding.UTF8.GetString(buffer, offset, length);
        using var paragraphs = Deb822.Parse(text, source).GetEnumerator();
        if (!paragraphs.MoveNext()) throw new InvalidDataException($"{source}: the cached paragraph is empty");
        return new PackageStanza(paragraphs.Current, source);
    }
}
