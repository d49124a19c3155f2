using System.IO.Compression;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Templates;

/// <summary>
/// The Initrd.Templates package: `dotnet pack templates/Initrd.Templates.csproj` produces a template package,
/// `dotnet new install` takes it (with a private DOTNET_CLI_HOME, so the user's templates are untouched), and
/// `dotnet new initrd` writes a project that names the SDK version packed with it. That project, outside the
/// repository, builds against the packed Initrd.Sdk from a local feed: with an invalid Architecture the Resolve
/// task reports INITRD0004 (template instantiated, SDK resolved from the package, tasks loaded; no network),
/// and a design-time build succeeds without resolving (no lock written). The full network build of the default
/// image is covered by the boot tests.
/// </summary>
public sealed class TemplateTests : IClassFixture<TemplateTests.PackedTemplates>
{
    /// <summary>Set to 1 to rewrite the snapshots under Templates/Snapshots from what the templates produce.</summary>
    const string UpdateSnapshotsVariable = "INITRD_UPDATE_SNAPSHOTS";

    const string VersionPlaceholder = "{SdkVersion}";

    readonly PackedTemplates _packed;

    public TemplateTests(PackedTemplates packed) => _packed = packed;

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

        ToolResult Pack(string project, string artifacts) => ReferenceTool.Run("dotnet",
            ["pack", Path.Combine(RepositoryLayout.Root, project), "-o", Feed, "-c", "Release", $"-p:Version={Version}",
             $"-p:ArtifactsPath={Folder.Combine("artifacts", artifacts)}", "-nodeReuse:false", "-nologo"],
            RepositoryLayout.Root, timeout: TimeSpan.FromMinutes(10),
            environment: new Dictionary<string, string> { ["MSBUILDDISABLENODEREUSE"] = "1" });

        /// <summary>`dotnet new …` against this fixture's private template store.</summary>
        public ToolResult DotnetNew(IEnumerable<string> arguments, string workingDirectory) => ReferenceTool.Run("dotnet",
            ["new", .. arguments], workingDirectory, timeout: TimeSpan.FromMinutes(2),
            environment: new Dictionary<string, string>
            {
                ["DOTNET_CLI_HOME"] = CliHome,
                ["DOTNET_NOLOGO"] = "1",
                ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
                ["DOTNET_SKIP_FIRST_TIME_EXPERIENCE"] = "1",
            });

        /// <summary>Instantiates the initrd template as <paramref name="name"/> into <paramref name="output"/>.</summary>
        public ToolResult NewInitrd(string name, string output, params string[] extra) =>
            DotnetNew(["initrd", "-n", name, "-o", output, "--no-update-check", .. extra], Folder.Path);

        public void AssertReady()
        {
            Assert.True(SdkPackResult.ExitCode == 0, SdkPackResult.ToString());
            Assert.True(TemplatesPackResult.ExitCode == 0, TemplatesPackResult.ToString());
            Assert.True(InstallResult.ExitCode == 0, InstallResult.ToString());
        }

