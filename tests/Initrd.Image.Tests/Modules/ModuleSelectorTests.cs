using System.Diagnostics;
using Initrd.Image.Modules;
using Initrd.Testing;

namespace Initrd.Image.Tests.Modules;

public sealed class ModuleSelectorTests
{
    static FakeKernelTree RuleTree() => new FakeKernelTree()
        .Module("kernel/drivers/block/virtio_blk.ko.xz", ["depends=virtio_ring"])
        .Module("kernel/drivers/block/loop.ko", [])
        .Module("kernel/drivers/block/nbd.ko", [])
        .Module("kernel/drivers/virtio/virtio_ring.ko", [])
        .Module("kernel/drivers/virtio/virtio-pci.ko", [])
        .Module("kernel/drivers/net/virtio_net.ko", [])
        .Module("kernel/drivers/hid/hid-generic.ko", [])
        .Module("kernel/drivers/md/raid0.ko", [])
        .Module("kernel/drivers/md/raid10.ko", [])
        .Module("kernel/drivers/md/raid456.ko", [])
        .Module("kernel/drivers/md/dm-mod.ko", [])
        .Module("kernel/fs/ext4/ext4.ko", [])
        .Module("kernel/fs/nls/nls_utf8.ko", [])
        .Module("kernel/fs/nls/nls_cp437.ko", [])
        .Module("kernel/crypto/sha256_generic.ko", [])
        .Module("kernel/arch/x86/crypto/sha256-ssse3.ko", [])
        .Module("kernel/drivers/crypto/ccp/ccp-crypto.ko", [])
        .Module("kernel/drivers/crypto/qat/qat_common.ko", [])
        .Module("updates/dkms/zfs.ko", []);

    static string[] Names(IEnumerable<KernelModuleFile> modules) => [.. modules.Select(m => m.Name).Order(StringComparer.Ordinal)];

    [Theory]
    [InlineData(new[] { "virtio_blk" }, new[] { "virtio_blk" })]
    [InlineData(new[] { "virtio-blk" }, new[] { "virtio_blk" })]                      // '-' == '_'
    [InlineData(new[] { "hid_generic" }, new[] { "hid_generic" })]                    // file is hid-generic
    [InlineData(new[] { "virtio_pci" }, new[] { "virtio_pci" })]                      // file is virtio-pci
    [InlineData(new[] { "virtio_*" }, new[] { "virtio_blk", "virtio_net", "virtio_pci", "virtio_ring" })]
    [InlineData(new[] { "raid[0-9]*" }, new[] { "raid0", "raid10", "raid456" })]
    [InlineData(new[] { "raid?" }, new[] { "raid0" })]
    [InlineData(new[] { "raid[!0]*" }, new[] { "raid10", "raid456" })]
    [InlineData(new[] { "drivers/block/" }, new[] { "loop", "nbd", "virtio_blk" })]  // folder below kernel/
    [InlineData(new[] { "block/loop" }, new[] { "loop" })]                           // trailing path components
    [InlineData(new[] { "fs/" }, new[] { "ext4", "nls_cp437", "nls_utf8" })]
    [InlineData(new[] { "/fs/nls/" }, new[] { "nls_cp437", "nls_utf8" })]            // anchored at kernel/
    [InlineData(new[] { "/kernel/fs/ext4/ext4" }, new[] { "ext4" })]                 // anchored at the module directory
    [InlineData(new[] { "/updates/" }, new[] { "zfs" })]
    [InlineData(new[] { "/block/" }, new string[0])]                                 // kernel/block/ does not exist
    [InlineData(new[] { "crypto/" }, new[] { "ccp_crypto", "qat_common", "sha256_generic", "sha256_ssse3" })]
    [InlineData(new[] { "crypto/", "-/drivers/crypto/" }, new[] { "sha256_generic", "sha256_ssse3" })]
    [InlineData(new[] { "crypto/", "-/drivers/crypto/", "ccp_crypto" }, new[] { "ccp_crypto", "sha256_generic", "sha256_ssse3" })]
    [InlineData(new[] { "-loop", "drivers/block/" }, new[] { "loop", "nbd", "virtio_blk" })] // later rules win
    [InlineData(new[] { "drivers/block/", "-loop" }, new[] { "nbd", "virtio_blk" })]
    [InlineData(new[] { "drivers/block/", "-virtio-*" }, new[] { "loop", "nbd" })]
    [InlineData(new[] { "*" }, new[] { "ccp_crypto", "dm_mod", "ext4", "hid_generic", "loop", "nbd", "nls_cp437", "nls_utf8", "qat_common", "raid0", "raid10", "raid456", "sha256_generic", "sha256_ssse3", "virtio_blk", "virtio_net", "virtio_pci", "virtio_ring", "zfs" })]
    [InlineData(new[] { "", "  " }, new string[0])]
    public void Rules_FollowMkosiSemantics(string[] rules, string[] expected)
    {
        using var fake = RuleTree();
        var selector = new ModuleSelector(fake.Build());
        Assert.Equal(expected, Names(selector.Match(rules)));
    }

