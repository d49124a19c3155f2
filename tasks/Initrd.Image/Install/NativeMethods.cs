using System.Runtime.InteropServices;

namespace Initrd.Image.Install;

internal static partial class NativeMethods
{
    /// <summary>link(2): a new name for an existing file; does not follow a symlink at either path's last component.</summary>
    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    internal static partial int Link(string existingPath, string newPath);
}
