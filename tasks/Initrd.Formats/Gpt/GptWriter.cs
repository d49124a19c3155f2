using System.Buffers.Binary;
using System.Text;
using Initrd.Formats.Common;

namespace Initrd.Formats.Gpt;

/// <summary>
/// Writes a whole GPT disk image, sequentially (the output need not seek): protective MBR, primary header and entry
/// array, the partitions, the backup entry array and the backup header (see <see cref="GptLayout"/>).
/// </summary>
/// <remarks>
/// <para>Layout, decided before the first byte is written (<see cref="Plan"/>): partitions in the order given, each
/// starting at the first <see cref="GptWriteOptions.Alignment"/> boundary at or after FirstUsableLBA (34) or the end
/// of the previous partition; the disk ends at the first alignment boundary that leaves room for the 33 backup
/// sectors. With the default 4096-byte alignment this is systemd-repart's layout (first partition at LBA 40).</para>
/// <para>Gaps and the tail of each partition after its content are zero. The image depends only on the arguments.</para>
/// </remarks>
public static class GptWriter
{
    const int CopyBufferSize = 1 << 20;

    static readonly UnicodeEncoding StrictUtf16 = new(bigEndian: false, byteOrderMark: false, throwOnInvalidBytes: true);

    /// <summary>Lays the partitions out and validates everything, without writing.</summary>
    /// <exception cref="ArgumentException">An option or partition cannot be written (the message says which and what to do).</exception>
    public static GptTable Plan(IReadOnlyList<GptPartition> partitions, GptWriteOptions options)
    {
        ArgumentNullException.ThrowIfNull(partitions);
        ArgumentNullException.ThrowIfNull(options);
        if (options.DiskGuid == Guid.Empty)
            throw new ArgumentException("the disk GUID must not be all zeros; derive one from the image's content (e.g. its root hash)", nameof(options));
        var alignment = options.Alignment;
        if (alignment < GptWriteOptions.MinimumAlignment || (alignment & (alignment - 1)) != 0 || alignment > 1 << 30)
            throw new ArgumentException($"partition alignment {alignment} must be a power of two from {GptWriteOptions.MinimumAlignment} to 1 GiB; use {GptWriteOptions.DefaultAlignment} (systemd-repart) or 1048576", nameof(options));
        if (partitions.Count > GptLayout.EntryCount)
            throw new ArgumentException($"{partitions.Count} partitions do not fit the {GptLayout.EntryCount}-entry partition array", nameof(partitions));

        var seen = new HashSet<Guid>();
        var entries = new List<GptEntry>(partitions.Count);
        var nextByte = AlignUp(GptLayout.FirstUsableLba * GptLayout.SectorSize, alignment);
        for (var i = 0; i < partitions.Count; i++)
        {
            var p = partitions[i] ?? throw new ArgumentException($"partition {i} is null", nameof(partitions));
            var what = $"partition {i}{(p.Name.Length > 0 ? $" '{p.Name}'" : "")}";
            if (p.Type == Guid.Empty)
                throw new ArgumentException($"{what}: the all-zero partition type marks an unused entry; give a type such as DiscoverablePartitions.X86_64.Root", nameof(partitions));
            if (p.Uuid == Guid.Empty)
                throw new ArgumentException($"{what}: the partition UUID must not be all zeros", nameof(partitions));
            if (!seen.Add(p.Uuid))
                throw new ArgumentException($"{what}: partition UUID {p.Uuid} is used twice; every partition needs its own", nameof(partitions));
            ValidateName(p.Name ?? "", what);
            ArgumentNullException.ThrowIfNull(p.Content, $"{nameof(partitions)}[{i}].{nameof(GptPartition.Content)}");
            var contentLength = p.Content.Length;
            long size;
            if (p.Size is { } given)
            {
                if (given <= 0 || given % GptLayout.SectorSize != 0)
                    throw new ArgumentException($"{what}: size {given} must be a positive multiple of {GptLayout.SectorSize} bytes", nameof(partitions));
                if (given < contentLength)
                    throw new ArgumentException($"{what}: size {given} is smaller than its content ({contentLength} bytes); give a larger size or none", nameof(partitions));
                size = given;
            }
            else
            {
                if (contentLength == 0)
                    throw new ArgumentException($"{what}: the content is empty; give a Size for an empty partition", nameof(partitions));
                size = AlignUp(contentLength, alignment);
            }
            var first = nextByte / GptLayout.SectorSize;
            var last = first + size / GptLayout.SectorSize - 1;
            entries.Add(new GptEntry(i, p.Type, p.Uuid, first, last, p.Attributes, p.Name ?? ""));
            nextByte = AlignUp((last + 1) * GptLayout.SectorSize, alignment);
        }

        var end = entries.Count > 0 ? (entries[^1].LastLba + 1) * GptLayout.SectorSize : GptLayout.FirstUsableLba * GptLayout.SectorSize;
        var sectorCount = AlignUp(end + GptLayout.BackupSectors * GptLayout.SectorSize, alignment) / GptLayout.SectorSize;
        return new GptTable(options.DiskGuid, sectorCount, GptLayout.FirstUsableLba, sectorCount - GptLayout.BackupSectors - 1, entries);
    }

