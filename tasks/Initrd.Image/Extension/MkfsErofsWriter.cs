using System.Globalization;
using Initrd.Formats.Tree;

namespace Initrd.Image.Extension;

/// <summary>
/// An uncompressed erofs image made by <c>mkfs.erofs</c> (erofs-utils 1.5 or later) from a <see cref="StagedTree"/>:
/// <c>-T&lt;timestamp&gt;</c> for every inode, <c>-U&lt;uuid&gt;</c>, no extended attributes (<c>-x-1</c>), and
/// <c>--all-root</c> unless the folder carries the manifest's owners (as root). The same folder content and options
/// give the same bytes whatever order the folder was written in.
/// </summary>
public sealed class MkfsErofsWriter : IExtensionFileSystemWriter
{
    public string FileSystemType => "erofs";

    public string Implementation => "mkfs.erofs";

    public FileSystemWriteReport Write(IReadOnlyList<TreeEntry> entries, string outputPath, FileSystemWriteOptions options, CancellationToken cancellationToken = default)
    {
        using var staged = StagedTree.Create(entries, Path.Combine(options.WorkDirectory, "erofs-root"), cancellationToken);
        List<string> arguments =
        [
            "-T" + options.Timestamp.ToString(CultureInfo.InvariantCulture),
            "-U" + options.Uuid.ToString("D"),
            "-x-1",
            "--quiet",
        ];
        if (!staged.OwnersApplied) arguments.Add("--all-root");
        arguments.Add(outputPath);
        arguments.Add(staged.Root);
        if (File.Exists(outputPath)) File.Delete(outputPath);
        HostProgram.Run("mkfs.erofs", "erofs-utils", arguments, cancellationToken);
        return new FileSystemWriteReport(staged.OwnersLost, staged.Skipped);
    }
}
