using System.Text;
using Initrd.Formats.Compression;
using Initrd.Image.Modules;
using Initrd.Testing;

namespace Initrd.Image.Tests.Modules;

public sealed class ModuleInfoTests
{
    static readonly string[] ComparedKeys = ["depends", "softdep", "firmware", "alias"];

    /// <summary>200 modules spread over the kernel, plus a few with firmware, softdeps and many aliases.</summary>
    static List<KernelModuleFile> Sample(KernelModuleTree tree)
    {
        var all = tree.Modules;
        var step = Math.Max(1, all.Count / 190);
        var sample = all.Where((_, i) => i % step == 0).Take(190).ToList();
        foreach (var name in (string[])["ext4", "jbd2", "virtio_blk", "i915", "amdgpu", "iwlwifi", "btrfs", "nvme", "snd_hda_intel", "e1000e"])
            if (tree.FindModule(name) is { } m && !sample.Contains(m)) sample.Add(m);
        return sample;
    }

    /// <summary>Parses <c>modinfo -0 file…</c>: per file, the key=value items (parm lines skipped).</summary>
    static Dictionary<string, List<KeyValuePair<string, string>>> HostModinfo(string modinfo, IEnumerable<string> files)
    {
        var result = ReferenceTool.Run(modinfo, ["-0", .. files]);
        Assert.True(result.ExitCode == 0, result.ToString());
        var byFile = new Dictionary<string, List<KeyValuePair<string, string>>>(StringComparer.Ordinal);
        List<KeyValuePair<string, string>>? current = null;
        foreach (var item in Encoding.UTF8.GetString(result.StandardOutputBytes).Split('\0'))
        {
            if (item.StartsWith("filename:", StringComparison.Ordinal))
            {
                byFile[item["filename:".Length..].Trim()] = current = [];
                continue;
            }
            if (item.Length == 0 || item.StartsWith("parm:", StringComparison.Ordinal)) continue;
            var eq = item.IndexOf('=');
            Assert.True(eq > 0, $"unexpected modinfo item '{item}'");
            current!.Add(new(item[..eq], item[(eq + 1)..]));
        }
        return byFile;
    }

    [Fact]
    public void Fields_MatchHostModinfo_ForASampleOf200Modules()
    {
        var modinfo = ReferenceTool.Require("modinfo", "kmod");
        var kernel = TrixieKernel.Get();
        var sample = Sample(kernel.Tree);
        Assert.True(sample.Count >= 200, $"only {sample.Count} modules sampled");
        var host = HostModinfo(modinfo, sample.Select(m => m.ContentPath));
        var withFirmware = 0;
        var withSoftdep = 0;
        foreach (var module in sample)
        {
            var info = ModuleInfo.Read(module.ContentPath);
            var expected = host[module.ContentPath];
            foreach (var key in ComparedKeys)
                Assert.Equal(expected.Where(f => f.Key == key).Select(f => f.Value), info.GetAll(key));
            // Every .modinfo field in order (modinfo adds sig_* fields from the signature, which we do not read).
            Assert.Equal(expected.Where(f => !f.Key.StartsWith("sig", StringComparison.Ordinal)), info.Fields.Where(f => f.Key is not ("parm" or "parmtype")));
            Assert.Equal(module.Name, info.Name);
            if (info.Firmware.Count > 0) withFirmware++;
            if (info.Softdeps.Count > 0) withSoftdep++;
        }
        Assert.True(withFirmware > 0 && withSoftdep > 0, $"sample has {withFirmware} modules with firmware, {withSoftdep} with softdeps");
    }

    [Fact]
    public void DependsList_And_Softdep_AreSplit()
    {
        var kernel = TrixieKernel.Get();
        var ext4 = ModuleInfo.Read(kernel.Tree.FindModule("ext4")!.ContentPath);
        Assert.Equal(["jbd2", "crc16", "mbcache"], ext4.Depends);
        var jbd2 = ModuleInfo.Read(kernel.Tree.FindModule("jbd2")!.ContentPath);
        Assert.Equal(["crypto-crc32c"], jbd2.SoftdepPre);
        Assert.Empty(jbd2.SoftdepPost);
        Assert.NotEmpty(ext4.DependencySymbols);
        Assert.Contains("jbd2_journal_start", ModuleInfo.Read(kernel.Tree.FindModule("jbd2")!.ContentPath).ExportedSymbols);
    }

    [Theory]
    [InlineData("pre: a b post: c", new[] { "a", "b" }, new[] { "c" })]
    [InlineData("post: x  pre:\ty", new[] { "y" }, new[] { "x" })]
    [InlineData("ignored pre: a", new[] { "a" }, new string[0])]
    [InlineData("pre:a", new string[0], new string[0])]
    public void ParseSoftdep_FollowsLibkmod(string value, string[] pre, string[] post)
    {
        var (p, q) = ModuleInfo.ParseSoftdep(value);
        Assert.Equal(pre, p);
        Assert.Equal(post, q);
    }

