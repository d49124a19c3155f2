using System.Buffers.Binary;
using System.Text;
using Initrd.Formats.Tree;
using Microsoft.Win32.SafeHandles;

namespace Initrd.Formats.Erofs;

/// <summary>Choices for <see cref="ErofsWriter.Write"/>.</summary>
public sealed record ErofsWriteOptions
{
    /// <summary>The superblock's build time (seconds since the epoch): the time of every compact inode.</summary>
    public long BuildTime { get; init; }

    /// <summary>Every inode gets <see cref="BuildTime"/> (as <c>mkfs.erofs -T</c>); otherwise each entry's own time.</summary>
    public bool UniformTime { get; init; }

    /// <summary>The volume UUID (stored in RFC 4122 byte order, as <c>blkid</c> shows it).</summary>
    public Guid Uuid { get; init; }

    /// <summary>The volume label, at most 16 bytes of UTF-8; null: none.</summary>
    public string? VolumeName { get; init; }

    /// <summary>Set the superblock's crc32c (feature SB_CHKSUM), as mkfs.erofs does by default.</summary>
    public bool SuperblockChecksum { get; init; } = true;
}

/// <summary>What <see cref="ErofsWriter.Write"/> wrote.</summary>
/// <param name="Bytes">Size of the image (a whole number of 4096-byte blocks).</param>
/// <param name="Inodes">Inodes (hard links share one).</param>
/// <param name="ExtendedInodes">Inodes in the 64-byte form (owner ≥ 65536, own time, size ≥ 4 GiB, many links).</param>
/// <param name="InlineTails">Inodes whose last partial block is stored inside the metadata (FLAT_INLINE).</param>
/// <param name="ContentBytes">Bytes of regular-file content.</param>
public sealed record ErofsWriteResult(long Bytes, int Inodes, int ExtendedInodes, int InlineTails, long ContentBytes);

/// <summary>An entry of the tree cannot be put into an erofs image (the message names it and the reason).</summary>
public sealed class ErofsEntryException(string path, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The image path ("/usr/bin/x").</summary>
    public string Path { get; } = path;
}

/// <summary>
/// Writes an uncompressed erofs image (4096-byte blocks) of a tree straight from its manifest entries: owners, modes,
/// device nodes, fifos and sockets come from the entries (no root needed), file content is read from
/// <see cref="TreeEntry.ContentPath"/> once, while the image is written, and never held in memory beyond a buffer.
/// </summary>
/// <remarks>
/// <para>Layout: block 0 holds the superblock at 1024 and the first inodes (the root directory first, so its nid is
/// 36); the metadata area (every inode, each followed by its inline tail) runs from the start of the image
/// (meta_blkaddr 0); the data area (full blocks of files, directories and long symlinks) follows it, in the same
/// order as the inodes. Inodes are in breadth-first order of the tree, children sorted by name.</para>
/// <para>Inodes are compact (32 bytes) when uid, gid and link count fit 16 bits, the size 32 bits and the time is the
/// build time, else extended (64 bytes). A file, directory or symlink whose size is not a multiple of the block size
/// keeps its last partial block inline (FLAT_INLINE) when inode and tail fit one block and the padding that may take
/// wastes less than a data block would; otherwise FLAT_PLAIN. Directories hold "." and "..", entries sorted by name
/// bytes across and within blocks (the kernel binary-searches them). No extended attributes, no compression.</para>
/// <para>The same entries and options give the same bytes, whatever order the entries come in.</para>
/// </remarks>
public static class ErofsWriter
{
    /// <summary>Writes the image to <paramref name="output"/> (which must be writable and seekable; written from its
    /// current position 0 on, two regions at a time).</summary>
    /// <exception cref="ErofsEntryException">An entry cannot be represented (invalid or duplicate path, a hard link to
    /// nothing, a name longer than 255 bytes, device numbers out of range, content whose size differs from the
    /// entry's, …).</exception>
    public static ErofsWriteResult Write(Stream output, IReadOnlyList<TreeEntry> entries, ErofsWriteOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(entries);
        ArgumentNullException.ThrowIfNull(options);
        if (!output.CanSeek || !output.CanWrite) throw new ArgumentException("the output must be writable and seekable", nameof(output));
        var volumeName = Encoding.UTF8.GetBytes(options.VolumeName ?? "");
        if (volumeName.Length > 16) throw new ArgumentException($"the volume name '{options.VolumeName}' is longer than 16 bytes", nameof(options));

        var plan = Plan.Create(entries, options, cancellationToken);
        Emit(output, plan, options, volumeName, cancellationToken);
        return new ErofsWriteResult(plan.TotalBlocks * ErofsLayout.BlockSize, plan.Order.Count,
            plan.Order.Count(i => i.Extended), plan.Order.Count(i => i.Inline), plan.ContentBytes);
    }

