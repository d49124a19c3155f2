using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using Initrd.Formats.Authenticode;
using Initrd.Formats.Cpio;
using Initrd.Formats.Pe;
using Initrd.Formats.Tree;
using Initrd.Image.Pack;
using Initrd.Image.Uki;
using Initrd.Sdk.Tasks.Common;
using Microsoft.Build.Framework;

namespace Initrd.Sdk.Tasks;

/// <summary>
/// Writes bin/…/&lt;name&gt;.efi: a Unified Kernel Image (ImageFormat uki) or a PE addon (ImageFormat addon) from
/// systemd-stub and the kernel in this project's own install tree, the initrds of referenced projects and the
/// project's properties; signed with Authenticode when a key and certificate are given.
/// </summary>
public sealed class WriteUkiImage : InitrdTask
{
    /// <summary>uki or addon.</summary>
    [Required] public string ImageFormat { get; set; } = "";

    [Required] public string Architecture { get; set; } = "";

    /// <summary>The install stage's stamp: one line naming the install tree (with systemd-boot-efi, and the kernel for a UKI).</summary>
    [Required] public string InstallStamp { get; set; } = "";

    [Required] public string OutputFile { get; set; } = "";

    /// <summary>Initrds in order (referenced projects' images, then UkiInitrd items); concatenated into .initrd.</summary>
    public ITaskItem[] Initrds { get; set; } = [];

    public string? CommandLine { get; set; }

    /// <summary>An os-release file for .osrel; empty: taken from <see cref="OsReleaseManifest"/>.</summary>
    public string? OsRelease { get; set; }

    /// <summary>The finalized tree manifest of the referenced initrd, whose os-release becomes .osrel by default.</summary>
    public string? OsReleaseManifest { get; set; }

    /// <summary>Overrides the kernel release read from the kernel image.</summary>
    public string? Uname { get; set; }

    public string? Splash { get; set; }

    public ITaskItem[] Devicetrees { get; set; } = [];

    /// <summary>ImageMicrocode items (Vendor metadata or file name GenuineIntel/AuthenticAMD) packed into .ucode.</summary>
    public ITaskItem[] Microcode { get; set; } = [];

    /// <summary>UkiSection items: files with SectionName metadata (".pcrpkey", ".myconf").</summary>
    public ITaskItem[] ExtraSections { get; set; } = [];

    /// <summary>SBAT CSV lines of this image; empty: the UAPI default entry.</summary>
    public string? Sbat { get; set; }

    public string? SigningKey { get; set; }

    public string? SigningCertificate { get; set; }

    public string? SourceDateEpoch { get; set; }

    /// <summary>UkiSignKernel: sign the embedded kernel with the same key first (replacing its own signature), for shim.</summary>
    public bool SignKernel { get; set; }

    [Required] public string ProjectFile { get; set; } = "";

