using Initrd.Formats.Common;
using Initrd.Formats.Tree;

namespace Initrd.Image.Pack;

/// <summary>
/// Writes an image tree as a plain directory (ImageFormat=directory): for inspection, for
/// `mkfs.ext4 -d`, for containers. Built in a temporary sibling (<see cref="TreeMaterializer"/>) and renamed into
/// place, so a failed write never leaves a half tree. Without root, owners stay the current user's and device nodes
/// are skipped (reported), since a directory cannot carry them the way a manifest does.
/// </summary>
public static class DirectoryImageWriter
{
    public sealed record Summary(int EntryCount, long ContentBytes, IReadOnlyList<string> SkippedDeviceNodes, bool OwnershipApplied);

    public static Summary Write(IReadOnlyList<TreeEntry> entries, string outputDirectory, long? sourceDateEpoch)
    {
        var full = Path.GetFullPath(outputDirectory).TrimEnd('/');
        var tmp = StagedOutput.TemporaryPathFor(full);
        try
        {
            var tree = TreeMaterializer.Write(entries, tmp, times: true, clamp: sourceDateEpoch);
            if (Directory.Exists(full)) TreeMaterializer.Remove(full);
            Directory.Move(tmp, full);
            var devices = entries.Where(e => e.Kind is TreeEntryKind.CharacterDevice or TreeEntryKind.BlockDevice).Select(e => e.Path).ToHashSet(StringComparer.Ordinal);
            return new Summary(entries.Count, tree.ContentBytes, [.. tree.Skipped.Where(devices.Contains)], tree.OwnersApplied);
        }
        finally
        {
            TreeMaterializer.Remove(tmp);
        }
    }
}