    // ---------------------------------------------------------------- the plan: tree, sizes, placement

    sealed class Inode
    {
        public required TreeEntryKind Kind;
        public required string Path;        // "/usr/bin/x", "/" for the root
        public int Permissions;
        public int Uid;
        public int Gid;
        public long Time;
        public long Size;
        public string? ContentPath;
        public byte[]? LinkTarget;
        public uint Device;
        public int Links = 1;
        public bool Implicit;                // a directory only implied by deeper paths
        public Inode? Parent;
        public List<(byte[] Name, Inode Node)>? Children;

        // Placement.
        public bool Visited;
        public uint Number;                  // i_ino
        public bool Extended;
        public bool Inline;
        public long Nid;
        public uint BlockAddress;
        public long DataBlocks;              // full blocks in the data area
        public int[]? DirectoryBlockStarts;  // index of the first entry of each directory block (sorted entries incl. . and ..)
        public (byte[] Name, Inode Node)[]? DirectoryEntries;

        public bool IsDirectory => Kind == TreeEntryKind.Directory;

        public int TailLength => Kind is TreeEntryKind.RegularFile or TreeEntryKind.Directory or TreeEntryKind.Symlink
            ? (int)(Size % ErofsLayout.BlockSize) : 0;

        public int HeaderSize => Extended ? ErofsLayout.ExtendedInodeSize : ErofsLayout.CompactInodeSize;

        public byte FileType => Kind switch
        {
            TreeEntryKind.RegularFile => ErofsLayout.FileTypeRegular,
            TreeEntryKind.Directory => ErofsLayout.FileTypeDirectory,
            TreeEntryKind.Symlink => ErofsLayout.FileTypeSymlink,
            TreeEntryKind.CharacterDevice => ErofsLayout.FileTypeCharacterDevice,
            TreeEntryKind.BlockDevice => ErofsLayout.FileTypeBlockDevice,
            TreeEntryKind.Fifo => ErofsLayout.FileTypeFifo,
            TreeEntryKind.Socket => ErofsLayout.FileTypeSocket,
            _ => 0,
        };
    }

    sealed class Plan
    {
        public required List<Inode> Order;   // inode order: breadth-first, root first
        public required long MetadataEnd;    // byte offset where the data area starts (block aligned)
        public required long TotalBlocks;
        public required long ContentBytes;

        static readonly Comparison<(byte[] Name, Inode Node)> ByName = (a, b) => a.Name.AsSpan().SequenceCompareTo(b.Name);

