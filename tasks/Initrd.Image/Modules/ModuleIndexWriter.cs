using System.Buffers.Binary;
using System.Globalization;
using System.Text;

namespace Initrd.Image.Modules;

/// <summary>A file the index writer produced: its path in the image and its content.</summary>
public sealed record ModuleIndexFile(string Path, byte[] Content);

/// <summary>Options of <see cref="ModuleIndexWriter"/>.</summary>
public sealed record ModuleIndexOptions
{
    /// <summary>
    /// Also write <c>modules.weakdep</c>, as kmod 33 and later do (trixie's kmod 34 does; bookworm's kmod 30 does
    /// not). Default true.
    /// </summary>
    public bool WriteWeakdep { get; init; } = true;
}

/// <summary>
/// Writes the depmod index files for a set of modules natively, byte for byte as kmod's
/// <c>depmod -b ROOT KVER</c> does for a module directory holding exactly those modules (kmod 30 to 34 write the
/// same bytes): <c>modules.dep</c>, <c>.dep.bin</c>, <c>.alias</c>, <c>.alias.bin</c>, <c>.softdep</c>,
/// <c>.weakdep</c>, <c>.symbols</c>, <c>.symbols.bin</c>, <c>.builtin.bin</c>, <c>.builtin.alias.bin</c>,
/// <c>.devname</c>. <c>modules.order</c>, <c>modules.builtin</c> and <c>modules.builtin.modinfo</c> are inputs that
/// stay in the image as the kernel package ships them.
/// </summary>
/// <remarks>
/// As depmod, dependencies come from symbols (a module depends on the modules exporting the symbols it leaves
/// undefined), not from <c>depends=</c>; the two agree for modules built with the kernel. Modules are listed in
/// <c>modules.order</c> order (modules missing from it follow, by path: depmod would use directory order there);
/// each module's dependencies are in depmod's topological order. A dependency cycle throws
/// <see cref="InvalidDataException"/>, as depmod fails on one.
/// </remarks>
public static class ModuleIndexWriter
{
    /// <summary>The files written (in depmod's order), without <c>modules.weakdep</c> when it is not wanted.</summary>
    public static IReadOnlyList<string> FileNames(ModuleIndexOptions? options = null) =>
        (options ?? new()).WriteWeakdep ? AllFileNames : [.. AllFileNames.Where(n => n != "modules.weakdep")];

    static readonly string[] AllFileNames =
    [
        "modules.dep", "modules.dep.bin", "modules.alias", "modules.alias.bin", "modules.softdep", "modules.weakdep",
        "modules.symbols", "modules.symbols.bin", "modules.builtin.bin", "modules.builtin.alias.bin", "modules.devname",
    ];

