using Initrd.Formats.Tree;

namespace Initrd.Image.Uki;

/// <summary>
/// Finds what a UKI is built from in an install tree (its manifest): systemd-stub from systemd-boot-efi and the
/// kernel image from a linux-image package. Never the build machine's own /boot or /usr/lib.
/// </summary>
public static class BootFiles
{
    /// <summary>Where systemd-boot-efi puts the stubs (Debian installs them under /usr/lib, merged-/usr).</summary>
    public const string StubDirectory = "usr/lib/systemd/boot/efi";

    /// <summary>The EFI architecture suffix systemd uses in stub names (linuxx64.efi.stub) for a Debian architecture.</summary>
    public static string? EfiArchitecture(string debianArchitecture) => debianArchitecture switch
    {
        "amd64" => "x64",
        "i386" => "ia32",
        "arm64" => "aa64",
        "armhf" or "armel" => "arm",
        "riscv64" => "riscv64",
        "loong64" => "loongarch64",
        _ => null,
    };

    /// <summary>The stub's path in the tree: usr/lib/systemd/boot/efi/linux&lt;arch&gt;.efi.stub or addon&lt;arch&gt;.efi.stub.</summary>
    public static string StubPath(string efiArchitecture, bool addon) =>
        $"{StubDirectory}/{(addon ? "addon" : "linux")}{efiArchitecture}.efi.stub";

    /// <summary>The regular file at <paramref name="path"/> (following symlinks inside the tree), or null.</summary>
    public static TreeEntry? FindFile(IReadOnlyList<TreeEntry> entries, string path) => FindFirstFile(entries, path);

    /// <summary>
    /// The regular file at the first of <paramref name="paths"/> that names one (following symlinks inside the tree),
    /// or null. A path given twice (concatenated archives) counts as its last entry.
    /// </summary>
    public static TreeEntry? FindFirstFile(IReadOnlyList<TreeEntry> entries, params string[] paths)
    {
        var byPath = new Dictionary<string, TreeEntry>(StringComparer.Ordinal);
        foreach (var e in entries) byPath[e.Path] = e;
        return paths.Select(p => Resolve(byPath, p.TrimStart('/'), depth: 0)).FirstOrDefault(e => e is not null);
    }

    /// <summary>
    /// The kernel images in the tree: boot/vmlinuz-&lt;release&gt; (Debian's linux-image packages), sorted by release.
    /// </summary>
    public static IReadOnlyList<TreeEntry> FindKernels(IReadOnlyList<TreeEntry> entries) =>
        [.. entries.Where(e => e.Kind == TreeEntryKind.RegularFile && e.Path.StartsWith("boot/vmlinuz-", StringComparison.Ordinal) && e.Path.IndexOf('/', 5) < 0)
                   .OrderBy(e => e.Path, StringComparer.Ordinal)];

    /// <summary>The kernel release a boot/vmlinuz-&lt;release&gt; entry names.</summary>
    public static string ReleaseOf(TreeEntry kernel) => kernel.Path["boot/vmlinuz-".Length..];

    static TreeEntry? Resolve(Dictionary<string, TreeEntry> byPath, string path, int depth)
    {
        if (depth > 40) return null;
        var parts = path.Split('/', StringSplitOptions.RemoveEmptyEntries);
        var current = new List<string>();
        for (var i = 0; i < parts.Length; i++)
        {
            var part = parts[i];
            if (part == ".") continue;
            if (part == "..")
            {
                if (current.Count > 0) current.RemoveAt(current.Count - 1);
                continue;
            }
            current.Add(part);
            if (!byPath.TryGetValue(string.Join('/', current), out var entry)) return null;
            if (entry.Kind == TreeEntryKind.Symlink)
            {
                var target = entry.LinkTarget ?? "";
                current.RemoveAt(current.Count - 1);
                var rest = string.Join('/', parts.Skip(i + 1));
                var next = target.StartsWith('/') ? target.TrimStart('/') : string.Join('/', current.Append(target));
                return Resolve(byPath, rest.Length == 0 ? next : next + "/" + rest, depth + 1);
            }
            if (i == parts.Length - 1) return entry.Kind == TreeEntryKind.RegularFile ? entry : null;
        }
        return null;
    }
}
