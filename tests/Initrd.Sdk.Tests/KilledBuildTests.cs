using System.Diagnostics;
using System.Text;
using Initrd.Sdk.Tests.Common;
using Initrd.Sdk.Tests.LocalRepository;
using Initrd.Testing;

namespace Initrd.Sdk.Tests;

/// <summary>
/// One repository with a large package (so that install and pack take a moment), and a reference image built
/// cleanly in its own directory with its own cache; shared by the killed-build tests.
/// </summary>
public sealed class KilledBuildFixture : IDisposable
{
    public const string Packages = "systemd;bigdata";

    readonly LocalRepositoryFixture repositories = new();
    readonly Lazy<LocalAptRepository> repository;
    readonly Lazy<(HermeticImage Image, BuildResult Result)> reference;

    public KilledBuildFixture()
    {
        repository = new(() => repositories.NewRepository(r => r.Add(BigPackage, DebBuilder.Build(BigPackage))));
        reference = new(() =>
        {
            var image = new HermeticImage(Repository, Packages);
            return (image, image.Build());
        });
    }

    /// <summary>~96 MiB in 1,000 files of incompressible data, stored uncompressed in the .deb (cheap to build).</summary>
    static TestPackage BigPackage
    {
        get
        {
            var random = new Random(1234);
            var entries = new List<TestEntry> { TestEntry.Directory("usr"), TestEntry.Directory("usr/share"), TestEntry.Directory("usr/share/bigdata") };
            for (var i = 0; i < 1000; i++)
            {
                var content = new byte[96 * 1024 + i];
                random.NextBytes(content);
                entries.Add(TestEntry.File($"usr/share/bigdata/{i / 100:D2}/blob-{i:D4}", content));
            }
            return new TestPackage("bigdata", "1.0-1", "all") { Entries = entries, Compression = "none" };
        }
    }

    public LocalAptRepository Repository => repository.Value;

    /// <summary>The image of a clean build in another directory with another cache.</summary>
    public byte[] ReferenceImage
    {
        get
        {
            var (image, result) = reference.Value;
            HermeticImage.AssertSucceeded(result);
            return File.ReadAllBytes(image.ImagePath);
        }
    }

    public void Dispose()
    {
        if (reference.IsValueCreated) reference.Value.Image.Dispose();
        repositories.Dispose();
    }
}

/// <summary>
/// A build killed half-way (the whole `dotnet` process tree, SIGKILL) during the install or the pack stage: the next
/// build in the same directory with the same cache recovers on its own — no stale temporary install tree, nothing
/// partial in bin/ — and its image is byte-identical to a clean build's elsewhere.
/// </summary>
public sealed class KilledBuildTests(KilledBuildFixture fixture, ITestOutputHelper output) : IClassFixture<KilledBuildFixture>
{
    /// <summary>The stage during which the build is killed.</summary>
    public static TheoryData<string> Stages => ["install", "pack"];

    [Theory]
    [MemberData(nameof(Stages))]
    public void BuildKilledDuringAStageRecoversToTheSameBytes(string stage)
    {
        var reference = fixture.ReferenceImage;
        using var image = new HermeticImage(fixture.Repository, KilledBuildFixture.Packages);
        // Restore first, so the kill lands in the build phase for sure.
        HermeticImage.AssertSucceeded(image.Restore());

        // Killed while the stage's temporary output exists: the install tree being unpacked in the cache, or the
        // image being written next to its final name in bin/.
        Func<bool> inStage = stage == "install"
            ? () => image.TemporaryTrees().Count > 0
            : () => ListBin(image).Any(f => f.Contains(".tmp-", StringComparison.Ordinal));
        var (killed, killedOutput) = RunAndKill(image.Project, inStage, TimeSpan.FromMinutes(3));
        output.WriteLine($"--- killed build ({stage}); killed in the stage: {killed}");
        output.WriteLine(killedOutput);
        output.WriteLine($"left behind: trees [{string.Join(", ", image.TemporaryTrees().Select(Path.GetFileName))}]; bin [{string.Join(", ", ListBin(image))}]");
        Assert.True(killed, "the build finished before it could be killed in the stage: make the package larger\n" + killedOutput);
        Assert.False(File.Exists(image.ImagePath), "a build killed before its pack stage completed has no image");

        var again = image.Build();
        output.WriteLine("--- next build");
        output.WriteLine(again.Output);
        HermeticImage.AssertSucceeded(again);
        Assert.True(File.ReadAllBytes(image.ImagePath).AsSpan().SequenceEqual(reference), "the image differs from a clean build's");
        Assert.Empty(image.TemporaryTrees());
        Assert.Single(image.CompleteTrees());
        // Nothing partial stays in bin/ once a build has succeeded.
        Assert.Equal([Path.GetFileName(image.ImagePath)], ListBin(image));
    }

    static string[] ListBin(HermeticImage image)
    {
        var dir = Path.GetDirectoryName(image.ImagePath)!;
        return Directory.Exists(dir) ? Directory.EnumerateFileSystemEntries(dir).Select(p => Path.GetFileName(p)).Order(StringComparer.Ordinal).ToArray() : [];
    }

    /// <summary>
    /// Runs `dotnet build` as <see cref="ImageProject.Run"/> does, and kills the whole process tree (SIGKILL) as soon as
    /// <paramref name="killWhen"/> holds (polled every few milliseconds). Returns whether it was killed, and the output.
    /// </summary>
    static (bool Killed, string Output) RunAndKill(ImageProject project, Func<bool> killWhen, TimeSpan timeout)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = project.Directory,
        };
        foreach (var a in new[]
                 {
                     "build", project.ProjectPath, "-nodeReuse:false", "-nologo", "-v:n",
                     $"-p:InitrdSdkTaskAssembly={ImageProject.TaskAssembly}", $"-p:InitrdCacheDirectory={project.CacheDirectory}",
                 })
            psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        psi.Environment["MSBUILDDISABLENODEREUSE"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";

        var text = new StringBuilder();
        using var process = new Process { StartInfo = psi };
        void OnLine(object? sender, DataReceivedEventArgs e)
        {
            if (e.Data is null) return;
            lock (text) text.AppendLine(e.Data);
        }
        process.OutputDataReceived += OnLine;
        process.ErrorDataReceived += OnLine;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var killed = false;
        var deadline = Stopwatch.StartNew();
        while (!process.HasExited && deadline.Elapsed < timeout)
        {
            if (killWhen())
            {
                process.Kill(entireProcessTree: true);
                killed = true;
                break;
            }
            Thread.Sleep(5);
        }
        if (!killed && !process.HasExited) process.Kill(entireProcessTree: true);
        if (!process.WaitForExit(TimeSpan.FromMinutes(1))) throw new TimeoutException("the killed build did not exit");
        process.WaitForExit();
        lock (text) return (killed, text.ToString());
    }
}
