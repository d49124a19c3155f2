using System.Buffers.Binary;
using System.Text;
using Initrd.Formats.Common;

namespace Initrd.Formats.Gpt;

/// <summary>
/// Reads and checks the GUID partition table of a disk image with 512-byte sectors. Strict: the protective MBR and
/// both headers and arrays must be valid and agree; a table that needs repair is reported, not repaired.
/// </summary>
public static class GptReader
{
    /// <summary>Largest partition entry array accepted (NumberOfPartitionEntries × SizeOfPartitionEntry).</summary>
    const int MaxEntryArrayLength = 4 << 20;

    /// <summary>Reads the table of the disk image in <paramref name="disk"/> (a seekable stream; its length is the disk size).</summary>
    /// <exception cref="InvalidDataException">Any structure is invalid (the message names the field, value and offset).</exception>
    public static GptTable Read(Stream disk)
    {
        ArgumentNullException.ThrowIfNull(disk);
        if (!disk.CanSeek || !disk.CanRead) throw new ArgumentException("reading a partition table needs a readable, seekable stream", nameof(disk));
        var sectorCount = disk.Length / GptLayout.SectorSize;
        if (sectorCount < GptLayout.FirstUsableLba + GptLayout.BackupSectors)
            throw new InvalidDataException($"a {disk.Length}-byte image is too small for a GUID partition table");

        CheckProtectiveMbr(ReadAt(disk, 0, GptLayout.SectorSize));

        var primary = ReadHeader(disk, GptLayout.PrimaryHeaderLba, sectorCount, "primary");
        // Validity check 5: the primary header's AlternateLBA must lead to a valid backup header.
        if (primary.AlternateLba != sectorCount - 1)
            throw new InvalidDataException($"primary GPT header AlternateLBA (offset {GptLayout.PrimaryHeaderLba * GptLayout.SectorSize + GptLayout.AlternateLbaOffset}) is {primary.AlternateLba}, but the image's last LBA is {sectorCount - 1}; the image was truncated or extended");
        var backup = ReadHeader(disk, primary.AlternateLba, sectorCount, "backup");
        if (backup.AlternateLba != GptLayout.PrimaryHeaderLba)
            throw new InvalidDataException($"backup GPT header AlternateLBA is {backup.AlternateLba}, expected {GptLayout.PrimaryHeaderLba}");
        if (backup.DiskGuid != primary.DiskGuid || backup.FirstUsableLba != primary.FirstUsableLba || backup.LastUsableLba != primary.LastUsableLba
            || backup.EntryCount != primary.EntryCount || backup.EntrySize != primary.EntrySize || backup.ArrayCrc != primary.ArrayCrc)
            throw new InvalidDataException("the backup GPT header does not match the primary one (DiskGUID, usable LBAs, entry array shape or CRC differ)");

        var array = primary.Array;
        var entries = new List<GptEntry>();
        for (var i = 0; i < primary.EntryCount; i++)
        {
            var e = array.AsSpan(i * primary.EntrySize, GptLayout.EntrySize);
            var type = new Guid(e.Slice(GptLayout.PartitionTypeGuidOffset, 16));
            if (type == Guid.Empty) continue;
            var entryOffset = primary.EntryLba * GptLayout.SectorSize + (long)i * primary.EntrySize;
            var uuid = new Guid(e.Slice(GptLayout.UniquePartitionGuidOffset, 16));
            var first = BinaryPrimitives.ReadInt64LittleEndian(e[GptLayout.StartingLbaEntryOffset..]);
            var last = BinaryPrimitives.ReadInt64LittleEndian(e[GptLayout.EndingLbaEntryOffset..]);
            if (first < primary.FirstUsableLba || last > primary.LastUsableLba || last < first)
                throw new InvalidDataException($"GPT entry {i} (offset {entryOffset}): StartingLBA {first} / EndingLBA {last} lie outside the usable LBAs {primary.FirstUsableLba}–{primary.LastUsableLba} or are reversed");
            var attributes = (GptPartitionAttributes)BinaryPrimitives.ReadUInt64LittleEndian(e[GptLayout.AttributesOffset..]);
            var nameBytes = e.Slice(GptLayout.PartitionNameOffset, GptLayout.PartitionNameLength);
            var units = Utf16Units(nameBytes);
            var nameLength = units.IndexOf('\0');
            var name = new string(nameLength < 0 ? units : units[..nameLength]);
            entries.Add(new GptEntry(i, type, uuid, first, last, attributes, name));
        }
        var byStart = entries.OrderBy(e => e.FirstLba).ToList();
        for (var i = 1; i < byStart.Count; i++)
        {
            var (a, b) = (byStart[i - 1], byStart[i]);
            if (b.FirstLba <= a.LastLba)
                throw new InvalidDataException($"GPT entries {a.Index} (LBA {a.FirstLba}–{a.LastLba}) and {b.Index} (LBA {b.FirstLba}–{b.LastLba}) overlap");
        }
        return new GptTable(primary.DiskGuid, sectorCount, primary.FirstUsableLba, primary.LastUsableLba, entries);
    }

