using Initrd.Sdk.Tests.LocalRepository;
using Initrd.Testing;
using Microsoft.Build.Logging.StructuredLogger;

namespace Initrd.Sdk.Tests;

/// <summary>
/// True incrementality (issue 7), read from the binary logs of real `dotnet build` runs: which stage targets ran,
/// and which were skipped as up to date. A target counts as run when a Target node of that name (in the restore
/// or in the build part of the log) was neither skipped nor reported "all output files are up-to-date".
/// </summary>
public sealed class IncrementalBuildTests(LocalRepositoryFixture fixture) : IClassFixture<LocalRepositoryFixture>
{
    static readonly string[] Stages = ["InitrdResolve", "InitrdFetch", "InitrdInstall", "InitrdFinalize", "InitrdPackCpio"];

    const string FilesItem = """
          <ItemGroup>
            <ImageFile Include="files/**" />
          </ItemGroup>
        """;

    HermeticImage NewImage(LocalAptRepository repo, string extraBody = FilesItem)
    {
        var image = new HermeticImage(repo, "systemd", extraBody);
        image.Project.Folder.WriteFile("files/etc/motd", "hello\n");
        return image;
    }

    /// <summary>Builds, checks success, and returns the stage targets that ran.</summary>
    static string[] BuildAndReadStages(HermeticImage image)
    {
        var result = image.Build();
        HermeticImage.AssertSucceeded(result);
        return StagesThatRan(result.BinaryLog);
    }

    static string[] StagesThatRan(string binaryLog)
    {
        var build = BinaryLog.ReadBuild(binaryLog);
        var ran = new HashSet<string>(StringComparer.Ordinal);
        build.VisitAllChildren<Target>(target =>
        {
            if (Stages.Contains(target.Name) && !SkippedAsUpToDate(target)) ran.Add(target.Name);
        });
        return Stages.Where(ran.Contains).ToArray();
    }

    static bool SkippedAsUpToDate(Target target) =>
        target.Skipped
        || target.FindChildrenRecursive<Message>(m => m.Text.Contains("all output files are up-to-date", StringComparison.Ordinal)).Any();

    [Fact]
    public void NoOpRebuildRunsNoStage()
    {
        using var repo = fixture.NewRepository();
        using var image = NewImage(repo);
        Assert.Equal(Stages, BuildAndReadStages(image));
        var written = File.GetLastWriteTimeUtc(image.ImagePath);
        var bytes = File.ReadAllBytes(image.ImagePath);

        Assert.Equal([], BuildAndReadStages(image));
        Assert.Equal(written, File.GetLastWriteTimeUtc(image.ImagePath));
        Assert.Equal(bytes, File.ReadAllBytes(image.ImagePath));
    }

    [Fact]
    public void ChangingAnImageFileRerunsFinalizeAndPackOnly()
    {
        using var repo = fixture.NewRepository();
        using var image = NewImage(repo);
        Assert.Equal(Stages, BuildAndReadStages(image));

        var motd = image.Project.Folder.WriteFile("files/etc/motd", "changed\n");
        TouchAfter(motd, image.ImagePath);
        Assert.Equal(["InitrdFinalize", "InitrdPackCpio"], BuildAndReadStages(image));
        Assert.Equal("changed\n", ReadFromImage(image, "etc/motd"));
    }

    [Fact]
    public void ChangingTheCompressionLevelRerunsPackOnly()
    {
        using var repo = fixture.NewRepository();
        using var image = NewImage(repo);
        Assert.Equal(Stages, BuildAndReadStages(image));
        var before = File.ReadAllBytes(image.ImagePath);

        image.SetBody("systemd", FilesItem + "\n  <PropertyGroup><ImageCompressionLevel>19</ImageCompressionLevel></PropertyGroup>");
        Assert.Equal(["InitrdPackCpio"], BuildAndReadStages(image));
        Assert.NotEqual(before, File.ReadAllBytes(image.ImagePath));
    }

    [Fact]
    public void AddingAPackageRerunsResolveAndEverythingAfterIt()
    {
        using var repo = fixture.NewRepository();
        using var image = NewImage(repo);
        Assert.Equal(Stages, BuildAndReadStages(image));

        image.SetBody("systemd;extra-tool", FilesItem);
        Assert.Equal(Stages, BuildAndReadStages(image));
        Assert.Contains("extra-tool", image.LockedPackages());
        Assert.Contains("usr/bin/extra-tool", image.ListImage());
    }

    /// <summary>Makes sure <paramref name="file"/> is newer than <paramref name="than"/> whatever the clock granularity.</summary>
    static void TouchAfter(string file, string than)
    {
        var reference = File.GetLastWriteTimeUtc(than);
        if (File.GetLastWriteTimeUtc(file) <= reference) File.SetLastWriteTimeUtc(file, reference.AddSeconds(1));
    }

    static string ReadFromImage(HermeticImage image, string path)
    {
        var zstd = ReferenceTool.Require("zstd", "zstd");
        var cpio = ReferenceTool.Require("cpio", "cpio");
        var raw = ReferenceTool.Run(zstd, ["-dc", image.ImagePath]).StandardOutputBytes;
        // Stored as "path" or "./path" depending on the writer: ask for both.
        var extracted = ReferenceTool.Run(cpio, ["-i", "--quiet", "--to-stdout", path, "./" + path], standardInput: raw);
        Assert.True(extracted.ExitCode == 0, extracted.ToString());
        return extracted.StandardOutput;
    }
}
