using System.Globalization;

namespace Initrd.Formats.Common;

/// <summary>
/// Temporary names for outputs that must appear whole or not at all: <c>.NAME.tmp-PID-RANDOM</c> beside the
/// target, renamed over it when complete. A writer that was killed leaves its temporary behind; the next
/// writer of the same target removes every such sibling whose process is gone, so a crash never leaves
/// debris that grows or that a later build could mistake for output.
/// Images in bin/ are not fsynced before the rename (like a compiler's or linker's output): a killed build leaves no
/// partial image, and durability across power loss is left to the file system. Cache entries, which later builds
/// trust, and the lock file, which users commit, are flushed to disk by their writers.
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
        return FreshName(full);
    }

    /// <summary>A new sibling name of the temporary kind for <paramref name="fullTarget"/> (nothing is cleaned up).</summary>
    static string FreshName(string fullTarget) =>
        Path.Combine(Path.GetDirectoryName(fullTarget)!, $".{Path.GetFileName(fullTarget)}{Infix}{Environment.ProcessId}-{Guid.NewGuid():N}");

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
            Replace(temporary, target);
            return result;
        }
        finally
        {
            if (File.Exists(temporary)) File.Delete(temporary);
        }
    }

    /// <summary>As <see cref="Write{T}"/>, for writers with nothing to return.</summary>
    public static void Write(string target, Action<string> write) => Write(target, temporary => { write(temporary); return true; });

    /// <summary>
    /// Puts the file <paramref name="temporary"/> in the place of <paramref name="target"/>. An existing target is first
    /// renamed aside and removed afterwards on another thread: renaming over an existing file makes ext4
    /// (auto_da_alloc) allocate and start writing back the new file inside rename(2) — about 20 ms for a 45 MB UKI,
    /// a fifth of its whole pack stage — and unlinking a large file frees its pages and blocks. Between the two renames
    /// the target is absent for an instant; it is never partial. A writer that needs the file on disk flushes it.
    /// </summary>
    static void Replace(string temporary, string target)
    {
        string? aside = null;
        if (File.Exists(target))
        {
            aside = FreshName(Path.GetFullPath(target).TrimEnd('/'));   // the leftovers were swept for the temporary
            try
            {
                File.Move(target, aside);
            }
            catch (IOException)
            {
                aside = null;   // gone meanwhile, or not movable: plain rename over it
            }
        }
        try
        {
            File.Move(temporary, target, overwrite: true);
        }
        catch when (aside is not null)
        {
            try { File.Move(aside, target); } catch (IOException) { /* the next writer removes the leftover */ }
            throw;
        }
        if (aside is not null)
        {
            // A leftover of a process that ended first is removed by the next TemporaryPathFor of this target.
            ThreadPool.UnsafeQueueUserWorkItem(static path =>
            {
                try { File.Delete(path); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            }, aside, preferLocal: false);
        }
    }

    static bool IsRunning(int pid) => pid == Environment.ProcessId || Directory.Exists($"/proc/{pid}");
}