    /// <summary>Reads the table of a disk image file.</summary>
    public static GptTable Read(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0);
        return Read(stream);
    }

    /// <summary>The bytes of one partition (for small partitions: signatures, test images).</summary>
    public static byte[] ReadPartition(Stream disk, GptEntry entry)
    {
        ArgumentNullException.ThrowIfNull(disk);
        ArgumentNullException.ThrowIfNull(entry);
        if (entry.Length > Array.MaxLength) throw new ArgumentException($"partition {entry.Index} is {entry.Length} bytes, too large to read into memory; read it as a stream from offset {entry.Offset}", nameof(entry));
        return ReadAt(disk, entry.Offset, (int)entry.Length);
    }

    sealed record Header(Guid DiskGuid, long AlternateLba, long FirstUsableLba, long LastUsableLba, long EntryLba, int EntryCount, int EntrySize, uint ArrayCrc, byte[] Array);

    static void CheckProtectiveMbr(byte[] mbr)
    {
        var signature = BinaryPrimitives.ReadUInt16LittleEndian(mbr.AsSpan(GptLayout.SignatureOffset));
        if (signature != GptLayout.MbrSignature)
            throw new InvalidDataException($"MBR signature at offset {GptLayout.SignatureOffset} is 0x{signature:X4}, expected 0x{GptLayout.MbrSignature:X4}: not a partitioned disk image");
        for (var i = 0; i < GptLayout.PartitionRecordCount; i++)
            if (mbr[GptLayout.PartitionRecordOffset + i * GptLayout.PartitionRecordLength + GptLayout.OsTypeOffset] == GptLayout.ProtectiveOsType)
                return;
        throw new InvalidDataException($"the MBR has no protective partition record (OSType 0x{GptLayout.ProtectiveOsType:X2}): an MBR-partitioned or hybrid disk, not a GPT disk image");
    }

    /// <summary>The UEFI validity checks 1–4 for the header at <paramref name="lba"/> and its entry array.</summary>
    static Header ReadHeader(Stream disk, long lba, long sectorCount, string which)
    {
        var block = ReadAt(disk, lba * GptLayout.SectorSize, GptLayout.SectorSize);
        var baseOffset = lba * GptLayout.SectorSize;
        var h = block.AsSpan();

        // Check 1: the Signature.
        if (!h[..8].SequenceEqual(GptLayout.HeaderSignature))
            throw new InvalidDataException($"{which} GPT header at offset {baseOffset} has no \"EFI PART\" signature");

        // Check 2: HeaderCRC32, computed over HeaderSize bytes with the field itself zero.
        var headerSize = BinaryPrimitives.ReadUInt32LittleEndian(h[GptLayout.HeaderSizeOffset..]);
        if (headerSize < GptLayout.HeaderSize || headerSize > GptLayout.SectorSize)
            throw new InvalidDataException($"{which} GPT header HeaderSize (offset {baseOffset + GptLayout.HeaderSizeOffset}) is {headerSize}, expected {GptLayout.HeaderSize} to {GptLayout.SectorSize}");
        var storedCrc = BinaryPrimitives.ReadUInt32LittleEndian(h[GptLayout.HeaderCrc32Offset..]);
        BinaryPrimitives.WriteUInt32LittleEndian(h[GptLayout.HeaderCrc32Offset..], 0);
        var crc = Crc32.Compute(h[..(int)headerSize]);
        if (crc != storedCrc)
            throw new InvalidDataException($"{which} GPT header HeaderCRC32 (offset {baseOffset + GptLayout.HeaderCrc32Offset}) is 0x{storedCrc:X8}, but the header's CRC32 is 0x{crc:X8}");

        var revision = BinaryPrimitives.ReadUInt32LittleEndian(h[GptLayout.RevisionOffset..]);
        if (revision >> 16 != GptLayout.Revision >> 16)
            throw new InvalidDataException($"{which} GPT header Revision (offset {baseOffset + GptLayout.RevisionOffset}) is 0x{revision:X8}, expected 0x{GptLayout.Revision:X8}");

        // Check 3: MyLBA is where the header was found.
        var myLba = BinaryPrimitives.ReadInt64LittleEndian(h[GptLayout.MyLbaOffset..]);
        if (myLba != lba)
            throw new InvalidDataException($"{which} GPT header MyLBA (offset {baseOffset + GptLayout.MyLbaOffset}) is {myLba}, but the header is at LBA {lba}");

        var alternate = BinaryPrimitives.ReadInt64LittleEndian(h[GptLayout.AlternateLbaOffset..]);
        var firstUsable = BinaryPrimitives.ReadInt64LittleEndian(h[GptLayout.FirstUsableLbaOffset..]);
        var lastUsable = BinaryPrimitives.ReadInt64LittleEndian(h[GptLayout.LastUsableLbaOffset..]);
        if (firstUsable < 2 || lastUsable < firstUsable || lastUsable >= sectorCount)
            throw new InvalidDataException($"{which} GPT header FirstUsableLBA {firstUsable} / LastUsableLBA {lastUsable} (offset {baseOffset + GptLayout.FirstUsableLbaOffset}) do not fit a disk of {sectorCount} sectors");
        var diskGuid = new Guid(h.Slice(GptLayout.DiskGuidOffset, 16));
        var entryLba = BinaryPrimitives.ReadInt64LittleEndian(h[GptLayout.PartitionEntryLbaOffset..]);
        var entryCount = BinaryPrimitives.ReadUInt32LittleEndian(h[GptLayout.NumberOfPartitionEntriesOffset..]);
        var entrySize = BinaryPrimitives.ReadUInt32LittleEndian(h[GptLayout.SizeOfPartitionEntryOffset..]);
        if (entrySize < GptLayout.EntrySize || entrySize % GptLayout.EntrySize != 0 || ((entrySize / GptLayout.EntrySize) & (entrySize / GptLayout.EntrySize - 1)) != 0)
            throw new InvalidDataException($"{which} GPT header SizeOfPartitionEntry (offset {baseOffset + GptLayout.SizeOfPartitionEntryOffset}) is {entrySize}, expected 128 × 2^n");
        if ((long)entryCount * entrySize > MaxEntryArrayLength)
            throw new InvalidDataException($"{which} GPT header NumberOfPartitionEntries (offset {baseOffset + GptLayout.NumberOfPartitionEntriesOffset}) is {entryCount}: an entry array of {(long)entryCount * entrySize} bytes is larger than {MaxEntryArrayLength}");
        var arrayLength = (int)(entryCount * entrySize);
        var arraySectors = (arrayLength + GptLayout.SectorSize - 1) / GptLayout.SectorSize;
        if (entryLba < 2 || entryLba + arraySectors > sectorCount)
            throw new InvalidDataException($"{which} GPT header PartitionEntryLBA (offset {baseOffset + GptLayout.PartitionEntryLbaOffset}) is {entryLba}: the entry array would not lie inside the disk");

        // Check 4: PartitionEntryArrayCRC32 over NumberOfPartitionEntries × SizeOfPartitionEntry bytes.
        var array = ReadAt(disk, entryLba * GptLayout.SectorSize, arrayLength);
        var storedArrayCrc = BinaryPrimitives.ReadUInt32LittleEndian(h[GptLayout.PartitionEntryArrayCrc32Offset..]);
        var arrayCrc = Crc32.Compute(array);
        if (arrayCrc != storedArrayCrc)
            throw new InvalidDataException($"{which} GPT header PartitionEntryArrayCRC32 (offset {baseOffset + GptLayout.PartitionEntryArrayCrc32Offset}) is 0x{storedArrayCrc:X8}, but the entry array at LBA {entryLba} has CRC32 0x{arrayCrc:X8}");

        return new Header(diskGuid, alternate, firstUsable, lastUsable, entryLba, (int)entryCount, (int)entrySize, storedArrayCrc, array);
    }

    static ReadOnlySpan<char> Utf16Units(ReadOnlySpan<byte> utf16) =>
        BitConverter.IsLittleEndian
            ? System.Runtime.InteropServices.MemoryMarshal.Cast<byte, char>(utf16)
            : Encoding.Unicode.GetString(utf16).AsSpan();

    static byte[] ReadAt(Stream disk, long offset, int length)
    {
        var buffer = new byte[length];
        disk.Position = offset;
        disk.ReadExactly(buffer);
        return buffer;
    }
}