    protected override void ExecuteCore()
    {
        var watch = Stopwatch.StartNew();
        var addon = ImageFormat == "addon";
        var efiArchitecture = BootFiles.EfiArchitecture(Architecture)
            ?? throw new BuildErrorException(Strings.UkiArchitectureUnsupported, Architecture) { File = ProjectFile };
        var installTree = File.ReadAllText(FullPath(InstallStamp)).Trim();
        var entries = TreeManifest.Read(Path.Combine(installTree, "manifest"));

        var stubPath = BootFiles.StubPath(efiArchitecture, addon);
        var stub = BootFiles.FindFile(entries, stubPath)
            ?? throw new BuildErrorException(Strings.UkiStubMissing, "/" + stubPath) { File = ProjectFile };

        TreeEntry? kernel = null;
        if (!addon)
        {
            var kernels = BootFiles.FindKernels(entries);
            if (kernels.Count == 0) throw new BuildErrorException(Strings.UkiKernelMissing) { File = ProjectFile };
            if (kernels.Count > 1)
                throw new BuildErrorException(Strings.UkiKernelAmbiguous, string.Join(", ", kernels.Select(BootFiles.ReleaseOf))) { File = ProjectFile };
            kernel = kernels[0];
            CheckInitrdModulesMatch(BootFiles.ReleaseOf(kernel));
        }

        var initrds = Initrds.Select(i => Existing(i.ItemSpec, "initrd")).ToList();
        if (!addon && initrds.Count == 0) LogWarningForFile(ProjectFile, Strings.UkiWithoutInitrd);

        using var credentials = SigningCredentials.Load(SigningKey, SigningCertificate, ProjectFile);
        using var signer = credentials is null ? null : new LocalKeySigner(credentials.Certificate, credentials.Chain);
        if (SignKernel && (signer is null || addon))
            throw new BuildErrorException(Strings.UkiSignKernelWithoutKey) { File = ProjectFile };

        var spec = new UkiSpec
        {
            KernelSigner = SignKernel ? signer : null,
            Kind = addon ? UkiKind.Addon : UkiKind.Uki,
            Stub = stub.ContentPath!,
            Kernel = kernel?.ContentPath,
            Initrds = initrds,
            CommandLine = string.IsNullOrWhiteSpace(CommandLine) ? null : CommandLine.Trim(),
            OsRelease = addon ? null : ReadOsRelease(),
            Uname = string.IsNullOrWhiteSpace(Uname) ? null : Uname.Trim(),
            Splash = string.IsNullOrWhiteSpace(Splash) ? null : Existing(Splash, "splash"),
            Devicetrees = [.. Devicetrees.Select(d => Existing(d.ItemSpec, "devicetree"))],
            Microcode = [.. Microcode.Select(ToMicrocode)],
            ExtraSections = [.. ExtraSections.Select(ToSection)],
            Sbat = Sbat,
            SourceDateEpoch = ParseSourceDateEpoch(SourceDateEpoch) ?? 0,
        };

        var output = FullPath(OutputFile);
        UkiImageSummary summary;
        try
        {
            summary = UkiImageWriter.Write(spec, output, signer);
        }
        catch (PeException e)
        {
            var format = e.Kind switch
            {
                PeErrorKind.StubSigned => Strings.UkiStubSigned,
                PeErrorKind.InvalidSectionName => Strings.UkiSectionNameInvalid,
                PeErrorKind.ImageTooLarge => Strings.UkiTooLarge,
                _ => Strings.UkiInvalid,
            };
            throw new BuildErrorException(e, ProjectFile, format, e.Message) { File = ProjectFile };
        }
        catch (InvalidDataException e)
        {
            throw new BuildErrorException(e, ProjectFile, Strings.UkiInputMalformed, e.Message) { File = ProjectFile };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new BuildErrorException(e, ProjectFile, Strings.UkiWriteFailed, output, e.Message) { File = ProjectFile };
        }
        LogInfo(MessageImportance.High, string.Format(CultureInfo.InvariantCulture,
            "Pack: {0} {1} ({2}) → {3} ({4:F1} MiB{5}) in {6:F3} s",
            addon ? "addon" : "UKI", string.Join(" ", summary.Sections), summary.Uname ?? "no uname", output,
            summary.FileBytes / 1048576.0, summary.Signed ? ", signed" : ", unsigned", watch.Elapsed.TotalSeconds));
    }

    List<TreeEntry>? _initrdTree;

    /// <summary>The referenced initrd's finalized tree (<see cref="OsReleaseManifest"/>), read once; null without one.</summary>
    List<TreeEntry>? InitrdTree() =>
        _initrdTree ??= string.IsNullOrWhiteSpace(OsReleaseManifest) || !File.Exists(OsReleaseManifest) ? null : TreeManifest.Read(OsReleaseManifest);

    /// <summary>Where an initrd's os-release is looked for, in order.</summary>
    static readonly string[] OsReleasePaths = ["etc/os-release", "usr/lib/os-release"];

