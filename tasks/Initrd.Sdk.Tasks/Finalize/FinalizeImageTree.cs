using System.Diagnostics;
using System.Globalization;
using Initrd.Formats.Common;
using Initrd.Formats.Tree;
using Initrd.Image.Finalize;
using Initrd.Image.Modules;
using Initrd.Sdk.Tasks.Common;
using Microsoft.Build.Framework;

namespace Initrd.Sdk.Tasks;

/// <summary>
/// Turns the shared install tree into this image's tree — users, initrd-release, /init, kernel modules,
/// removals, extra files — without modifying the install tree: the result is a manifest plus the small
/// files finalize wrote into the overlay folder. The kernel image is copied beside the image output.
/// </summary>
public sealed class FinalizeImageTree : InitrdTask
{
    /// <summary>The install stage's stamp: one line naming the install tree folder.</summary>
    [Required] public string InstallStamp { get; set; } = "";

    [Required] public string ImageFormat { get; set; } = "";

    public string Architecture { get; set; } = "amd64";

    /// <summary>ImageFile items: ImagePath (default: RecursiveDir + file name), Mode (octal), Owner, Group.</summary>
    public ITaskItem[] Files { get; set; } = [];

    /// <summary>The ImageRemove property: globs over image paths.</summary>
    public string[] Removes { get; set; } = [];

    /// <summary>The KernelModules property: names, globs, folders, -exclusions, "default". Empty: "default".</summary>
    public string[] KernelModules { get; set; } = [];

    public bool RemovePackageMetadata { get; set; } = true;

    /// <summary>The ImageApplyPresets property: apply systemd presets (systemctl preset-all) to an initrd or directory tree.</summary>
    public bool ApplyPresets { get; set; } = true;

    /// <summary>Seconds since the epoch for everything finalize creates; empty: the newest mtime of the packages.</summary>
    public string? SourceDateEpoch { get; set; }

    [Required] public string OverlayDirectory { get; set; } = "";

    [Required] public string OutputManifest { get; set; } = "";

    /// <summary>Where the kernel image is copied, as &lt;KernelFileName&gt;.</summary>
    [Required] public string KernelOutputDirectory { get; set; } = "";

    [Required] public string KernelFileName { get; set; } = "";

    /// <summary>The kernel image written beside the image, when the image holds a kernel.</summary>
    [Output] public string? KernelImage { get; set; }

