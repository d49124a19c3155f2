using System.Diagnostics;
using System.Globalization;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Initrd.Formats.Extension;
using Initrd.Formats.Gpt;
using Initrd.Formats.Tree;
using Initrd.Formats.Verity;
using Initrd.Image.Extension;
using Initrd.Image.Finalize;
using Initrd.Sdk.Tasks.Common;
using Microsoft.Build.Framework;

namespace Initrd.Sdk.Tasks;

/// <summary>
/// Packs the finalized tree as a system or configuration extension (ImageFormat sysext/confext): a GPT disk image
/// with the file system, its dm-verity hash tree and the signed root hash, bin/…/&lt;name&gt;.sysext.raw or .confext.raw.
/// </summary>
public sealed class WriteExtensionImage : InitrdTask
{
    [Required] public string Manifest { get; set; } = "";

    [Required] public string OutputFile { get; set; } = "";

    /// <summary>sysext or confext.</summary>
    [Required] public string ImageFormat { get; set; } = "";

    /// <summary>Debian architecture of the image (amd64, arm64, …).</summary>
    [Required] public string Architecture { get; set; } = "";

    /// <summary>Scratch folder (obj/…/extension/); emptied after use.</summary>
    [Required] public string WorkDirectory { get; set; } = "";

    /// <summary>Where the root hash is written as hex; empty: nowhere.</summary>
    public string? RootHashFile { get; set; }

    public string? SourceDateEpoch { get; set; }

    /// <summary>ImageFile items, to refuse those the extension kind cannot hold (rather than drop them silently).</summary>
    public ITaskItem[] Files { get; set; } = [];

    /// <summary>erofs (the native writer), erofs-mkfs (mkfs.erofs) or squashfs (mksquashfs).</summary>
    public string FileSystem { get; set; } = "erofs";

    /// <summary>auto (Verity when signing), true, false.</summary>
    public string Verity { get; set; } = "auto";

    /// <summary>Hex salt; empty: derived from the content.</summary>
    public string? VeritySalt { get; set; }

    public string? SigningKey { get; set; }

    public string? SigningCertificate { get; set; }

    /// <summary>The base image's finalized tree manifest (from its GetImageInfo); empty: no base.</summary>
    public string? BaseManifest { get; set; }

    /// <summary>The base image's ImageFormat (cpio: the extension is scoped to the initrd).</summary>
    public string? BaseFormat { get; set; }

    /// <summary>ID when neither a property nor an os-release gives one.</summary>
    public string Distribution { get; set; } = "debian";

    public string? ExtensionName { get; set; }

    public string? ExtensionId { get; set; }

    public string? ExtensionVersionId { get; set; }

    public string? ExtensionLevel { get; set; }

    public string? ExtensionArchitecture { get; set; }

    public string? ExtensionImageId { get; set; }

    public string? ExtensionImageVersion { get; set; }

    public string? ExtensionScope { get; set; }

    public bool ExtensionReloadManager { get; set; }

    public string? ProjectFile { get; set; }

    /// <summary>The Verity root hash (lowercase hex); empty without Verity.</summary>
    [Output] public string? RootHash { get; set; }