        public static Plan Create(IReadOnlyList<TreeEntry> entries, ErofsWriteOptions options, CancellationToken cancellationToken)
        {
            var root = new Inode { Kind = TreeEntryKind.Directory, Path = "/", Permissions = 0x1ED, Time = options.BuildTime, Implicit = true, Children = [] };
            root.Parent = root;
            var byPath = new Dictionary<string, Inode>(StringComparer.Ordinal) { [""] = root };
            var hardLinks = new List<(string Path, TreeEntry Entry)>();

            foreach (var e in entries)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var path = Normalize(e.Path);
                var time = options.UniformTime ? options.BuildTime : e.ModificationTime;
                if (path.Length == 0)
                {
                    if (e.Kind != TreeEntryKind.Directory) throw new ErofsEntryException("/", $"/: the root is a {TreeEntry.Describe(e.Kind)}, not a directory.");
                    if (!root.Implicit) throw new ErofsEntryException("/", "/: the root directory is listed twice.");
                    SetOwner(root, e, time);
                    root.Implicit = false;
                    continue;
                }
                if (e.Kind == TreeEntryKind.HardLink)
                {
                    hardLinks.Add((path, e));
                    continue;
                }
                if (byPath.TryGetValue(path, out var existing))
                {
                    if (existing.Implicit && e.Kind == TreeEntryKind.Directory)
                    {
                        SetOwner(existing, e, time);
                        existing.Implicit = false;
                        continue;
                    }
                    throw new ErofsEntryException("/" + path, $"/{path}: listed twice.");
                }
                var node = new Inode { Kind = e.Kind, Path = "/" + path };
                SetOwner(node, e, time);
                switch (e.Kind)
                {
                    case TreeEntryKind.Directory:
                        node.Children = [];
                        break;
                    case TreeEntryKind.RegularFile:
                        if (e.Size < 0) throw new ErofsEntryException(node.Path, $"{node.Path}: negative size {e.Size}.");
                        if (e.Size > 0 && e.ContentPath is null)
                            throw new ErofsEntryException(node.Path, $"{node.Path}: a regular file of {e.Size} bytes without content.");
                        node.Size = e.Size;
                        node.ContentPath = e.ContentPath;
                        break;
                    case TreeEntryKind.Symlink:
                        if (string.IsNullOrEmpty(e.LinkTarget)) throw new ErofsEntryException(node.Path, $"{node.Path}: a symlink without a target.");
                        node.LinkTarget = Encoding.UTF8.GetBytes(e.LinkTarget);
                        if (node.LinkTarget.Length >= ErofsLayout.BlockSize || node.LinkTarget.Contains((byte)0))
                            throw new ErofsEntryException(node.Path, $"{node.Path}: the symlink target is longer than 4095 bytes or holds a NUL.");
                        node.Size = node.LinkTarget.Length;
                        break;
                    case TreeEntryKind.CharacterDevice:
                    case TreeEntryKind.BlockDevice:
                        if (e.DeviceMajor is < 0 or > 0xFFF || e.DeviceMinor is < 0 or > 0xFFFFF)
                            throw new ErofsEntryException(node.Path, $"{node.Path}: device {e.DeviceMajor}:{e.DeviceMinor} is out of range (major < 4096, minor < 1048576).");
                        node.Device = ErofsLayout.EncodeDevice(e.DeviceMajor, e.DeviceMinor);
                        break;
                    case TreeEntryKind.Fifo:
                    case TreeEntryKind.Socket:
                        break;
                    default:
                        throw new ErofsEntryException(node.Path, $"{node.Path}: unknown entry kind {e.Kind}.");
                }
                AddChild(byPath, root, path, node, options);
                byPath[path] = node;
            }

            // Hard links share the inode of the regular file they name (chains followed).
            var pending = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
            foreach (var (path, entry) in hardLinks)
                if (!pending.TryAdd(path, entry)) throw new ErofsEntryException("/" + path, $"/{path}: listed twice.");
            foreach (var (path, entry) in hardLinks.OrderBy(h => h.Path, StringComparer.Ordinal))
            {
                if (byPath.ContainsKey(path)) throw new ErofsEntryException("/" + path, $"/{path}: listed twice.");
                var target = entry.LinkTarget is null ? "" : Normalize(entry.LinkTarget, "/" + path);
                for (var hops = 0; !byPath.ContainsKey(target) && pending.TryGetValue(target, out var next) && hops < 64; hops++)
                    target = next.LinkTarget is null ? "" : Normalize(next.LinkTarget, "/" + target);
                if (!byPath.TryGetValue(target, out var file) || file.Kind != TreeEntryKind.RegularFile)
                    throw new ErofsEntryException("/" + path, $"/{path}: a hard link to /{entry.LinkTarget?.TrimStart('/')}, which is not a regular file of the tree.");
                AddChild(byPath, root, path, file, options);
                byPath[path] = file;
                file.Links++;
            }

            // Breadth-first inode order, children sorted by name bytes; link counts of directories.
            var order = new List<Inode>(byPath.Count);
            var queue = new Queue<Inode>();
            root.Visited = true;
            queue.Enqueue(root);
            while (queue.Count > 0)
            {
                var dir = queue.Dequeue();
                order.Add(dir);
                dir.Children!.Sort(ByName);
                dir.Links = 2 + dir.Children.Count(c => c.Node.IsDirectory);
                foreach (var (_, child) in dir.Children)
                {
                    if (child.Visited) continue;
                    child.Visited = true;
                    if (child.IsDirectory) queue.Enqueue(child);
                    else order.Add(child);
                }
            }
            // Each directory is followed by its other children: a listing's inodes lie together.
            uint number = 0;
            foreach (var inode in order)
            {
                inode.Number = ++number;
                if (inode.IsDirectory) LayOutDirectory(inode);
                inode.Extended = inode.Uid is < 0 or > 0xFFFF || inode.Gid is < 0 or > 0xFFFF || inode.Links > 0xFFFF
                                 || inode.Size > uint.MaxValue || inode.Time != options.BuildTime;
                if (inode.Uid < 0 || inode.Gid < 0) throw new ErofsEntryException(inode.Path, $"{inode.Path}: negative owner {inode.Uid}:{inode.Gid}.");
            }