    protected override void ExecuteCore()
    {
        var watch = Stopwatch.StartNew();
        var kind = FinalizePipeline.KindForFormat(ImageFormat)
                   ?? throw new BuildErrorException(Strings.FormatHasNoTree, ImageFormat);
        var installTree = File.ReadAllText(FullPath(InstallStamp)).Trim();
        if (!Directory.Exists(installTree))
            throw new BuildErrorException(Strings.InstallTreeMissing, installTree) { File = FullPath(InstallStamp) };

        var overlay = FullPath(OverlayDirectory);
        if (Directory.Exists(overlay)) Directory.Delete(overlay, recursive: true);
        Directory.CreateDirectory(overlay);

        var entries = TreeManifest.Read(Path.Combine(installTree, "manifest"));
        long timestamp = ParseSourceDateEpoch(SourceDateEpoch) ?? (entries.Count == 0 ? 0 : entries.Max(e => e.ModificationTime));
        var tree = new ImageTree(entries, overlay, timestamp);

        var rules = KernelModules.Length == 0 ? ["default"] : KernelModules.Select(m => m.Trim()).Where(m => m.Length > 0).ToList();
        KernelModulesResult? kernel = null;
        FinalizeResult result;
        try
        {
            result = FinalizePipeline.Run(tree, new FinalizeOptions
            {
                Kind = kind,
                Architecture = Architecture,
                Files = Files.Select(ToSpec).ToList(),
                Removes = Removes.Select(r => r.Trim()).Where(r => r.Length > 0).ToList(),
                RemovePackageMetadata = RemovePackageMetadata,
                ApplyPresets = ApplyPresets,
                KernelModules = t => kernel = KernelModulesStep.Apply(t, rules, Architecture, Path.Combine(installTree, "..", Path.GetFileName(installTree) + ".modinfo")),
            });
        }
        catch (FinalizeException e)
        {
            throw new BuildErrorException(e, FileFor(e.Location), Strings.FinalizeFailed, e.Message) { File = FileFor(e.Location) };
        }
        catch (InvalidDataException e)
        {
            throw new BuildErrorException(e, null, Strings.FinalizeFailed, e.Message);
        }
        foreach (var w in result.Warnings)
            LogWarningForFile(FileFor(w.Location), w.Kind == FinalizeWarningKind.RemoveMatchedNothing ? Strings.RemoveMatchedNothing : Strings.FinalizeWarning, w.Message);
        if (kernel is not null)
        {
            foreach (var rule in kernel.Selection.UnmatchedRules) LogWarning(Strings.KernelModuleRuleMatchedNothing, rule);
            foreach (var missing in kernel.Selection.MissingDependencies) LogWarning(Strings.KernelModuleDependencyMissing, missing, kernel.KernelVersion);
            if (kernel.KernelImage is not null)
            {
                var target = Path.Combine(FullPath(KernelOutputDirectory), KernelFileName);
                StagedOutput.Write(target, tmp => File.Copy(kernel.KernelImage, tmp));
                KernelImage = target;
            }
        }
        else if (KernelModules.Length > 0)
            LogWarning(Strings.KernelModulesWithoutKernel);

        var manifest = FullPath(OutputManifest);
        StagedOutput.Write(manifest, tree.WriteManifest);
        LogInfo(MessageImportance.High, string.Format(CultureInfo.InvariantCulture,
            "Finalize: {0} entries, {1:F1} MiB{2} in {3:F1} s", tree.Count, tree.Entries.Sum(e => e.Kind == TreeEntryKind.RegularFile ? e.Size : 0) / 1048576.0,
            kernel is null ? "" : string.Format(CultureInfo.InvariantCulture, "; kernel {0}: {1} modules ({2:F1} MiB), {3} firmware files",
                kernel.KernelVersion, kernel.Selection.Modules.Count, kernel.Selection.ModuleBytes / 1048576.0, kernel.Selection.Firmware.Count),
            watch.Elapsed.TotalSeconds));
    }


    ImageFileSpec ToSpec(ITaskItem item)
    {
        var imagePath = item.GetMetadata("ImagePath");
        if (string.IsNullOrEmpty(imagePath))
            imagePath = item.GetMetadata("RecursiveDir") + item.GetMetadata("Filename") + item.GetMetadata("Extension");
        imagePath = "/" + imagePath.Replace('\\', '/').TrimStart('/');
        int? mode = null;
        var modeText = item.GetMetadata("Mode");
        if (!string.IsNullOrEmpty(modeText))
        {
            try { mode = Convert.ToInt32(modeText, 8); }
            catch (FormatException) { throw new BuildErrorException(Strings.InvalidImageFileMetadata, item.ItemSpec, "Mode", modeText) { File = item.ItemSpec }; }
            if (mode is < 0 or > 0xFFF) throw new BuildErrorException(Strings.InvalidImageFileMetadata, item.ItemSpec, "Mode", modeText) { File = item.ItemSpec };
        }
        return new ImageFileSpec(item.GetMetadata("FullPath"), imagePath, mode, Id(item, "Owner"), Id(item, "Group"));
    }

    static int Id(ITaskItem item, string name)
    {
        var text = item.GetMetadata(name);
        if (string.IsNullOrEmpty(text)) return 0;
        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var id)
            ? id : throw new BuildErrorException(Strings.InvalidImageFileMetadata, item.ItemSpec, name, text) { File = item.ItemSpec };
    }

    /// <summary>
    /// A finalize location is an image path or the host file of an ImageFile item; only the latter makes sense as an
    /// MSBuild error location (an image path such as /etc/passwd may exist on the build machine too).
    /// </summary>
    string? FileFor(string? location) =>
        location is not null && Files.Any(f => string.Equals(f.GetMetadata("FullPath"), location, StringComparison.Ordinal)) ? location : null;
}
