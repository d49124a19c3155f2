using System.Text;
using Initrd.Formats.Tree;

namespace Initrd.Formats.Cpio;

/// <summary>
/// Writes a whole, reproducible newc cpio archive (an initramfs, or the uncompressed early-microcode archive)
/// from an image tree.
/// </summary>
/// <remarks>
/// <para>The archive depends only on the entries' fields and the content bytes: never on the input order, host
/// paths, host inode numbers or the clock. The rules:</para>
/// <list type="bullet">
/// <item><b>Order</b>: entries sorted by the ordinal byte order of their UTF-8 path (what <c>LC_ALL=C sort</c> does),
/// which puts every directory before its contents. A path given twice is an error.</item>
/// <item><b>Names</b> are the image paths as given, without a leading "/" or "./" (as the kernel's gen_init_cpio
/// and mkosi write them); the root directory itself is not an entry (the kernel's rootfs root keeps its mode).
/// Paths must be canonical ('/'-separated, no empty, "." or ".." component), at most 255 bytes per component
/// (NAME_MAX) and 4095 bytes in all (the kernel's initramfs unpacker skips names over PATH_MAX).</item>
/// <item><b>Parents</b>: every parent directory must itself be an entry of kind Directory, else an error. Nothing
/// is synthesized: a directory's owner, mode and mtime are part of the image and should be stated, not guessed.</item>
/// <item><b>Inodes</b> are numbered from 1 in output order; a hard-link group takes one number at its first name.
/// devmajor/devminor (the device the files came from) are 0.</item>
/// <item><b>nlink</b>: 2 + number of subdirectories for a directory (what stat(2) reports on Linux file systems
/// and so what GNU cpio writes; the kernel ignores it for directories), the group size for the names of a
/// hard-link group, 1 for everything else.</item>
/// <item><b>Hard links</b>: a <see cref="TreeEntryKind.HardLink"/> entry names, in <see cref="TreeEntry.LinkTarget"/>,
/// the <see cref="TreeEntryKind.RegularFile"/> it shares an inode with (a leading "/" is accepted). All names of
/// the group get that file's inode, mode, owner and mtime. The data is written once, with the group's LAST name in
/// output order; the earlier names have filesize 0. This is GNU cpio's convention, which the kernel (init/initramfs.c:
/// maybe_link links later names to the first, then writes the data through the link without O_TRUNC),
/// <c>cpio -i</c> and libarchive all read.</item>
/// <item><b>Symlinks</b>: data = the target's UTF-8 bytes, no NUL; at most 4095 bytes.</item>
/// <item><b>Devices</b>: rdevmajor/rdevminor from the entry (major &lt; 4096, minor &lt; 2^20, the kernel's dev_t).
/// Fifos and sockets have no data.</item>
/// <item><b>mtime</b>: the entry's, or <c>min(entry, SourceDateEpoch)</c> when <see cref="CpioWriteOptions.SourceDateEpoch"/>
/// is set; it must fit 0…2^32−1.</item>
/// <item><b>Content</b> of regular files is read from <see cref="TreeEntry.ContentPath"/> (a HardLink's own
/// ContentPath is ignored); a file whose length differs from <see cref="TreeEntry.Size"/> is an error — the tree
/// changed after it was described. A RegularFile with Size 0 may have no ContentPath.</item>
/// </list>
/// <para>Every entry is validated before the first byte is written, so a bad tree never produces a partial archive;
/// only content read errors can stop the writer midway (write to a temporary file and rename on success).</para>
/// </remarks>
public static class CpioArchiveWriter
{
    /// <summary>Longest image path in bytes (UTF-8): PATH_MAX − 1, so that name + NUL fit the kernel's limit.</summary>
    public const int MaxPathLength = NewcLayout.KernelMaxNameSize - 1;

    /// <summary>Longest path component in bytes (NAME_MAX).</summary>
    public const int MaxComponentLength = 255;

