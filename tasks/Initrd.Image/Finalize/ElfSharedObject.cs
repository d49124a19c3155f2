using System.Buffers.Binary;
using System.Text;

namespace Initrd.Image.Finalize;

/// <summary>
/// The few facts ldconfig reads from a shared object: ELF class, byte order, machine, e_flags, and from the dynamic
/// section DT_SONAME and DT_NEEDED (resolved through DT_STRTAB, whose address is mapped to a file offset with the
/// PT_LOAD segment that contains it), and the program interpreter (PT_INTERP) when there is one.
/// </summary>
internal sealed record ElfSharedObject(bool Is64Bit, ushort Machine, uint Flags, string? Soname, IReadOnlyList<string> Needed, string? Interpreter = null)
{
    public const ushort MachineI386 = 3;
    public const ushort MachineArm = 40;
    public const ushort MachineX86_64 = 62;
    public const ushort MachineAArch64 = 183;

    const ushort TypeDyn = 3;
    const uint PtLoad = 1, PtDynamic = 2, PtInterp = 3;
    const long DtNull = 0, DtNeeded = 1, DtStrtab = 5, DtSoname = 14;

    /// <summary>Reads a shared object (ET_DYN); null for anything else (not ELF, a linker script, truncated, big-endian, …).</summary>
    public static ElfSharedObject? TryRead(Stream stream)
    {
        try
        {
            return Read(stream);
        }
        catch (Exception e) when (e is EndOfStreamException or IOException or ArgumentOutOfRangeException or OverflowException)
        {
            return null;
        }
    }