            // Metadata: the superblock, then each inode (32-byte aligned, never across a block) with its inline tail.
            long position = ErofsLayout.SuperblockOffset + ErofsLayout.SuperblockSize;
            foreach (var inode in order)
            {
                var header = inode.HeaderSize;
                var tail = inode.TailLength;
                var room = ErofsLayout.BlockSize - (int)(position % ErofsLayout.BlockSize);
                if (tail > 0 && header + tail <= ErofsLayout.BlockSize)
                {
                    if (header + tail <= room) inode.Inline = true;
                    else if (room < ErofsLayout.BlockSize - tail)
                    {
                        // Padding to the next block wastes less than a zero-padded data block would.
                        position += room;
                        inode.Inline = true;
                    }
                }
                if (!inode.Inline && header > room) position += room;
                inode.Nid = position / ErofsLayout.InodeSlotSize;
                position += header + (inode.Inline ? tail : 0);
                position = AlignUp(position, ErofsLayout.InodeSlotSize);
            }
            if (root.Nid > ushort.MaxValue) throw new InvalidOperationException("the root inode is not within the first 2 MiB");
            var metadataEnd = AlignUp(position, ErofsLayout.BlockSize);

            // Data: full blocks in inode order after the metadata.
            var block = metadataEnd / ErofsLayout.BlockSize;
            long content = 0;
            foreach (var inode in order)
            {
                if (inode.Kind == TreeEntryKind.RegularFile) content += inode.Size;
                if (inode.Kind is not (TreeEntryKind.RegularFile or TreeEntryKind.Directory or TreeEntryKind.Symlink)) continue;
                inode.DataBlocks = inode.Inline ? inode.Size / ErofsLayout.BlockSize : (inode.Size + ErofsLayout.BlockSize - 1) / ErofsLayout.BlockSize;
                if (inode.DataBlocks == 0) continue;
                inode.BlockAddress = (uint)block;
                block += inode.DataBlocks;
                if (block > uint.MaxValue) throw new ErofsEntryException(inode.Path, "the tree is too big for 32-bit block addresses (16 TiB).");
            }
            return new Plan { Order = order, MetadataEnd = metadataEnd, TotalBlocks = block, ContentBytes = content };
        }

        static void SetOwner(Inode node, TreeEntry e, long time)
        {
            node.Permissions = e.Permissions & 0xFFF;
            node.Uid = e.Uid;
            node.Gid = e.Gid;
            node.Time = time;
        }

        /// <summary>Adds <paramref name="node"/> to its parent directory, creating implied parents (0755 root:root).</summary>
        static void AddChild(Dictionary<string, Inode> byPath, Inode root, string path, Inode node, ErofsWriteOptions options)
        {
            var slash = path.LastIndexOf('/');
            var parentPath = slash < 0 ? "" : path[..slash];
            var name = Encoding.UTF8.GetBytes(slash < 0 ? path : path[(slash + 1)..]);
            if (name.Length > ErofsLayout.MaxNameLength)
                throw new ErofsEntryException("/" + path, $"/{path}: the name is {name.Length} bytes long; erofs allows {ErofsLayout.MaxNameLength}.");
            if (!byPath.TryGetValue(parentPath, out var parent))
            {
                parent = new Inode { Kind = TreeEntryKind.Directory, Path = "/" + parentPath, Permissions = 0x1ED, Time = options.BuildTime, Implicit = true, Children = [] };
                AddChild(byPath, root, parentPath, parent, options);
                byPath[parentPath] = parent;
            }
            if (!parent.IsDirectory)
                throw new ErofsEntryException("/" + path, $"/{path}: its parent /{parentPath} is a {TreeEntry.Describe(parent.Kind)}, not a directory.");
            if (node.IsDirectory) node.Parent = parent;
            parent.Children!.Add((name, node));
        }

