using Initrd.Formats.Tree;

namespace Initrd.Image.Extension;

/// <summary>Choices every file system writer honours.</summary>
/// <param name="Timestamp">Every inode's time and the file system's creation time (SourceDateEpoch).</param>
/// <param name="Uuid">The file system UUID (derived from the tree's content), where the format has one.</param>
/// <param name="WorkDirectory">A folder the writer may use for temporaries; it removes what it put there.</param>
public sealed record FileSystemWriteOptions(long Timestamp, Guid Uuid, string WorkDirectory);

/// <summary>What a writer could not represent exactly (reported as warnings).</summary>
/// <param name="OwnersLost">Paths owned by someone other than root:root that the file system records as root.</param>
/// <param name="Skipped">Paths left out (device nodes, sockets) because the writer cannot create them.</param>
public sealed record FileSystemWriteReport(IReadOnlyList<string> OwnersLost, IReadOnlyList<string> Skipped);

/// <summary>
/// Writes a read-only file system image of a tree. The same entries and options must give the same bytes.
/// Implementations: <see cref="NativeErofsWriter"/> (the default, straight from the manifest), and
/// <see cref="MkfsErofsWriter"/> and <see cref="MksquashfsWriter"/> (host programs, through a staged folder).
/// </summary>
public interface IExtensionFileSystemWriter
{
    /// <summary>The file system type as the kernel and systemd-dissect name it ("erofs", "squashfs").</summary>
    string FileSystemType { get; }

    /// <summary>Which program or code writes it, for messages ("mkfs.erofs").</summary>
    string Implementation { get; }

    /// <exception cref="ExtensionException"><see cref="ExtensionErrorKind.FileSystemFailed"/> (program missing or
    /// failing), <see cref="ExtensionErrorKind.UnsupportedEntry"/>.</exception>
    FileSystemWriteReport Write(IReadOnlyList<TreeEntry> entries, string outputPath, FileSystemWriteOptions options, CancellationToken cancellationToken = default);
}

/// <summary>The writers by file system name (the ExtensionFileSystem property).</summary>
public static class ExtensionFileSystems
{
    /// <summary>erofs: the native writer; erofs-mkfs: the same file system made by mkfs.erofs from a staged copy;
    /// squashfs: mksquashfs from a staged copy.</summary>
    public static IReadOnlyList<string> Names { get; } = ["erofs", "erofs-mkfs", "squashfs"];

    /// <summary>The writer for one of <see cref="Names"/>; null for anything else.</summary>
    public static IExtensionFileSystemWriter? For(string name) => name.Trim().ToLowerInvariant() switch
    {
        "erofs" => new NativeErofsWriter(),
        "erofs-mkfs" => new MkfsErofsWriter(),
        "squashfs" => new MksquashfsWriter(),
        _ => null,
    };
}
