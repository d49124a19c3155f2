using System.Text.Json;
using System.Text.RegularExpressions;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Templates;

/// <summary>
/// Packs the SDK and the templates once per test run with a unique version into a local feed, and installs the
/// template package into a private DOTNET_CLI_HOME (the user's templates are untouched). Shared by the template
/// tests and the solution tests (one collection, so the heavy image builds of both never run at the same time).
/// </summary>
public sealed class PackedTemplates : IDisposable
{
    public PackedTemplates()
    {
        Folder = new TempDirectory("initrd-templates");
        Feed = Folder.Combine("feed");
        CliHome = Folder.Combine("cli-home");
        Version = "0.1.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmss");
        SdkPackResult = Pack(Path.Combine("eng", "Packaging", "Initrd.Sdk.Package.csproj"), "sdk");
        TemplatesPackResult = Pack(Path.Combine("templates", "Initrd.Templates.csproj"), "templates");
        InstallResult = TemplatesPackResult.ExitCode == 0
            ? DotnetNew(["install", TemplatesPackage], Folder.Path)
            : TemplatesPackResult;
    }

    public TempDirectory Folder { get; }
    public string Feed { get; }
    public string CliHome { get; }
    public string Version { get; }
    public ToolResult SdkPackResult { get; }
    public ToolResult TemplatesPackResult { get; }
    public ToolResult InstallResult { get; }
    public string TemplatesPackage => Path.Combine(Feed, $"Initrd.Templates.{Version}.nupkg");

    /// <summary>The package cache every real build of an instantiated template shares (the kernel is downloaded once).</summary>
    public static string CacheDirectory => Path.Combine(RepositoryLayout.TestCache, "sdk-cache");

    ToolResult Pack(string project, string artifacts) => ReferenceTool.Run("dotnet",
        ["pack", Path.Combine(RepositoryLayout.Root, project), "-o", Feed, "-c", "Release", $"-p:Version={Version}",
         $"-p:ArtifactsPath={Folder.Combine("artifacts", artifacts)}", "-nodeReuse:false", "-nologo"],
        RepositoryLayout.Root, timeout: TimeSpan.FromMinutes(10),
        environment: new Dictionary<string, string> { ["MSBUILDDISABLENODEREUSE"] = "1" });

    /// <summary>`dotnet new …` against this fixture's private template store.</summary>
    public ToolResult DotnetNew(IEnumerable<string> arguments, string workingDirectory) => ReferenceTool.Run("dotnet",
        ["new", .. arguments], workingDirectory, timeout: TimeSpan.FromMinutes(2), environment: CliEnvironment());

    /// <summary>Instantiates <paramref name="template"/> as <paramref name="name"/> into <paramref name="output"/>.</summary>
    public ToolResult New(string template, string name, string output, params string[] extra) =>
        DotnetNew([template, "-n", name, "-o", output, "--no-update-check", .. extra], Folder.Path);

    /// <summary>Instantiates the initrd template as <paramref name="name"/> into <paramref name="output"/>.</summary>
    public ToolResult NewInitrd(string name, string output, params string[] extra) => New("initrd", name, output, extra);

    /// <summary>
    /// A folder outside the repository whose NuGet.config names only the local feed: projects instantiated in it
    /// resolve Sdk="Initrd.Sdk/&lt;Version&gt;" from the packed SDK, into the folder's own NUGET_PACKAGES.
    /// </summary>
    public TempDirectory NewConsumer()
    {
        var consumer = new TempDirectory("initrd-template-consumer");
        consumer.WriteFile("NuGet.config", $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{Feed}" />
              </packageSources>
            </configuration>
            """);
        return consumer;
    }

    /// <summary>`dotnet &lt;arguments&gt;` in a consumer folder (from <see cref="NewConsumer"/>), with its own NUGET_PACKAGES.</summary>
    public ToolResult Dotnet(TempDirectory consumer, IEnumerable<string> arguments, TimeSpan? timeout = null) => ReferenceTool.Run("dotnet",
        arguments, consumer.Path, timeout: timeout ?? TimeSpan.FromMinutes(5),
        environment: new Dictionary<string, string>(CliEnvironment())
        {
            ["NUGET_PACKAGES"] = consumer.Combine("packages"),
            ["MSBUILDDISABLENODEREUSE"] = "1",
        });

    Dictionary<string, string> CliEnvironment() => new()
    {
        ["DOTNET_CLI_HOME"] = CliHome,
        ["DOTNET_NOLOGO"] = "1",
        ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
    };

    public void AssertReady()
    {
        Assert.True(SdkPackResult.ExitCode == 0, SdkPackResult.ToString());
        Assert.True(TemplatesPackResult.ExitCode == 0, TemplatesPackResult.ToString());
        Assert.True(InstallResult.ExitCode == 0, InstallResult.ToString());
    }

    /// <summary>
    /// Asserts the build's summary line for <paramref name="projectName"/>: "Name -> path (size, N packages…)", with N
    /// the number of packages in the project's lock and the size the file's, in the unit the SDK picks.
    /// </summary>
    public static void AssertSummaryLine(string output, string projectName, string imagePath, string lockFile)
    {
        // With -m the console logger may prefix a line with its node ("3>"): match from the project name on.
        var start = $"{projectName} -> {imagePath} (";
        var line = output.Split('\n').Where(l => l.Contains(start, StringComparison.Ordinal))
            .Select(l => l[l.IndexOf(start, StringComparison.Ordinal)..].TrimEnd()).FirstOrDefault();
        Assert.True(line is not null, $"no summary line for {projectName} -> {imagePath} in:\n{output}");
        var m = Regex.Match(line!, @"\((?<size>\d+(\.\d)?) (?<unit>B|KiB|MiB|GiB), (?<count>\d+) packages?(; (?<extras>\d+) files? in \S+\.extra\.d/)?\)$");
        Assert.True(m.Success, line);
        using var lockJson = JsonDocument.Parse(File.ReadAllText(lockFile));
        Assert.Equal(lockJson.RootElement.GetProperty("packages").EnumerateObject().Count(), int.Parse(m.Groups["count"].Value));
        var length = new FileInfo(imagePath).Length;
        var unit = m.Groups["unit"].Value switch { "B" => 1.0, "KiB" => 1024.0, "MiB" => 1024.0 * 1024, _ => 1024.0 * 1024 * 1024 };
        Assert.InRange(double.Parse(m.Groups["size"].Value, System.Globalization.CultureInfo.InvariantCulture), length / unit - 0.05, length / unit + 0.05);
    }

    readonly List<IDisposable> _owned = [];

    /// <summary>Keeps <paramref name="disposable"/> until the fixture is disposed (for state shared by several tests).</summary>
    public T Own<T>(T disposable) where T : IDisposable
    {
        lock (_owned) _owned.Add(disposable);
        return disposable;
    }

    public void Dispose()
    {
        lock (_owned) foreach (var d in _owned) d.Dispose();
        Folder.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class PackedTemplatesCollection : ICollectionFixture<PackedTemplates>
{
    public const string Name = "Packed SDK and templates";
}
