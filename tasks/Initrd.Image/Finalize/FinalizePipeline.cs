namespace Initrd.Image.Finalize;

/// <summary>What kind of image the tree becomes; it decides which finalize steps run.</summary>
public enum ImageKind
{
    /// <summary>An initrd (ImageFormat cpio): every step.</summary>
    Initrd,
    /// <summary>
    /// A plain OS tree (ImageFormat directory), e.g. a root file system: the initrd's steps except those that make
    /// it an initrd (/init, /etc/initrd-release, console device nodes).
    /// </summary>
    Tree,
    /// <summary>A system extension (/usr, /opt): kernel-module hook, package metadata, ImageRemove, ImageFile only.</summary>
    Sysext,
    /// <summary>A configuration extension (/etc): kernel-module hook, package metadata, ImageRemove, ImageFile only.</summary>
    Confext,
}

/// <summary>Inputs of <see cref="FinalizePipeline.Run"/>.</summary>
public sealed record FinalizeOptions
{
    public ImageKind Kind { get; init; } = ImageKind.Initrd;

    /// <summary>Debian architecture of the image ("amd64", "arm64"…): merged-/usr links and the ld.so.cache flags depend on it.</summary>
    public string Architecture { get; init; } = "amd64";

    /// <summary>ImageFile items, placed in this order after removals.</summary>
    public IReadOnlyList<ImageFileSpec> Files { get; init; } = [];

    /// <summary>ImageRemove patterns (<see cref="TreeGlob"/> syntax).</summary>
    public IReadOnlyList<string> Removes { get; init; } = [];

    /// <summary>Empty var/lib/dpkg, var/lib/apt, var/cache/apt, var/cache/debconf and var/log.</summary>
    public bool RemovePackageMetadata { get; init; } = true;

    /// <summary>Fields to set in /etc/initrd-release on top of the os-release copy (null value: remove the field), in order.</summary>
    public IReadOnlyList<KeyValuePair<string, string?>> InitrdReleaseFields { get; init; } = [];

    /// <summary>
    /// The kernel-modules step, supplied by the caller: it receives the tree after the merged-/usr links exist and
    /// before removals, and keeps the selected modules (removing the rest) and adds the depmod index files.
    /// </summary>
    public Action<ImageTree>? KernelModules { get; init; }

    /// <summary>Apply systemd presets (<see cref="SystemdPresets"/>, as <c>systemctl preset-all</c>) to an initrd or OS tree.</summary>
    public bool ApplyPresets { get; init; } = true;
}

/// <summary>The finalized tree (write it with <see cref="ImageTree.WriteManifest"/>) and the warnings to report.</summary>
public sealed record FinalizeResult(ImageTree Tree, IReadOnlyList<FinalizeWarning> Warnings);

/// <summary>
/// Runs the finalize steps — what Debian maintainer scripts would have done, plus what an initrd needs — on an
/// <see cref="ImageTree"/>. Deterministic: no clock and no host state; every new entry gets the tree's timestamp and
/// root ownership unless stated. The order, for an initrd:
/// <list type="number">
/// <item><see cref="MergedUsr"/> — first, so every later path resolves through /bin, /lib… like on the target;</item>
/// <item>kernel modules (<see cref="FinalizeOptions.KernelModules"/>) — before removals, so ImageRemove can still trim them;</item>
/// <item><see cref="PackageMetadata"/> (when enabled), then <see cref="ImageRemove"/> — packages' files only;</item>
/// <item><see cref="ImageFiles"/> — after removals, so a user's file always lands;</item>
/// <item><see cref="InitSymlink"/>, <see cref="InitrdRelease"/>, <see cref="MachineId"/>, <see cref="DeviceNodes"/> — each
/// keeps what an ImageFile already put there;</item>
/// <item><see cref="SystemdPresets"/> (when enabled) — after ImageFiles, so a user's own preset or unit file counts;</item>
/// <item><see cref="UsersAndGroups"/> — after everything that may add sysusers.d files;</item>
/// <item><see cref="LdSoCache"/> — last, over the final set of libraries.</item>
/// </list>
/// System and configuration extensions run steps 2–4 only (their extension-release is written elsewhere).
/// </summary>
public static class FinalizePipeline
{
    /// <summary>
    /// The image kind for an ImageFormat value: cpio and directory trees are initrds, sysext and confext themselves;
    /// null for formats that wrap other images instead of finalizing a tree (uki, addon) or that are unknown.
    /// </summary>
    public static ImageKind? KindForFormat(string imageFormat) => imageFormat.ToLowerInvariant() switch
    {
        "cpio" => ImageKind.Initrd,
        "directory" => ImageKind.Tree,
        "sysext" => ImageKind.Sysext,
        "confext" => ImageKind.Confext,
        _ => null,
    };

