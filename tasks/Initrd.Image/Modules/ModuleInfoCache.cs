using System.Collections.Concurrent;
using System.Globalization;
using System.Text;

namespace Initrd.Image.Modules;

/// <summary>
/// Parsed <see cref="ModuleInfo"/> by module file identity — kernel version, path relative to the module
/// directory and file size — so that a second finalize of the same install tree reads no module again (an xz
/// module must be decompressed whole to be parsed: about 4 s of CPU for a Debian kernel's 4200 modules).
/// Thread-safe. Persisted as a UTF-8 text file, written atomically (temporary file + rename); a missing,
/// unreadable or foreign file loads as an empty cache, so a damaged cache costs time, never a wrong result.
/// </summary>
public sealed class ModuleInfoCache
{
    /// <summary>The suggested file name, beside the install tree.</summary>
    public const string DefaultFileName = "kernel-modinfo.cache";

    const string Header = "# initrd-sdk kernel module info cache v1";

    readonly ConcurrentDictionary<string, ModuleInfo> _entries = new(StringComparer.Ordinal);
    int _modified;

    /// <summary>Number of cached modules.</summary>
    public int Count => _entries.Count;

    /// <summary>True once an entry was added since the cache was created or loaded (then <see cref="Save"/> is worth it).</summary>
    public bool IsModified => Volatile.Read(ref _modified) != 0;

    /// <summary>The module's info from the cache, or read from its file (and cached).</summary>
    public ModuleInfo GetOrRead(KernelModuleFile module, string kernelVersion)
    {
        ArgumentNullException.ThrowIfNull(module);
        ArgumentNullException.ThrowIfNull(kernelVersion);
        var key = Key(kernelVersion, module.RelativePath, module.Size);
        if (_entries.TryGetValue(key, out var cached))
            return cached.FileName == module.ContentPath ? cached : Rename(cached, module.ContentPath);
        var info = ModuleInfo.Read(module.ContentPath);
        if (_entries.TryAdd(key, info)) Volatile.Write(ref _modified, 1);
        return info;
    }

    /// <summary>True when the module is cached.</summary>
    public bool Contains(KernelModuleFile module, string kernelVersion) =>
        _entries.ContainsKey(Key(kernelVersion, module.RelativePath, module.Size));

    static ModuleInfo Rename(ModuleInfo info, string fileName) =>
        new(fileName, info.Fields, info.ExportedSymbols, info.DependencySymbols);

    static string Key(string kernelVersion, string relativePath, long size) =>
        string.Concat(kernelVersion, "\n", size.ToString(CultureInfo.InvariantCulture), "\n", relativePath);

    /// <summary>Loads a cache file; a missing or invalid file gives an empty cache.</summary>
    public static ModuleInfoCache Load(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var cache = new ModuleInfoCache();
        try
        {
            using var reader = new StreamReader(path, Encoding.UTF8, false, 1 << 16);
            if (reader.ReadLine() != Header) return cache;
            string? key = null;
            string? fileName = null;
            List<KeyValuePair<string, string>>? fields = null;
            List<string>? exported = null, dependencies = null;
            var loaded = new Dictionary<string, ModuleInfo>(StringComparer.Ordinal);

            void Flush()
            {
                if (key is null) return;
                loaded[key] = new ModuleInfo(fileName!, fields!, exported ?? [], dependencies ?? []);
                key = null;
            }

            string? line;
            while ((line = reader.ReadLine()) is not null)
            {
                if (line.Length < 2 || line[1] != '\t') return cache;
                var rest = line[2..];
                switch (line[0])
                {
                    case '@':
                        Flush();
                        var parts = rest.Split('\t');
                        if (parts.Length != 4 || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size)) return cache;
                        key = Key(Unescape(parts[0]), Unescape(parts[2]), size);
                        fileName = Unescape(parts[3]);
                        fields = [];
                        exported = null;
                        dependencies = null;
                        break;
                    case 'F' when fields is not null:
                        var tab = rest.IndexOf('\t');
                        if (tab < 0) return cache;
                        fields.Add(new(Unescape(rest[..tab]), Unescape(rest[(tab + 1)..])));
                        break;
                    case 'X' when fields is not null:
                        exported = SplitSymbols(rest);
                        break;
                    case 'D' when fields is not null:
                        dependencies = SplitSymbols(rest);
                        break;
                    case '.':
                        // End marker: only a completely written file counts.
                        Flush();
                        foreach (var (k, v) in loaded) cache._entries[k] = v;
                        return cache;
                    default:
                        return cache;
                }
            }
            return cache; // no end marker: truncated, ignore
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or DecoderFallbackException)
        {
            return new ModuleInfoCache();
        }
    }

    /// <summary>Writes the cache atomically (entries sorted, so equal caches give equal files).</summary>
    public void Save(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var temp = full + "." + Environment.ProcessId.ToString(CultureInfo.InvariantCulture) + "." + Guid.NewGuid().ToString("N")[..8] + ".tmp";
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
            using (var writer = new StreamWriter(stream, new UTF8Encoding(false), 1 << 16))
            {
                writer.NewLine = "\n";
                writer.WriteLine(Header);
                var sb = new StringBuilder(4096);
                foreach (var (key, info) in _entries.OrderBy(e => e.Key, StringComparer.Ordinal))
                {
                    var parts = key.Split('\n', 3);
                    sb.Clear().Append("@\t");
                    AppendEscaped(sb, parts[0]).Append('\t').Append(parts[1]).Append('\t');
                    AppendEscaped(sb, parts[2]).Append('\t');
                    AppendEscaped(sb, info.FileName).Append('\n');
                    foreach (var (k, v) in info.Fields)
                    {
                        sb.Append("F\t");
                        AppendEscaped(sb, k).Append('\t');
                        AppendEscaped(sb, v).Append('\n');
                    }
                    AppendSymbols(sb, 'X', info.ExportedSymbols);
                    AppendSymbols(sb, 'D', info.DependencySymbols);
                    writer.Write(sb);
                }
                writer.Write(".\t\n");
                writer.Flush();
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, full, overwrite: true);
            Volatile.Write(ref _modified, 0);
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    static void AppendSymbols(StringBuilder sb, char tag, IReadOnlyList<string> symbols)
    {
        if (symbols.Count == 0) return;
        sb.Append(tag).Append('\t');
        for (var i = 0; i < symbols.Count; i++)
        {
            if (i > 0) sb.Append(' ');
            AppendEscaped(sb, symbols[i]);
        }
        sb.Append('\n');
    }

    static List<string> SplitSymbols(string text) =>
        [.. text.Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(Unescape)];

    static StringBuilder AppendEscaped(StringBuilder sb, string s)
    {
        foreach (var c in s)
        {
            switch (c)
            {
                case '\\': sb.Append("\\\\"); break;
                case '\t': sb.Append("\\t"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case ' ': sb.Append("\\s"); break;
                default: sb.Append(c); break;
            }
        }
        return sb;
    }

    static string Unescape(string s)
    {
        if (s.IndexOf('\\') < 0) return s;
        var sb = new StringBuilder(s.Length);
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\' || i + 1 == s.Length) { sb.Append(s[i]); continue; }
            sb.Append(s[++i] switch { 't' => '\t', 'n' => '\n', 'r' => '\r', 's' => ' ', var c => c });
        }
        return sb.ToString();
    }
}