        /// <summary>Splits the sorted entries (children, ".", "..") into blocks and sets the directory's size.</summary>
        static void LayOutDirectory(Inode dir)
        {
            var all = new List<(byte[] Name, Inode Node)>(dir.Children!.Count + 2) { ("."u8.ToArray(), dir), (".."u8.ToArray(), dir.Parent!) };
            all.AddRange(dir.Children);
            all.Sort(ByName);
            var starts = new List<int> { 0 };
            var used = 0;
            for (var i = 0; i < all.Count; i++)
            {
                var need = ErofsLayout.DirentSize + all[i].Name.Length;
                if (used + need > ErofsLayout.BlockSize)
                {
                    starts.Add(i);
                    used = 0;
                }
                used += need;
            }
            dir.DirectoryEntries = all.ToArray();
            dir.DirectoryBlockStarts = starts.ToArray();
            dir.Size = (long)(starts.Count - 1) * ErofsLayout.BlockSize + used;
        }

        static string Normalize(string path, string? context = null)
        {
            var trimmed = path.Trim('/');
            if (trimmed.Length == 0 || trimmed == ".") return "";
            foreach (var part in trimmed.Split('/'))
                if (part.Length == 0 || part is "." or ".." || part.Contains('\0'))
                    throw new ErofsEntryException(context ?? "/" + trimmed, $"{context ?? "/" + trimmed}: the path '{path}' is not a normalized image path.");
            return trimmed;
        }
    }

    static long AlignUp(long value, int alignment) => (value + alignment - 1) / alignment * alignment;

    // ---------------------------------------------------------------- writing

    static void Emit(Stream output, Plan plan, ErofsWriteOptions options, byte[] volumeName, CancellationToken cancellationToken)
    {
        var start = output.Position;
        var root = plan.Order[0];
        var superblock = new byte[ErofsLayout.SuperblockSize];
        var sb = superblock.AsSpan();
        BinaryPrimitives.WriteUInt32LittleEndian(sb[ErofsLayout.SbMagic..], ErofsLayout.Magic);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[ErofsLayout.SbFeatureCompat..],
            ErofsLayout.FeatureCompatMtime | (options.SuperblockChecksum ? ErofsLayout.FeatureCompatSuperblockChecksum : 0));
        sb[ErofsLayout.SbBlockSizeBits] = ErofsLayout.BlockSizeBits;
        BinaryPrimitives.WriteUInt16LittleEndian(sb[ErofsLayout.SbRootNid..], (ushort)root.Nid);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[ErofsLayout.SbInodes..], (ulong)plan.Order.Count);
        BinaryPrimitives.WriteUInt64LittleEndian(sb[ErofsLayout.SbBuildTime..], (ulong)options.BuildTime);
        BinaryPrimitives.WriteUInt32LittleEndian(sb[ErofsLayout.SbBlocks..], (uint)plan.TotalBlocks);
        // meta_blkaddr 0, xattr_blkaddr 0, feature_incompat 0 (nothing a reader must understand beyond the base format).
        options.Uuid.TryWriteBytes(sb.Slice(ErofsLayout.SbUuid, 16), bigEndian: true, out _);
        volumeName.CopyTo(sb[ErofsLayout.SbVolumeName..]);

        var metadata = new Region(output, start, 1 << 20, first =>
        {
            // The checksum covers the superblock to the end of block 0 (inodes included), the field itself as zero.
            if (!options.SuperblockChecksum) return;
            var crc = Crc32C.Update(0xFFFFFFFF, first.Slice(ErofsLayout.SuperblockOffset, ErofsLayout.BlockSize - ErofsLayout.SuperblockOffset));
            BinaryPrimitives.WriteUInt32LittleEndian(first[(ErofsLayout.SuperblockOffset + ErofsLayout.SbChecksum)..], crc);
        });
        var data = new Region(output, start + plan.MetadataEnd, 4 << 20, null);
        metadata.Zero(ErofsLayout.SuperblockOffset);
        metadata.Write(superblock);

        var header = new byte[ErofsLayout.ExtendedInodeSize];
        var scratch = new byte[ErofsLayout.BlockSize];
        foreach (var inode in plan.Order)
        {
            cancellationToken.ThrowIfCancellationRequested();
            metadata.ZeroTo(start + inode.Nid * ErofsLayout.InodeSlotSize);
            metadata.Write(InodeHeader(inode, header));
            if (inode.DataBlocks > 0 && data.Offset - start != (long)inode.BlockAddress * ErofsLayout.BlockSize)
                throw new InvalidOperationException($"{inode.Path}: data out of place");
            switch (inode.Kind)
            {
                case TreeEntryKind.RegularFile:
                    CopyContent(inode, metadata, data, scratch, cancellationToken);
                    break;
                case TreeEntryKind.Symlink:
                    (inode.Inline ? metadata : data).Write(inode.LinkTarget);
                    if (!inode.Inline) data.PadToBlock();
                    break;
                case TreeEntryKind.Directory:
                    WriteDirectory(inode, metadata, data, scratch);
                    break;
            }
        }
        metadata.ZeroTo(start + plan.MetadataEnd);
        metadata.Flush();
        data.Flush();
        var end = start + plan.TotalBlocks * ErofsLayout.BlockSize;
        if (output.Length != end) output.SetLength(end);
        output.Position = end;
    }

    static ReadOnlySpan<byte> InodeHeader(Inode inode, byte[] buffer)
    {
        var h = buffer.AsSpan(0, inode.HeaderSize);
        h.Clear();
        var layout = inode.Inline ? ErofsLayout.FlatInline : ErofsLayout.FlatPlain;
        var mode = (ushort)(TreeEntry.TypeBits(inode.Kind) | inode.Permissions);
        var u = inode.Kind is TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice ? inode.Device : inode.BlockAddress;
        if (!inode.Extended)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(h, (ushort)(layout << ErofsLayout.DataLayoutShift));
            BinaryPrimitives.WriteUInt16LittleEndian(h[4..], mode);
            BinaryPrimitives.WriteUInt16LittleEndian(h[6..], (ushort)inode.Links);
            BinaryPrimitives.WriteUInt32LittleEndian(h[8..], (uint)inode.Size);
            BinaryPrimitives.WriteUInt32LittleEndian(h[16..], u);
            BinaryPrimitives.WriteUInt32LittleEndian(h[20..], inode.Number);
            BinaryPrimitives.WriteUInt16LittleEndian(h[24..], (ushort)inode.Uid);
            BinaryPrimitives.WriteUInt16LittleEndian(h[26..], (ushort)inode.Gid);
        }
        else
        {
            BinaryPrimitives.WriteUInt16LittleEndian(h, (ushort)((layout << ErofsLayout.DataLayoutShift) | ErofsLayout.FormatExtended));
            BinaryPrimitives.WriteUInt16LittleEndian(h[4..], mode);
            BinaryPrimitives.WriteUInt64LittleEndian(h[8..], (ulong)inode.Size);
            BinaryPrimitives.WriteUInt32LittleEndian(h[16..], u);
            BinaryPrimitives.WriteUInt32LittleEndian(h[20..], inode.Number);
            BinaryPrimitives.WriteUInt32LittleEndian(h[24..], (uint)inode.Uid);
            BinaryPrimitives.WriteUInt32LittleEndian(h[28..], (uint)inode.Gid);
            BinaryPrimitives.WriteUInt64LittleEndian(h[32..], (ulong)inode.Time);
            BinaryPrimitives.WriteUInt32LittleEndian(h[44..], (uint)inode.Links);
        }
        return h;
    }

    /// <summary>Reads the file once: full blocks into the data area, the tail inline or into a zero-padded block.</summary>
    static void CopyContent(Inode inode, Region metadata, Region data, byte[] scratch, CancellationToken cancellationToken)
    {
        if (inode.ContentPath is null) return; // an empty file without content
        SafeFileHandle handle;
        try { handle = File.OpenHandle(inode.ContentPath!, FileMode.Open, FileAccess.Read, FileShare.Read, FileOptions.SequentialScan); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ErofsEntryException(inode.Path, $"{inode.Path}: cannot read its content {inode.ContentPath}: {e.Message}", e);
        }
        using (handle)
        {
            var tail = inode.Inline ? inode.TailLength : 0;
            var body = inode.Size - tail;
            long offset = 0;
            while (offset < body)
            {
                cancellationToken.ThrowIfCancellationRequested();
                var span = data.FreeSpan(ErofsLayout.BlockSize);
                if (span.Length > body - offset) span = span[..(int)(body - offset)];
                var n = RandomAccess.Read(handle, span, offset);
                if (n == 0) throw SizeChanged(inode, offset);
                data.Advance(n);
                offset += n;
            }
            if (!inode.Inline) data.PadToBlock();
            var read = 0;
            while (read < tail)
            {
                var n = RandomAccess.Read(handle, scratch.AsSpan(read, tail - read), offset + read);
                if (n == 0) throw SizeChanged(inode, offset + read);
                read += n;
            }
            if (tail > 0) metadata.Write(scratch.AsSpan(0, tail));
            if (RandomAccess.Read(handle, scratch.AsSpan(0, 1), inode.Size) != 0) throw SizeChanged(inode, RandomAccess.GetLength(handle));
        }
    }

    static ErofsEntryException SizeChanged(Inode inode, long actual) =>
        new(inode.Path, $"{inode.Path}: its content {inode.ContentPath} has {(actual < inode.Size ? "only " + actual : "more than " + inode.Size)} bytes, but the manifest says {inode.Size}; the tree changed after it was listed.");

    static void WriteDirectory(Inode dir, Region metadata, Region data, byte[] block)
    {
        var entries = dir.DirectoryEntries!;
        var starts = dir.DirectoryBlockStarts!;
        for (var b = 0; b < starts.Length; b++)
        {
            var first = starts[b];
            var end = b + 1 < starts.Length ? starts[b + 1] : entries.Length;
            Array.Clear(block);
            var nameOffset = (end - first) * ErofsLayout.DirentSize;
            for (var i = first; i < end; i++)
            {
                var d = block.AsSpan((i - first) * ErofsLayout.DirentSize, ErofsLayout.DirentSize);
                BinaryPrimitives.WriteUInt64LittleEndian(d, (ulong)entries[i].Node.Nid);
                BinaryPrimitives.WriteUInt16LittleEndian(d[8..], (ushort)nameOffset);
                d[10] = entries[i].Node.FileType;
                entries[i].Name.CopyTo(block, nameOffset);
                nameOffset += entries[i].Name.Length;
            }
            var isLast = b == starts.Length - 1;
            if (isLast && dir.Inline) metadata.Write(block.AsSpan(0, nameOffset));
            else data.Write(block);   // zero-padded to the block: a name that does not end the block ends at a NUL
        }
    }

    /// <summary>
    /// A buffered, forward-only writer of one region of a seekable stream (the metadata and the data area are written
    /// at the same time, each sequentially).
    /// </summary>
    sealed class Region(Stream stream, long start, int capacity, Action<Span<byte>>? beforeFirstFlush)
    {
        readonly byte[] _buffer = new byte[capacity];
        readonly long _start = start;
        long _flushed = start;   // stream offset of _buffer[0]
        int _used;
        bool _first = true;

        /// <summary>The stream offset the next byte goes to.</summary>
        public long Offset => _flushed + _used;

        public void Write(ReadOnlySpan<byte> bytes)
        {
            while (bytes.Length > 0)
            {
                if (_used == _buffer.Length) Flush();
                var n = Math.Min(bytes.Length, _buffer.Length - _used);
                bytes[..n].CopyTo(_buffer.AsSpan(_used));
                _used += n;
                bytes = bytes[n..];
            }
        }

        public void Zero(long count)
        {
            while (count > 0)
            {
                if (_used == _buffer.Length) Flush();
                var n = (int)Math.Min(count, _buffer.Length - _used);
                _buffer.AsSpan(_used, n).Clear();
                _used += n;
                count -= n;
            }
        }

        /// <summary>Zeroes to the next block boundary (blocks counted from the region's start).</summary>
        public void PadToBlock() => ZeroTo(_start + AlignUp(Offset - _start, ErofsLayout.BlockSize));

        public void ZeroTo(long offset)
        {
            if (offset < Offset) throw new InvalidOperationException("regions are written forward only");
            Zero(offset - Offset);
        }

        /// <summary>Free buffer space of at least <paramref name="minimum"/> bytes (flushing first when needed).</summary>
        public Span<byte> FreeSpan(int minimum)
        {
            if (_buffer.Length - _used < minimum) Flush();
            return _buffer.AsSpan(_used);
        }

        public void Advance(int count) => _used += count;

        public void Flush()
        {
            if (_used == 0) return;
            if (_first)
            {
                _first = false;
                beforeFirstFlush?.Invoke(_buffer.AsSpan(0, _used));
            }
            stream.Position = _flushed;
            stream.Write(_buffer, 0, _used);
            _flushed += _used;
            _used = 0;
        }
    }
}
