using System.Globalization;
using Initrd.Formats.Tree;
using Initrd.Image.Pack;
using Initrd.Sdk.Tasks.Common;
using Microsoft.Build.Framework;

namespace Initrd.Sdk.Tasks;

/// <summary>Writes the finalized tree as a folder (ImageFormat=directory); a stamp file in obj/ is the stage's output.</summary>
public sealed class WriteDirectoryImage : InitrdTask
{
    [Required] public string Manifest { get; set; } = "";

    [Required] public string OutputDirectory { get; set; } = "";

    public string? SourceDateEpoch { get; set; }

    /// <summary>Touched when the folder is complete (a folder's own time says nothing about its content).</summary>
    [Required] public string StampFile { get; set; } = "";

    protected override void ExecuteCore()
    {
        var epoch = ParseSourceDateEpoch(SourceDateEpoch);
        var output = FullPath(OutputDirectory);
        DirectoryImageWriter.Summary summary;
        try
        {
            summary = DirectoryImageWriter.Write(TreeManifest.Read(Manifest), output, epoch);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            throw new BuildErrorException(ex, Manifest, Strings.DirectoryWriteFailed, output, ex.Message);
        }
        File.WriteAllText(FullPath(StampFile), output + "\n");
        if (summary.SkippedDeviceNodes.Count > 0)
            LogInfo(MessageImportance.Normal, $"Pack: not root, so {summary.SkippedDeviceNodes.Count} device nodes were left out of {output} and owners are the current user's");
        LogInfo(MessageImportance.High, string.Format(CultureInfo.InvariantCulture, "Pack: {0} entries ({1:F1} MiB) → {2}",
            summary.EntryCount, summary.ContentBytes / 1048576.0, output));
    }
}