    /// <summary>Writes the image to <paramref name="output"/> and returns its table.</summary>
    /// <exception cref="ArgumentException">See <see cref="Plan"/>; nothing is written then.</exception>
    /// <exception cref="InvalidDataException">A partition's content ended early or changed length while being copied.</exception>
    public static GptTable Write(Stream output, IReadOnlyList<GptPartition> partitions, GptWriteOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite) throw new ArgumentException("the output stream is not writable", nameof(output));
        var table = Plan(partitions, options);

        // The two CRCs, in the order 5.3.2 defines them:
        // 1. the GUID Partition Entry Array, entries in the caller's order and unused entries zero;
        var array = BuildEntryArray(table);
        // 2. PartitionEntryArrayCRC32: the CRC32 of NumberOfPartitionEntries × SizeOfPartitionEntry bytes starting at
        //    PartitionEntryLBA. The backup array is a byte-for-byte copy, so both headers carry the same value;
        var arrayCrc = Crc32.Compute(array);
        // 3. each header's HeaderCRC32 over its HeaderSize bytes with the field zero (BuildHeader); the backup header
        //    differs from the primary in MyLBA, AlternateLBA and PartitionEntryLBA, so its CRC differs too.
        var backupArrayLba = table.SectorCount - GptLayout.BackupSectors;

        long position = 0;
        void Emit(ReadOnlySpan<byte> bytes) { output.Write(bytes); position += bytes.Length; }
        void ZeroTo(long target)
        {
            while (position < target)
            {
                var n = (int)Math.Min(target - position, ZeroBlock.Length);
                output.Write(ZeroBlock, 0, n);
                position += n;
            }
        }

        Emit(BuildProtectiveMbr(table.SectorCount));
        Emit(BuildHeader(table, GptLayout.PrimaryHeaderLba, table.SectorCount - 1, GptLayout.PrimaryEntryArrayLba, arrayCrc));
        Emit(array);

        var buffer = GC.AllocateUninitializedArray<byte>(CopyBufferSize);
        for (var i = 0; i < table.Entries.Count; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var entry = table.Entries[i];
            var content = partitions[i].Content;
            ZeroTo(entry.Offset);
            using (var source = content.Open())
            {
                var remaining = content.Length;
                while (remaining > 0)
                {
                    var n = source.Read(buffer, 0, (int)Math.Min(remaining, buffer.Length));
                    if (n == 0)
                        throw new InvalidDataException($"partition {i} '{entry.Name}' ({content}): content ended after {content.Length - remaining} of {content.Length} bytes, at image offset {position}");
                    output.Write(buffer, 0, n);
                    position += n;
                    remaining -= n;
                    if ((position & ((64 << 20) - 1)) < n) cancellationToken.ThrowIfCancellationRequested();
                }
            }
            ZeroTo(entry.Offset + entry.Length);
        }