    [Theory]
    [InlineData(CompressionFormat.None, ".ko")]
    [InlineData(CompressionFormat.Xz, ".ko.xz")]
    [InlineData(CompressionFormat.Zstd, ".ko.zst")]
    [InlineData(CompressionFormat.Gzip, ".ko.gz")]
    public void Read_HandlesEveryCompression(CompressionFormat format, string suffix)
    {
        var kernel = TrixieKernel.Get();
        var original = kernel.Tree.FindModule("virtio_blk")!;
        var elf = ModuleInfo.ReadModuleBytes(original.ContentPath);
        using var temp = new TempDirectory("modinfo");
        var path = temp.Combine("virtio_blk" + suffix);
        File.WriteAllBytes(path, format == CompressionFormat.None ? elf : SyntheticModule.Compress(elf, format));
        var expected = ModuleInfo.Read(original.ContentPath);
        var actual = ModuleInfo.Read(path);
        Assert.Equal(expected.Fields, actual.Fields);
        Assert.Equal(expected.ExportedSymbols, actual.ExportedSymbols);
        Assert.Equal(expected.DependencySymbols, actual.DependencySymbols);
        Assert.Equal(path, actual.FileName);
    }

    [Fact]
    public void Synthetic_ModinfoAndSymbols_AreRead()
    {
        var elf = SyntheticModule.Build(
            ["name=foo", "depends=bar,baz", "alias=pci:v*", "alias=fs-foo", "firmware=foo/a.bin", "firmware=foo/b.bin", "flag"],
            exported: ["foo_export", "foo_other"],
            undefined: ["bar_fn", "baz_fn", "printk"],
            versions: ["module_layout", "bar_fn", "printk"]);
        var info = ModuleInfo.Parse(elf, "foo.ko");
        Assert.Equal("foo", info.Name);
        Assert.Equal(["bar", "baz"], info.Depends);
        Assert.Equal(["pci:v*", "fs-foo"], info.Aliases);
        Assert.Equal(["foo/a.bin", "foo/b.bin"], info.Firmware);
        Assert.Equal("", info.GetFirst("flag"));
        Assert.Equal(["foo_export", "foo_other"], info.ExportedSymbols);
        // Undefined symbols in .symtab order, then the __versions entries none of them named.
        Assert.Equal(["bar_fn", "baz_fn", "printk", "module_layout"], info.DependencySymbols);

        // Without __crc_ symbols, exports come from __ksymtab_strings.
        var noCrc = ModuleInfo.Parse(SyntheticModule.Build(["name=x"], exported: ["a", "b"], crcSymbols: false), "x.ko");
        Assert.Equal(["a", "b"], noCrc.ExportedSymbols);
    }

    [Fact]
    public void Errors_NameTheModuleFile()
    {
        using var temp = new TempDirectory("modinfo");
        var notElf = temp.WriteFile("bad.ko", "this is not an ELF file at all, but long enough to have a header......");
        var e = Assert.Throws<InvalidDataException>(() => ModuleInfo.Read(notElf));
        Assert.Contains(notElf, e.Message);

        var elf = SyntheticModule.Build(["name=x"]);
        var truncated = temp.Combine("truncated.ko");
        File.WriteAllBytes(truncated, elf[..(elf.Length - 100)]);
        e = Assert.Throws<InvalidDataException>(() => ModuleInfo.Read(truncated));
        Assert.Contains(truncated, e.Message);

        var corruptXz = temp.Combine("corrupt.ko.xz");
        var xz = SyntheticModule.Compress(elf, CompressionFormat.Xz);
        xz[xz.Length / 2] ^= 0xFF;
        File.WriteAllBytes(corruptXz, xz);
        e = Assert.Throws<InvalidDataException>(() => ModuleInfo.Read(corruptXz));
        Assert.Contains(corruptXz, e.Message);

        var elf32 = (byte[])elf.Clone();
        elf32[4] = 1;
        var path32 = temp.Combine("elf32.ko");
        File.WriteAllBytes(path32, elf32);
        e = Assert.Throws<InvalidDataException>(() => ModuleInfo.Read(path32));
        Assert.Contains(path32, e.Message);
        Assert.Contains("64-bit", e.Message);
    }

    [Fact]
    public void Builtin_Modinfo_IsGroupedByModule()
    {
        var data = "ext4.license=GPL\0ext4.alias=fs-ext4\0crc-t10dif.softdep=pre: crct10dif\0ext4.alias=fs-ext3\0"u8;
        var builtin = ModuleInfo.ReadBuiltin(data, "modules.builtin.modinfo");
        Assert.Equal(["ext4", "crc_t10dif"], builtin.Keys);
        Assert.Equal(["fs-ext4", "fs-ext3"], builtin["ext4"].Aliases);
        Assert.Equal(["crct10dif"], builtin["crc_t10dif"].SoftdepPre);
    }

    [Fact]
    public void ModuleName_FollowsKmod()
    {
        Assert.Equal("hid_generic", ModuleInfo.ModuleNameFromPath("kernel/drivers/hid/hid-generic.ko.xz"));
        Assert.Equal("virtio_blk", ModuleInfo.ModuleNameFromPath("virtio_blk.ko"));
        Assert.Equal("intel_uncore", ModuleInfo.ModuleNameFromPath("kernel/arch/x86/events/intel/intel-uncore.ko"));
    }
}
