using System.Diagnostics;
using System.Globalization;
using Initrd.Apt.Fetch;
using Initrd.Apt.Repositories;
using Initrd.Image.Install;
using Initrd.Sdk.Tasks.Common;
using Microsoft.Build.Framework;

namespace Initrd.Sdk.Tasks;

/// <summary>
/// Unpacks the locked packages into the shared install tree for this package set (reused when another
/// build already made it) and records its location in the stamp file for the later stages.
/// </summary>
public sealed class InstallImageTree : InitrdTask
{
    [Required] public string LockFile { get; set; } = "";

    [Required] public string CacheDirectory { get; set; } = "";

    /// <summary>Written last: the install tree's folder, one line.</summary>
    [Required] public string StampFile { get; set; } = "";

    [Output] public string? TreeDirectory { get; set; }

    protected override void ExecuteCore()
    {
        var lockPath = FullPath(LockFile);
        var locked = LockFiles.Read(lockPath);
        var watch = Stopwatch.StartNew();

        // The cache may have lost packages since the fetch stage ran (or never ran: a manual target call):
        // fetching is a no-op for what is present, and failing here names the package.
        IReadOnlyList<FetchedPackage> fetched;
        using (var client = CacheLayout.CreateClient(CacheDirectory))
        {
            try
            {
                fetched = new PackageFetcher(client).FetchAsync(locked.Packages).GetAwaiter().GetResult();
            }
            catch (PackageFetchException e)
            {
                foreach (var error in RepositoryErrors.ForPackages(e, locked, lockPath)) LogError(error);
                return;
            }
        }
        var archives = fetched
            .OrderBy(f => f.Package.Name, StringComparer.Ordinal).ThenBy(f => f.Package.Architecture, StringComparer.Ordinal)
            .Select(f => new PackageArchive(f.Package.Name, f.Package.Version, f.Package.Architecture, f.Path))
            .ToList();

        InstallTree tree;
        try
        {
            tree = InstallTreeBuilder.GetOrBuild(archives, CacheLayout.Trees(CacheDirectory), locked.PackageSetHash());
        }
        catch (InstallException e)
        {
            throw new BuildErrorException(e, lockPath, Strings.InstallFailed, e.Package ?? "(cache)", e.Message.TrimEnd('.')) { File = lockPath };
        }
        foreach (var overlap in tree.Overlaps)
            LogInfo(MessageImportance.Low, $"Install: /{overlap.Path} is shipped by {overlap.PreviousPackage} and {overlap.Package}; {overlap.Package}'s copy is used");

        TreeDirectory = tree.Directory;
        var stamp = FullPath(StampFile);
        Directory.CreateDirectory(Path.GetDirectoryName(stamp)!);
        File.WriteAllText(stamp, tree.Directory + "\n");
        LogInfo(MessageImportance.High, string.Format(CultureInfo.InvariantCulture,
            "Install: {0} packages → {1} ({2}) in {3:F1} s", archives.Count, tree.Directory, tree.Built ? "unpacked" : "cached", watch.Elapsed.TotalSeconds));
    }
}
