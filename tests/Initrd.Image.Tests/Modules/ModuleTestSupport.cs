using System.Buffers.Binary;
using System.Text;
using Initrd.Formats.Compression;
using Initrd.Image.Modules;
using Initrd.Testing;

namespace Initrd.Image.Tests.Modules;

/// <summary>
/// Builds minimal but well-formed kernel module ELF files (ELF64 LE relocatable objects with .modinfo, .symtab,
/// .strtab, __versions and __ksymtab_strings) for tests that need modules with chosen metadata.
/// </summary>
static class SyntheticModule
{
    public static byte[] Build(
        IEnumerable<string> modinfo,
        IEnumerable<string>? exported = null,
        IEnumerable<string>? undefined = null,
        IEnumerable<string>? versions = null,
        bool crcSymbols = true)
    {
        exported ??= [];
        undefined ??= [];
        var sections = new List<(string Name, uint Type, byte[] Data, uint Link, ulong EntSize)>();

        var modinfoBytes = new MemoryStream();
        foreach (var s in modinfo)
        {
            modinfoBytes.Write(Encoding.UTF8.GetBytes(s));
            modinfoBytes.WriteByte(0);
        }
        sections.Add((".modinfo", 1, modinfoBytes.ToArray(), 0, 0));

        var ksymtab = new MemoryStream();
        foreach (var s in exported)
        {
            ksymtab.Write(Encoding.ASCII.GetBytes(s));
            ksymtab.WriteByte(0);
        }
        sections.Add(("__ksymtab_strings", 1, ksymtab.ToArray(), 0, 0));

        if (versions is not null)
        {
            var v = new MemoryStream();
            foreach (var name in versions)
            {
                var entry = new byte[64];
                BinaryPrimitives.WriteUInt64LittleEndian(entry, 0x12345678);
                Encoding.ASCII.GetBytes(name).CopyTo(entry, 8);
                v.Write(entry);
            }
            sections.Add(("__versions", 1, v.ToArray(), 0, 0));
        }

        var strtab = new MemoryStream();
        strtab.WriteByte(0);
        var symtab = new MemoryStream();
        symtab.Write(new byte[24]);
        void Symbol(string name, ushort shndx)
        {
            var entry = new byte[24];
            BinaryPrimitives.WriteUInt32LittleEndian(entry, (uint)strtab.Length);
            entry[4] = 0x10; // STB_GLOBAL, STT_NOTYPE
            BinaryPrimitives.WriteUInt16LittleEndian(entry.AsSpan(6), shndx);
            strtab.Write(Encoding.ASCII.GetBytes(name));
            strtab.WriteByte(0);
            symtab.Write(entry);
        }
        if (crcSymbols)
            foreach (var s in exported) Symbol("__crc_" + s, 0xFFF1); // SHN_ABS
        foreach (var s in undefined) Symbol(s, 0);
        var strtabIndex = sections.Count + 2; // [0] null, then sections, .symtab, .strtab
        sections.Add((".symtab", 2, symtab.ToArray(), (uint)strtabIndex, 24));
        sections.Add((".strtab", 3, strtab.ToArray(), 0, 0));

        var shstrtab = new MemoryStream();
        shstrtab.WriteByte(0);
        var nameOffsets = new List<uint>();
        foreach (var s in sections.Select(s => s.Name).Append(".shstrtab"))
        {
            nameOffsets.Add((uint)shstrtab.Length);
            shstrtab.Write(Encoding.ASCII.GetBytes(s));
            shstrtab.WriteByte(0);
        }
        sections.Add((".shstrtab", 3, shstrtab.ToArray(), 0, 0));

        var file = new MemoryStream();
        file.Write(new byte[64]);
        var offsets = new List<long>();
        foreach (var s in sections)
        {
            while (file.Length % 8 != 0) file.WriteByte(0);
            offsets.Add(file.Length);
            file.Write(s.Data);
        }
        while (file.Length % 8 != 0) file.WriteByte(0);
        var shoff = file.Length;
        file.Write(new byte[64]); // section 0
        for (var i = 0; i < sections.Count; i++)
        {
            var h = new byte[64];
            BinaryPrimitives.WriteUInt32LittleEndian(h, nameOffsets[i]);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(4), sections[i].Type);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(24), (ulong)offsets[i]);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(32), (ulong)sections[i].Data.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(40), sections[i].Link);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(48), 1);
            BinaryPrimitives.WriteUInt64LittleEndian(h.AsSpan(56), sections[i].EntSize);
            file.Write(h);
        }
        var bytes = file.ToArray();
        "\x7F"u8.CopyTo(bytes);
        "ELF"u8.CopyTo(bytes.AsSpan(1));
        bytes[4] = 2; // ELFCLASS64
        bytes[5] = 1; // ELFDATA2LSB
        bytes[6] = 1; // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0x10), 1);  // ET_REL
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0x12), 62); // EM_X86_64
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(0x14), 1);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes.AsSpan(0x28), (ulong)shoff);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0x34), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0x3A), 64);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0x3C), (ushort)(sections.Count + 1));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(0x3E), (ushort)sections.Count); // .shstrtab is last
        return bytes;
    }

    public static byte[] Compress(byte[] data, CompressionFormat format)
    {
        var output = new MemoryStream();
        using (var c = CompressionStreams.OpenWrite(output, format, CompressionStreams.DefaultLevel(format), leaveOpen: true))
            c.Write(data);
        return output.ToArray();
    }
}