    [Fact]
    public void DefaultKeyword_ExpandsInPlace()
    {
        Assert.Equal(["loop", .. DefaultModules.Common, "-loop"], ModuleSelector.ExpandRules(["loop", "default", "-loop"]));
        Assert.Equal([.. DefaultModules.Common, .. DefaultModules.Arm64], ModuleSelector.ExpandRules(["default"], "arm64"));

        using var fake = RuleTree();
        var selector = new ModuleSelector(fake.Build());
        // default holds virtio_blk, dm-mod, ext4, raid[0-9]*, /fs/nls/, crypto/ minus /drivers/crypto/ plus ccp_crypto.
        Assert.Equal(
            ["ccp_crypto", "dm_mod", "ext4", "hid_generic", "loop", "nls_cp437", "nls_utf8", "raid0", "raid10", "raid456", "sha256_generic", "sha256_ssse3", "virtio_blk", "virtio_net", "virtio_pci"],
            Names(selector.Match(["default"])));
        Assert.DoesNotContain("loop", Names(selector.Match(["default", "-loop"])));
        Assert.Contains("loop", Names(selector.Match(["-loop", "default"])));
    }

    [Theory]
    [InlineData("host")]
    [InlineData("re:virtio.*")]
    [InlineData("-")]
    public void UnsupportedRules_Throw(string rule)
    {
        using var fake = RuleTree();
        Assert.Throws<ArgumentException>(() => new ModuleSelector(fake.Build()).Select([rule]));
    }

    [Fact]
    public void Closure_FollowsDependsAndSoftdeps_AndReportsProblems()
    {
        using var fake = new FakeKernelTree()
            .Module("kernel/fs/ext4/ext4.ko.xz", ["depends=jbd2,mbcache,crc16", "softdep=pre: crc32c post: ext4-helper absent"])
            .Module("kernel/fs/jbd2/jbd2.ko.xz", ["depends=", "softdep=pre: crypto-crc32c"])
            .Module("kernel/fs/mbcache.ko.xz", ["depends=gone"])
            .Module("kernel/crypto/crc32c_generic.ko", [])
            .Module("kernel/crypto/crc32c.ko", ["depends=crc32c_generic"])
            .Module("kernel/fs/ext4-helper.ko", [])
            .Module("kernel/fs/unrelated.ko", ["depends=ext4"])
            .Builtin("kernel/lib/crc16.ko");
        var selection = new ModuleSelector(fake.Build()).Select(["ext4", "nosuchmodule", "crc16", "nosuch*"]);
        Assert.Equal(["crc32c", "crc32c_generic", "ext4", "ext4_helper", "jbd2", "mbcache"], Names(selection.Modules));
        Assert.Equal(["ext4"], Names(selection.Requested));
        // crc16 is built in: neither missing nor an unmatched rule.
        Assert.Equal(["nosuchmodule", "nosuch*"], selection.UnmatchedRules);
        Assert.Single(selection.MissingDependencies);
        Assert.Contains("mbcache depends on gone", selection.MissingDependencies[0]);
        Assert.Equal(selection.Modules.Select(m => m.Name).Order(), selection.Info.Keys.Order());
        Assert.Equal(selection.Modules.Sum(m => m.Size), selection.ModuleBytes);
        Assert.Equal(
            [$"usr/lib/modules/{FakeKernelTree.Version}/kernel/fs/unrelated.ko"],
            selection.UnselectedModulePaths(new ModuleSelector(fake.Build()).Tree));
    }

