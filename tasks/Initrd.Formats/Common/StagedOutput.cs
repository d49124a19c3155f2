using System.Globalization;

namespace Initrd.Formats.Common;

/// <summary>
/// Temporary names for outputs that must appear whole or not at all: <c>.NAME.tmp-PID-RANDOM</c> beside the
/// target, renamed over it when complete. A writer that was killed leaves its temporary behind; the next
/// writer of the same target removes every such sibling whose process is gone, so a crash never leaves
/// debris that grows or that a later build could mistake for output.
/// Images in bin/ are not fsynced before the rename (like a compiler's or linker's output): a killed build leaves no
/// partial image, and durability across power loss is left to the file system. Cache entries, which later builds
/// trust, are flushed to disk by their writers.
/// </summary>
public static class StagedOutput
{
    const string Infix = ".tmp-";

    /// <summary>A fresh temporary path for <paramref name="target"/> (file or folder), after removing dead writers' leftovers.</summary>
    public static string TemporaryPathFor(string target)
    {
        var full = Path.GetFullPath(target).TrimEnd('/');
        var directory = Path.GetDirectoryName(full)!;
        var prefix = "." + Path.GetFileName(full) + Infix;
        Directory.CreateDirectory(directory);
        foreach (var leftover in Directory.EnumerateFileSystemEntries(directory, prefix + "*"))
        {
            var rest = Path.GetFileName(leftover)[prefix.Length..];
            var dash = rest.IndexOf('-');
            if (dash <= 0 || !int.TryParse(rest[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) || IsRunning(pid))
                continue;
            try
            {
                if (Directory.Exists(leftover)) Directory.Delete(leftover, recursive: true);
                else File.Delete(leftover);
            }
            catch (IOException) { /* another writer is cleaning up too */ }
        }
        return Path.Combine(directory, $"{prefix}{Environment.ProcessId}-{Guid.NewGuid():N}");
    }

    /// <summary>
    /// Writes <paramref name="target"/> whole or not at all: <paramref name="write"/> fills a temporary path (see
    /// <see cref="TemporaryPathFor"/>), which is then renamed over the target; if it throws, the temporary is removed.
    /// </summary>
    public static T Write<T>(string target, Func<string, T> write)
    {
        var temporary = TemporaryPathFor(target);
        try
        {
            var result = write(temporary);
            File.Move(temporary, target, overwrite: true);
            return result;
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>As <see cref="Write{T}"/>, for writers with nothing to return.</summary>
    public static void Write(string target, Action<string> write) => Write(target, temporary => { write(temporary); return true; });

    static bool IsRunning(int pid) => pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}");
}
