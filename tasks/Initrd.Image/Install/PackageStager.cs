using System.Formats.Tar;
using System.Globalization;
using Initrd.Formats.Deb;
using Initrd.Formats.Tree;

namespace Initrd.Image.Install;

/// <summary>One entry of a package's data.tar, checked and normalised; a regular file's data already on disk.</summary>
internal sealed class StagedEntry
{
    /// <summary>The name as stored in the archive ("./usr/bin/x"), for messages.</summary>
    public required string Name { get; init; }

    /// <summary>The lexically normalised image path ("usr/bin/x"; "" for the root).</summary>
    public required string Path { get; init; }

    public required TreeEntryKind Kind { get; init; }
    public int Permissions { get; init; }
    public int Uid { get; init; }
    public int Gid { get; init; }
    public long ModificationTime { get; init; }

    /// <summary>A symlink's target as stored; a hard link's target as a normalised image path.</summary>
    public string? LinkTarget { get; init; }

    public long Size { get; init; }
    public int DeviceMajor { get; init; }
    public int DeviceMinor { get; init; }

    /// <summary>For a regular file: the staging file holding its data (host mode 0644 or 0755).</summary>
    public string? StagedFile { get; init; }
}

/// <summary>A package read once from its .deb: its entries in archive order, file data in a staging folder.</summary>
internal sealed class StagedPackage(PackageArchive package, List<StagedEntry> entries)
{
    public PackageArchive Package { get; } = package;
    public List<StagedEntry> Entries { get; } = entries;
}

/// <summary>
/// Phase one of building an install tree, run for several packages in parallel: stream a package's data.tar once,
/// normalise and check every entry name, and write regular files' data to flat, numbered files in a private staging
/// folder (no path from the archive is used on the host file system here). Placement into the tree, which depends
/// on the packages before it, is <see cref="TreeAssembler"/>'s job.
/// </summary>
internal static class PackageStager
{
    public const int CopyBufferSize = 1 << 20;

    const UnixFileMode HostFileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    const UnixFileMode HostExecutableMode = HostFileMode | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    public static StagedPackage Stage(PackageArchive package, string stagingDirectory, byte[] buffer, CancellationToken cancellationToken)
    {
        var entries = new List<StagedEntry>();
        string? current = null;
        try
        {
            cancellationToken.ThrowIfCancellationRequested();
            Directory.CreateDirectory(stagingDirectory);
            using var deb = DebPackage.Open(package.Path);
            using var data = deb.OpenDataStream();
            using (var tar = new TarReader(data, leaveOpen: true))
            {
                while (tar.GetNextEntry(copyData: false) is { } entry)
                {
                    cancellationToken.ThrowIfCancellationRequested();
                    current = entry.Name;
                    var staged = StageEntry(package, entry, stagingDirectory, entries.Count, buffer, cancellationToken);
                    if (staged is not null) entries.Add(staged);
                }
            }
            current = null;
            // Read what follows the tar's end-of-archive blocks, so that the compressed stream's checksum is verified.
            while (data.Read(buffer) > 0) cancellationToken.ThrowIfCancellationRequested();
            return new StagedPackage(package, entries);
        }
        catch (Exception e) when (IsArchiveOrIoError(e) && !cancellationToken.IsCancellationRequested)
        {
            var reason = e is FileNotFoundException or DirectoryNotFoundException
                ? $"cannot open '{package.Path}': {e.Message}"
                : current is not null ? e.Message
                : e.Message.Contains(package.Path, StringComparison.Ordinal) ? $"cannot read {e.Message}"
                : $"cannot read '{package.Path}': {e.Message}";
            throw new InstallException(reason, package.Name, current, e);
        }
    }

    static bool IsArchiveOrIoError(Exception e) =>
        e is InvalidDataException or EndOfStreamException or FormatException or IOException or UnauthorizedAccessException
            or ArgumentException or OverflowException or NotSupportedException;