    protected override void ExecuteCore()
    {
        var watch = Stopwatch.StartNew();
        var kind = ExtensionKinds.ForFormat(ImageFormat) ?? throw new BuildErrorException(Strings.FormatHasNoTree, ImageFormat);
        var writer = ExtensionFileSystems.For(FileSystem)
                     ?? throw new BuildErrorException(Strings.ExtensionUnknownFileSystem, FileSystem) { File = ProjectFile };
        DiscoverableArchitecture arch;
        try { arch = DiscoverablePartitions.ForDebianArchitecture(Architecture); }
        catch (ArgumentException)
        {
            throw new BuildErrorException(Strings.ExtensionUnknownArchitecture, Architecture,
                string.Join(", ", DiscoverablePartitions.Architectures.SelectMany(a => a.DebianNames))) { File = ProjectFile };
        }
        using var credentials = SigningCredentials.Load(SigningKey, SigningCertificate, ProjectFile);
        var signer = credentials is null ? null : new VeritySigner(credentials.Certificate, credentials.PrivateKey);
        var verity = Verity.Trim().ToLowerInvariant() switch
        {
            "auto" or "" => signer is not null,
            "true" => true,
            "false" => signer is null ? false : throw new BuildErrorException(Strings.ExtensionSignatureWithoutVerity) { File = ProjectFile },
            _ => throw new BuildErrorException(Strings.ExtensionVerityInvalid, Verity) { File = ProjectFile },
        };
        var salt = ParseSalt();
        if (!CheckFiles(kind)) return;

        var output = FullPath(OutputFile);
        string name;
        try { name = ExtensionRelease.ResolveName(ExtensionName, output); }
        catch (ExtensionException e) { throw new BuildErrorException(e, ProjectFile, Strings.ExtensionNameMismatch, e.Message) { File = ProjectFile }; }

        var entries = TreeManifest.Read(FullPath(Manifest));
        var timestamp = ParseSourceDateEpoch(SourceDateEpoch) ?? (entries.Count == 0 ? 0 : entries.Max(e => e.ModificationTime));
        var work = FullPath(WorkDirectory);
        var release = ExtensionRelease.WithBase(new ExtensionReleaseSettings
        {
            Kind = kind,
            Name = name,
            Id = ExtensionId,
            VersionId = ExtensionVersionId,
            Level = ExtensionLevel,
            Architecture = string.IsNullOrWhiteSpace(ExtensionArchitecture) ? arch.SystemdName : ExtensionArchitecture,
            ImageId = string.IsNullOrWhiteSpace(ExtensionImageId) ? name : ExtensionImageId,
            ImageVersion = ExtensionImageVersion,
            Scope = string.IsNullOrWhiteSpace(ExtensionScope) ? (BaseFormat == "cpio" ? "initrd" : null) : ExtensionScope,
            ReloadManager = ExtensionReloadManager,
        }, BaseOsRelease(entries, work), Distribution);

        ExtensionImageResult result;
        try
        {
            result = ExtensionImageBuilder.Build(new ExtensionImageRequest
            {
                Entries = entries,
                Release = release,
                OutputPath = output,
                RootHashPath = string.IsNullOrWhiteSpace(RootHashFile) ? null : FullPath(RootHashFile),
                WorkDirectory = work,
                Timestamp = timestamp,
                FileSystem = writer,
                Architecture = arch,
                Verity = verity,
                Signer = signer,
                Salt = salt,
            });
        }
        catch (ExtensionException e)
        {
            var format = e.Kind switch
            {
                ExtensionErrorKind.NameMismatch => Strings.ExtensionNameMismatch,
                ExtensionErrorKind.ForeignReleaseFile => Strings.ExtensionForeignReleaseFile,
                ExtensionErrorKind.InvalidReleaseField => Strings.ExtensionReleaseFieldInvalid,
                ExtensionErrorKind.UnsupportedEntry => Strings.ExtensionEntryUnsupported,
                _ => null,
            };
            throw format is null
                ? new BuildErrorException(e, ProjectFile, Strings.ExtensionFileSystemFailed, writer.FileSystemType, e.Message) { File = ProjectFile }
                : new BuildErrorException(e, ProjectFile, format, e.Message) { File = ProjectFile };
        }
        catch (FinalizeException e)
        {
            throw new BuildErrorException(e, ProjectFile, Strings.ExtensionEntryUnsupported, e.Message) { File = ProjectFile };
        }
        RootHash = result.RootHashHex ?? "";

        var kindName = ExtensionKinds.Name(kind);
        if (result.Dropped.Count > 0)
            LogWarningForFile(ProjectFile, Strings.ExtensionPathsDropped, kindName,
                string.Join(" and ", ExtensionKinds.AllowedRoots(kind).Select(r => "/" + r)),
                string.Join(", ", result.Dropped.Select(d => $"{d.Path} ({d.EntryCount} {(d.EntryCount == 1 ? "entry" : "entries")})")));
        if (result.FileSystemReport.OwnersLost.Count > 0)
            LogWarningForFile(ProjectFile, Strings.ExtensionOwnersLost, result.FileSystemReport.OwnersLost.Count, writer.Implementation, Sample(result.FileSystemReport.OwnersLost));
        if (result.FileSystemReport.Skipped.Count > 0)
            LogWarningForFile(ProjectFile, Strings.ExtensionEntriesSkipped, Sample(result.FileSystemReport.Skipped));
        LogInfo(MessageImportance.High, string.Format(CultureInfo.InvariantCulture,
            "Pack: {0} '{1}': {2} entries, {3:F1} MiB → {4} {5:F1} MiB ({6}){7} → {8} ({9:F1} MiB) in {10:F1} s{11}",
            kindName, name, result.EntryCount, result.ContentBytes / 1048576.0, writer.FileSystemType, result.FileSystemBytes / 1048576.0,
            writer.Implementation, result.RootHashHex is null ? ", no Verity" : result.Signed ? ", Verity, signed" : ", Verity, unsigned",
            output, result.ImageBytes / 1048576.0, watch.Elapsed.TotalSeconds,
            result.RootHashHex is null ? "" : "; root hash " + result.RootHashHex));
    }

