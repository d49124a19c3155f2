using Initrd.Formats.Common;
using Initrd.Formats.Compression;
using Initrd.Formats.Cpio;
using Initrd.Formats.Tree;

namespace Initrd.Image.Pack;

/// <summary>A CPU vendor's early microcode blob, prepended to the initrd uncompressed.</summary>
public sealed record MicrocodeBlob(string Vendor, string HostPath);

/// <summary>The result of writing an initrd.</summary>
public sealed record CpioImageSummary(int EntryCount, long UncompressedBytes, long FileBytes);

/// <summary>
/// Writes an initrd: an optional uncompressed early-microcode cpio, then the image tree as one
/// reproducible newc archive through the chosen compressor. The output appears only when complete:
/// it is written to a temporary file beside the target and renamed over it.
/// </summary>
public static class CpioImageWriter
{
    /// <summary>The early-microcode vendor file names the kernel looks for (kernel/x86/microcode/&lt;name&gt;).</summary>
    public static readonly IReadOnlySet<string> MicrocodeVendors = new HashSet<string>(StringComparer.Ordinal) { "GenuineIntel", "AuthenticAMD" };

    public static CpioImageSummary Write(IReadOnlyList<TreeEntry> entries, string outputPath, CompressionFormat compression,
        int level, long? sourceDateEpoch, IReadOnlyList<MicrocodeBlob> microcode, CancellationToken cancellationToken = default)
    {
        return StagedOutput.Write(outputPath, tmp =>
        {
            CpioWriteSummary summary;
            using (var file = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                if (microcode.Count > 0)
                    CpioArchiveWriter.Write(file, MicrocodeEntries(microcode, sourceDateEpoch ?? 0), new CpioWriteOptions { SourceDateEpoch = sourceDateEpoch }, cancellationToken);
                using (var compressed = CompressionStreams.OpenWrite(file, compression, level, leaveOpen: true))
                {
                    summary = CpioArchiveWriter.Write(compressed, entries, new CpioWriteOptions { SourceDateEpoch = sourceDateEpoch }, cancellationToken);
                }
            }
            return new CpioImageSummary(summary.EntryCount, summary.BytesWritten, new FileInfo(tmp).Length);
        });
    }

    /// <summary>kernel/x86/microcode/&lt;Vendor&gt;.bin with its parent directories, as the kernel's early loader expects.</summary>
    public static IEnumerable<TreeEntry> MicrocodeEntries(IReadOnlyList<MicrocodeBlob> blobs, long mtime)
    {
        foreach (var dir in new[] { "kernel", "kernel/x86", "kernel/x86/microcode" })
            yield return new TreeEntry { Path = dir, Kind = TreeEntryKind.Directory, Permissions = 0b111_101_101, ModificationTime = mtime };
        foreach (var blob in blobs.OrderBy(b => b.Vendor, StringComparer.Ordinal))
        {
            if (!MicrocodeVendors.Contains(blob.Vendor))
                throw new ArgumentException($"microcode vendor '{blob.Vendor}' is not one the kernel loads early (GenuineIntel, AuthenticAMD)");
            yield return new TreeEntry
            {
                Path = $"kernel/x86/microcode/{blob.Vendor}.bin",
                Kind = TreeEntryKind.RegularFile,
                Permissions = 0b110_100_100,
                ModificationTime = mtime,
                Size = new FileInfo(blob.HostPath).Length,
                ContentPath = blob.HostPath,
            };
        }
    }
}