        ZeroTo(backupArrayLba * GptLayout.SectorSize);
        Emit(array);
        Emit(BuildHeader(table, table.SectorCount - 1, GptLayout.PrimaryHeaderLba, backupArrayLba, arrayCrc));
        output.Flush();
        return table;
    }

    static readonly byte[] ZeroBlock = new byte[CopyBufferSize];

    /// <summary>LBA 0 (5.2.3): no boot code, UniqueMBRDiskSignature 0, one protective partition record.</summary>
    internal static byte[] BuildProtectiveMbr(long sectorCount)
    {
        var mbr = new byte[GptLayout.SectorSize];
        var record = mbr.AsSpan(GptLayout.PartitionRecordOffset, GptLayout.PartitionRecordLength);
        record[GptLayout.BootIndicatorOffset] = 0x00;
        GptLayout.ProtectiveStartingChs.CopyTo(record[GptLayout.StartingChsOffset..]);
        record[GptLayout.OsTypeOffset] = GptLayout.ProtectiveOsType;
        GptLayout.ProtectiveEndingChs.CopyTo(record[GptLayout.EndingChsOffset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(record[GptLayout.StartingLbaOffset..], (uint)GptLayout.PrimaryHeaderLba);
        // SizeInLBA: "Set to the size of the disk minus one", or 0xFFFFFFFF if that is too large.
        BinaryPrimitives.WriteUInt32LittleEndian(record[GptLayout.SizeInLbaOffset..], (uint)Math.Min(sectorCount - 1, uint.MaxValue));
        BinaryPrimitives.WriteUInt16LittleEndian(mbr.AsSpan(GptLayout.SignatureOffset), GptLayout.MbrSignature);
        return mbr;
    }

    /// <summary>The GUID Partition Entry Array (5.3.3): used entries in order, the rest zero.</summary>
    internal static byte[] BuildEntryArray(GptTable table)
    {
        var array = new byte[GptLayout.EntryArrayLength];
        foreach (var e in table.Entries)
        {
            var entry = array.AsSpan(e.Index * GptLayout.EntrySize, GptLayout.EntrySize);
            e.Type.TryWriteBytes(entry[GptLayout.PartitionTypeGuidOffset..]);
            e.Uuid.TryWriteBytes(entry[GptLayout.UniquePartitionGuidOffset..]);
            BinaryPrimitives.WriteInt64LittleEndian(entry[GptLayout.StartingLbaEntryOffset..], e.FirstLba);
            BinaryPrimitives.WriteInt64LittleEndian(entry[GptLayout.EndingLbaEntryOffset..], e.LastLba);
            BinaryPrimitives.WriteUInt64LittleEndian(entry[GptLayout.AttributesOffset..], (ulong)e.Attributes);
            StrictUtf16.GetBytes(e.Name, entry.Slice(GptLayout.PartitionNameOffset, GptLayout.PartitionNameLength));
        }
        return array;
    }

    /// <summary>A GPT Header block (5.3.2), primary or backup, with its HeaderCRC32.</summary>
    internal static byte[] BuildHeader(GptTable table, long myLba, long alternateLba, long partitionEntryLba, uint arrayCrc)
    {
        var block = new byte[GptLayout.SectorSize];
        var h = block.AsSpan();
        GptLayout.HeaderSignature.CopyTo(h[GptLayout.HeaderSignatureOffset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(h[GptLayout.RevisionOffset..], GptLayout.Revision);
        BinaryPrimitives.WriteUInt32LittleEndian(h[GptLayout.HeaderSizeOffset..], GptLayout.HeaderSize);
        // HeaderCRC32 (offset 16) and Reserved (offset 20) stay zero for now.
        BinaryPrimitives.WriteInt64LittleEndian(h[GptLayout.MyLbaOffset..], myLba);
        BinaryPrimitives.WriteInt64LittleEndian(h[GptLayout.AlternateLbaOffset..], alternateLba);
        BinaryPrimitives.WriteInt64LittleEndian(h[GptLayout.FirstUsableLbaOffset..], table.FirstUsableLba);
        BinaryPrimitives.WriteInt64LittleEndian(h[GptLayout.LastUsableLbaOffset..], table.LastUsableLba);
        table.DiskGuid.TryWriteBytes(h[GptLayout.DiskGuidOffset..]);
        BinaryPrimitives.WriteInt64LittleEndian(h[GptLayout.PartitionEntryLbaOffset..], partitionEntryLba);
        BinaryPrimitives.WriteUInt32LittleEndian(h[GptLayout.NumberOfPartitionEntriesOffset..], GptLayout.EntryCount);
        BinaryPrimitives.WriteUInt32LittleEndian(h[GptLayout.SizeOfPartitionEntryOffset..], GptLayout.EntrySize);
        BinaryPrimitives.WriteUInt32LittleEndian(h[GptLayout.PartitionEntryArrayCrc32Offset..], arrayCrc);
        // Step 3: HeaderCRC32 is computed with the field set to 0, over HeaderSize bytes.
        BinaryPrimitives.WriteUInt32LittleEndian(h[GptLayout.HeaderCrc32Offset..], Crc32.Compute(h[..GptLayout.HeaderSize]));
        return block;
    }

    static void ValidateName(string name, string what)
    {
        if (name.Length > GptLayout.MaxPartitionNameLength)
            throw new ArgumentException($"{what}: the name has {name.Length} UTF-16 code units; a GPT partition name holds at most {GptLayout.MaxPartitionNameLength}. Shorten it", "partitions");
        if (name.Contains('\0'))
            throw new ArgumentException($"{what}: the name contains a NUL character", "partitions");
        try { StrictUtf16.GetByteCount(name); }
        catch (EncoderFallbackException)
        {
            throw new ArgumentException($"{what}: the name contains an unpaired surrogate (not valid UTF-16)", "partitions");
        }
    }

    static long AlignUp(long value, long alignment) => (value + alignment - 1) & ~(alignment - 1);
}
