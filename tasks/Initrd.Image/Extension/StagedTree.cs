using Initrd.Formats.Tree;
using Initrd.Image.Pack;

namespace Initrd.Image.Extension;

/// <summary>
/// A tree written out as a real folder (<see cref="TreeMaterializer"/>) for a host program that reads one
/// (mkfs.erofs, mksquashfs). Times are left to the program (all of them take a fixed timestamp). Disposing removes
/// the folder.
/// </summary>
public sealed class StagedTree : IDisposable
{
    StagedTree(string root, MaterializedTree tree)
    {
        Root = root;
        OwnersApplied = tree.OwnersApplied;
        OwnersLost = [.. tree.OwnersLost.Select(p => "/" + p)];
        Skipped = [.. tree.Skipped.Select(p => "/" + p)];
    }

    public string Root { get; }

    /// <summary>Whether the folder carries the manifest's owners (only when running as root).</summary>
    public bool OwnersApplied { get; }

    /// <summary>Paths owned by someone other than root:root whose owner the folder could not carry.</summary>
    public IReadOnlyList<string> OwnersLost { get; }

    /// <summary>Paths left out (device nodes when not root, sockets).</summary>
    public IReadOnlyList<string> Skipped { get; }

    public static StagedTree Create(IReadOnlyList<TreeEntry> entries, string root, CancellationToken cancellationToken = default)
    {
        TreeMaterializer.Remove(root);
        try
        {
            return new StagedTree(root, TreeMaterializer.Write(entries, root, cancellationToken: cancellationToken));
        }
        catch (Exception e) when (e is InvalidDataException or IOException)
        {
            TreeMaterializer.Remove(root);
            throw new ExtensionException(ExtensionErrorKind.UnsupportedEntry, e.Message);
        }
        catch
        {
            TreeMaterializer.Remove(root);
            throw;
        }
    }

    public void Dispose() => TreeMaterializer.Remove(Root);
}
