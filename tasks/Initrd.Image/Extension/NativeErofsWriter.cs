using Initrd.Formats.Erofs;
using Initrd.Formats.Tree;

namespace Initrd.Image.Extension;

/// <summary>
/// An uncompressed erofs image written by <see cref="ErofsWriter"/> straight from the manifest: no staged copy of the
/// tree, no host program, and owners, modes and device nodes exactly as the manifest has them (no root needed, so
/// nothing is lost or skipped). Every inode carries the timestamp (as <c>mkfs.erofs -T</c>), the UUID is the caller's,
/// the superblock checksum is set. The same entries and options give the same bytes.
/// </summary>
public sealed class NativeErofsWriter : IExtensionFileSystemWriter
{
    public string FileSystemType => "erofs";

    public string Implementation => "native erofs writer";

    public FileSystemWriteReport Write(IReadOnlyList<TreeEntry> entries, string outputPath, FileSystemWriteOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(options);
        try
        {
            using var output = new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.None, bufferSize: 0);
            ErofsWriter.Write(output, entries, new ErofsWriteOptions
            {
                BuildTime = options.Timestamp,
                UniformTime = true,
                Uuid = options.Uuid,
            }, cancellationToken);
        }
        catch (ErofsEntryException e)
        {
            throw new ExtensionException(ExtensionErrorKind.UnsupportedEntry, e.Message, e);
        }
        catch (IOException e)
        {
            throw new ExtensionException(ExtensionErrorKind.FileSystemFailed, $"cannot write {outputPath}: {e.Message}", e);
        }
        return new FileSystemWriteReport([], []);
    }
}
