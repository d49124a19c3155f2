using System.Diagnostics;
using System.Text;
using Initrd.Image.Modules;
using Initrd.Testing;

namespace Initrd.Image.Tests.Modules;

/// <summary>The native depmod against the host's kmod depmod and modprobe, on Debian trixie's kernel.</summary>
public sealed class ModuleIndexWriterTests
{
    static readonly ModuleIndexOptions Kmod30 = new() { WriteWeakdep = false };

    static void AssertSameAsDepmod(Dictionary<string, byte[]> expected, IReadOnlyList<ModuleIndexFile> actual, string modulesDirectory)
    {
        Assert.Equal(expected.Keys.Order(StringComparer.Ordinal), actual.Select(f => Path.GetFileName(f.Path)).Order(StringComparer.Ordinal));
        foreach (var file in actual)
        {
            Assert.StartsWith(modulesDirectory + "/", file.Path);
            var name = Path.GetFileName(file.Path);
            if (expected[name].AsSpan().SequenceEqual(file.Content)) continue;
            var first = expected[name].AsSpan().CommonPrefixLength(file.Content);
            Assert.Fail($"{name} differs from depmod's at byte {first} (depmod {expected[name].Length} bytes, ours {file.Content.Length})"
                + (name.EndsWith(".bin", StringComparison.Ordinal) ? "" : $"\ndepmod: {Excerpt(expected[name], first)}\nours:   {Excerpt(file.Content, first)}"));
        }
    }

    static string Excerpt(byte[] data, int at)
    {
        var start = Math.Max(0, at - 80);
        return Encoding.UTF8.GetString(data, start, Math.Min(data.Length - start, 200)).Replace("\n", "⏎");
    }

    [Fact]
    public void DefaultSelection_IsByteIdenticalToHostDepmod()
    {
        HostDepmod.Require();
        var kernel = TrixieKernel.Get();
        var selection = kernel.Selector().Select(["default"]);
        using var temp = new TempDirectory("depmod");
        var expected = HostDepmod.Run(temp.Path, kernel.Tree, selection.Modules);

        var actual = ModuleIndexWriter.Write(kernel.Tree, selection, Kmod30);
        AssertSameAsDepmod(expected, actual, kernel.Tree.ModulesDirectory);
    }

