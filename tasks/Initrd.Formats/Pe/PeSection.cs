namespace Initrd.Formats.Pe;

/// <summary>One entry of a PE image's section table, as read (see <see cref="PeLayout"/> for the fields).</summary>
/// <param name="Name">The name without its NUL padding (".text", ".sbat").</param>
/// <param name="Index">Zero-based position in the section table.</param>
/// <param name="HeaderOffset">File offset of this 40-byte section header.</param>
public sealed record PeSection(
    string Name,
    uint VirtualSize,
    uint VirtualAddress,
    uint SizeOfRawData,
    uint PointerToRawData,
    uint Characteristics,
    int Index,
    int HeaderOffset)
{
    /// <summary>Bytes the section occupies in memory: <see cref="VirtualSize"/>, or <see cref="SizeOfRawData"/> when that is 0.</summary>
    public uint MemorySize => VirtualSize != 0 ? VirtualSize : SizeOfRawData;

    /// <summary>First RVA after the section in memory (not rounded to the section alignment).</summary>
    public ulong VirtualEnd => (ulong)VirtualAddress + MemorySize;

    /// <summary>
    /// Bytes of file data that are mapped: the smaller of <see cref="MemorySize"/> and <see cref="SizeOfRawData"/>.
    /// This is the section's content without the file alignment padding (what <c>objcopy --dump-section</c> writes).
    /// </summary>
    public uint ContentLength => Math.Min(MemorySize, SizeOfRawData);

    /// <summary>First file offset after the section's raw data.</summary>
    public ulong RawEnd => (ulong)PointerToRawData + SizeOfRawData;
}

/// <summary>One data directory of the optional header: an RVA (a file offset for the certificate table) and a size.</summary>
public readonly record struct PeDataDirectory(uint VirtualAddress, uint Size)
{
    public bool IsEmpty => VirtualAddress == 0 && Size == 0;
}