    [Fact]
    public void Exclusions_DoNotRemoveDependencies()
    {
        using var fake = new FakeKernelTree()
            .Module("kernel/drivers/block/virtio_blk.ko", ["depends=virtio_ring"])
            .Module("kernel/drivers/virtio/virtio_ring.ko", []);
        var selection = new ModuleSelector(fake.Build()).Select(["virtio_*", "-virtio_ring"]);
        Assert.Equal(["virtio_blk", "virtio_ring"], Names(selection.Modules));
        Assert.Equal(["virtio_blk"], Names(selection.Requested));
    }

    [Fact]
    public void Firmware_IsIncludedWhenPresent_WithSymlinksAndCompressedNames()
    {
        using var fake = new FakeKernelTree()
            .Module("kernel/drivers/net/wifi.ko.xz", ["firmware=vendor/wifi.bin", "firmware=vendor/missing.bin", "firmware=vendor/packed.bin", "firmware=vendor/linked.bin", "firmware=glob/*.ucode"])
            .Module("kernel/drivers/gpu/gpu.ko", ["firmware=gpu/a.bin"])
            .Firmware("vendor/wifi.bin")
            .Firmware("vendor/packed.bin.xz")
            .Firmware("vendor/real/linked-v2.bin")
            .FirmwareLink("vendor/linked.bin", "real/linked-v2.bin")
            .Firmware("glob/one.ucode")
            .Firmware("glob/two.ucode")
            .Firmware("glob/sub/three.ucode")
            .Firmware("gpu/a.bin")
            .BuiltinModinfo("builtin_fw.firmware=builtin/fw.bin", "builtin_fw.license=GPL")
            .Firmware("builtin/fw.bin");
        var selection = new ModuleSelector(fake.Build()).Select(["wifi"]);
        Assert.Equal(
            [
                "usr/lib/firmware/builtin/fw.bin", // named by a built-in module (as mkosi does)
                "usr/lib/firmware/glob/one.ucode",
                "usr/lib/firmware/glob/two.ucode",
                "usr/lib/firmware/vendor/linked.bin",
                "usr/lib/firmware/vendor/packed.bin.xz",
                "usr/lib/firmware/vendor/real/linked-v2.bin",
                "usr/lib/firmware/vendor/wifi.bin",
            ],
            selection.Firmware);

        var none = new ModuleSelector(fake.Build()) { IncludeBuiltinDependencies = false }.Select(["gpu"]);
        Assert.Equal(["usr/lib/firmware/gpu/a.bin"], none.Firmware);
    }

    [Fact]
    public void Selection_IsDeterministic()
    {
        var kernel = TrixieKernel.Get();
        var a = new ModuleSelector(kernel.Tree) { MaxDegreeOfParallelism = 1 }.Select(["default", "virtio_*"]);
        var b = new ModuleSelector(kernel.Tree) { MaxDegreeOfParallelism = 4 }.Select(["default", "virtio_*"]);
        Assert.Equal(a.Modules, b.Modules);
        Assert.Equal(a.Requested, b.Requested);
        Assert.Equal(a.Firmware, b.Firmware);
        Assert.Equal(a.MissingDependencies, b.MissingDependencies);
    }

