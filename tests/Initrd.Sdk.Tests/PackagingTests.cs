using Initrd.Testing;

namespace Initrd.Sdk.Tests;

/// <summary>
/// `dotnet pack` produces the Initrd.Sdk package, and a project outside the repository consumes it
/// from a local folder feed, both as Sdk="Initrd.Sdk/VERSION" and through global.json msbuild-sdks.
/// The consumer's build reaches a task in the packaged assembly (an invalid Architecture is reported by
/// the Resolve task as INITRD0004), so no network is needed.
/// </summary>
public sealed class PackagingTests : IClassFixture<PackagingTests.PackedSdk>
{
    readonly PackedSdk _sdk;

    public PackagingTests(PackedSdk sdk) => _sdk = sdk;

    public sealed class PackedSdk : IDisposable
    {
        public PackedSdk()
        {
            Folder = new TempDirectory("initrd-pack");
            Feed = Folder.Combine("feed");
            Version = "0.1.0-test." + DateTime.UtcNow.ToString("yyyyMMddHHmmss");
            PackResult = ReferenceTool.Run("dotnet",
                ["pack", Path.Combine(RepositoryLayout.Root, "eng", "Packaging", "Initrd.Sdk.Package.csproj"), "-o", Feed,
                 "-c", "Release", $"-p:Version={Version}", $"-p:ArtifactsPath={Folder.Combine("artifacts")}", "-nodeReuse:false"],
                RepositoryLayout.Root, timeout: TimeSpan.FromMinutes(10));
        }

        public TempDirectory Folder { get; }
        public string Feed { get; }
        public string Version { get; }
        public ToolResult PackResult { get; }
        public string Package => Path.Combine(Feed, $"Initrd.Sdk.{Version}.nupkg");

        public void Dispose() => Folder.Dispose();
    }

    [Fact]
    public void PackProducesAnMSBuildSdkPackageWithTheTaskAssembly()
    {
        Assert.True(_sdk.PackResult.ExitCode == 0, _sdk.PackResult.ToString());
        using var zip = System.IO.Compression.ZipFile.OpenRead(_sdk.Package);
        var names = zip.Entries.Select(e => e.FullName).ToHashSet();
        Assert.Contains("Sdk/Sdk.props", names);
        Assert.Contains("Sdk/Sdk.targets", names);
        Assert.Contains("build/Initrd.Sdk.targets", names);
        Assert.Contains("build/Initrd.Sdk.Resolve.targets", names);
        Assert.Contains("tasks/net10.0/Initrd.Sdk.Tasks.dll", names);
        Assert.Contains("tasks/net10.0/Initrd.Formats.dll", names);
        Assert.Contains("tasks/net10.0/Initrd.Apt.dll", names);
        Assert.Contains("tasks/net10.0/Initrd.Image.dll", names);
        Assert.DoesNotContain(names, n => n.Contains("Microsoft.Build", StringComparison.Ordinal));
        using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
        Assert.Contains("<packageType name=\"MSBuildSdk\" />", nuspec.ReadToEnd());
    }

    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public void AProjectOutsideTheRepositoryConsumesThePackage(bool versionInGlobalJson)
    {
        Assert.True(_sdk.PackResult.ExitCode == 0, _sdk.PackResult.ToString());
        using var consumer = new TempDirectory("initrd-consumer");
        consumer.WriteFile("NuGet.config", $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <add key="local" value="{_sdk.Feed}" />
              </packageSources>
            </configuration>
            """);
        var sdkAttribute = versionInGlobalJson ? "Initrd.Sdk" : $"Initrd.Sdk/{_sdk.Version}";
        if (versionInGlobalJson)
            consumer.WriteFile("global.json", $$"""{ "msbuild-sdks": { "Initrd.Sdk": "{{_sdk.Version}}" } }""");
        consumer.WriteFile("Consumer/Consumer.initrdproj", $"""
            <Project Sdk="{sdkAttribute}">
              <PropertyGroup><Architecture>not-an-arch</Architecture></PropertyGroup>
              <ItemGroup><ImagePackage Include="bash" /></ItemGroup>
            </Project>
            """);
        // `dotnet build` on the folder: it finds the one project file in it.
        var result = ReferenceTool.Run("dotnet", ["build", "Consumer", "-nodeReuse:false", "-nologo"], consumer.Path,
            timeout: TimeSpan.FromMinutes(5),
            environment: new Dictionary<string, string>
            {
                ["NUGET_PACKAGES"] = consumer.Combine("packages"),
                ["MSBUILDDISABLENODEREUSE"] = "1",
            });
        var output = result.StandardOutput + result.StandardError;
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("error INITRD0004:", output);
        Assert.DoesNotContain("MSB4018", output);
        Assert.DoesNotContain("MSB4236", output); // SDK not found
        Assert.True(Directory.Exists(consumer.Combine("packages", "initrd.sdk", _sdk.Version)), output);
    }
}