    static ElfSharedObject? Read(Stream s)
    {
        Span<byte> ident = stackalloc byte[64];
        if (ReadAt(s, 0, ident) < 52) return null;
        if (ident[0] != 0x7F || ident[1] != (byte)'E' || ident[2] != (byte)'L' || ident[3] != (byte)'F') return null;
        var is64 = ident[4] switch { 1 => false, 2 => true, _ => (bool?)null };
        if (is64 is null || ident[5] != 1) return null; // little-endian only (every architecture we support)
        var b64 = is64.Value;
        if (b64 && ReadAt(s, 0, ident) < 64) return null;

        var type = BinaryPrimitives.ReadUInt16LittleEndian(ident[16..]);
        var machine = BinaryPrimitives.ReadUInt16LittleEndian(ident[18..]);
        if (type != TypeDyn) return null;
        long phoff;
        int phentsize, phnum;
        uint flags;
        if (b64)
        {
            phoff = checked((long)BinaryPrimitives.ReadUInt64LittleEndian(ident[32..]));
            flags = BinaryPrimitives.ReadUInt32LittleEndian(ident[48..]);
            phentsize = BinaryPrimitives.ReadUInt16LittleEndian(ident[54..]);
            phnum = BinaryPrimitives.ReadUInt16LittleEndian(ident[56..]);
        }
        else
        {
            phoff = BinaryPrimitives.ReadUInt32LittleEndian(ident[28..]);
            flags = BinaryPrimitives.ReadUInt32LittleEndian(ident[36..]);
            phentsize = BinaryPrimitives.ReadUInt16LittleEndian(ident[42..]);
            phnum = BinaryPrimitives.ReadUInt16LittleEndian(ident[44..]);
        }
        if (phnum == 0 || phentsize < (b64 ? 56 : 32)) return new ElfSharedObject(b64, machine, flags, null, []);

        var ph = new byte[phentsize * phnum];
        if (ReadAt(s, phoff, ph) != ph.Length) return null;
        var loads = new List<(ulong Vaddr, ulong Offset, ulong Filesz)>();
        ulong dynOffset = 0, dynSize = 0, interpOffset = 0, interpSize = 0;
        for (var i = 0; i < phnum; i++)
        {
            var p = ph.AsSpan(i * phentsize, phentsize);
            uint ptype = BinaryPrimitives.ReadUInt32LittleEndian(p);
            ulong offset, vaddr, filesz;
            if (b64)
            {
                offset = BinaryPrimitives.ReadUInt64LittleEndian(p[8..]);
                vaddr = BinaryPrimitives.ReadUInt64LittleEndian(p[16..]);
                filesz = BinaryPrimitives.ReadUInt64LittleEndian(p[32..]);
            }
            else
            {
                offset = BinaryPrimitives.ReadUInt32LittleEndian(p[4..]);
                vaddr = BinaryPrimitives.ReadUInt32LittleEndian(p[8..]);
                filesz = BinaryPrimitives.ReadUInt32LittleEndian(p[16..]);
            }
            if (ptype == PtLoad) loads.Add((vaddr, offset, filesz));
            else if (ptype == PtDynamic) { dynOffset = offset; dynSize = filesz; }
            else if (ptype == PtInterp) { interpOffset = offset; interpSize = filesz; }
        }
        string? interpreter = null;
        if (interpSize is > 1 and < 4096)
        {
            var buffer = new byte[(int)interpSize];
            if (ReadAt(s, checked((long)interpOffset), buffer) == buffer.Length)
            {
                var end = Array.IndexOf(buffer, (byte)0);
                interpreter = Encoding.UTF8.GetString(buffer, 0, end < 0 ? buffer.Length : end);
            }
        }
        if (dynSize == 0 || dynSize > 1 << 20) return new ElfSharedObject(b64, machine, flags, null, [], interpreter);

        var dyn = new byte[(int)dynSize];
        if (ReadAt(s, checked((long)dynOffset), dyn) != dyn.Length) return null;
        var entrySize = b64 ? 16 : 8;
        ulong strtab = 0;
        var hasStrtab = false;
        long soname = -1;
        var needed = new List<long>();
        for (var at = 0; at + entrySize <= dyn.Length; at += entrySize)
        {
            long tag;
            ulong val;
            if (b64)
            {
                tag = BinaryPrimitives.ReadInt64LittleEndian(dyn.AsSpan(at));
                val = BinaryPrimitives.ReadUInt64LittleEndian(dyn.AsSpan(at + 8));
            }
            else
            {
                tag = BinaryPrimitives.ReadInt32LittleEndian(dyn.AsSpan(at));
                val = BinaryPrimitives.ReadUInt32LittleEndian(dyn.AsSpan(at + 4));
            }
            if (tag == DtNull) break;
            if (tag == DtStrtab) { strtab = val; hasStrtab = true; }
            else if (tag == DtSoname) soname = (long)val;
            else if (tag == DtNeeded) needed.Add((long)val);
        }
        if (!hasStrtab) return new ElfSharedObject(b64, machine, flags, null, [], interpreter);

        // glibc's ldconfig uses the first PT_LOAD's (vaddr - offset) as the load bias; prefer the segment that holds the table.
        long? strtabOffset = null;
        foreach (var (vaddr, offset, filesz) in loads)
            if (strtab >= vaddr && strtab < vaddr + Math.Max(filesz, 1)) { strtabOffset = checked((long)(strtab - vaddr + offset)); break; }
        if (strtabOffset is null && loads.Count > 0) strtabOffset = checked((long)(strtab - (loads[0].Vaddr - loads[0].Offset)));
        if (strtabOffset is null) return new ElfSharedObject(b64, machine, flags, null, [], interpreter);

        string? ReadString(long index)
        {
            if (index < 0) return null;
            var buffer = new byte[512];
            var n = ReadAt(s, strtabOffset.Value + index, buffer);
            var end = Array.IndexOf(buffer, (byte)0, 0, n);
            return end < 0 ? null : Encoding.UTF8.GetString(buffer, 0, end);
        }

        var names = needed.Select(ReadString).Where(n => n is not null).Select(n => n!).ToList();
        return new ElfSharedObject(b64, machine, flags, ReadString(soname), names, interpreter);
    }

    static int ReadAt(Stream s, long offset, Span<byte> buffer)
    {
        if (offset < 0 || offset >= s.Length) return 0;
        s.Position = offset;
        var total = 0;
        while (total < buffer.Length)
        {
            var n = s.Read(buffer[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }
}
