using Initrd.Apt.Repositories;

namespace Initrd.Sdk.Tasks.Common;

/// <summary>
/// The shared cache ($(InitrdCacheDirectory)), one folder per kind of content:
/// <c>repository/</c> (everything downloaded from repositories: signed metadata and .debs, content-addressed),
/// <c>trees/</c> (install trees keyed by the locked package set). Clean never touches it.
/// </summary>
public static class CacheLayout
{
    public static string Repository(string cacheDirectory) => Path.Combine(cacheDirectory, "repository");

    public static string Trees(string cacheDirectory) => Path.Combine(cacheDirectory, "trees");

    public static RepositoryClient CreateClient(string cacheDirectory, Action<string>? log = null) =>
        new(new MetadataCache(Repository(cacheDirectory))) { Log = log };
}