    /// <summary>Writes the indices for a selection of <paramref name="tree"/>'s modules.</summary>
    public static IReadOnlyList<ModuleIndexFile> Write(KernelModuleTree tree, ModuleSelection selection, ModuleIndexOptions? options = null)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(selection);
        return Write(
            tree.ModulesDirectory,
            [.. selection.Modules.Select(m => (m, selection.Info[m.Name]))],
            ReadOptional(tree.ModulesOrderPath),
            ReadOptional(tree.ModulesBuiltinPath),
            ReadOptional(tree.ModulesBuiltinModinfoPath),
            options);
    }

    static byte[]? ReadOptional(string? path) => path is null ? null : File.ReadAllBytes(path);

    /// <summary>Writes the indices for <paramref name="modules"/>.</summary>
    /// <param name="modulesDirectory">The module directory in the image (<c>usr/lib/modules/&lt;kver&gt;</c>); output paths are below it.</param>
    /// <param name="modules">The modules and their info (one per module name).</param>
    /// <param name="modulesOrder">Content of <c>modules.order</c>, or null.</param>
    /// <param name="modulesBuiltin">Content of <c>modules.builtin</c>, or null (then <c>modules.builtin.bin</c> is empty, as with depmod).</param>
    /// <param name="modulesBuiltinModinfo">Content of <c>modules.builtin.modinfo</c>, or null (then <c>modules.builtin.alias.bin</c> is empty).</param>
    public static IReadOnlyList<ModuleIndexFile> Write(
        string modulesDirectory,
        IReadOnlyList<(KernelModuleFile Module, ModuleInfo Info)> modules,
        byte[]? modulesOrder,
        byte[]? modulesBuiltin,
        byte[]? modulesBuiltinModinfo,
        ModuleIndexOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(modulesDirectory);
        ArgumentNullException.ThrowIfNull(modules);
        options ??= new ModuleIndexOptions();
        var mods = BuildModuleArray(modules, modulesOrder);
        var symbols = LoadSymbols(mods);
        LoadDependencies(mods, symbols);
        CalculateDependencies(mods);

        var files = new List<ModuleIndexFile>();
        void Add(string name, byte[] content) => files.Add(new ModuleIndexFile(modulesDirectory.TrimEnd('/') + "/" + name, content));
        Add("modules.dep", OutputDeps(mods));
        Add("modules.dep.bin", OutputDepsBin(mods));
        Add("modules.alias", OutputInfoLines(mods, "# Aliases extracted from modules themselves.\n", "alias", (m, v) => $"alias {v} {m.Name}\n"));
        Add("modules.alias.bin", OutputAliasesBin(mods));
        Add("modules.softdep", OutputInfoLines(mods, "# Soft dependencies extracted from modules themselves.\n", "softdep", (m, v) => $"softdep {m.Name} {v}\n"));
        if (options.WriteWeakdep)
            Add("modules.weakdep", OutputInfoLines(mods, "# Weak dependencies extracted from modules themselves.\n", "weakdep", (m, v) => $"weakdep {m.Name} {v}\n"));
        Add("modules.symbols", OutputSymbols(symbols));
        Add("modules.symbols.bin", OutputSymbolsBin(symbols));
        Add("modules.builtin.bin", OutputBuiltinBin(modulesBuiltin));
        Add("modules.builtin.alias.bin", OutputBuiltinAliasBin(modulesBuiltinModinfo));
        Add("modules.devname", OutputDevname(mods));
        return files;
    }

    sealed class Mod(KernelModuleFile file, ModuleInfo info)
    {
        public readonly KernelModuleFile File = file;
        public readonly ModuleInfo Info = info;
        public string Name => File.Name;
        public string RelativePath => File.RelativePath;
        public int Index;
        public int DepSortIndex = int.MaxValue;
        public int Users;
        public readonly List<Mod> Deps = [];
    }

    /// <summary>depmod_modules_build_array + depmod_modules_sort: modules.order position, the rest after it by path.</summary>
    static List<Mod> BuildModuleArray(IReadOnlyList<(KernelModuleFile Module, ModuleInfo Info)> modules, byte[]? modulesOrder)
    {
        var byUncompressedPath = new Dictionary<string, Mod>(StringComparer.Ordinal);
        var names = new HashSet<string>(StringComparer.Ordinal);
        var mods = new List<Mod>(modules.Count);
        foreach (var (file, info) in modules)
        {
            ArgumentNullException.ThrowIfNull(file);
            ArgumentNullException.ThrowIfNull(info);
            if (!names.Add(file.Name))
                throw new ArgumentException($"The module name '{file.Name}' is given twice ({file.RelativePath}).", nameof(modules));
            var mod = new Mod(file, info);
            mods.Add(mod);
            byUncompressedPath[UncompressedPath(file.RelativePath)] = mod;
        }

        var sortIndex = new Dictionary<Mod, int>();
        if (modulesOrder is not null)
        {
            // depmod numbers lines from 1 and gives a listed module (line - (lines + 1)): all negative, the last listing wins.
            var lines = Encoding.UTF8.GetString(modulesOrder).Split('\n');
            var count = lines.Length - (modulesOrder.Length > 0 && modulesOrder[^1] == '\n' ? 1 : 0);
            var valid = modulesOrder.Length == 0 || modulesOrder[^1] == '\n';
            if (valid)
                for (var i = 0; i < count; i++)
                    if (byUncompressedPath.TryGetValue(lines[i], out var mod)) sortIndex[mod] = i + 1 - (count + 1);
        }
        var sorted = mods
            .OrderBy(m => sortIndex.TryGetValue(m, out var s) ? s : 0)
            .ThenBy(m => sortIndex.ContainsKey(m) ? "" : m.RelativePath, StringComparer.Ordinal)
            .ToList();
        for (var i = 0; i < sorted.Count; i++) sorted[i].Index = i;
        return sorted;
    }

    /// <summary>The path with its compression suffix removed (depmod's "uncrelpath", as modules.order lists it).</summary>
    static string UncompressedPath(string relativePath)
    {
        var ko = relativePath.LastIndexOf(".ko", StringComparison.Ordinal);
        return ko < 0 ? relativePath : relativePath[..(ko + 3)];
    }

    /// <summary>depmod's symbol hash: every exported symbol, a later exporter replacing an earlier one.</summary>
    static KmodHash<Mod> LoadSymbols(List<Mod> mods)
    {
        var symbols = new KmodHash<Mod>(2048);
        foreach (var mod in mods)
            foreach (var symbol in mod.Info.ExportedSymbols)
                symbols.Add(symbol, mod);
        return symbols;
    }

    static void LoadDependencies(List<Mod> mods, KmodHash<Mod> symbols)
    {
        foreach (var mod in mods)
        {
            foreach (var raw in mod.Info.DependencySymbols)
            {
                var name = raw.StartsWith('.') ? raw[1..] : raw; // PPC64: .foo == foo
                if (!symbols.TryGetValue(name, out var owner)) continue;
                if (mod.Deps.Contains(owner)) continue;
                mod.Deps.Add(owner);
                owner.Users++;
            }
        }
    }

    /// <summary>depmod_calculate_dependencies: topological order (modules nobody uses first), then sorts each module's dependencies by it.</summary>
    static void CalculateDependencies(List<Mod> mods)
    {
        var users = mods.Select(m => m.Users).ToArray();
        var roots = new Stack<int>();
        for (var i = 0; i < mods.Count; i++)
            if (users[i] == 0) roots.Push(i);
        // depmod keeps roots in an array and takes from its end: a stack, filled in module order.
        var sorted = 0;
        while (roots.Count > 0)
        {
            var source = mods[roots.Pop()];
            source.DepSortIndex = sorted++;
            foreach (var dst in source.Deps)
            {
                if (--users[dst.Index] == 0) roots.Push(dst.Index);
            }
        }
        if (sorted < mods.Count)
        {
            var cyclic = mods.Where(m => users[m.Index] > 0).Select(m => m.Name).Order(StringComparer.Ordinal);
            throw new InvalidDataException(
                $"The kernel modules have a dependency cycle among: {string.Join(", ", cyclic)}; depmod cannot order them either.");
        }
        foreach (var mod in mods)
            if (mod.Deps.Count > 1) mod.Deps.Sort((a, b) => a.DepSortIndex.CompareTo(b.DepSortIndex));
    }

    static List<Mod> AllSortedDependencies(Mod mod)
    {
        var all = new List<Mod>();
        var seen = new HashSet<Mod>();
        void Fill(Mod m)
        {
            foreach (var d in m.Deps)
            {
                if (!seen.Add(d)) continue;
                all.Add(d);
                Fill(d);
            }
        }
        Fill(mod);
        all.Sort((a, b) => a.DepSortIndex.CompareTo(b.DepSortIndex));
        return all;
    }

    static string DepLine(Mod mod)
    {
        var sb = new StringBuilder(mod.RelativePath).Append(':');
        foreach (var d in AllSortedDependencies(mod)) sb.Append(' ').Append(d.RelativePath);
        return sb.ToString();
    }

    static byte[] OutputDeps(List<Mod> mods)
    {
        var sb = new StringBuilder();
        foreach (var mod in mods) sb.Append(DepLine(mod)).Append('\n');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    static byte[] OutputDepsBin(List<Mod> mods)
    {
        var index = new KmodIndex();
        foreach (var mod in mods) index.Insert(mod.Name, DepLine(mod), (uint)mod.Index);
        return index.Write();
    }

    static byte[] OutputInfoLines(List<Mod> mods, string header, string key, Func<Mod, string, string> line)
    {
        var sb = new StringBuilder(header);
        foreach (var mod in mods)
            foreach (var (k, v) in mod.Info.Fields)
                if (k == key) sb.Append(line(mod, v));
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    static byte[] OutputAliasesBin(List<Mod> mods)
    {
        var index = new KmodIndex();
        foreach (var mod in mods)
            foreach (var (k, v) in mod.Info.Fields)
                if (k == "alias" && NormalizeAlias(v) is { } alias)
                    index.Insert(alias, mod.Name, (uint)mod.Index);
        return index.Write();
    }

    static byte[] OutputSymbols(KmodHash<Mod> symbols)
    {
        var sb = new StringBuilder("# Aliases for symbols, used by symbol_request().\n");
        foreach (var (name, owner) in symbols.Iterate())
            sb.Append("alias symbol:").Append(name).Append(' ').Append(owner.Name).Append('\n');
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    static byte[] OutputSymbolsBin(KmodHash<Mod> symbols)
    {
        var index = new KmodIndex();
        foreach (var (name, owner) in symbols.Iterate())
            index.Insert("symbol:" + name, owner.Name, (uint)owner.Index);
        return index.Write();
    }

    static byte[] OutputBuiltinBin(byte[]? modulesBuiltin)
    {
        if (modulesBuiltin is null) return [];
        var index = new KmodIndex();
        foreach (var line in FgetsLines(modulesBuiltin))
        {
            if (line.Length == 0 || !char.IsAsciiLetter(line[0])) continue; // depmod: "Invalid modules.builtin line"
            index.Insert(KmodModname(line), "", 0);
        }
        return index.Write();
    }

    /// <summary>Lines as fgets returns them (with their '\n'; a last line without one too).</summary>
    static IEnumerable<string> FgetsLines(byte[] data)
    {
        var text = Encoding.UTF8.GetString(data);
        var start = 0;
        while (start < text.Length)
        {
            var nl = text.IndexOf('\n', start);
            var end = nl < 0 ? text.Length : nl + 1;
            yield return text[start..end];
            start = end;
        }
    }

    /// <summary>kmod's path_to_modname: the base name up to the first '.', '-' → '_'.</summary>
    static string KmodModname(string path)
    {
        var name = path[(path.LastIndexOf('/') + 1)..];
        var dot = name.IndexOf('.');
        if (dot >= 0) name = name[..dot];
        return name.Replace('-', '_');
    }

    /// <summary>depmod's output_builtin_alias_bin, including how it reads <c>module.key=value\0</c> records.</summary>
    static byte[] OutputBuiltinAliasBin(byte[]? modinfo)
    {
        if (modinfo is null) return [];
        var index = new KmodIndex();
        var pos = 0;
        while (pos < modinfo.Length)
        {
            var modname = ReadUntil(modinfo, ref pos, (byte)'.');
            if (modname is null or { Length: 0 }) continue;
            var key = ReadUntil(modinfo, ref pos, (byte)'=');
            if (key != "alias")
            {
                SkipUntil(modinfo, ref pos, 0);
                continue;
            }
            var value = ReadUntil(modinfo, ref pos, 0);
            if (value is null or { Length: 0 }) continue;
            if (NormalizeAlias(value) is { } alias) index.Insert(alias, modname, 0);
        }
        return index.Write();
    }

    /// <summary>flush_stream_to: reads to <paramref name="end"/>, a NUL or the end; the text when it stopped at <paramref name="end"/>, else "".</summary>
    static string? ReadUntil(byte[] data, ref int pos, byte end)
    {
        var start = pos;
        while (pos < data.Length && data[pos] != end && data[pos] != 0) pos++;
        var stoppedAtEnd = pos < data.Length && data[pos] == end;
        var text = Encoding.UTF8.GetString(data, start, pos - start);
        if (pos < data.Length) pos++; // the stop character is consumed
        return stoppedAtEnd ? text : "";
    }

    /// <summary>flush_stream: skips to <paramref name="end"/>, a NUL or the end (consuming the stop character).</summary>
    static void SkipUntil(byte[] data, ref int pos, byte end)
    {
        while (pos < data.Length && data[pos] != end && data[pos] != 0) pos++;
        if (pos < data.Length) pos++;
    }

    static byte[] OutputDevname(List<Mod> mods)
    {
        var sb = new StringBuilder();
        foreach (var mod in mods)
        {
            string? devname = null;
            var type = '\0';
            uint major = 0, minor = 0;
            foreach (var (k, v) in mod.Info.Fields)
            {
                if (k != "alias") continue;
                if (v.StartsWith("devname:", StringComparison.Ordinal)) devname = v["devname:".Length..];
                else if (ScanMajorMinor(v, "char-major-", out var maj, out var min)) { type = 'c'; major = maj; minor = min; }
                else if (ScanMajorMinor(v, "block-major-", out maj, out min)) { type = 'b'; major = maj; minor = min; }
                if (type != '\0' && devname is not null) break;
            }
            if (devname is null || type == '\0') continue; // depmod reports a devname without numbers as an error and skips it
            if (sb.Length == 0) sb.Append("# Device nodes to trigger on-demand module loading.\n");
            sb.Append(CultureInfo.InvariantCulture, $"{mod.Name} {devname} {type}{major}:{minor}\n");
        }
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>sscanf(value, "prefix%u-%u") == 2, for the digit strings kernel aliases use.</summary>
    static bool ScanMajorMinor(string value, string prefix, out uint major, out uint minor)
    {
        major = minor = 0;
        if (!value.StartsWith(prefix, StringComparison.Ordinal)) return false;
        var s = value.AsSpan(prefix.Length);
        if (!ScanUnsigned(ref s, out major)) return false;
        if (s.IsEmpty || s[0] != '-') return false;
        s = s[1..];
        return ScanUnsigned(ref s, out minor);
    }

    static bool ScanUnsigned(ref ReadOnlySpan<char> s, out uint value)
    {
        value = 0;
        var i = 0;
        while (i < s.Length && char.IsAsciiDigit(s[i])) value = unchecked(value * 10 + (uint)(s[i++] - '0'));
        s = s[i..];
        return i > 0;
    }

    /// <summary>kmod's alias_normalize: '-' → '_' outside [...]; null for an unmatched bracket (depmod skips those).</summary>
    internal static string? NormalizeAlias(string alias)
    {
        var sb = new StringBuilder(alias.Length);
        for (var i = 0; i < alias.Length; i++)
        {
            var c = alias[i];
            switch (c)
            {
                case '-': sb.Append('_'); break;
                case ']': return null;
                case '[':
                    while (i < alias.Length && alias[i] != ']') sb.Append(alias[i++]);
                    if (i == alias.Length) return null;
                    sb.Append(']');
                    break;
                default: sb.Append(c); break;
            }
        }
        return sb.ToString();
    }
}

/// <summary>
/// kmod's index file writer (tools/depmod.c, format in libkmod/libkmod-index.c): a trie with path compression,
/// written post-order. File: magic 0xB007F457, version 0x00020001, root offset, then nodes; all big-endian.
/// A node offset carries flags in its top nibble: 0x80000000 prefix (NUL-terminated), 0x20000000 children
/// (first and last child character, then one offset per character in that range, 0 for none), 0x40000000
/// values (count, then priority and NUL-terminated value each). Values of a key are kept sorted by priority,
/// a value inserted later before earlier ones of the same priority.
/// </summary>
sealed class KmodIndex
{
    const uint Magic = 0xB007F457;
    const uint Version = 0x00020001;
    const int ChildMax = 128;
    const uint FlagPrefix = 0x80000000;
    const uint FlagValues = 0x40000000;
    const uint FlagChildren = 0x20000000;

    sealed class Node
    {
        public string Prefix = "";
        public List<(uint Priority, string Value)>? Values;
        public int First = ChildMax;
        public int Last;
        public Node?[]? Children;

        public bool HasChildren => First < ChildMax;
    }

    readonly Node _root = new();

    static void Check(string s)
    {
        foreach (var c in s)
            if (c >= ChildMax || c == '\0')
                throw new InvalidDataException($"Module index: bad character 0x{(int)c:X} in '{s}' - only 7-bit ASCII is supported.");
    }

    static void AddValue(Node node, string value, uint priority)
    {
        node.Values ??= [];
        var at = 0;
        while (at < node.Values.Count && node.Values[at].Priority < priority) at++;
        node.Values.Insert(at, (priority, value));
    }

    public void Insert(string key, string value, uint priority)
    {
        Check(key);
        Check(value);
        var node = _root;
        var i = 0;
        while (true)
        {
            // Make node.Prefix a prefix of key[i..], splitting the node where they differ.
            int j;
            for (j = 0; j < node.Prefix.Length; j++)
            {
                var ch = node.Prefix[j];
                if (i + j < key.Length && ch == key[i + j]) continue;
                var child = new Node
                {
                    Prefix = node.Prefix[(j + 1)..],
                    Values = node.Values,
                    First = node.First,
                    Last = node.Last,
                    Children = node.Children,
                };
                node.Prefix = node.Prefix[..j];
                node.Values = null;
                node.Children = new Node?[ChildMax];
                node.Children[ch] = child;
                node.First = node.Last = ch;
                break;
            }
            i += j;
            if (i == key.Length)
            {
                AddValue(node, value, priority);
                return;
            }
            int c = key[i];
            if (node.Children?[c] is not { } next)
            {
                node.Children ??= new Node?[ChildMax];
                if (c < node.First) node.First = c;
                if (c > node.Last) node.Last = c;
                var leaf = new Node { Prefix = key[(i + 1)..] };
                AddValue(leaf, value, priority);
                node.Children[c] = leaf;
                return;
            }
            node = next;
            i++;
        }
    }

    public byte[] Write()
    {
        var output = new MemoryStream();
        WriteUInt32(output, Magic);
        WriteUInt32(output, Version);
        WriteUInt32(output, 0); // root offset, patched below
        var root = WriteNode(_root, output);
        var end = output.Position;
        output.Position = 8;
        WriteUInt32(output, root);
        output.Position = end;
        return output.ToArray();
    }

    static void WriteUInt32(MemoryStream output, uint value)
    {
        Span<byte> word = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(word, value);
        output.Write(word);
    }

    static uint WriteNode(Node? node, MemoryStream output)
    {
        if (node is null) return 0;
        uint[]? childOffsets = null;
        if (node.HasChildren)
        {
            childOffsets = new uint[node.Last - node.First + 1];
            for (var i = 0; i < childOffsets.Length; i++)
                childOffsets[i] = WriteNode(node.Children![node.First + i], output);
        }

        var offset = (uint)output.Position;
        if (offset > 0x0FFFFFFF) throw new InvalidDataException("Module index: the index is larger than 256 MiB.");
        Span<byte> word = stackalloc byte[4];
        if (node.Prefix.Length > 0)
        {
            output.Write(Encoding.ASCII.GetBytes(node.Prefix));
            output.WriteByte(0);
            offset |= FlagPrefix;
        }
        if (childOffsets is not null)
        {
            output.WriteByte((byte)node.First);
            output.WriteByte((byte)node.Last);
            foreach (var child in childOffsets)
            {
                BinaryPrimitives.WriteUInt32BigEndian(word, child);
                output.Write(word);
            }
            offset |= FlagChildren;
        }
        if (node.Values is { Count: > 0 } values)
        {
            BinaryPrimitives.WriteUInt32BigEndian(word, (uint)values.Count);
            output.Write(word);
            foreach (var (priority, value) in values)
            {
                BinaryPrimitives.WriteUInt32BigEndian(word, priority);
                output.Write(word);
                output.Write(Encoding.ASCII.GetBytes(value));
                output.WriteByte(0);
            }
            offset |= FlagValues;
        }
        return offset;
    }
}

/// <summary>
/// kmod's shared/hash.c as far as iteration order goes: a power-of-two number of buckets chosen by Paul Hsieh's
/// SuperFastHash of the key, each bucket sorted by strcmp, iterated bucket by bucket. Adding an existing key
/// replaces its value. depmod writes <c>modules.symbols</c> in this order.
/// </summary>
sealed class KmodHash<T>
{
    readonly List<(byte[] Key, string Name, T Value)>?[] _buckets;

    public KmodHash(int buckets)
    {
        if (buckets <= 0 || (buckets & (buckets - 1)) != 0) throw new ArgumentOutOfRangeException(nameof(buckets));
        _buckets = new List<(byte[], string, T)>?[buckets];
    }

    public void Add(string name, T value)
    {
        var key = Encoding.UTF8.GetBytes(name);
        var bucket = _buckets[SuperFastHash(key) & (uint)(_buckets.Length - 1)] ??= [];
        var at = 0;
        for (; at < bucket.Count; at++)
        {
            var c = Compare(key, bucket[at].Key);
            if (c == 0)
            {
                bucket[at] = (key, name, value);
                return;
            }
            if (c < 0) break;
        }
        bucket.Insert(at, (key, name, value));
    }

    public bool TryGetValue(string name, out T value)
    {
        var key = Encoding.UTF8.GetBytes(name);
        var bucket = _buckets[SuperFastHash(key) & (uint)(_buckets.Length - 1)];
        if (bucket is not null)
            foreach (var e in bucket)
                if (Compare(key, e.Key) == 0) { value = e.Value; return true; }
        value = default!;
        return false;
    }

    public IEnumerable<(string Name, T Value)> Iterate()
    {
        foreach (var bucket in _buckets)
            if (bucket is not null)
                foreach (var e in bucket) yield return (e.Name, e.Value);
    }

    /// <summary>strcmp: unsigned bytes.</summary>
    static int Compare(byte[] a, byte[] b) => a.AsSpan().SequenceCompareTo(b);

    internal static uint SuperFastHash(ReadOnlySpan<byte> key)
    {
        unchecked
        {
            var len = key.Length;
            uint hash = (uint)len, tmp;
            var rem = len & 3;
            len >>= 2;
            var p = 0;
            for (; len > 0; len--)
            {
                hash += BinaryPrimitives.ReadUInt16LittleEndian(key[p..]);
                tmp = ((uint)BinaryPrimitives.ReadUInt16LittleEndian(key[(p + 2)..]) << 11) ^ hash;
                hash = (hash << 16) ^ tmp;
                p += 4;
                hash += hash >> 11;
            }
            switch (rem)
            {
                case 3:
                    hash += BinaryPrimitives.ReadUInt16LittleEndian(key[p..]);
                    hash ^= hash << 16;
                    hash ^= (uint)((sbyte)key[p + 2] << 18); // char is signed on x86
                    hash += hash >> 11;
                    break;
                case 2:
                    hash += BinaryPrimitives.ReadUInt16LittleEndian(key[p..]);
                    hash ^= hash << 11;
                    hash += hash >> 17;
                    break;
                case 1:
                    hash += (uint)(sbyte)key[p];
                    hash ^= hash << 10;
                    hash += hash >> 1;
                    break;
            }
            hash ^= hash << 3;
            hash += hash >> 5;
            hash ^= hash << 4;
            hash += hash >> 17;
            hash ^= hash << 25;
            hash += hash >> 6;
            return hash;
        }
    }
}