/// <summary>An image directory with synthetic modules, built-in lists and firmware, for selection tests.</summary>
sealed class FakeKernelTree : IDisposable
{
    public const string Version = "6.1.0-test";
    readonly TempDirectory _dir = new("modules");
    readonly List<string> _order = [];

    public string Root => _dir.Path;

    public string ModulesDirectory => _dir.Combine("usr/lib/modules", Version);

    /// <summary>Adds <c>kernel/&lt;relativePath&gt;</c> (xz-compressed when it ends in .xz).</summary>
    public FakeKernelTree Module(string relativePath, string[] modinfo, string[]? exported = null, string[]? undefined = null, bool inOrder = true)
    {
        var name = ModuleInfo.ModuleNameFromPath(relativePath);
        var elf = SyntheticModule.Build([.. modinfo, $"name={name}"], exported, undefined);
        var data = relativePath.EndsWith(".xz", StringComparison.Ordinal) ? SyntheticModule.Compress(elf, CompressionFormat.Xz) : elf;
        var full = Path.Combine(ModulesDirectory, relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.WriteAllBytes(full, data);
        var ko = relativePath.LastIndexOf(".ko", StringComparison.Ordinal);
        if (inOrder) _order.Add(relativePath[..(ko + 3)]);
        return this;
    }

    public FakeKernelTree Builtin(params string[] paths)
    {
        Directory.CreateDirectory(ModulesDirectory);
        File.WriteAllText(Path.Combine(ModulesDirectory, "modules.builtin"), string.Concat(paths.Select(p => p + "\n")));
        return this;
    }

    public FakeKernelTree BuiltinModinfo(params string[] records)
    {
        Directory.CreateDirectory(ModulesDirectory);
        File.WriteAllText(Path.Combine(ModulesDirectory, "modules.builtin.modinfo"), string.Concat(records.Select(r => r + "\0")));
        return this;
    }

    public FakeKernelTree Firmware(string relativePath, string content = "fw")
    {
        _dir.WriteFile(Path.Combine("usr/lib/firmware", relativePath), content);
        return this;
    }

    public FakeKernelTree FirmwareLink(string relativePath, string target)
    {
        var full = _dir.Combine("usr/lib/firmware", relativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        File.CreateSymbolicLink(full, target);
        return this;
    }

    public KernelModuleTree Build()
    {
        Directory.CreateDirectory(ModulesDirectory);
        File.WriteAllText(Path.Combine(ModulesDirectory, "modules.order"), string.Concat(_order.Select(o => o + "\n")));
        return KernelModuleTree.FromDirectory(Root, Version);
    }

    public void Dispose() => _dir.Dispose();
}

/// <summary>The oracle: the host's kmod depmod run on a module directory holding exactly the given modules.</summary>
static class HostDepmod
{
    public static string Require() => ReferenceTool.Require("depmod", "kmod");

    /// <summary>
    /// Makes <c>root/lib/modules/&lt;kver&gt;</c> (kmod 30 looks there) with symlinks to the modules, copies of
    /// modules.order / .builtin / .builtin.modinfo and, when given, index files; returns the module directory.
    /// </summary>
    public static string MakeModuleDirectory(string root, KernelModuleTree tree, IEnumerable<KernelModuleFile> modules,
        IEnumerable<ModuleIndexFile>? indexFiles = null)
    {
        var dir = Path.Combine(root, "lib/modules", tree.KernelVersion);
        Directory.CreateDirectory(dir);
        foreach (var m in modules)
        {
            var link = Path.Combine(dir, m.RelativePath);
            Directory.CreateDirectory(Path.GetDirectoryName(link)!);
            File.CreateSymbolicLink(link, m.ContentPath);
        }
        foreach (var (source, name) in new[]
                 {
                     (tree.ModulesOrderPath, "modules.order"), (tree.ModulesBuiltinPath, "modules.builtin"),
                     (tree.ModulesBuiltinModinfoPath, "modules.builtin.modinfo"),
                 })
        {
            if (source is not null) File.Copy(source, Path.Combine(dir, name));
        }
        foreach (var f in indexFiles ?? [])
            File.WriteAllBytes(Path.Combine(dir, Path.GetFileName(f.Path)), f.Content);
        return dir;
    }

    /// <summary>Runs <c>depmod -b root kver</c> and returns the index files it wrote, by file name.</summary>
    public static Dictionary<string, byte[]> Run(string root, KernelModuleTree tree, IEnumerable<KernelModuleFile> modules)
    {
        var depmod = Require();
        var dir = MakeModuleDirectory(root, tree, modules);
        var before = Directory.GetFiles(dir).Select(Path.GetFileName).ToHashSet();
        var result = ReferenceTool.Run(depmod, ["-b", root, tree.KernelVersion]);
        Assert.True(result.ExitCode == 0, $"depmod failed: {result}");
        return Directory.GetFiles(dir)
            .Where(f => !before.Contains(Path.GetFileName(f)))
            .ToDictionary(f => Path.GetFileName(f), File.ReadAllBytes);
    }
}