    [Fact]
    public void DefaultSelection_OnTrixie_IsClosedUnderDepends()
    {
        var kernel = TrixieKernel.Get();
        var selector = kernel.Selector();
        var watch = Stopwatch.StartNew();
        var selection = selector.Select(["default"]);
        var elapsed = watch.Elapsed;
        var names = selection.Modules.Select(m => m.Name).ToHashSet();
        foreach (var module in selection.Modules)
        {
            var info = selection.Info[module.Name];
            foreach (var dep in info.Depends)
                Assert.True(names.Contains(ModuleInfo.NormalizeName(dep)) || kernel.Tree.BuiltinModules.Contains(ModuleInfo.NormalizeName(dep)),
                    $"{module.Name} depends on {dep}, which is not selected");
            foreach (var soft in info.SoftdepPre.Concat(info.SoftdepPost))
                if (kernel.Tree.FindModule(soft) is { } present) Assert.Contains(present.Name, names);
        }
        foreach (var name in (string[])["virtio_blk", "virtio_net", "virtio_scsi", "ext4", "jbd2", "mbcache", "btrfs", "xfs", "nvme", "ahci", "dm_crypt", "nls_utf8", "crc32c_generic", "crc32c_intel", "usb_storage", "hid_generic", "overlay", "erofs"])
            Assert.Contains(name, names);
        Assert.DoesNotContain("amdgpu", names);
        Assert.Empty(selection.MissingDependencies);
        Assert.Empty(selection.UnmatchedRules);
        Assert.Empty(selection.Firmware); // the kernel package ships no firmware
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"default selection: {selection.Requested.Count} requested, {selection.Modules.Count} with dependencies, {selection.ModuleBytes} bytes compressed; {elapsed.TotalSeconds:F2} s");
    }

    [Fact]
    public void Cache_SecondRun_ReadsNoModule()
    {
        var kernel = TrixieKernel.Get();
        using var temp = new TempDirectory("modcache");
        var cachePath = temp.Combine(ModuleInfoCache.DefaultFileName);

        var first = new ModuleSelector(kernel.Tree, ModuleInfoCache.Load(cachePath));
        var watch = Stopwatch.StartNew();
        var selection = first.Select(["default"]);
        var cold = watch.Elapsed;
        Assert.True(first.Cache.IsModified);
        Assert.Equal(selection.Modules.Count, first.Cache.Count);
        first.Cache.Save(cachePath);
        Assert.False(first.Cache.IsModified);
        Assert.Empty(Directory.GetFiles(temp.Path, "*.tmp"));

        watch.Restart();
        var loaded = ModuleInfoCache.Load(cachePath);
        var load = watch.Elapsed;
        Assert.Equal(first.Cache.Count, loaded.Count);
        var second = new ModuleSelector(kernel.Tree, loaded);
        watch.Restart();
        var again = second.Select(["default"]);
        var warm = watch.Elapsed;
        Assert.False(loaded.IsModified); // nothing was read from a module file
        Assert.Equal(selection.Modules, again.Modules);
        foreach (var module in selection.Modules)
        {
            var fresh = selection.Info[module.Name];
            var cached = again.Info[module.Name];
            Assert.Equal(fresh.Fields, cached.Fields);
            Assert.Equal(fresh.ExportedSymbols, cached.ExportedSymbols);
            Assert.Equal(fresh.DependencySymbols, cached.DependencySymbols);
            Assert.Equal(module.ContentPath, cached.FileName);
        }
        // The same cache gives the same indices.
        var a = ModuleIndexWriter.Write(kernel.Tree, selection);
        var b = ModuleIndexWriter.Write(kernel.Tree, again);
        Assert.Equal(a.Select(f => Convert.ToHexString(f.Content)), b.Select(f => Convert.ToHexString(f.Content)));

        // Saving again writes the same bytes.
        var bytes = File.ReadAllBytes(cachePath);
        loaded.Save(cachePath);
        Assert.Equal(bytes, File.ReadAllBytes(cachePath));
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"default selection: cold {cold.TotalSeconds:F2} s, cache {bytes.Length / 1024} KiB loaded in {load.TotalMilliseconds:F0} ms, warm {warm.TotalMilliseconds:F0} ms");
    }

    [Fact]
    public void Cache_DamagedOrForeignFile_LoadsEmpty()
    {
        using var fake = new FakeKernelTree().Module("kernel/a.ko", ["depends="]);
        var tree = fake.Build();
        using var temp = new TempDirectory("modcache");
        var path = temp.Combine("cache");
        Assert.Equal(0, ModuleInfoCache.Load(path).Count); // missing

        var cache = new ModuleInfoCache();
        cache.GetOrRead(tree.Modules[0], tree.KernelVersion);
        cache.Save(path);
        Assert.Equal(1, ModuleInfoCache.Load(path).Count);

        var text = File.ReadAllText(path);
        File.WriteAllText(path, text[..(text.Length - 4)]); // truncated: no end marker
        Assert.Equal(0, ModuleInfoCache.Load(path).Count);
        File.WriteAllText(path, "something else\n");
        Assert.Equal(0, ModuleInfoCache.Load(path).Count);

        // A different size (new content) is a different entry.
        var other = tree.Modules[0] with { Size = tree.Modules[0].Size + 1 };
        Assert.False(cache.Contains(other, tree.KernelVersion));
        Assert.True(cache.Contains(tree.Modules[0], tree.KernelVersion));
        Assert.False(cache.Contains(tree.Modules[0], "6.1.0-other"));
    }

    [Fact]
    public void Tree_FromEntries_MatchesFromDirectory()
    {
        using var fake = RuleTree();
        var fromDirectory = fake.Build();
        var entries = new List<Initrd.Formats.Tree.TreeEntry>();
        foreach (var file in Directory.EnumerateFiles(fake.Root, "*", SearchOption.AllDirectories))
        {
            var rel = Path.GetRelativePath(fake.Root, file).Replace('\\', '/');
            entries.Add(new Initrd.Formats.Tree.TreeEntry
            {
                Path = rel, Kind = Initrd.Formats.Tree.TreeEntryKind.RegularFile, Permissions = 0x1A4,
                Size = new FileInfo(file).Length, ContentPath = file,
            });
        }
        var fromEntries = KernelModuleTree.FromEntries(entries, FakeKernelTree.Version);
        Assert.Equal(fromDirectory.Modules, fromEntries.Modules);
        Assert.Equal([FakeKernelTree.Version], KernelModuleTree.FindKernelVersions(entries));
        Assert.Throws<DirectoryNotFoundException>(() => KernelModuleTree.FromEntries(entries, "6.1.0-absent"));
    }

    [Fact]
    public void Tree_PrefersUpdates_ForDuplicateNames_AndSkipsBuildAndSource()
    {
        using var fake = new FakeKernelTree()
            .Module("kernel/drivers/x/dup-mod.ko", [])
            .Module("updates/dup_mod.ko.xz", [])
            .Module("kernel/drivers/a/twice.ko", [])
            .Module("kernel/drivers/b/twice.ko", [])
            .Module("build/ignored.ko", [])
            .Module("kernel/source/ignored2.ko", []);
        var tree = fake.Build();
        Assert.Equal(["kernel/drivers/a/twice.ko", "updates/dup_mod.ko.xz"], tree.Modules.Select(m => m.RelativePath));
        Assert.Equal(["kernel/drivers/b/twice.ko", "kernel/drivers/x/dup-mod.ko"], tree.ShadowedModules.Select(m => m.RelativePath).Order(StringComparer.Ordinal));
        Assert.Equal("updates/dup_mod.ko.xz", tree.FindModule("dup-mod")!.RelativePath);
        var selection = new ModuleSelector(tree).Select(["dup_mod"]);
        Assert.Equal(
            [.. new[] { "kernel/drivers/a/twice.ko", "kernel/drivers/b/twice.ko", "kernel/drivers/x/dup-mod.ko" }.Select(p => $"usr/lib/modules/{FakeKernelTree.Version}/{p}")],
            selection.UnselectedModulePaths(tree));
    }
}