    /// <summary>The step names in the order <see cref="Run"/> runs them for <paramref name="kind"/>.</summary>
    public static IReadOnlyList<string> StepsFor(ImageKind kind) => kind switch
    {
        ImageKind.Initrd => [nameof(MergedUsr), "KernelModules", nameof(PackageMetadata), nameof(ImageRemove), nameof(ImageFiles), nameof(InitSymlink),
            nameof(InitrdRelease), nameof(MachineId), nameof(DeviceNodes), nameof(SystemdPresets), nameof(UsersAndGroups), nameof(LdSoCache)],
        ImageKind.Tree => [nameof(MergedUsr), "KernelModules", nameof(PackageMetadata), nameof(ImageRemove), nameof(ImageFiles),
            nameof(MachineId), nameof(SystemdPresets), nameof(UsersAndGroups), nameof(LdSoCache)],
        _ => ["KernelModules", nameof(PackageMetadata), nameof(ImageRemove), nameof(ImageFiles)],
    };

    /// <summary>Runs the steps on <paramref name="tree"/> (changed in place) and returns it with the warnings.</summary>
    /// <exception cref="FinalizeException">A step cannot do its job; the message names the cause and the fix.</exception>
    public static FinalizeResult Run(ImageTree tree, FinalizeOptions options)
    {
        ArgumentNullException.ThrowIfNull(tree);
        ArgumentNullException.ThrowIfNull(options);
        var warnings = new List<FinalizeWarning>();
        var initrd = options.Kind == ImageKind.Initrd;
        var osTree = initrd || options.Kind == ImageKind.Tree;

        // Parse every pattern before changing anything, so a typo fails fast.
        foreach (var pattern in options.Removes) TreeGlob.Parse(pattern);

        if (osTree) MergedUsr.Apply(tree, options.Architecture);
        options.KernelModules?.Invoke(tree);
        if (options.RemovePackageMetadata) PackageMetadata.Apply(tree);
        ImageRemove.Apply(tree, options.Removes, warnings);
        ImageFiles.Apply(tree, options.Files);
        if (initrd)
        {
            InitSymlink.Apply(tree);
            InitrdRelease.Apply(tree, options.InitrdReleaseFields);
        }
        if (osTree) MachineId.Apply(tree);
        if (initrd) DeviceNodes.Apply(tree);
        if (osTree && options.ApplyPresets)
            foreach (var skipped in SystemdPresets.Apply(tree).Skipped)
                warnings.Add(new FinalizeWarning(FinalizeWarningKind.PresetSkipped, null, skipped));
        if (osTree)
        {
            UsersAndGroups.Apply(tree, warnings);
            LdSoCache.Apply(tree, options.Architecture, warnings);
        }
        return new FinalizeResult(tree, warnings);
    }

    /// <summary>Loads an install tree (never modified), runs the steps, and returns the finalized tree.</summary>
    public static FinalizeResult Run(string installTreeDirectory, string overlayDirectory, long timestamp, FinalizeOptions options) =>
        Run(ImageTree.LoadInstallTree(installTreeDirectory, overlayDirectory, timestamp), options);
}
