using System.Diagnostics;
using System.Globalization;
using Initrd.Apt.Fetch;
using Initrd.Apt.Repositories;
using Initrd.Sdk.Tasks.Common;
using Microsoft.Build.Framework;

namespace Initrd.Sdk.Tasks;

/// <summary>Brings every package of the lock into the shared cache (parallel, verified, atomic).</summary>
public sealed class FetchImagePackages : InitrdTask
{
    [Required] public string LockFile { get; set; } = "";

    [Required] public string CacheDirectory { get; set; } = "";

    protected override void ExecuteCore()
    {
        var lockPath = FullPath(LockFile);
        var locked = LockFiles.Read(lockPath);
        var watch = Stopwatch.StartNew();
        using var client = CacheLayout.CreateClient(CacheDirectory);
        var lastReport = Stopwatch.StartNew();
        var fetcher = new PackageFetcher(client)
        {
            Progress = (done, total, bytes) =>
            {
                if (bytes == 0 || (done < total && lastReport.Elapsed < TimeSpan.FromSeconds(2))) return;
                lastReport.Restart();
                LogInfo(MessageImportance.Normal, string.Format(CultureInfo.InvariantCulture,
                    "Fetch: {0}/{1} packages, {2:F1} MiB downloaded", done, total, bytes / 1048576.0));
            },
        };
        IReadOnlyList<FetchedPackage> fetched;
        try
        {
            fetched = fetcher.FetchAsync(locked.Packages).GetAwaiter().GetResult();
        }
        catch (PackageFetchException e)
        {
            foreach (var error in RepositoryErrors.ForPackages(e, locked, lockPath)) LogError(error);
            return;
        }
        var downloaded = fetched.Where(f => f.Downloaded).ToList();
        LogInfo(MessageImportance.High, string.Format(CultureInfo.InvariantCulture,
            "Fetch: {0} packages ready ({1} downloaded, {2:F1} MiB) in {3:F1} s",
            fetched.Count, downloaded.Count, downloaded.Sum(f => f.Package.Size) / 1048576.0, watch.Elapsed.TotalSeconds));
    }
}
