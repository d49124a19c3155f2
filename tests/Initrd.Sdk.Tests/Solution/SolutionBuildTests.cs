using System.Diagnostics;
using System.Text.Json;
using Initrd.Sdk.Tests.Templates;
using Initrd.Testing;
using Microsoft.Build.Logging.StructuredLogger;

namespace Initrd.Sdk.Tests.Solution;

/// <summary>
/// A multi-image solution as a user makes it, outside the repository, from the packed SDK and templates:
/// `dotnet new initrd|addon|sysext|uki`, `dotnet new sln`, `dotnet sln add` for each project, then one
/// `dotnet build -m` of the solution (network: the host's Debian mirror; package cache shared with the other tests):
///
///   MyInitrd (cpio) ◄── MySysext (sysext, base = MyInitrd)
///        ▲
///        └──────────── MyUki (uki) ──► MyAddon (addon, in MyUki.efi.extra.d/)
///
/// Read from the binary log: every project's stage targets ran exactly once, under one set of global properties
/// (the solution's build of MyInitrd and the UKI's and sysext's references to it are one MSBuild configuration, not
/// two builds racing on the same obj/ and cache), and referenced images were finished before the images using them
/// started packing. Read from the outputs: the UKI's .initrd section is byte-identical to the initrd built in the same
/// run, its .linux is the same kernel the initrd's modules come from, the addon sits in MyUki.efi.extra.d/, and the
/// sysext installs only what its base lacks. A second build of the solution runs no stage.
/// The solution is built once per test run (lazily, by whichever test comes first) and shared by the tests here.
/// </summary>
[Collection(PackedTemplatesCollection.Name)]
public sealed class SolutionBuildTests(PackedTemplates packed)
{
    /// <summary>
    /// The targets that do a stage's work. InitrdPackSysext only groups the extension's pack targets (it has no
    /// Inputs/Outputs and runs no task); its work is _InitrdPackExtensionImage.
    /// </summary>
    static readonly string[] StageTargets =
        ["InitrdResolve", "InitrdFetch", "InitrdInstall", "InitrdFinalize", "InitrdPackCpio", "InitrdPackUki", "_InitrdPackExtensionImage"];

    /// <summary>The pack target each project must run once.</summary>
    static readonly Dictionary<string, string> PackTarget = new()
    {
        ["MyInitrd"] = "InitrdPackCpio",
        ["MyAddon"] = "InitrdPackUki",
        ["MySysext"] = "_InitrdPackExtensionImage",
        ["MyUki"] = "InitrdPackUki",
    };

    static readonly Lock Gate = new();
    static SolutionRun? _shared;

    SolutionRun Run
    {
        get
        {
            lock (Gate) return _shared ??= SolutionRun.Create(packed);
        }
    }

    sealed record StageRun(string Project, string Target, string GlobalProperties, DateTime Start, DateTime End);

    sealed class SolutionRun
    {
        public required TempDirectory Folder { get; init; }
        public required string SolutionFile { get; init; }
        public required ToolResult First { get; init; }
        public required string FirstLog { get; init; }
        public required TimeSpan FirstElapsed { get; init; }
        public required ToolResult Second { get; init; }
        public required string SecondLog { get; init; }
        public required TimeSpan SecondElapsed { get; init; }
        public ToolResult? Setup { get; init; }

        public string Output => First.StandardOutput + First.StandardError;

        public string Image(string project, string extension) => Folder.Combine(project, "bin", "Debug", project + extension);

        public string LockFile(string project) => Folder.Combine(project, "packages.lock.json");

        public void AssertBuilt()
        {
            Assert.True(Setup is null, Setup?.ToString());
            Assert.True(First.ExitCode == 0, $"dotnet build {Path.GetFileName(SolutionFile)} -m failed:\n{Output}");
        }

