namespace Initrd.Testing;

/// <summary>Locates the repository the tests were built from (the folder holding Initrd.Sdk.sln).</summary>
public static class RepositoryLayout
{
    static readonly Lazy<string> RootLazy = new(() =>
    {
        var recorded = typeof(RepositoryLayout).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyMetadataAttribute), false)
            .Cast<System.Reflection.AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "InitrdRepositoryRoot")?.Value;
        if (!string.IsNullOrEmpty(recorded) && File.Exists(Path.Combine(recorded, "Initrd.Sdk.sln"))) return Path.GetFullPath(recorded);
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Initrd.Sdk.sln"))) return dir.FullName;
        throw new InvalidOperationException($"Initrd.Sdk.sln not found above {AppContext.BaseDirectory}");
    });

    public static string Root => RootLazy.Value;

    public static string SdkProps => Path.Combine(Root, "sdk", "Sdk", "Sdk.props");

    public static string SdkTargets => Path.Combine(Root, "sdk", "Sdk", "Sdk.targets");

    /// <summary>A cache folder shared by test runs (packages, metadata), so tests do not download twice.</summary>
    public static string TestCache
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = string.IsNullOrEmpty(xdg) ? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache") : xdg;
            var dir = Path.Combine(root, "initrd-sdk-tests");
            Directory.CreateDirectory(dir);
            return dir;
        }
    }
}
