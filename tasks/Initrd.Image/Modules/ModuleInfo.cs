using System.Buffers.Binary;
using System.Text;
using Initrd.Formats.Compression;

namespace Initrd.Image.Modules;

/// <summary>
/// What a kernel module file says about itself: its <c>.modinfo</c> strings (<c>key=value</c>, in file order) and
/// the symbols depmod needs (exported symbols and the undefined symbols it links against). Read from a
/// <c>.ko</c>, <c>.ko.xz</c>, <c>.ko.zst</c> or <c>.ko.gz</c> file (the compression is recognised by its magic
/// bytes) holding a 64-bit little-endian ELF relocatable object, following kmod's libkmod-elf rules so that the
/// values equal what <c>modinfo</c> and <c>depmod</c> see.
/// </summary>
public sealed class ModuleInfo
{
    static readonly IReadOnlyList<string> NoStrings = [];

    // Derived lists, computed on first use (idempotent, so unsynchronised).
    IReadOnlyList<string>? _depends, _softdepPre, _softdepPost;

    public ModuleInfo(
        string fileName,
        IReadOnlyList<KeyValuePair<string, string>> fields,
        IReadOnlyList<string>? exportedSymbols = null,
        IReadOnlyList<string>? dependencySymbols = null)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        ArgumentNullException.ThrowIfNull(fields);
        FileName = fileName;
        Fields = fields;
        ExportedSymbols = exportedSymbols ?? NoStrings;
        DependencySymbols = dependencySymbols ?? NoStrings;
    }

    /// <summary>The file this was read from (for messages; for a built-in module, <c>modules.builtin.modinfo</c>).</summary>
    public string FileName { get; }

    /// <summary>Every <c>.modinfo</c> string split at its first '=' (a string without '=' has an empty value), in file order.</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Fields { get; }

    /// <summary>Symbols the module exports (<c>__crc_*</c> symbols of .symtab, else <c>__ksymtab_strings</c>), in file order.</summary>
    public IReadOnlyList<string> ExportedSymbols { get; }

    /// <summary>
    /// Undefined symbols in .symtab order, then the <c>__versions</c> entries no undefined symbol named (such as
    /// <c>module_layout</c>): libkmod's "dependency symbols", from which depmod computes <c>modules.dep</c>.
    /// </summary>
    public IReadOnlyList<string> DependencySymbols { get; }

    /// <summary>The <c>name=</c> field (the kernel's module name, with underscores), or null when absent.</summary>
    public string? Name => GetFirst("name");

    /// <summary>The <c>depends=</c> list (module names the kernel build linked this module against), empty entries dropped.</summary>
    public IReadOnlyList<string> Depends =>
        _depends ??= [.. GetAll("depends").SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))];

    /// <summary>The raw <c>softdep=</c> values ("pre: a b post: c").</summary>
    public IReadOnlyList<string> Softdeps => GetAll("softdep");

    /// <summary>Soft dependencies loaded before this module (the words after <c>pre:</c> in every softdep value).</summary>
    public IReadOnlyList<string> SoftdepPre => _softdepPre ??= [.. Softdeps.SelectMany(v => ParseSoftdep(v).Pre)];

    /// <summary>Soft dependencies loaded after this module (the words after <c>post:</c>).</summary>
    public IReadOnlyList<string> SoftdepPost => _softdepPost ??= [.. Softdeps.SelectMany(v => ParseSoftdep(v).Post)];

    /// <summary>The raw <c>weakdep=</c> values (kernel 6.11+, kmod 33+).</summary>
    public IReadOnlyList<string> Weakdeps => GetAll("weakdep");

    /// <summary>The <c>firmware=</c> values: files under /usr/lib/firmware the driver may request.</summary>
    public IReadOnlyList<string> Firmware => GetAll("firmware");

    /// <summary>The <c>alias=</c> values (device ids, <c>devname:</c>, <c>char-major-*</c>, <c>fs-*</c>, ...).</summary>
    public IReadOnlyList<string> Aliases => GetAll("alias");

    public string? GetFirst(string key)
    {
        foreach (var (k, v) in Fields)
            if (k == key) return v;
        return null;
    }

    public IReadOnlyList<string> GetAll(string key)
    {
        List<string>? result = null;
        foreach (var (k, v) in Fields)
            if (k == key) (result ??= []).Add(v);
        return result ?? NoStrings;
    }

    /// <summary>
    /// Splits a softdep value the way libkmod does: whitespace-separated words, <c>pre:</c> and <c>post:</c> switch
    /// the list the following words go to, words before either are ignored.
    /// </summary>
    public static (IReadOnlyList<string> Pre, IReadOnlyList<string> Post) ParseSoftdep(string value)
    {
        var pre = new List<string>();
        var post = new List<string>();
        List<string>? current = null;
        foreach (var word in value.Split([' ', '\t', '\n', '\r', '\v', '\f'], StringSplitOptions.RemoveEmptyEntries))
        {
            if (word == "pre:") current = pre;
            else if (word == "post:") current = post;
            else current?.Add(word);
        }
        return (pre, post);
    }

    /// <summary>
    /// The kmod module name of a module file: its base name up to the first '.', with '-' replaced by '_'
    /// (<c>kernel/drivers/hid/hid-generic.ko.xz</c> → <c>hid_generic</c>).
    /// </summary>
    public static string ModuleNameFromPath(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var slash = path.LastIndexOf('/');
        var name = path.AsSpan(slash + 1);
        var dot = name.IndexOf('.');
        if (dot >= 0) name = name[..dot];
        return NormalizeName(name.ToString());
    }

    /// <summary>A module name as the kernel spells it: '-' replaced by '_'.</summary>
    public static string NormalizeName(string name) => name.Replace('-', '_');

    /// <summary>Reads a module file (compressed or not). Malformed files throw <see cref="InvalidDataException"/> naming the file.</summary>
    public static ModuleInfo Read(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        var buffer = DecompressedBuffer;
        try
        {
            var length = ReadModuleBytes(path, ref buffer);
            return Parse(buffer.AsSpan(0, length), path);
        }
        finally
        {
            // Keep one buffer per thread: reading thousands of modules then needs no new large arrays.
            if (buffer.Length <= MaxRetainedBuffer) DecompressedBuffer = buffer;
        }
    }

    /// <summary>The decompressed content of a module file (its ELF image).</summary>
    public static byte[] ReadModuleBytes(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        byte[] buffer = [];
        var length = ReadModuleBytes(path, ref buffer);
        return buffer.AsSpan(0, length).ToArray();
    }

    // Most modules are below 8 MiB decompressed; a larger buffer is not kept, so threads do not hoard memory.
    const int MaxRetainedBuffer = 8 << 20;

    [ThreadStatic] static byte[]? t_buffer;

    static byte[] DecompressedBuffer
    {
        get => t_buffer ?? [];
        set => t_buffer = value;
    }

    /// <summary>Decompresses <paramref name="path"/> into <paramref name="buffer"/> (grown as needed); returns the length.</summary>
    static int ReadModuleBytes(string path, ref byte[] buffer)
    {
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
            var fileLength = file.Length;
            Span<byte> magic = stackalloc byte[CompressionStreams.MagicLength];
            var got = file.ReadAtLeast(magic, magic.Length, throwOnEndOfStream: false);
            var format = CompressionStreams.Detect(magic[..got]);
            file.Position = 0;
            if (format == CompressionFormat.None)
            {
                if (fileLength > int.MaxValue) throw new InvalidDataException($"{path}: the module file is too large ({fileLength} bytes).");
                if (buffer.Length < fileLength) buffer = new byte[fileLength];
                file.ReadExactly(buffer, 0, (int)fileLength);
                return (int)fileLength;
            }

            // Modules compress 3-5 times; start there and grow.
            if (buffer.Length < 64 * 1024) buffer = new byte[Math.Max(64 * 1024, Math.Min(fileLength * 5, 256L << 20))];
            using var decoder = CompressionStreams.OpenRead(file, format, leaveOpen: true);
            var length = 0;
            while (true)
            {
                if (length == buffer.Length)
                {
                    if (buffer.Length >= 1 << 30) throw new InvalidDataException($"{path}: the decompressed module is larger than 1 GiB.");
                    Array.Resize(ref buffer, buffer.Length * 2);
                }
                var n = decoder.Read(buffer, length, buffer.Length - length);
                if (n == 0) break;
                length += n;
            }
            return length;
        }
        catch (InvalidDataException e) when (!e.Message.StartsWith(path, StringComparison.Ordinal))
        {
            throw new InvalidDataException($"{path}: {e.Message}", e);
        }
    }

    // ELF64 layout (System V ABI): header fields, section header and symbol entry offsets.
    const int EhdrSize = 64;
    const int ShdrSize = 64;
    const int SymSize = 24;
    const int ModversionSize = 64; // struct modversion_info { unsigned long crc; char name[56]; }
    const int ModversionCrcSize = 8;

    /// <summary>Parses a decompressed module image. <paramref name="fileName"/> names it in messages.</summary>
    public static ModuleInfo Parse(ReadOnlySpan<byte> elf, string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        var image = new ElfImage(elf, fileName);
        var modinfo = image.FindSection(".modinfo")
            ?? throw new InvalidDataException($"{fileName}: the ELF file has no .modinfo section; it is not a kernel module.");
        var fields = SplitModinfo(elf.Slice((int)modinfo.Offset, (int)modinfo.Size));
        return new ModuleInfo(fileName, fields, ReadExportedSymbols(image, elf), ReadDependencySymbols(image, elf));
    }

    /// <summary>
    /// Splits NUL-separated <c>key=value</c> strings as libkmod's kmod_elf_get_strings does: leading NUL padding is
    /// skipped, runs of NULs separate strings, a last string without a terminating NUL still counts.
    /// </summary>
    internal static List<KeyValuePair<string, string>> SplitModinfo(ReadOnlySpan<byte> data)
    {
        var fields = new List<KeyValuePair<string, string>>();
        var i = 0;
        while (i < data.Length)
        {
            if (data[i] == 0) { i++; continue; }
            var end = data[i..].IndexOf((byte)0);
            var s = end < 0 ? data[i..] : data.Slice(i, end);
            i += s.Length;
            var eq = s.IndexOf((byte)'=');
            fields.Add(eq < 0
                ? new(Decode(s), "")
                : new(Decode(s[..eq]), Decode(s[(eq + 1)..])));
        }
        return fields;
    }

    static string Decode(ReadOnlySpan<byte> s) => Encoding.UTF8.GetString(s);

    /// <summary>
    /// Reads <c>modules.builtin.modinfo</c> (<c>module.key=value</c> strings, NUL-separated): the modinfo of the
    /// modules built into the kernel image, by module name. Strings without a '.' before their '=' are skipped.
    /// </summary>
    public static IReadOnlyDictionary<string, ModuleInfo> ReadBuiltin(ReadOnlySpan<byte> data, string fileName)
    {
        ArgumentNullException.ThrowIfNull(fileName);
        var byModule = new Dictionary<string, List<KeyValuePair<string, string>>>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (key, value) in SplitModinfo(data))
        {
            var dot = key.IndexOf('.');
            if (dot <= 0) continue;
            var module = NormalizeName(key[..dot]);
            if (!byModule.TryGetValue(module, out var fields))
            {
                byModule.Add(module, fields = []);
                order.Add(module);
            }
            fields.Add(new(key[(dot + 1)..], value));
        }
        var result = new Dictionary<string, ModuleInfo>(StringComparer.Ordinal);
        foreach (var module in order) result.Add(module, new ModuleInfo(fileName, byModule[module]));
        return result;
    }

    /// <summary>libkmod's kmod_elf_get_symbols: <c>__crc_</c> symbols of .symtab, falling back to <c>__ksymtab_strings</c>.</summary>
    static List<string> ReadExportedSymbols(in ElfImage image, ReadOnlySpan<byte> elf)
    {
        var strtab = image.FindSection(".strtab");
        var symtab = image.FindSection(".symtab");
        if (strtab is { } str && symtab is { } sym && sym.Size % SymSize == 0)
        {
            var strings = elf.Slice((int)str.Offset, (int)str.Size);
            var symbols = elf.Slice((int)sym.Offset, (int)sym.Size);
            var result = new List<string>();
            var valid = true;
            for (var off = SymSize; off + SymSize <= symbols.Length; off += SymSize)
            {
                var nameOffset = BinaryPrimitives.ReadUInt32LittleEndian(symbols[off..]);
                if (nameOffset >= strings.Length) { valid = false; break; }
                var name = CString(strings[(int)nameOffset..]);
                if (name.StartsWith("__crc_"u8)) result.Add(Decode(name["__crc_".Length..]));
            }
            if (valid && result.Count > 0) return result;
        }

        var ksymtab = image.FindSection("__ksymtab_strings");
        var exported = new List<string>();
        if (ksymtab is not { } k) return exported;
        var data = elf.Slice((int)k.Offset, (int)k.Size);
        foreach (var part in data.Split((byte)0))
            if (part.End.Value > part.Start.Value) exported.Add(Decode(data[part]));
        return exported;
    }

    /// <summary>libkmod's kmod_elf_get_dependency_symbols (64-bit, no SPARC register symbols).</summary>
    static List<string> ReadDependencySymbols(in ElfImage image, ReadOnlySpan<byte> elf)
    {
        var result = new List<string>();
        var strtab = image.FindSection(".strtab");
        var symtab = image.FindSection(".symtab");
        if (strtab is not { } str || symtab is not { } sym || sym.Size % SymSize != 0) return result;
        var strings = elf.Slice((int)str.Offset, (int)str.Size);
        var symbols = elf.Slice((int)sym.Offset, (int)sym.Size);

        ReadOnlySpan<byte> versions = default;
        if (image.FindSection("__versions") is { } v && v.Size % ModversionSize == 0)
            versions = elf.Slice((int)v.Offset, (int)v.Size);
        var versionCount = versions.Length / ModversionSize;
        // Name → first index, as kmod_elf_crc_find scans from the start.
        var versionIndex = new Dictionary<string, int>(versionCount, StringComparer.Ordinal);
        for (var i = 0; i < versionCount; i++)
            versionIndex.TryAdd(Decode(CString(versions.Slice(i * ModversionSize + ModversionCrcSize, ModversionSize - ModversionCrcSize))), i);
        var visited = new bool[versionCount];

        for (var off = SymSize; off + SymSize <= symbols.Length; off += SymSize)
        {
            var shndx = BinaryPrimitives.ReadUInt16LittleEndian(symbols[(off + 6)..]);
            if (shndx != 0) continue; // SHN_UNDEF only
            var nameOffset = BinaryPrimitives.ReadUInt32LittleEndian(symbols[off..]);
            if (nameOffset >= strings.Length) return []; // libkmod: -EINVAL, the module gets no dependencies
            var name = CString(strings[(int)nameOffset..]);
            if (name.IsEmpty) continue;
            var text = Decode(name);
            if (versionIndex.TryGetValue(text, out var index)) visited[index] = true;
            result.Add(text);
        }
        for (var i = 0; i < versionCount; i++)
            if (!visited[i])
                result.Add(Decode(CString(versions.Slice(i * ModversionSize + ModversionCrcSize, ModversionSize - ModversionCrcSize))));
        return result;
    }

    static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> s)
    {
        var end = s.IndexOf((byte)0);
        return end < 0 ? s : s[..end];
    }

    readonly record struct Section(ulong Offset, ulong Size);

    /// <summary>Section-header access with libkmod's bounds rules (a section whose data lies outside the file is skipped).</summary>
    readonly ref struct ElfImage
    {
        readonly ReadOnlySpan<byte> _elf;
        readonly ulong _shoff;
        readonly int _shnum;
        readonly ReadOnlySpan<byte> _names;

        public ElfImage(ReadOnlySpan<byte> elf, string fileName)
        {
            _elf = elf;
            if (elf.Length <= EhdrSize || !elf.StartsWith("\x7F"u8 + "ELF"u8))
                throw new InvalidDataException($"{fileName}: not an ELF file (kernel module expected).");
            if (elf[4] != 2 || elf[5] != 1)
                throw new InvalidDataException($"{fileName}: not a 64-bit little-endian ELF file (class {elf[4]}, data {elf[5]}); only such kernel modules are supported.");
            _shoff = BinaryPrimitives.ReadUInt64LittleEndian(elf[0x28..]);
            var shentsize = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3A..]);
            _shnum = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3C..]);
            var shstrndx = BinaryPrimitives.ReadUInt16LittleEndian(elf[0x3E..]);
            if (shentsize != ShdrSize)
                throw new InvalidDataException($"{fileName}: unexpected ELF section header size {shentsize} (expected {ShdrSize}).");
            if (_shoff > (ulong)elf.Length || (ulong)_shnum * ShdrSize > (ulong)elf.Length - _shoff)
                throw new InvalidDataException($"{fileName}: the ELF file is too short to hold its {_shnum} section headers (truncated?).");
            if (shstrndx == 0 || shstrndx >= _shnum || GetSection(shstrndx, out _) is not { } names)
                throw new InvalidDataException($"{fileName}: the ELF section name table (index {shstrndx}) is missing or out of bounds.");
            _names = elf.Slice((int)names.Offset, (int)names.Size);
            if (_names.IsEmpty || _names[^1] != 0)
                throw new InvalidDataException($"{fileName}: the ELF section name table does not end with NUL.");
        }

        Section? GetSection(int index, out uint nameOffset)
        {
            var header = _elf.Slice((int)(_shoff + (ulong)index * ShdrSize), ShdrSize);
            nameOffset = BinaryPrimitives.ReadUInt32LittleEndian(header);
            var offset = BinaryPrimitives.ReadUInt64LittleEndian(header[24..]);
            var size = BinaryPrimitives.ReadUInt64LittleEndian(header[32..]);
            if (offset > (ulong)_elf.Length || size > (ulong)_elf.Length - offset) return null;
            return new Section(offset, size);
        }

        /// <summary>The first section (from index 1) with this name whose data lies inside the file.</summary>
        public Section? FindSection(string name)
        {
            Span<byte> wanted = stackalloc byte[Encoding.ASCII.GetByteCount(name)];
            Encoding.ASCII.GetBytes(name, wanted);
            for (var i = 1; i < _shnum; i++)
            {
                if (GetSection(i, out var nameOffset) is not { } section) continue;
                if (nameOffset >= _names.Length) continue;
                if (CString(_names[(int)nameOffset..]).SequenceEqual(wanted)) return section;
            }
            return null;
        }
    }
}