        public static SolutionRun Create(PackedTemplates packed)
        {
            packed.AssertReady();
            var folder = packed.Own(packed.NewConsumer());
            ToolResult? failed = null;
            void Step(ToolResult r)
            {
                if (failed is null && r.ExitCode != 0) failed = r;
            }
            Step(packed.New("initrd", "MyInitrd", folder.Combine("MyInitrd")));
            Step(packed.New("addon", "MyAddon", folder.Combine("MyAddon")));
            Step(packed.New("sysext", "MySysext", folder.Combine("MySysext"))); // default --base: ../MyInitrd/MyInitrd.initrdproj
            Step(packed.New("uki", "MyUki", folder.Combine("MyUki"), "--addon", "../MyAddon/MyAddon.initrdproj"));
            Step(packed.Dotnet(folder, ["new", "sln", "-n", "Images"]));
            // .NET 10 writes Images.slnx; older SDKs Images.sln. Either is what `dotnet new sln` gives the user.
            var solution = Directory.GetFiles(folder.Path, "Images.sln*").SingleOrDefault() ?? folder.Combine("Images.slnx");
            foreach (var project in new[] { "MyInitrd", "MyAddon", "MySysext", "MyUki" })
                Step(packed.Dotnet(folder, ["sln", solution, "add", Path.Combine(project, project + ".initrdproj")]));

            ToolResult Build(string log) => packed.Dotnet(folder, ["build", solution, "-m", "-nodeReuse:false", "-nologo", "-v:n", $"-bl:{log}",
                $"-p:InitrdCacheDirectory={PackedTemplates.CacheDirectory}"], TimeSpan.FromMinutes(30));
            var firstLog = folder.Combine("first.binlog");
            var secondLog = folder.Combine("second.binlog");
            var clock = Stopwatch.StartNew();
            var first = failed ?? Build(firstLog);
            var firstElapsed = clock.Elapsed;
            // The no-op build right away, before any test here touches the projects.
            clock.Restart();
            var second = first.ExitCode == 0 ? Build(secondLog) : first;
            return new SolutionRun
            {
                Folder = folder, SolutionFile = solution, Setup = failed,
                First = first, FirstLog = firstLog, FirstElapsed = firstElapsed,
                Second = second, SecondLog = secondLog, SecondElapsed = clock.Elapsed,
            };
        }
    }