    static StagedEntry? StageEntry(PackageArchive package, TarEntry entry, string stagingDirectory, int index, byte[] buffer,
        CancellationToken cancellationToken)
    {
        var kind = entry.EntryType switch
        {
            TarEntryType.RegularFile or TarEntryType.V7RegularFile or TarEntryType.ContiguousFile => TreeEntryKind.RegularFile,
            TarEntryType.Directory => TreeEntryKind.Directory,
            TarEntryType.SymbolicLink => TreeEntryKind.Symlink,
            TarEntryType.HardLink => TreeEntryKind.HardLink,
            TarEntryType.CharacterDevice => TreeEntryKind.CharacterDevice,
            TarEntryType.BlockDevice => TreeEntryKind.BlockDevice,
            TarEntryType.Fifo => TreeEntryKind.Fifo,
            TarEntryType.GlobalExtendedAttributes => (TreeEntryKind?)null,
            _ => throw new InstallException($"unsupported tar entry type '{entry.EntryType}'", package.Name, entry.Name),
        };
        if (kind is null) return null;

        var path = TreePath.Normalize(entry.Name, out var nameError)
            ?? throw new InstallException(nameError!, package.Name, entry.Name);
        if (path.Length == 0 && kind != TreeEntryKind.Directory)
            throw new InstallException($"a {TreeEntry.Describe(kind.Value)} cannot replace the root directory of the tree", package.Name, entry.Name);

        string? linkTarget = null;
        if (kind == TreeEntryKind.Symlink)
        {
            linkTarget = entry.LinkName;
            if (linkTarget.Length == 0) throw new InstallException("the symlink target is empty", package.Name, entry.Name);
            if (linkTarget.Contains('\0')) throw new InstallException("the symlink target contains a NUL character", package.Name, entry.Name);
        }
        else if (kind == TreeEntryKind.HardLink)
        {
            linkTarget = TreePath.Normalize(entry.LinkName, out var linkError)
                ?? throw new InstallException($"hard link target '{entry.LinkName}': {linkError}", package.Name, entry.Name);
            if (linkTarget.Length == 0)
                throw new InstallException("a hard link cannot point to the root directory", package.Name, entry.Name);
        }

        var permissions = (int)entry.Mode & 0xFFF;
        string? stagedFile = null;
        long size = 0;
        if (kind == TreeEntryKind.RegularFile)
        {
            size = entry.Length;
            stagedFile = System.IO.Path.Combine(stagingDirectory, index.ToString(CultureInfo.InvariantCulture));
            WriteData(entry, stagedFile, (permissions & 0x49) != 0, buffer, package, cancellationToken);
        }

        int major = 0, minor = 0;
        if (kind is TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice && entry is PosixTarEntry posix)
        {
            major = posix.DeviceMajor;
            minor = posix.DeviceMinor;
        }

        return new StagedEntry
        {
            Name = entry.Name,
            Path = path,
            Kind = kind.Value,
            Permissions = permissions,
            Uid = entry.Uid,
            Gid = entry.Gid,
            ModificationTime = entry.ModificationTime.ToUnixTimeSeconds(),
            LinkTarget = linkTarget,
            Size = size,
            DeviceMajor = major,
            DeviceMinor = minor,
            StagedFile = stagedFile,
        };
    }

    static void WriteData(TarEntry entry, string stagedFile, bool executable, byte[] buffer, PackageArchive package, CancellationToken cancellationToken)
    {
        var hostMode = executable ? HostExecutableMode : HostFileMode;
        var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None, BufferSize = 0 };
        if (!OperatingSystem.IsWindows()) options.UnixCreateMode = hostMode;
        using var output = new FileStream(stagedFile, options);
        // The create mode passes through the umask; the tree's host modes are fixed (0644/0755) whatever it is.
        if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(output.SafeFileHandle, hostMode);

        var expected = entry.Length;
        long written = 0;
        if (entry.DataStream is { } input)
        {
            int n;
            while ((n = input.Read(buffer, 0, buffer.Length)) > 0)
            {
                output.Write(buffer, 0, n);
                written += n;
                cancellationToken.ThrowIfCancellationRequested();
            }
        }
        if (written != expected)
            throw new InstallException($"the archive ends inside the file's data ({written} of {expected} bytes present)", package.Name, entry.Name);
    }

}
