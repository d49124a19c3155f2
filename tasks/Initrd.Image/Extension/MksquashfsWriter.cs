using System.Globalization;
using Initrd.Formats.Tree;

namespace Initrd.Image.Extension;

/// <summary>
/// A squashfs image made by <c>mksquashfs</c> (squashfs-tools 4.4 or later) from a <see cref="StagedTree"/>, for
/// kernels without erofs: gzip-compressed, <c>-mkfs-time</c> and <c>-all-time</c> set to the timestamp, no extended
/// attributes, single-threaded fragment order (<c>-processors 1</c>) so the bytes are reproducible, and
/// <c>-all-root</c> unless the folder carries the manifest's owners. Squashfs has no UUID.
/// </summary>
public sealed class MksquashfsWriter : IExtensionFileSystemWriter
{
    public string FileSystemType => "squashfs";

    public string Implementation => "mksquashfs";

    public FileSystemWriteReport Write(IReadOnlyList<TreeEntry> entries, string outputPath, FileSystemWriteOptions options, CancellationToken cancellationToken = default)
    {
        using var staged = StagedTree.Create(entries, Path.Combine(options.WorkDirectory, "squashfs-root"), cancellationToken);
        var time = options.Timestamp.ToString(CultureInfo.InvariantCulture);
        List<string> arguments = [staged.Root, outputPath, "-noappend", "-no-xattrs", "-mkfs-time", time, "-all-time", time, "-processors", "1", "-quiet", "-no-progress"];
        if (!staged.OwnersApplied) arguments.Add("-all-root");
        if (File.Exists(outputPath)) File.Delete(outputPath);
        HostProgram.Run("mksquashfs", "squashfs-tools", arguments, cancellationToken);
        return new FileSystemWriteReport(staged.OwnersLost, staged.Skipped);
    }
}