    [Fact]
    public void DotnetSlnAddTakesEveryImageProject()
    {
        var run = Run;
        Assert.True(run.Setup is null, run.Setup?.ToString());
        var solution = File.ReadAllText(run.SolutionFile);
        foreach (var project in PackTarget.Keys)
            Assert.Contains($"{project}/{project}.initrdproj", solution.Replace('\\', '/'), StringComparison.Ordinal);
        // DefaultProjectTypeGuid from Initrd.Sdk.props: a generic MSBuild project, not an unknown type.
        Assert.Contains("13b669be-bb05-4ddf-9536-439f39a36129", solution, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void SolutionBuildWritesEveryImageWithOneSummaryLineEach()
    {
        var run = Run;
        run.AssertBuilt();
        foreach (var (project, extension) in new[] { ("MyInitrd", ".cpio.zst"), ("MyAddon", ".addon.efi"), ("MySysext", ".sysext.raw"), ("MyUki", ".efi") })
        {
            var image = run.Image(project, extension);
            Assert.True(File.Exists(image), $"{image} is missing:\n{run.Output}");
            PackedTemplates.AssertSummaryLine(run.Output, project, image, run.LockFile(project));
            // Built once: one summary line per image, however many projects reference it.
            Assert.Single(run.Output.Split('\n'), l => l.Contains($"{project} -> {image} (", StringComparison.Ordinal));
        }
        TestContext.Current.TestOutputHelper?.WriteLine($"solution build (-m, cold obj/, shared package cache): {run.FirstElapsed.TotalSeconds:F1} s");
    }

    [Fact]
    public void EveryStageOfEveryProjectRanOnceUnderOneSetOfGlobalProperties()
    {
        var run = Run;
        run.AssertBuilt();
        var stages = StagesThatRan(run.FirstLog);
        foreach (var (project, pack) in PackTarget)
        {
            var mine = stages.Where(s => s.Project == project).ToList();
            Assert.Contains(mine, s => s.Target == pack);
            Assert.Contains(mine, s => s.Target == "InitrdResolve");
            foreach (var group in mine.GroupBy(s => s.Target))
                Assert.True(group.Count() == 1, $"{project}: {group.Key} ran {group.Count()} times, under:\n{string.Join("\n", group.Select(g => g.GlobalProperties))}");
            // The restore phase (NuGet's solution restore, MSBuildIsRestoring=True) resolves; the build phase does the
            // rest under one set of global properties.
            var configurations = mine.Where(s => !s.GlobalProperties.Contains("MSBuildIsRestoring=True", StringComparison.Ordinal))
                .Select(s => s.GlobalProperties).Distinct().ToList();
            Assert.True(configurations.Count == 1, $"{project}'s build-phase stages ran under {configurations.Count} sets of global properties:\n{string.Join("\n", configurations)}");
        }
        Assert.Equal(PackTarget.Keys.Order(), stages.Select(s => s.Project).Distinct().Order());

        // And no project's Build target ran twice (for example once from the solution and once from a ProjectReference
        // with different global properties, which would be two builds of one obj/ folder racing each other).
        var builds = new List<(string Project, string GlobalProperties)>();
        BinaryLog.ReadBuild(run.FirstLog).VisitAllChildren<Target>(t =>
        {
            if (t.Name != "Build" || t.Skipped) return;
            var p = t.GetNearestParent<Project>();
            if (p?.ProjectFile?.EndsWith(".initrdproj", StringComparison.Ordinal) == true)
                builds.Add((Path.GetFileNameWithoutExtension(p.ProjectFile), GlobalPropertiesOf(p)));
        }, TestContext.Current.CancellationToken);
        foreach (var group in builds.GroupBy(b => b.Project))
            Assert.True(group.Count() == 1, $"{group.Key}: Build ran {group.Count()} times, under:\n{string.Join("\n", group.Select(g => g.GlobalProperties))}");
        Assert.Equal(PackTarget.Keys.Order(), builds.Select(b => b.Project).Order());
    }

    [Fact]
    public void ReferencedImagesAreFinishedBeforeTheImagesUsingThemPack()
    {
        var run = Run;
        run.AssertBuilt();
        var stages = StagesThatRan(run.FirstLog);
        StageRun Stage(string project, string target) => stages.Single(s => s.Project == project && s.Target == target);
        var initrdPacked = Stage("MyInitrd", "InitrdPackCpio");
        var addonPacked = Stage("MyAddon", "InitrdPackUki");
        var ukiPack = Stage("MyUki", "InitrdPackUki");
        Assert.True(initrdPacked.End <= ukiPack.Start, $"MyInitrd packed until {initrdPacked.End:O}, MyUki started packing {ukiPack.Start:O}");
        Assert.True(addonPacked.End <= ukiPack.Start, $"MyAddon packed until {addonPacked.End:O}, MyUki started packing {ukiPack.Start:O}");
        // The sysext resolves against its base's lock: the base's Resolve comes first.
        var baseResolved = Stage("MyInitrd", "InitrdResolve");
        var sysextResolve = Stage("MySysext", "InitrdResolve");
        Assert.True(baseResolved.End <= sysextResolve.Start, $"MyInitrd resolved until {baseResolved.End:O}, MySysext started resolving {sysextResolve.Start:O}");
    }

    [Fact]
    public void UkiEmbedsTheInitrdAndKernelOfThisRunAndShipsTheAddon()
    {
        var run = Run;
        run.AssertBuilt();
        var uki = run.Image("MyUki", ".efi");
        Assert.Equal(File.ReadAllBytes(run.Image("MyInitrd", ".cpio.zst")), DumpSection(run, uki, ".initrd"));
        // The initrd's modules belong to the kernel written beside it; the UKI must carry that same kernel. objcopy dumps
        // .linux with its virtual size, which leaves room for the kernel's own SizeOfImage: the rest is zeros.
        var kernel = File.ReadAllBytes(run.Image("MyInitrd", ".vmlinuz"));
        var linux = DumpSection(run, uki, ".linux");
        Assert.True(linux.Length >= kernel.Length, $".linux is {linux.Length} bytes, the initrd's kernel {kernel.Length}");
        Assert.Equal(kernel, linux[..kernel.Length]);
        Assert.True(linux.AsSpan(kernel.Length).IndexOfAnyExcept((byte)0) < 0, ".linux holds more than the kernel and zeros");
        Assert.Equal("console=ttyS0", System.Text.Encoding.UTF8.GetString(DumpSection(run, uki, ".cmdline")));

        var extra = uki + ".extra.d";
        Assert.Equal(["MyAddon.addon.efi"], Directory.GetFiles(extra).Select(Path.GetFileName));
        Assert.Equal(File.ReadAllBytes(run.Image("MyAddon", ".addon.efi")), File.ReadAllBytes(Path.Combine(extra, "MyAddon.addon.efi")));
        Assert.Equal("systemd.show_status=auto", System.Text.Encoding.UTF8.GetString(DumpSection(run, run.Image("MyAddon", ".addon.efi"), ".cmdline")));
    }

    [Fact]
    public void SysextInstallsOnlyWhatItsBaseLacks()
    {
        var run = Run;
        run.AssertBuilt();
        var sysext = LockedPackages(run.LockFile("MySysext"));
        var initrd = LockedPackages(run.LockFile("MyInitrd"));
        Assert.Contains("strace", sysext);
        Assert.Contains("libc6", initrd);
        Assert.Empty(sysext.Intersect(initrd));
    }

    [Fact]
    public void SecondSolutionBuildRunsNoStage()
    {
        var run = Run;
        run.AssertBuilt();
        Assert.True(run.Second.ExitCode == 0, run.Second.ToString());
        Assert.Empty(StagesThatRan(run.SecondLog).Select(s => $"{s.Project}:{s.Target}"));
        TestContext.Current.TestOutputHelper?.WriteLine($"no-op solution build (-m): {run.SecondElapsed.TotalSeconds:F1} s");
    }

    /// <summary>
    /// `dotnet restore` of the solution is the restore a user's CI runs: with --locked-mode it must fail when an
    /// image's lock would change, exactly as `dotnet restore &lt;project&gt; --locked-mode` does (INITRD1002).
    /// </summary>
    [Fact]
    public void RestoringTheSolutionInLockedModeFailsWhenALockWouldChange()
    {
        var run = Run;
        run.AssertBuilt();
        var project = run.Folder.Combine("MyAddon", "MyAddon.initrdproj");
        var original = File.ReadAllText(project);
        try
        {
            File.WriteAllText(project, original.Replace("</KernelCommandLine>", "</KernelCommandLine>\n    <ImageIncludeRecommends>true</ImageIncludeRecommends>", StringComparison.Ordinal));
            var single = packed.Dotnet(run.Folder, ["restore", project, "--locked-mode", "-nodeReuse:false", "-nologo", $"-p:InitrdCacheDirectory={PackedTemplates.CacheDirectory}"]);
            Assert.True(single.ExitCode != 0 && single.StandardOutput.Contains("INITRD1002", StringComparison.Ordinal), single.ToString());
            var solution = packed.Dotnet(run.Folder, ["restore", run.SolutionFile, "--locked-mode", "-nodeReuse:false", "-nologo", $"-p:InitrdCacheDirectory={PackedTemplates.CacheDirectory}"]);
            Assert.True(solution.ExitCode != 0 && solution.StandardOutput.Contains("INITRD1002", StringComparison.Ordinal),
                "`dotnet restore <solution> --locked-mode` accepted a project whose lock would change (NuGet's solution restore never runs an image project's Restore target):\n" + solution);
        }
        finally
        {
            File.WriteAllText(project, original);
        }
    }

    /// <summary>NuGet's solution restore must not warn NU1503 ("Skipping restore for project …") for every image project.</summary>
    [Fact]
    public void SolutionBuildDoesNotWarnThatImageProjectsSkipRestore()
    {
        var run = Run;
        run.AssertBuilt();
        var nu1503 = run.Output.Split('\n').Where(l => l.Contains("NU1503", StringComparison.Ordinal)).Distinct().ToArray();
        Assert.True(nu1503.Length == 0, string.Join('\n', nu1503));
    }

    static List<StageRun> StagesThatRan(string binaryLog)
    {
        var stages = new List<StageRun>();
        BinaryLog.ReadBuild(binaryLog).VisitAllChildren<Target>(t =>
        {
            // Ran: not skipped (condition false or outputs up to date), and did its work (ran a task).
            if (!StageTargets.Contains(t.Name) || SkippedAsUpToDate(t) || !t.Children.OfType<Microsoft.Build.Logging.StructuredLogger.Task>().Any()) return;
            var project = t.GetNearestParent<Project>();
            stages.Add(new StageRun(Path.GetFileNameWithoutExtension(project.ProjectFile), t.Name, GlobalPropertiesOf(project), t.StartTime, t.EndTime));
        });
        return stages;
    }

    static bool SkippedAsUpToDate(Target target) =>
        target.Skipped
        || target.FindChildrenRecursive<Message>(m => m.Text.Contains("all output files are up-to-date", StringComparison.Ordinal)).Any();

    static string GlobalPropertiesOf(Project project) =>
        string.Join(";", (project.GlobalProperties ?? new Dictionary<string, string>()).OrderBy(p => p.Key, StringComparer.Ordinal).Select(p => $"{p.Key}={p.Value}"));

    static HashSet<string> LockedPackages(string lockFile)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(lockFile));
        return json.RootElement.GetProperty("packages").EnumerateObject().Select(p => p.Name).ToHashSet(StringComparer.Ordinal);
    }

    static byte[] DumpSection(SolutionRun run, string image, string section)
    {
        var objcopy = ReferenceTool.Require("objcopy", "binutils");
        var output = run.Folder.Combine($"dump-{Guid.NewGuid():N}{section}");
        var r = ReferenceTool.Run(objcopy, ["--dump-section", $"{section}={output}", image, run.Folder.Combine($"scratch-{Guid.NewGuid():N}")]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return File.ReadAllBytes(output);
    }
}
