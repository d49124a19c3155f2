using Initrd.Formats.Tree;
using Initrd.Image.Finalize;

namespace Initrd.Image.Modules;

/// <summary>What the kernel-module step did to an image.</summary>
/// <param name="KernelVersion">The kernel's version (the module directory's name).</param>
/// <param name="KernelImage">Host path of the kernel image the kernel package shipped (boot/vmlinuz-KVER), or null.</param>
/// <param name="Selection">The modules kept, with their closure and firmware.</param>
public sealed record KernelModulesResult(string KernelVersion, string? KernelImage, ModuleSelection Selection);

/// <summary>
/// The finalize hook for kernels: keeps the modules the rules select plus their dependency closure and the
/// firmware they name, removes every other module and firmware file, writes the depmod indices for the kept
/// set, and takes the kernel package's boot/ files out of the image (the kernel image goes beside it, not in it).
/// </summary>
public static class KernelModulesStep
{
    static readonly string[] BootFilePrefixes = ["boot/vmlinuz-", "boot/System.map-", "boot/config-"];

    /// <summary>Applies the rules to the single kernel in <paramref name="tree"/>; returns null when the tree has no kernel.</summary>
    /// <param name="moduleInfoCache">A file caching parsed module info between builds (read if present, rewritten).</param>
    /// <exception cref="FinalizeException">The tree holds several kernel versions.</exception>
    public static KernelModulesResult? Apply(ImageTree tree, IReadOnlyList<string> rules, string architecture, string? moduleInfoCache)
    {
        var versions = KernelModuleTree.FindKernelVersions(tree.Entries);
        if (versions.Count == 0) return null;
        if (versions.Count > 1)
            throw new FinalizeException(FinalizeErrorKind.PathConflict, "usr/lib/modules",
                $"The image holds modules of several kernels ({string.Join(", ", versions)}); request exactly one kernel package.");
        var kver = versions[0];

        var kernelImage = tree.Find($"boot/vmlinuz-{kver}") is { } vmlinuz ? tree.ContentPathOf(vmlinuz) : null;
        var modules = KernelModuleTree.FromEntries(tree.Entries, kver);
        var cache = moduleInfoCache is not null ? ModuleInfoCache.Load(moduleInfoCache) : new ModuleInfoCache();
        var selection = new ModuleSelector(modules, cache).Select(rules, architecture);
        if (moduleInfoCache is not null && cache.IsModified) cache.Save(moduleInfoCache);

        foreach (var path in selection.UnselectedModulePaths(modules)) tree.Remove(path);
        var keptFirmware = selection.Firmware.ToHashSet(StringComparer.Ordinal);
        foreach (var root in new[] { "usr/lib/firmware", "lib/firmware" })
            foreach (var entry in tree.EnumerateSubtree(root).ToList())
                if (entry.Kind != TreeEntryKind.Directory && !keptFirmware.Contains(entry.Path) && !IsMicrocode(entry.Path)) tree.Remove(entry.Path);
        foreach (var index in ModuleIndexWriter.Write(modules, selection))
            tree.AddFile(index.Path, index.Content);
        foreach (var entry in tree.Entries.Where(e => BootFilePrefixes.Any(p => e.Path.StartsWith(p, StringComparison.Ordinal))).ToList())
            tree.Remove(entry.Path);
        return new KernelModulesResult(kver, kernelImage, selection);
    }

    /// <summary>CPU microcode (amd-ucode/, intel-ucode/) is loaded by the kernel, not named by modules: kept, as mkosi does.</summary>
    static bool IsMicrocode(string path) =>
        path.Contains("/firmware/amd-ucode/", StringComparison.Ordinal) || path.Contains("/firmware/intel-ucode/", StringComparison.Ordinal);
}
