using Initrd.Testing;

namespace Initrd.Sdk.Tests.Common;

/// <summary>
/// An image project in a temporary folder, built with the real `dotnet build` through the real
/// sdk/ files and this test run's build of the task assembly (no pack, no stale copy).
/// </summary>
public sealed class ImageProject : IDisposable
{
    readonly TempDirectory _dir;

    public ImageProject(string body, string name = "Image", string? cacheDirectory = null)
    {
        _dir = new TempDirectory("initrd-project");
        Name = name;
        CacheDirectory = cacheDirectory ?? Path.Combine(RepositoryLayout.TestCache, "sdk-cache");
        ProjectPath = _dir.WriteFile(name + ".initrdproj", $"""
            <Project>
              <Import Project="{RepositoryLayout.SdkProps}" />
            {body}
              <Import Project="{RepositoryLayout.SdkTargets}" />
            </Project>
            """);
    }

    public string Name { get; }

    public string Directory => _dir.Path;

    public string ProjectPath { get; }

    public string CacheDirectory { get; }

    public string OutputDirectory => Path.Combine(Directory, "bin", "Debug");

    public TempDirectory Folder => _dir;

    public static string TaskAssembly => typeof(Initrd.Sdk.Tasks.Common.InitrdTask).Assembly.Location;

    /// <summary>Runs `dotnet &lt;verb&gt;` on the project with a binary log; never throws on failure.</summary>
    public BuildResult Run(string verb = "build", params string[] extra)
    {
        var binlog = Path.Combine(Directory, $"{verb}-{Guid.NewGuid():N}.binlog");
        var args = new List<string>
        {
            verb, ProjectPath, "-nodeReuse:false", "-nologo", "-v:n", $"-bl:{binlog}",
            $"-p:InitrdSdkTaskAssembly={TaskAssembly}",
            $"-p:InitrdCacheDirectory={CacheDirectory}",
        };
        args.AddRange(extra);
        var result = ReferenceTool.Run("dotnet", args, Directory, timeout: TimeSpan.FromMinutes(20),
            environment: new Dictionary<string, string> { ["MSBUILDDISABLENODEREUSE"] = "1", ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1" });
        return new BuildResult(result.ExitCode, result.StandardOutput + result.StandardError, binlog);
    }

    public void Dispose() => _dir.Dispose();
}

public sealed record BuildResult(int ExitCode, string Output, string BinaryLog)
{
    public bool Succeeded => ExitCode == 0;

    public override string ToString() => $"exit {ExitCode}\n{Output}";
}