    [Fact]
    public void WholeKernel_IsByteIdenticalToHostDepmod()
    {
        HostDepmod.Require();
        var kernel = TrixieKernel.Get();
        var (infos, readWall, readCpu) = kernel.AllInfo();
        var modules = kernel.Tree.Modules.Select(m => (m, infos[m.Name])).ToList();
        var watch = Stopwatch.StartNew();
        var actual = ModuleIndexWriter.Write(kernel.Tree.ModulesDirectory, modules,
            File.ReadAllBytes(kernel.Tree.ModulesOrderPath!), File.ReadAllBytes(kernel.Tree.ModulesBuiltinPath!),
            File.ReadAllBytes(kernel.Tree.ModulesBuiltinModinfoPath!), Kmod30);
        var writeTime = watch.Elapsed;

        using var temp = new TempDirectory("depmod");
        watch.Restart();
        var expected = HostDepmod.Run(temp.Path, kernel.Tree, kernel.Tree.Modules);
        var depmodTime = watch.Elapsed;
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"{modules.Count} modules: read {readWall.TotalSeconds:F2} s wall, {readCpu.TotalSeconds:F2} s CPU on {Environment.ProcessorCount} cores (load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}); indices {writeTime.TotalSeconds:F2} s; host depmod {depmodTime.TotalSeconds:F2} s");
        AssertSameAsDepmod(expected, actual, kernel.Tree.ModulesDirectory);
    }

    [Fact]
    public void SmallSelections_AreByteIdenticalToHostDepmod()
    {
        HostDepmod.Require();
        var kernel = TrixieKernel.Get();
        var selector = kernel.Selector();
        string[][] cases =
        [
            ["virtio_blk"],
            ["ext4", "virtio_blk", "virtio_net"],
            ["/drivers/gpu/drm/virtio/", "/drivers/input/"],
            ["snd-hda-intel", "btrfs", "xfs", "nvme", "usb-storage"],
        ];
        foreach (var rules in cases)
        {
            var selection = selector.Select(rules);
            using var temp = new TempDirectory("depmod");
            var expected = HostDepmod.Run(temp.Path, kernel.Tree, selection.Modules);
            AssertSameAsDepmod(expected, ModuleIndexWriter.Write(kernel.Tree, selection, Kmod30), kernel.Tree.ModulesDirectory);
        }
    }

    [Fact]
    public void WeakdepFile_IsWrittenLikeKmod34()
    {
        var kernel = TrixieKernel.Get();
        var selection = kernel.Selector().Select(["default"]);
        var files = ModuleIndexWriter.Write(kernel.Tree, selection);
        Assert.Equal(ModuleIndexWriter.FileNames(), files.Select(f => Path.GetFileName(f.Path)));
        var weakdep = Encoding.UTF8.GetString(files.Single(f => f.Path.EndsWith("/modules.weakdep", StringComparison.Ordinal)).Content);
        Assert.StartsWith("# Weak dependencies extracted from modules themselves.\n", weakdep);
        var expectedLines = selection.Modules
            .SelectMany(m => selection.Info[m.Name].Weakdeps.Select(v => $"weakdep {m.Name} {v}"))
            .Order(StringComparer.Ordinal);
        Assert.Equal(expectedLines, weakdep.Split('\n', StringSplitOptions.RemoveEmptyEntries).Skip(1).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Modprobe_ResolvesFromTheIndices_AndSeesOnlySelectedModules()
    {
        var modprobe = ReferenceTool.Require("modprobe", "kmod");
        var kernel = TrixieKernel.Get();
        var selection = kernel.Selector().Select(["virtio_blk", "ext4", "virtio_pci", "crypto/"]);
        var files = ModuleIndexWriter.Write(kernel.Tree, selection);
        using var temp = new TempDirectory("modprobe");
        var dir = HostDepmod.MakeModuleDirectory(temp.Path, kernel.Tree, selection.Modules, files);

        var result = ReferenceTool.Run(modprobe, ["-d", temp.Path, "-S", kernel.KernelVersion, "-a", "--show-depends", "virtio_blk", "ext4"]);
        Assert.True(result.ExitCode == 0, result.ToString());
        var selected = selection.Modules.Select(m => Path.Combine(dir, m.RelativePath)).ToHashSet(StringComparer.Ordinal);
        var insmods = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Where(l => l.StartsWith("insmod ", StringComparison.Ordinal))
            .Select(l => l["insmod ".Length..].Trim())
            .ToList();
        Assert.NotEmpty(insmods);
        foreach (var path in insmods) Assert.Contains(path, selected);
        var names = insmods.Select(ModuleInfo.ModuleNameFromPath).ToHashSet();
        Assert.Contains("virtio_blk", names);
        Assert.Contains("ext4", names);
        Assert.Contains("jbd2", names);
        Assert.Contains("mbcache", names);

        // A module that was not selected is unknown to modprobe.
        // Aliases and symbols resolve through modules.alias.bin and modules.symbols.bin.
        foreach (var (query, module) in new[] { ("fs-ext4", "ext4"), ("symbol:jbd2_journal_start", "jbd2"), ("virtio:d00000002v00001AF4", "virtio_blk") })
        {
            var resolved = ReferenceTool.Run(modprobe, ["-d", temp.Path, "-S", kernel.KernelVersion, "--show-depends", query]);
            Assert.True(resolved.ExitCode == 0, resolved.ToString());
            Assert.Contains($"/{module}.ko", resolved.StandardOutput.Replace('-', '_'));
        }

        var missing = ReferenceTool.Run(modprobe, ["-d", temp.Path, "-S", kernel.KernelVersion, "--show-depends", "btrfs"]);
        Assert.NotEqual(0, missing.ExitCode);
    }

    [Fact]
    public void Output_IsDeterministic_WhateverTheInputOrder()
    {
        var kernel = TrixieKernel.Get();
        var selection = kernel.Selector().Select(["default"]);
        var first = ModuleIndexWriter.Write(kernel.Tree, selection);
        var shuffled = selection.Modules.Select(m => (m, selection.Info[m.Name])).ToArray();
        new Random(42).Shuffle(shuffled);
        var second = ModuleIndexWriter.Write(kernel.Tree.ModulesDirectory, shuffled,
            File.ReadAllBytes(kernel.Tree.ModulesOrderPath!), File.ReadAllBytes(kernel.Tree.ModulesBuiltinPath!),
            File.ReadAllBytes(kernel.Tree.ModulesBuiltinModinfoPath!));
        Assert.Equal(first.Count, second.Count);
        for (var i = 0; i < first.Count; i++)
        {
            Assert.Equal(first[i].Path, second[i].Path);
            Assert.True(first[i].Content.AsSpan().SequenceEqual(second[i].Content), first[i].Path);
        }
    }

    [Fact]
    public void DependsField_AgreesWithSymbolDependencies()
    {
        // depmod derives dependencies from symbols; the selector closes over depends=. They must agree.
        var kernel = TrixieKernel.Get();
        var selection = kernel.Selector().Select(["default"]);
        var dep = Encoding.UTF8.GetString(ModuleIndexWriter.Write(kernel.Tree, selection)[0].Content);
        var selectedPaths = selection.Modules.Select(m => m.RelativePath).ToHashSet(StringComparer.Ordinal);
        var lines = dep.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(selection.Modules.Count, lines.Length);
        foreach (var line in lines)
        {
            var colon = line.IndexOf(':');
            var module = line[..colon];
            Assert.Contains(module, selectedPaths);
            var deps = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            foreach (var d in deps) Assert.Contains(d, selectedPaths);
            var info = selection.Info[ModuleInfo.ModuleNameFromPath(module)];
            // Every direct depends= entry appears among the transitive symbol dependencies.
            var depNames = deps.Select(ModuleInfo.ModuleNameFromPath).ToHashSet();
            foreach (var d in info.Depends) Assert.Contains(ModuleInfo.NormalizeName(d), depNames);
        }
    }

    [Fact]
    public void SyntheticEdgeCases_AreByteIdenticalToHostDepmod()
    {
        HostDepmod.Require();
        using var fake = new FakeKernelTree()
            .Module("kernel/drivers/char/foo-dev.ko",
                ["alias=devname:foo", "alias=char-major-10-200", "alias=pci:v0000ABCDd*sv*", "alias=of:N*T*Cfoo-bar[0-9-]*", "alias=bad]alias", "softdep=pre: bar post: blk"],
                exported: ["foo_fn", "shared_sym"], undefined: ["bar_fn", "printk"])
            .Module("kernel/drivers/char/bar.ko.xz", ["alias=char-major-10-201", "weakdep=foo_dev"], exported: ["bar_fn", "shared_sym", "bar_other"], undefined: ["blk_fn"])
            .Module("kernel/drivers/block/blk.ko", ["alias=devname:blk0", "alias=block-major-99-1", "alias=devname:ignored-second"], exported: ["blk_fn"])
            .Module("kernel/drivers/block/nodevnum.ko", ["alias=devname:lonely"])
            .Module("extra/unlisted.ko", ["alias=fs-unlisted"], undefined: ["foo_fn", "blk_fn", "shared_sym", "unknown_sym"], inOrder: false)
            .Builtin("kernel/fs/ext4/ext4.ko", "kernel/lib/crc-t10dif.ko", "kernel/crypto/sha256_generic.ko")
            .BuiltinModinfo("ext4.alias=fs-ext4", "ext4.license=GPL", "crc_t10dif.alias=crc-t10dif", "sha256_generic.alias=crypto-sha256",
                "sha256_generic.alias=crypto-sha256", "broken", "x.alias=", "nodot=alias");
        var tree = fake.Build();
        var selector = new ModuleSelector(tree);
        var infos = selector.ReadAll();
        using var temp = new TempDirectory("depmod");
        var expected = HostDepmod.Run(temp.Path, tree, tree.Modules);
        var actual = ModuleIndexWriter.Write(tree.ModulesDirectory, [.. tree.Modules.Select(m => (m, infos[m.Name]))],
            File.ReadAllBytes(tree.ModulesOrderPath!), File.ReadAllBytes(tree.ModulesBuiltinPath!), File.ReadAllBytes(tree.ModulesBuiltinModinfoPath!), Kmod30);
        AssertSameAsDepmod(expected, actual, tree.ModulesDirectory);

        var dep = Encoding.UTF8.GetString(actual[0].Content);
        Assert.EndsWith("extra/unlisted.ko: kernel/drivers/char/foo-dev.ko kernel/drivers/char/bar.ko.xz kernel/drivers/block/blk.ko\n", dep);
    }

    [Fact]
    public void MissingBuiltinLists_GiveEmptyIndices_LikeDepmod()
    {
        HostDepmod.Require();
        using var fake = new FakeKernelTree().Module("kernel/a.ko", ["alias=a-alias"], exported: ["a_fn"]);
        var tree = fake.Build();
        var infos = new ModuleSelector(tree).ReadAll();
        using var temp = new TempDirectory("depmod");
        var expected = HostDepmod.Run(temp.Path, tree, tree.Modules);
        var actual = ModuleIndexWriter.Write(tree.ModulesDirectory, [.. tree.Modules.Select(m => (m, infos[m.Name]))],
            File.ReadAllBytes(tree.ModulesOrderPath!), null, null, Kmod30);
        AssertSameAsDepmod(expected, actual, tree.ModulesDirectory);
        Assert.Empty(actual.Single(f => f.Path.EndsWith("/modules.builtin.bin", StringComparison.Ordinal)).Content);
    }

    [Fact]
    public void DependencyCycle_Throws_AsDepmodFails()
    {
        using var fake = new FakeKernelTree()
            .Module("kernel/a.ko", [], exported: ["a_fn"], undefined: ["b_fn"])
            .Module("kernel/b.ko", [], exported: ["b_fn"], undefined: ["a_fn"])
            .Module("kernel/c.ko", [], undefined: ["a_fn"]);
        var tree = fake.Build();
        var infos = new ModuleSelector(tree).ReadAll();
        var e = Assert.Throws<InvalidDataException>(() => ModuleIndexWriter.Write(tree.ModulesDirectory,
            [.. tree.Modules.Select(m => (m, infos[m.Name]))], File.ReadAllBytes(tree.ModulesOrderPath!), null, null));
        Assert.Contains("a, b", e.Message);

        if (ReferenceTool.Find("depmod") is { } depmod)
        {
            using var temp = new TempDirectory("depmod");
            HostDepmod.MakeModuleDirectory(temp.Path, tree, tree.Modules);
            Assert.NotEqual(0, ReferenceTool.Run(depmod, ["-b", temp.Path, tree.KernelVersion]).ExitCode);
        }
    }

    [Theory]
    [InlineData("pci:v0000ABCDd*", "pci:v0000ABCDd*")]
    [InlineData("of:N*T*Cfoo-bar[0-9-]*", "of:N*T*Cfoo_bar[0-9-]*")]
    [InlineData("bad]alias", null)]
    [InlineData("open[bracket", null)]
    [InlineData("a-b-c", "a_b_c")]
    public void AliasNormalization_FollowsKmod(string alias, string? expected) =>
        Assert.Equal(expected, ModuleIndexWriter.NormalizeAlias(alias));
}
