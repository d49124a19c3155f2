using System.Diagnostics;
using System.Globalization;
using Initrd.Formats.Compression;
using Initrd.Formats.Tree;
using Initrd.Image.Pack;
using Initrd.Sdk.Tasks.Common;
using Microsoft.Build.Framework;

namespace Initrd.Sdk.Tasks;

/// <summary>Packs the finalized tree manifest into bin/…/&lt;name&gt;.cpio.zst (or .xz/.gz/none).</summary>
public sealed class WriteCpioImage : InitrdTask
{
    [Required] public string Manifest { get; set; } = "";

    [Required] public string OutputFile { get; set; } = "";

    public string Compression { get; set; } = "zstd";

    public int CompressionLevel { get; set; } = 3;

    /// <summary>Seconds since the epoch; empty: no clamping (finalize already stamped new entries).</summary>
    public string? SourceDateEpoch { get; set; }

    /// <summary>ImageMicrocode items: files whose Vendor metadata (or file name) is GenuineIntel or AuthenticAMD.</summary>
    public ITaskItem[] Microcode { get; set; } = [];

    protected override void ExecuteCore()
    {
        var format = Compression switch
        {
            "zstd" => CompressionFormat.Zstd,
            "xz" => CompressionFormat.Xz,
            "gzip" => CompressionFormat.Gzip,
            "none" => CompressionFormat.None,
            _ => throw new BuildErrorException(Strings.UnsupportedCompression, Compression),
        };
        var epoch = ParseSourceDateEpoch(SourceDateEpoch);
        var microcode = Microcode.Select(m =>
        {
            var vendor = m.GetMetadata("Vendor");
            if (string.IsNullOrEmpty(vendor)) vendor = Path.GetFileNameWithoutExtension(m.ItemSpec);
            if (!CpioImageWriter.MicrocodeVendors.Contains(vendor))
                throw new BuildErrorException(Strings.UnknownMicrocodeVendor, m.ItemSpec, vendor) { File = m.ItemSpec };
            return new MicrocodeBlob(vendor, FullPath(m.ItemSpec));
        }).ToList();

        var entries = TreeManifest.Read(Manifest);
        var watch = Stopwatch.StartNew();
        CpioImageSummary summary;
        try
        {
            summary = CpioImageWriter.Write(entries, OutputFile, format, CompressionLevel, epoch, microcode);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IOException)
        {
            throw new BuildErrorException(e, Manifest, Strings.CpioWriteFailed, OutputFile, e.Message) { File = Manifest };
        }
        LogInfo(MessageImportance.High, string.Format(CultureInfo.InvariantCulture,
            "Pack: {0} entries, {1:F1} MiB → {2} ({3:F1} MiB, {4}) in {5:F1} s",
            summary.EntryCount, summary.UncompressedBytes / 1048576.0, OutputFile, summary.FileBytes / 1048576.0, Compression, watch.Elapsed.TotalSeconds));
    }
}
