using System.Text.RegularExpressions;
using Initrd.Sdk.Tests.Common;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.LocalRepository;

/// <summary>
/// An image project that resolves only against a <see cref="LocalAptRepository"/> on 127.0.0.1 (an explicit
/// ImageRepository item, so the host's apt sources are never read) and uses its own package cache (unless given
/// one to share). Built with the real `dotnet build` through <see cref="ImageProject"/>.
/// </summary>
public sealed partial class HermeticImage : IDisposable
{
    readonly TempDirectory? ownCache;

    public HermeticImage(LocalAptRepository repository, string packages, string extraBody = "", string? cacheDirectory = null, string name = "Image")
    {
        if (cacheDirectory is null)
        {
            ownCache = new TempDirectory("initrd-sdk-cache");
            cacheDirectory = ownCache.Path;
        }
        Repository = repository;
        try
        {
            Project = new ImageProject(Body(repository, packages, extraBody), name, cacheDirectory);
        }
        catch
        {
            ownCache?.Dispose();
            throw;
        }
    }

    public LocalAptRepository Repository { get; }

    public ImageProject Project { get; }

    public string Directory => Project.Directory;

    public string CacheDirectory => Project.CacheDirectory;

    public string LockPath => Path.Combine(Project.Directory, "packages.lock.json");

    public string ImagePath => Path.Combine(Project.OutputDirectory, Project.Name + ".cpio.zst");

    public string IntermediateDirectory => Path.Combine(Project.Directory, "obj", "Debug");

    public string TreesDirectory => Path.Combine(CacheDirectory, "trees");

    /// <summary>The project's content between the SDK imports: a Release named like the suite, the repository, packages.</summary>
    public static string Body(LocalAptRepository repository, string packages, string extraBody = "") => $"""
          <PropertyGroup>
            <Release>{repository.Suite}</Release>
          </PropertyGroup>
          <ItemGroup>
            {repository.ItemXml}
            <ImagePackage Include="{packages}" />
          </ItemGroup>
        {extraBody}
        """;

    /// <summary>Rewrites the project file (same SDK imports as <see cref="ImageProject"/>) with another body.</summary>
    public void SetBody(string packages, string extraBody = "") =>
        File.WriteAllText(Project.ProjectPath, $"""
            <Project>
              <Import Project="{RepositoryLayout.SdkProps}" />
            {Body(Repository, packages, extraBody)}
              <Import Project="{RepositoryLayout.SdkTargets}" />
            </Project>
            """);

    public BuildResult Build(params string[] extra) => Project.Run("build", extra);

    public BuildResult Restore(params string[] extra) => Project.Run("restore", extra);

    /// <summary>The package names the lock pins, sorted.</summary>
    public IReadOnlyList<string> LockedPackages()
    {
        using var doc = System.Text.Json.JsonDocument.Parse(File.ReadAllBytes(LockPath));
        return doc.RootElement.GetProperty("packages").EnumerateObject().Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
    }

    /// <summary>The paths (no leading "./") of the image, as `zstd -dc | cpio -it` lists them.</summary>
    public IReadOnlyList<string> ListImage()
    {
        var zstd = ReferenceTool.Require("zstd", "zstd");
        var cpio = ReferenceTool.Require("cpio", "cpio");
        var test = ReferenceTool.Run(zstd, ["-t", "-q", ImagePath]);
        Assert.True(test.ExitCode == 0, test.ToString());
        var raw = ReferenceTool.Run(zstd, ["-dc", ImagePath]);
        Assert.True(raw.ExitCode == 0, raw.ToString());
        var list = ReferenceTool.Run(cpio, ["-it", "--quiet"], standardInput: raw.StandardOutputBytes);
        Assert.True(list.ExitCode == 0, list.ToString());
        return list.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.StartsWith("./", StringComparison.Ordinal) ? l[2..] : l).ToList();
    }

    /// <summary>Install-tree folders in the cache that are complete (have the "complete" marker).</summary>
    public IReadOnlyList<string> CompleteTrees() =>
        System.IO.Directory.Exists(TreesDirectory)
            ? System.IO.Directory.EnumerateDirectories(TreesDirectory).Where(d => File.Exists(Path.Combine(d, "complete"))).ToList()
            : [];

    /// <summary>Leftovers of an interrupted or failed install-tree build.</summary>
    public IReadOnlyList<string> TemporaryTrees() =>
        System.IO.Directory.Exists(TreesDirectory)
            ? System.IO.Directory.EnumerateFileSystemEntries(TreesDirectory, "*.tmp-*").ToList()
            : [];

    /// <summary>The content-addressed package file for this SHA-256 in the cache.</summary>
    public string CachedPackagePath(string sha256) => Path.Combine(CacheDirectory, "repository", "by-hash", "sha256", sha256);

    public void Dispose()
    {
        Project.Dispose();
        ownCache?.Dispose();
    }

    // ------------------------------------------------------------ assertions

    /// <summary>The build succeeded with no task crash and no error.</summary>
    public static void AssertSucceeded(BuildResult result)
    {
        Assert.True(result.Succeeded, result.ToString());
        Assert.DoesNotContain("MSB4018", result.Output);
        Assert.DoesNotMatch(ErrorLine(), result.Output);
    }

    /// <summary>
    /// The build failed with <paramref name="code"/> as an MSBuild error, no task crashed (MSB4018), and bin/ holds
    /// nothing: a failed build leaves no partial output.
    /// </summary>
    public void AssertFailedWith(BuildResult result, string code)
    {
        Assert.False(result.Succeeded, result.ToString());
        Assert.True(result.Output.Contains($"error {code}:", StringComparison.Ordinal), $"expected error {code}\n{result}");
        Assert.False(result.Output.Contains("MSB4018", StringComparison.Ordinal), result.ToString());
        var bin = Path.Combine(Project.Directory, "bin");
        Assert.False(System.IO.Directory.Exists(bin) && System.IO.Directory.EnumerateFiles(bin, "*", SearchOption.AllDirectories).Any(),
            $"a failed build must leave nothing in bin/, found: {string.Join(", ", System.IO.Directory.Exists(bin) ? System.IO.Directory.EnumerateFiles(bin, "*", SearchOption.AllDirectories) : [])}\n{result}");
    }

    [GeneratedRegex(@": error [A-Z]+[0-9]+:")]
    private static partial Regex ErrorLine();
}
