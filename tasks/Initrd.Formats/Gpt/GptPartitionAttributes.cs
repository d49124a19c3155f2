namespace Initrd.Formats.Gpt;

/// <summary>
/// The 64-bit Attributes field of a GPT partition entry: bits 0–2 from the UEFI Specification (5.3.3, "Defined GPT Partition Entry —
/// Attributes"), bits 59, 60 and 63 from the Discoverable Partitions Specification, which
/// gives them meaning for its partition types (bits 48–63 are type-specific).
/// </summary>
[Flags]
public enum GptPartitionAttributes : ulong
{
    None = 0,

    /// <summary>Bit 0, "Required Partition": platform firmware needs it; partitioning tools must not delete it.</summary>
    RequiredPartition = 1UL << 0,

    /// <summary>Bit 1, "No Block IO Protocol": firmware must not expose the partition as a block device.</summary>
    NoBlockIOProtocol = 1UL << 1,

    /// <summary>Bit 2, "Legacy BIOS Bootable".</summary>
    LegacyBiosBootable = 1UL << 2,

    /// <summary>Bit 59, <c>SD_GPT_FLAG_GROWFS</c>: grow the file system to the partition when mounted.</summary>
    GrowFileSystem = 1UL << 59,

    /// <summary>
    /// Bit 60, <c>SD_GPT_FLAG_READ_ONLY</c>: mount read-only. The Discoverable Partitions Specification recommends it
    /// unconditionally for Verity and Verity signature partitions; systemd-repart 257 sets it on a sysext's erofs data
    /// partition and its Verity partition (not on the signature partition).
    /// </summary>
    ReadOnly = 1UL << 60,

    /// <summary>Bit 63, <c>SD_GPT_FLAG_NO_AUTO</c>: exclude the partition from automatic discovery and mounting.</summary>
    NoAuto = 1UL << 63,
}