        public void Dispose() => Folder.Dispose();
    }

    [Fact]
    public void PackProducesATemplatePackageWithTheTemplateFoldersOnly()
    {
        Assert.True(_packed.TemplatesPackResult.ExitCode == 0, _packed.TemplatesPackResult.ToString());
        using var zip = ZipFile.OpenRead(_packed.TemplatesPackage);
        var content = zip.Entries.Select(e => e.FullName).Where(n => n.StartsWith("content/", StringComparison.Ordinal)).Order().ToArray();
        Assert.Equal(["content/initrd/.template.config/template.json", "content/initrd/MyInitrd.initrdproj"], content);
        Assert.DoesNotContain(zip.Entries, e => e.FullName.StartsWith("lib/", StringComparison.Ordinal));

        using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
        var nuspecText = nuspec.ReadToEnd();
        Assert.Contains("<packageType name=\"Template\" />", nuspecText);
        Assert.DoesNotContain("<dependencies>", nuspecText);

        // The packed template.json defaults SdkVersion to the package's own version; the repository's keeps the source version.
        using var templateJson = new StreamReader(zip.GetEntry("content/initrd/.template.config/template.json")!.Open());
        var packedJson = templateJson.ReadToEnd();
        Assert.Contains($"\"defaultValue\": \"{_packed.Version}\"", packedJson);
        var sourceJson = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "templates", "content", "initrd", ".template.config", "template.json"));
        Assert.Equal(sourceJson.Replace("\"defaultValue\": \"0.0.0-source\"", $"\"defaultValue\": \"{_packed.Version}\"", StringComparison.Ordinal), packedJson);
    }

    [Fact]
    public void InitrdTemplateWritesTheSnapshotProjectNamingThePackedSdkVersion()
    {
        _packed.AssertReady();
        using var work = new TempDirectory("initrd-template-new");
        var result = _packed.NewInitrd("Foo", work.Combine("Foo"));
        Assert.True(result.ExitCode == 0, result.ToString());

        var files = Directory.GetFiles(work.Path, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(work.Path, f).Replace('\\', '/')).Order().ToArray();
        Assert.Equal(["Foo/Foo.initrdproj"], files);

        var project = File.ReadAllText(work.Combine("Foo", "Foo.initrdproj"));
        Assert.StartsWith($"<Project Sdk=\"Initrd.Sdk/{_packed.Version}\">", project, StringComparison.Ordinal);
        AssertMatchesSnapshot(Path.Combine("initrd", "Foo.initrdproj.txt"), project.Replace(_packed.Version, VersionPlaceholder, StringComparison.Ordinal));
    }

    [Fact]
    public void SdkVersionParameterOverridesTheDefault()
    {
        _packed.AssertReady();
        using var work = new TempDirectory("initrd-template-version");
        var result = _packed.NewInitrd("Bar", work.Combine("Bar"), "--SdkVersion", "9.8.7");
        Assert.True(result.ExitCode == 0, result.ToString());
        var project = File.ReadAllText(work.Combine("Bar", "Bar.initrdproj"));
        Assert.StartsWith("<Project Sdk=\"Initrd.Sdk/9.8.7\">", project, StringComparison.Ordinal);
        Assert.DoesNotContain(_packed.Version, project, StringComparison.Ordinal);
    }

    [Fact]
    public void InstantiatedProjectBuildsAgainstThePackedSdk()
    {
        _packed.AssertReady();
        using var consumer = NewConsumer("Foo");
        var result = Build(consumer, "-p:Architecture=not-an-arch");
        var output = result.StandardOutput + result.StandardError;
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("error INITRD0004:", output);
        Assert.DoesNotContain("MSB4018", output); // a task crashed
        Assert.DoesNotContain("MSB4236", output); // SDK not found
        Assert.DoesNotContain("MSB4062", output); // task assembly not loaded
        Assert.True(Directory.Exists(consumer.Combine("packages", "initrd.sdk", _packed.Version)), output);
        Assert.False(File.Exists(consumer.Combine("Foo", "packages.lock.json")), output);
    }

    [Fact]
    public void InstantiatedProjectDesignTimeBuildSucceedsWithoutResolving()
    {
        _packed.AssertReady();
        using var consumer = NewConsumer("Foo");
        var result = Build(consumer, "-p:DesignTimeBuild=true");
        var output = result.StandardOutput + result.StandardError;
        Assert.True(result.ExitCode == 0, output);
        Assert.True(Directory.Exists(consumer.Combine("packages", "initrd.sdk", _packed.Version)), output);
        Assert.False(File.Exists(consumer.Combine("Foo", "packages.lock.json")), output);
        Assert.False(Directory.Exists(consumer.Combine("Foo", "bin")), output);
    }

    /// <summary>A folder outside the repository: a NuGet.config naming only the local feed, and the instantiated project.</summary>
    TempDirectory NewConsumer(string name)
    {
        var consumer = new TempDirectory("initrd-template-consumer");
        consumer.WriteFile("NuGet.config", $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="local" value="{_packed.Feed}" />
              </packageSources>
            </configuration>
            """);
        var result = _packed.NewInitrd(name, consumer.Combine(name));
        Assert.True(result.ExitCode == 0, result.ToString());
        return consumer;
    }

    static ToolResult Build(TempDirectory consumer, params string[] properties) => ReferenceTool.Run("dotnet",
        ["build", "Foo", "-nodeReuse:false", "-nologo", .. properties], consumer.Path,
        timeout: TimeSpan.FromMinutes(5),
        environment: new Dictionary<string, string>
        {
            ["NUGET_PACKAGES"] = consumer.Combine("packages"),
            ["MSBUILDDISABLENODEREUSE"] = "1",
            ["DOTNET_NOLOGO"] = "1",
            ["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1",
        });

    static void AssertMatchesSnapshot(string relativePath, string actual)
    {
        var path = Path.Combine(RepositoryLayout.Root, "tests", "Initrd.Sdk.Tests", "Templates", "Snapshots", relativePath);
        if (Environment.GetEnvironmentVariable(UpdateSnapshotsVariable) == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual);
        }
        Assert.True(File.Exists(path), $"snapshot {path} is missing; run with {UpdateSnapshotsVariable}=1 to write it");
        Assert.Equal(File.ReadAllText(path), actual);
    }
}