    /// <summary>Largest device major number the kernel's dev_t holds (12 bits).</summary>
    public const int MaxDeviceMajor = (1 << 12) - 1;

    /// <summary>Largest device minor number the kernel's dev_t holds (20 bits).</summary>
    public const int MaxDeviceMinor = (1 << 20) - 1;

    const int DirectoryLinkCount = 2;

    static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>Writes <paramref name="entries"/> as a newc archive to <paramref name="output"/> (left open).</summary>
    /// <exception cref="ArgumentException">An entry is invalid, duplicated, lacks its parent directory, or a hard link
    /// does not name a regular file; the message names the entry path and the value.</exception>
    /// <exception cref="InvalidDataException">A content file's length differs from the entry's Size.</exception>
    /// <exception cref="IOException">A content file cannot be read (the message names the entry and the host file).</exception>
    public static CpioWriteSummary Write(Stream output, IEnumerable<TreeEntry> entries, CpioWriteOptions? options = null,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(entries);
        options ??= new CpioWriteOptions();
        if (options.SourceDateEpoch is < 0)
            throw new ArgumentException($"SourceDateEpoch {options.SourceDateEpoch} is negative", nameof(options));

        var items = Plan(entries, options, cancellationToken);

        long contentBytes = 0;
        using (var writer = new CpioNewcWriter(output, leaveOpen: true))
        {
            foreach (var item in items)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var header = HeaderOf(item, options);
                // A regular file, or the last name of a hard-link group (the group's file supplies the content).
                var contentOf = item.Entry.Kind switch
                {
                    TreeEntryKind.RegularFile or TreeEntryKind.HardLink when item.Group is null => item.Entry,
                    TreeEntryKind.RegularFile or TreeEntryKind.HardLink when item.CarriesGroupData => item.Group.File.Entry,
                    _ => null,
                };
                // Opened and measured before the header is written, so a changed tree stops the writer between entries.
                using var content = contentOf?.ContentPath is null ? null : OpenContent(item, contentOf);
                writer.WriteHeader(header, item.Name, item.Entry.Path);
                if (item.Entry.Kind == TreeEntryKind.Symlink) writer.WriteData(item.SymlinkTarget);
                else if (content is not null) CopyContent(writer, item, contentOf!, content);
                contentBytes += header.FileSize;
            }
            if (options.WriteTrailer) writer.WriteTrailer();
            else writer.Flush();
            return new CpioWriteSummary(items.Count, writer.Position, contentBytes);
        }
    }

    static CpioHeader HeaderOf(Item item, CpioWriteOptions options)
    {
        var e = item.Entry;
        // Every name of a hard-link group describes the same inode: the group's regular file.
        var meta = item.Group?.File.Entry ?? e;
        var mtime = options.SourceDateEpoch is { } epoch ? Math.Min(meta.ModificationTime, epoch) : meta.ModificationTime;
        long linkCount, fileSize = 0, rdevMajor = 0, rdevMinor = 0;
        switch (e.Kind)
        {
            case TreeEntryKind.Directory:
                linkCount = DirectoryLinkCount + item.SubdirectoryCount;
                break;
            case TreeEntryKind.RegularFile or TreeEntryKind.HardLink when item.Group is { } group:
                linkCount = group.Members.Count;
                fileSize = item.CarriesGroupData ? group.File.Entry.Size : 0;
                break;
            case TreeEntryKind.RegularFile:
                linkCount = 1;
                fileSize = e.Size;
                break;
            case TreeEntryKind.Symlink:
                linkCount = 1;
                fileSize = item.SymlinkTarget.Length;
                break;
            case TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice:
                linkCount = 1;
                rdevMajor = e.DeviceMajor;
                rdevMinor = e.DeviceMinor;
                break;
            default: // Fifo, Socket
                linkCount = 1;
                break;
        }
        return new CpioHeader
        {
            Inode = item.Inode,
            Mode = TreeEntry.TypeBits(e.Kind) | meta.Permissions,
            Uid = meta.Uid,
            Gid = meta.Gid,
            LinkCount = linkCount,
            ModificationTime = mtime,
            FileSize = fileSize,
            RDevMajor = rdevMajor,
            RDevMinor = rdevMinor,
        };
    }

    static FileStream OpenContent(Item item, TreeEntry file)
    {
        FileStream stream;
        try
        {
            // Unbuffered: the writer reads straight into its own large buffer.
            stream = new FileStream(file.ContentPath!, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cpio entry '{item.Entry.Path}': cannot read its content file '{file.ContentPath}': {e.Message}", e);
        }
        try
        {
            if (!stream.CanSeek)
                throw new InvalidDataException($"cpio entry '{item.Entry.Path}': content file '{file.ContentPath}' is not a regular file");
            var actual = stream.Length;
            if (actual != file.Size)
                throw new InvalidDataException(
                    $"cpio entry '{item.Entry.Path}': content file '{file.ContentPath}' is {actual} bytes but the tree says {file.Size}; the tree changed after it was described");
            return stream;
        }
        catch
        {
            stream.Dispose();
            throw;
        }
    }

    static void CopyContent(CpioNewcWriter writer, Item item, TreeEntry file, FileStream stream)
    {
        try
        {
            writer.WriteData(stream, file.Size);
            Span<byte> probe = stackalloc byte[1];
            if (stream.Read(probe) != 0)
                throw new InvalidDataException(
                    $"cpio entry '{item.Entry.Path}': content file '{file.ContentPath}' grew beyond {file.Size} bytes while it was read");
        }
        catch (IOException e)
        {
            throw new IOException($"cpio entry '{item.Entry.Path}': reading content file '{file.ContentPath}' failed: {e.Message}", e);
        }
    }

    /// <summary>Validates every entry and fixes order, inodes, link counts and hard-link groups.</summary>
    static List<Item> Plan(IEnumerable<TreeEntry> entries, CpioWriteOptions options, CancellationToken cancellationToken)
    {
        var items = new List<Item>(entries.TryGetNonEnumeratedCount(out var n) ? n : 256);
        foreach (var entry in entries)
        {
            if (entry is null) throw new ArgumentException("the tree contains a null entry", nameof(entries));
            items.Add(Validate(entry, options));
            if ((items.Count & 0xFFF) == 0) cancellationToken.ThrowIfCancellationRequested();
        }

        items.Sort(static (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name));

        var byPath = new Dictionary<string, Item>(items.Count, StringComparer.Ordinal);
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            item.Order = i;
            if (!byPath.TryAdd(item.Entry.Path, item))
                throw new ArgumentException(
                    $"cpio entry '{item.Entry.Path}' appears twice in the tree ({byPath[item.Entry.Path].Entry.Kind} and {item.Entry.Kind})", nameof(entries));
        }

        foreach (var item in items)
        {
            var path = item.Entry.Path;
            var slash = path.LastIndexOf('/');
            if (slash < 0) continue;
            var parentPath = path[..slash];
            if (!byPath.TryGetValue(parentPath, out var parent))
                throw new ArgumentException(
                    $"cpio entry '{path}': its parent directory '{parentPath}' is not in the tree (every parent must be listed as a Directory entry)", nameof(entries));
            if (parent.Entry.Kind != TreeEntryKind.Directory)
                throw new ArgumentException(
                    $"cpio entry '{path}': its parent '{parentPath}' is a {parent.Entry.Kind}, not a Directory", nameof(entries));
            if (item.Entry.Kind == TreeEntryKind.Directory) parent.SubdirectoryCount++;
        }

        foreach (var item in items)
        {
            if (item.Entry.Kind != TreeEntryKind.HardLink) continue;
            var target = item.Entry.LinkTarget!;
            var targetPath = target.StartsWith('/') ? target[1..] : target;
            if (!byPath.TryGetValue(targetPath, out var file))
                throw new ArgumentException(
                    $"cpio entry '{item.Entry.Path}': hard link target '{target}' is not in the tree", nameof(entries));
            if (file.Entry.Kind != TreeEntryKind.RegularFile)
                throw new ArgumentException(
                    $"cpio entry '{item.Entry.Path}': hard link target '{target}' is a {file.Entry.Kind}; a hard link must name a RegularFile entry", nameof(entries));
            if (file.Group is null)
            {
                file.Group = new HardLinkGroup(file);
                file.Group.Members.Add(file);
            }
            item.Group = file.Group;
            file.Group.Members.Add(item);
        }

        uint nextInode = 1;
        foreach (var item in items)
        {
            if (item.Group is { } group)
            {
                if (group.Inode == 0)
                {
                    group.Inode = nextInode++;
                    var last = group.Members[0];
                    foreach (var member in group.Members)
                        if (member.Order > last.Order) last = member;
                    last.CarriesGroupData = true;
                }
                item.Inode = group.Inode;
            }
            else
            {
                item.Inode = nextInode++;
            }
        }
        return items;
    }

    static Item Validate(TreeEntry entry, CpioWriteOptions options)
    {
        var path = entry.Path;
        var name = ValidatePath(path);

        if (!Enum.IsDefined(entry.Kind))
            throw new ArgumentException($"cpio entry '{path}': unknown kind {(int)entry.Kind}");
        if ((uint)entry.Permissions > 0xFFF)
            throw new ArgumentException($"cpio entry '{path}': permissions {Octal(entry.Permissions)} are outside 0…07777");
        if (entry.Uid < 0) throw new ArgumentException($"cpio entry '{path}': uid {entry.Uid} is negative");
        if (entry.Gid < 0) throw new ArgumentException($"cpio entry '{path}': gid {entry.Gid} is negative");

        var mtime = options.SourceDateEpoch is { } epoch ? Math.Min(entry.ModificationTime, epoch) : entry.ModificationTime;
        if ((ulong)mtime > NewcLayout.MaxFieldValue)
            throw new ArgumentException(
                $"cpio entry '{path}': modification time {entry.ModificationTime} is outside the newc range 0…{NewcLayout.MaxFieldValue} (1970–2106)");

        byte[] symlinkTarget = [];
        switch (entry.Kind)
        {
            case TreeEntryKind.RegularFile:
                if (entry.Size < 0)
                    throw new ArgumentException($"cpio entry '{path}': size {entry.Size} is negative");
                if (entry.Size > NewcLayout.MaxFieldValue)
                    throw new ArgumentException(
                        $"cpio entry '{path}': size {entry.Size} bytes exceeds the 4 GiB limit of the cpio newc format (at most {NewcLayout.MaxFieldValue} bytes)");
                if (entry.Size > 0 && string.IsNullOrEmpty(entry.ContentPath))
                    throw new ArgumentException($"cpio entry '{path}': size {entry.Size} but no ContentPath to read it from");
                break;
            case TreeEntryKind.HardLink:
                if (string.IsNullOrEmpty(entry.LinkTarget) || entry.LinkTarget == "/")
                    throw new ArgumentException($"cpio entry '{path}': a hard link needs a LinkTarget naming a regular file");
                break;
            case TreeEntryKind.Symlink:
                symlinkTarget = ValidateSymlinkTarget(path, entry.LinkTarget);
                break;
            case TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice:
                if ((uint)entry.DeviceMajor > MaxDeviceMajor || (uint)entry.DeviceMinor > MaxDeviceMinor)
                    throw new ArgumentException(
                        $"cpio entry '{path}': device {entry.DeviceMajor},{entry.DeviceMinor} is outside the kernel's range (major 0…{MaxDeviceMajor}, minor 0…{MaxDeviceMinor})");
                break;
        }
        return new Item(entry, name, symlinkTarget);
    }

    /// <summary>Checks that <paramref name="path"/> is a canonical image path and returns its UTF-8 bytes.</summary>
    static byte[] ValidatePath(string? path)
    {
        if (string.IsNullOrEmpty(path))
            throw new ArgumentException("a cpio entry has an empty path (the image root is not an entry)");
        if (path[0] == '/')
            throw new ArgumentException($"cpio entry '{path}': the path must be relative to the image root, without a leading '/'");
        if (path.Contains('\0'))
            throw new ArgumentException($"cpio entry '{path.Replace("\0", "\\0")}': the path contains a NUL character");
        if (path == NewcLayout.TrailerName)
            throw new ArgumentException($"cpio entry '{path}': this name marks the end of a cpio archive and cannot be used for a file at the image root");

        byte[] bytes;
        try { bytes = StrictUtf8.GetBytes(path); }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"cpio entry '{path}': the path is not valid Unicode (unpaired surrogate)", e);
        }
        if (bytes.Length > MaxPathLength)
            throw new ArgumentException(
                $"cpio entry '{path}': the path is {bytes.Length} bytes; the kernel's initramfs unpacker accepts at most {MaxPathLength} (PATH_MAX − 1)");

        var span = bytes.AsSpan();
        while (true)
        {
            var slash = span.IndexOf((byte)'/');
            var component = slash < 0 ? span : span[..slash];
            if (component.IsEmpty)
                throw new ArgumentException($"cpio entry '{path}': the path has an empty component (a doubled or trailing '/')");
            if (component.SequenceEqual("."u8) || component.SequenceEqual(".."u8))
                throw new ArgumentException($"cpio entry '{path}': the path has a '.' or '..' component");
            if (component.Length > MaxComponentLength)
                throw new ArgumentException(
                    $"cpio entry '{path}': a path component is {component.Length} bytes; at most {MaxComponentLength} (NAME_MAX)");
            if (slash < 0) break;
            span = span[(slash + 1)..];
        }
        return bytes;
    }

    static byte[] ValidateSymlinkTarget(string path, string? target)
    {
        if (string.IsNullOrEmpty(target))
            throw new ArgumentException($"cpio entry '{path}': a symlink needs a non-empty LinkTarget");
        if (target.Contains('\0'))
            throw new ArgumentException($"cpio entry '{path}': symlink target '{target.Replace("\0", "\\0")}' contains a NUL character");
        byte[] bytes;
        try { bytes = StrictUtf8.GetBytes(target); }
        catch (EncoderFallbackException e)
        {
            throw new ArgumentException($"cpio entry '{path}': symlink target '{target}' is not valid Unicode (unpaired surrogate)", e);
        }
        if (bytes.Length > NewcLayout.KernelMaxSymlinkTargetLength)
            throw new ArgumentException(
                $"cpio entry '{path}': symlink target is {bytes.Length} bytes; the kernel accepts at most {NewcLayout.KernelMaxSymlinkTargetLength}");
        return bytes;
    }

    static string Octal(int value) => value < 0 ? value.ToString() : "0" + Convert.ToString(value, 8);

    sealed class Item(TreeEntry entry, byte[] name, byte[] symlinkTarget)
    {
        public TreeEntry Entry { get; } = entry;

        /// <summary>The path as UTF-8, written as the entry's name and used as the sort key.</summary>
        public byte[] Name { get; } = name;

        public byte[] SymlinkTarget { get; } = symlinkTarget;

        public int Order { get; set; }

        public uint Inode { get; set; }

        public int SubdirectoryCount { get; set; }

        public HardLinkGroup? Group { get; set; }

        /// <summary>The last name of a hard-link group in output order: its header carries the file's data.</summary>
        public bool CarriesGroupData { get; set; }
    }

    sealed class HardLinkGroup(Item file)
    {
        /// <summary>The RegularFile entry whose content and metadata every name of the group shares.</summary>
        public Item File { get; } = file;

        public List<Item> Members { get; } = [];

        public uint Inode { get; set; }
    }
}