    static string Sample(IReadOnlyList<string> paths) =>
        string.Join(", ", paths.Take(10)) + (paths.Count > 10 ? $" and {paths.Count - 10} more" : "");


    ReadOnlyMemory<byte>? ParseSalt()
    {
        if (string.IsNullOrWhiteSpace(VeritySalt)) return null;
        var text = VeritySalt.Trim();
        if (text.Length is < 2 or > 2 * VerityLayout.SaltLength || text.Length % 2 != 0 || !text.All(char.IsAsciiHexDigit))
            throw new BuildErrorException(Strings.ExtensionSaltInvalid, VeritySalt) { File = ProjectFile };
        return Convert.FromHexString(text);
    }

    /// <summary>ImageFile items outside what the extension holds are the user's mistake: an error, not a drop.</summary>
    bool CheckFiles(ExtensionKind kind)
    {
        var roots = string.Join(" and ", ExtensionKinds.AllowedRoots(kind).Select(r => "/" + r + "/"));
        foreach (var item in Files)
        {
            var imagePath = item.GetMetadata("ImagePath");
            if (string.IsNullOrEmpty(imagePath))
                imagePath = item.GetMetadata("RecursiveDir") + item.GetMetadata("Filename") + item.GetMetadata("Extension");
            imagePath = "/" + imagePath.Replace('\\', '/').TrimStart('/');
            if (!ExtensionTreeFilter.IsAllowed(imagePath, kind))
                LogError(item.ItemSpec, Strings.ExtensionImageFileOutside, item.ItemSpec, imagePath, ExtensionKinds.Name(kind), roots);
        }
        return !Log.HasLoggedErrors;
    }

    /// <summary>The base image's os-release fields, or else the extension's own tree's, or null.</summary>
    IReadOnlyDictionary<string, string>? BaseOsRelease(IReadOnlyList<TreeEntry> ownEntries, string work)
    {
        var overlay = Path.Combine(work, "unused-overlay");
        if (!string.IsNullOrWhiteSpace(BaseManifest))
        {
            var path = FullPath(BaseManifest);
            if (!File.Exists(path)) throw new BuildErrorException(Strings.ExtensionBaseTreeMissing, path) { File = ProjectFile };
            var fields = OsRelease(ImageTree.LoadManifest(path, overlay, 0));
            if (fields is null) LogWarningForFile(ProjectFile, Strings.ExtensionBaseOsReleaseMissing, path, string.IsNullOrWhiteSpace(ExtensionId) ? Distribution : ExtensionId);
            return fields;
        }
        return OsRelease(new ImageTree(ownEntries, overlay, 0));
    }

    static IReadOnlyDictionary<string, string>? OsRelease(ImageTree tree)
    {
        foreach (var p in InitrdRelease.OsReleasePaths)
            if (tree.ResolveEntry(p) is { Kind: TreeEntryKind.RegularFile or TreeEntryKind.HardLink })
                return InitrdRelease.Parse(tree.ReadAllText(p));
        return null;
    }

}