    string? ReadOsRelease()
    {
        if (!string.IsNullOrWhiteSpace(OsRelease)) return UkiImageWriter.ReadText(Existing(OsRelease, "os-release"));
        if (InitrdTree() is not { } tree) return OsReleaseFromInitrdFile();
        var entry = BootFiles.FindFirstFile(tree, OsReleasePaths);
        if (entry?.ContentPath is null)
        {
            LogWarningForFile(ProjectFile, Strings.UkiOsReleaseNotFound, OsReleaseManifest);
            return null;
        }
        return UkiImageWriter.ReadText(entry.ContentPath);
    }

    /// <summary>An initrd given as a file (UkiInitrd): its os-release, read from the archive as the kernel would unpack it.</summary>
    string? OsReleaseFromInitrdFile()
    {
        if (Initrds.Length == 0) return null;
        var path = FullPath(Initrds[0].ItemSpec);
        List<CpioMember> members;
        try
        {
            using var file = File.OpenRead(path);
            members = CpioNewcReader.ReadAll(file, OsReleasePaths.Contains);
        }
        catch (InvalidDataException e)
        {
            throw new BuildErrorException(e, path, Strings.UkiInputMalformed, $"the initrd '{path}' cannot be read: {e.Message}") { File = path };
        }
        // Path lookup as in a tree (etc/os-release is usually a symlink to ../usr/lib/os-release); the last copy of a
        // path counts, as when the kernel unpacks concatenated archives.
        var last = new Dictionary<string, CpioMember>(StringComparer.Ordinal);
        foreach (var m in members) last[m.Path] = m;
        var found = BootFiles.FindFirstFile([.. last.Values.Select(m => m.ToTreeEntry()).OfType<TreeEntry>()], OsReleasePaths);
        if (found is not null && last[found.Path].Content is { } content) return UkiImageWriter.DecodeText(content);
        LogWarningForFile(ProjectFile, Strings.UkiOsReleaseNotFound, path);
        return null;
    }

    /// <summary>
    /// The referenced initrd's kernel modules must be the UKI kernel's: each project resolves its own lock, and two
    /// locks made on different days can name different kernels — the UKI would then boot without its drivers.
    /// </summary>
    void CheckInitrdModulesMatch(string kernelRelease)
    {
        if (InitrdTree() is not { } tree) return;
        var releases = tree
            .Where(e => e.Kind == TreeEntryKind.Directory && e.Path.StartsWith("usr/lib/modules/", StringComparison.Ordinal) && e.Path.IndexOf('/', "usr/lib/modules/".Length) < 0)
            .Select(e => e.Path["usr/lib/modules/".Length..])
            .ToList();
        if (releases.Count > 0 && !releases.Contains(kernelRelease, StringComparer.Ordinal))
            throw new BuildErrorException(Strings.UkiKernelMismatch, kernelRelease, string.Join(", ", releases)) { File = ProjectFile };
    }

    string Existing(string path, string what)
    {
        var full = FullPath(path);
        return File.Exists(full) ? full : throw new BuildErrorException(Strings.UkiInputMissing, what, full) { File = ProjectFile };
    }

    MicrocodeBlob ToMicrocode(ITaskItem item)
    {
        var vendor = item.GetMetadata("Vendor");
        if (string.IsNullOrEmpty(vendor)) vendor = Path.GetFileNameWithoutExtension(item.ItemSpec);
        if (!CpioImageWriter.MicrocodeVendors.Contains(vendor))
            throw new BuildErrorException(Strings.UnknownMicrocodeVendor, item.ItemSpec, vendor) { File = item.ItemSpec };
        return new MicrocodeBlob(vendor, Existing(item.ItemSpec, "microcode"));
    }

    UkiSectionFile ToSection(ITaskItem item)
    {
        var name = item.GetMetadata("SectionName");
        if (string.IsNullOrEmpty(name)) throw new BuildErrorException(Strings.UkiSectionNameMissing, item.ItemSpec) { File = ProjectFile };
        return new UkiSectionFile(name, Existing(item.ItemSpec, "section " + name));
    }

}
