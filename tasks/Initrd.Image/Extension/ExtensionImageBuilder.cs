using Initrd.Formats.Common;
using Initrd.Formats.Extension;
using Initrd.Formats.Gpt;
using Initrd.Formats.Tree;
using Initrd.Image.Finalize;

namespace Initrd.Image.Extension;

/// <summary>Inputs of <see cref="ExtensionImageBuilder.Build"/>.</summary>
public sealed record ExtensionImageRequest
{
    /// <summary>The finalized tree (all of it: what the extension may not hold is dropped here).</summary>
    public required IReadOnlyList<TreeEntry> Entries { get; init; }

    /// <summary>The extension-release content, base defaults already applied (<see cref="ExtensionRelease.WithBase"/>).</summary>
    public required ExtensionReleaseSettings Release { get; init; }

    /// <summary>The disk image to write (<c>bin/…/&lt;name&gt;.sysext.raw</c>); it appears only when complete.</summary>
    public required string OutputPath { get; init; }

    /// <summary>Where the root hash is written as hex (with Verity); null: nowhere.</summary>
    public string? RootHashPath { get; init; }

    /// <summary>A folder for the staged tree and the file system image; emptied afterwards.</summary>
    public required string WorkDirectory { get; init; }

    /// <summary>SourceDateEpoch: every inode's time, the release file's time.</summary>
    public required long Timestamp { get; init; }

    public required IExtensionFileSystemWriter FileSystem { get; init; }

    public required DiscoverableArchitecture Architecture { get; init; }

    /// <summary>Add the dm-verity hash partition (and the root hash); without it the image is the data partition only.</summary>
    public bool Verity { get; init; } = true;

    /// <summary>Sign the root hash (needs <see cref="Verity"/>).</summary>
    public VeritySigner? Signer { get; init; }

    /// <summary>The Verity salt; null: derived from the tree's content.</summary>
    public ReadOnlyMemory<byte>? Salt { get; init; }
}

/// <summary>What <see cref="ExtensionImageBuilder.Build"/> made.</summary>
/// <param name="EntryCount">Entries in the file system.</param>
/// <param name="ContentBytes">Bytes of regular-file content in it.</param>
/// <param name="FileSystemBytes">Size of the file system image (the data partition's content).</param>
/// <param name="ImageBytes">Size of the disk image.</param>
/// <param name="RootHashHex">The Verity root hash; null without Verity.</param>
/// <param name="Signed">Whether the image holds a root hash signature.</param>
/// <param name="Dropped">Top-level paths left out because the extension kind may not hold them.</param>
/// <param name="FileSystemReport">What the file system could not represent exactly.</param>
/// <param name="ReleaseFromTree">The tree already held the extension-release file (an ImageFile), so it was kept as is.</param>
public sealed record ExtensionImageResult(
    int EntryCount, long ContentBytes, long FileSystemBytes, long ImageBytes, string? RootHashHex, bool Signed,
    IReadOnlyList<DroppedPath> Dropped, FileSystemWriteReport FileSystemReport, bool ReleaseFromTree);

/// <summary>
/// Makes a system or configuration extension image from a finalized tree: keeps <c>/usr</c> and <c>/opt</c> (or
/// <c>/etc</c>), adds <c>extension-release.&lt;name&gt;</c>, writes the file system (UUID from the tree's content),
/// then the GPT with the file system, its dm-verity hash tree and the signed root hash
/// (<see cref="VerityDiskImage"/>). Same tree and options, same bytes.
/// </summary>
public static class ExtensionImageBuilder
{
    /// <exception cref="ExtensionException">The tree holds another extension's release file; a release field is
    /// malformed; the file system cannot be written.</exception>
    /// <exception cref="ArgumentException">The key does not belong to the certificate (from <see cref="VerityDiskImage"/>).</exception>
    public static ExtensionImageResult Build(ExtensionImageRequest request, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(request);
        var kind = request.Release.Kind;
        var name = request.Release.Name;
        var filtered = ExtensionTreeFilter.Apply(request.Entries, kind);
        CheckReleaseFiles(filtered.Entries, kind, name);

        var work = Path.GetFullPath(request.WorkDirectory);
        if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        Directory.CreateDirectory(work);
        try
        {
            var tree = new ImageTree(filtered.Entries, Path.Combine(work, "overlay"), request.Timestamp);
            var releasePath = ExtensionKinds.ReleasePath(kind, name);
            var fromTree = tree.Find(releasePath) is { Kind: TreeEntryKind.RegularFile or TreeEntryKind.HardLink };
            if (!fromTree)
                tree.AddTextFile(releasePath, ExtensionRelease.Format(ExtensionRelease.Fields(request.Release)), FileModes.Regular);
            var entries = tree.Entries;

            var digest = TreeDigest.Compute(entries, cancellationToken);
            var fileSystem = Path.Combine(work, "filesystem." + request.FileSystem.FileSystemType);
            var report = request.FileSystem.Write(entries, fileSystem,
                new FileSystemWriteOptions(request.Timestamp, TreeDigest.Uuid(digest, request.FileSystem.FileSystemType), work), cancellationToken);

            var disk = StagedOutput.Write(request.OutputPath, temporary =>
            {
                VerityDiskImageResult disk;
                using (var output = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                {
                    disk = VerityDiskImage.Write(output, fileSystem, new VerityDiskImageOptions
                    {
                        Architecture = request.Architecture,
                        Verity = request.Verity,
                        Signer = request.Signer,
                        Salt = request.Salt ?? TreeDigest.Salt(digest),
                        ContentSeed = digest,
                    }, cancellationToken);
                }
                // The root hash file before the image, so an image in bin/ always has its current root hash beside it.
                if (request.RootHashPath is { } rootHashPath)
                {
                    if (disk.RootHashHex is { } hex) StagedOutput.Write(rootHashPath, t => File.WriteAllText(t, hex + "\n"));
                    else if (File.Exists(rootHashPath)) File.Delete(rootHashPath);
                }
                return disk;
            });
            return new ExtensionImageResult(
                entries.Count, entries.Sum(e => e.Kind == TreeEntryKind.RegularFile ? e.Size : 0), new FileInfo(fileSystem).Length,
                new FileInfo(request.OutputPath).Length, disk.RootHashHex, disk.Signed, filtered.Dropped, report, fromTree);
        }
        finally
        {
            if (Directory.Exists(work)) Directory.Delete(work, recursive: true);
        }
    }

    /// <summary>An extension-release file for another name would make systemd ignore (or misname) the image.</summary>
    static void CheckReleaseFiles(IReadOnlyList<TreeEntry> entries, ExtensionKind kind, string name)
    {
        var directory = ExtensionKinds.ReleaseDirectory(kind) + "/";
        var ours = "extension-release." + name;
        foreach (var e in entries)
        {
            if (!e.Path.StartsWith(directory, StringComparison.Ordinal)) continue;
            var file = e.Path[directory.Length..];
            if (file.StartsWith("extension-release.", StringComparison.Ordinal) && file != ours)
                throw new ExtensionException(ExtensionErrorKind.ForeignReleaseFile,
                    $"The tree holds /{e.Path}, but this image is the extension '{name}' (systemd reads /{directory}{ours} and would ignore or reject the image). Remove the file (ImageRemove, or its ImageFile), or name the image after it (TargetName or ExtensionName).");
        }
    }
}
