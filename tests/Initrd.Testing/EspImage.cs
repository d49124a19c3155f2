namespace Initrd.Testing;

/// <summary>
/// An EFI System Partition as a file: FAT32 made with <c>mkfs.vfat</c> (dosfstools) and filled with <c>mmd</c> and
/// <c>mcopy</c> (mtools), which work on the image file directly, so no root, loop device or mount is needed.
/// The result is the content of a partition, to be laid into a GPT disk (see the boot tests' UefiDisk).
/// </summary>
public static class EspImage
{
    const long MiB = 1 << 20;

    /// <summary>FAT32 needs at least 65525 clusters; with 512-byte clusters that is just under 33 MiB.</summary>
    public const long MinimumSize = 64 * MiB;

    /// <summary>
    /// Writes a FAT32 image to <paramref name="imagePath"/> holding <paramref name="files"/>: each pair is a path on
    /// the ESP ("EFI/BOOT/BOOTX64.EFI", '/'-separated, folders created as needed) and the host file to copy there.
    /// The size is the files' total with room to spare, at least <see cref="MinimumSize"/>, a whole number of MiB.
    /// </summary>
    public static void Create(string imagePath, IEnumerable<(string EspPath, string HostFile)> files, string label = "ESP")
    {
        var list = files.ToList();
        var mkfs = ReferenceTool.Require("mkfs.vfat", "dosfstools");
        var mmd = ReferenceTool.Require("mmd", "mtools");
        var mcopy = ReferenceTool.Require("mcopy", "mtools");

        var payload = list.Sum(f => new FileInfo(f.HostFile).Length);
        var size = Math.Max(MinimumSize, (payload + payload / 8 + 16 * MiB + MiB - 1) / MiB * MiB);
        File.Delete(imagePath);
        // -C: create the file (size in KiB); -F 32: FAT32, which UEFI requires of an ESP on a hard disk;
        // a fixed volume ID so the image depends only on its content.
        Check(ReferenceTool.Run(mkfs, ["-C", "-F", "32", "-n", label, "-i", "12345678", imagePath, (size / 1024).ToString()]), "mkfs.vfat");

        // mtools refuses images whose geometry it doubts unless told not to check; the image is ours.
        var env = new Dictionary<string, string> { ["MTOOLS_SKIP_CHECK"] = "1" };
        var made = new HashSet<string>(StringComparer.OrdinalIgnoreCase); // FAT names are case-insensitive
        foreach (var (espPath, hostFile) in list)
        {
            var parts = espPath.Trim('/').Split('/', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length == 0) throw new ArgumentException($"'{espPath}' names no file on the ESP", nameof(files));
            for (var i = 1; i < parts.Length; i++)
            {
                var folder = "::/" + string.Join('/', parts[..i]);
                if (made.Add(folder))
                    Check(ReferenceTool.Run(mmd, ["-i", imagePath, folder], environment: env), "mmd");
            }
            Check(ReferenceTool.Run(mcopy, ["-i", imagePath, "-o", hostFile, "::/" + string.Join('/', parts)], environment: env), "mcopy");
        }
    }

    /// <summary>The ESP's listing as <c>mdir -/ -b</c> prints it (one path per line), for assertions.</summary>
    public static string List(string imagePath)
    {
        var mdir = ReferenceTool.Require("mdir", "mtools");
        var r = ReferenceTool.Run(mdir, ["-i", imagePath, "-/", "-b", "::/"], environment: new Dictionary<string, string> { ["MTOOLS_SKIP_CHECK"] = "1" });
        Check(r, "mdir");
        return r.StandardOutput;
    }

    static void Check(ToolResult r, string what)
    {
        if (r.ExitCode != 0) throw new InvalidOperationException($"{what} failed: {r}");
    }
}
