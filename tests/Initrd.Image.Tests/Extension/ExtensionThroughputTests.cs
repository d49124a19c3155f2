using System.Diagnostics;
using Initrd.Formats.Tree;
using Initrd.Image.Tests.Finalize;
using Initrd.Testing;
using static Initrd.Image.Tests.Extension.ExtensionTestSupport;

namespace Initrd.Image.Tests.Extension;

/// <summary>
/// Measures, without asserting a time, a signed sysext of a real tree (the .NET SDK's shared runtime folder, or
/// INITRD_SYSEXT_BENCH_DIR), with the native erofs writer and with mkfs.erofs (ExtensionFileSystem=erofs-mkfs),
/// against the shell pipeline it replaces: mkfs.erofs + veritysetup format + sfdisk.
/// </summary>
public class ExtensionThroughputTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Benchmark")]
    public void SignedSysextAgainstMkfsVeritysetupSfdisk()
    {
        Measurement.RequireEnabled();
        var mkfs = ReferenceTool.Require("mkfs.erofs", "erofs-utils");
        var veritysetup = ReferenceTool.Require("veritysetup", "cryptsetup-bin");
        var sfdisk = ReferenceTool.Require("sfdisk", "fdisk");
        var source = Environment.GetEnvironmentVariable("INITRD_SYSEXT_BENCH_DIR") is { Length: > 0 } d ? d
            : Path.GetDirectoryName(typeof(object).Assembly.Location)!;
        using var dir = new TempDirectory("sysext-bench");
        var entries = TreeFixture.FromHostDirectory(source).Select(e => e with { Path = "usr/lib/bench/" + e.Path }).ToList();
        entries.InsertRange(0, [Dir("usr"), Dir("usr/lib"), Dir("usr/lib/bench")]);
        var signer = LoadSigner(MakeKeyPair(dir));
        var megabytes = entries.Sum(e => e.Size) / 1048576.0;

        TimeSpan Ours(string fileSystem)
        {
            Build(entries, dir.Combine("warm.raw"), signer, dir.Combine("work"), fileSystem: fileSystem); // JIT and page cache
            var best = TimeSpan.MaxValue;
            for (var r = 0; r < 3; r++)
            {
                var sw = Stopwatch.StartNew();
                Build(entries, dir.Combine("bench.raw"), signer, dir.Combine("work"), fileSystem: fileSystem);
                best = Min(best, sw.Elapsed);
            }
            return best;
        }
        var ours = Ours("erofs");
        var oursMkfs = Ours("erofs-mkfs");

        // The pipeline by hand, on a folder already staged (so it is spared the copy ours includes).
        var staged = dir.Combine("staged");
        Directory.CreateDirectory(Path.Combine(staged, "usr/lib/bench"));
        ReferenceTool.Run("cp", ["-a", source + "/.", Path.Combine(staged, "usr/lib/bench")]);
        var theirs = TimeSpan.MaxValue;
        for (var r = 0; r < 3; r++)
        {
            foreach (var f in new[] { "t.erofs", "t.verity", "t.raw" }) File.Delete(dir.Combine(f));
            var sw = Stopwatch.StartNew();
            Check(ReferenceTool.Run(mkfs, ["-T0", "-U6d8ad7f5-1f4e-4a50-9a8d-0a1b2c3d4e5f", "--all-root", "-x-1", "--quiet", dir.Combine("t.erofs"), staged]));
            Check(ReferenceTool.Run(veritysetup, ["format", dir.Combine("t.erofs"), dir.Combine("t.verity")]));
            var dataSectors = new FileInfo(dir.Combine("t.erofs")).Length / 512;
            var hashSectors = new FileInfo(dir.Combine("t.verity")).Length / 512;
            using (var f = File.Create(dir.Combine("t.raw"))) f.SetLength((dataSectors + hashSectors + 2048 + 4096) * 512);
            Check(ReferenceTool.Run(sfdisk, ["--quiet", dir.Combine("t.raw")],
                standardInput: System.Text.Encoding.ASCII.GetBytes($"label: gpt\nsize={dataSectors}, type=4f68bce3-e8cd-4db1-96e7-fbcaf984b709\nsize={hashSectors}, type=2c7357ed-ebd2-46d9-aec1-23d437ec2bf5\n")));
            theirs = Min(theirs, sw.Elapsed);
        }
        output.WriteLine($"signed sysext of {entries.Count} entries, {megabytes:F1} MiB: ours {ours.TotalSeconds:F2} s (digest + native erofs + verity + signature + GPT); " +
                         $"ours with ExtensionFileSystem=erofs-mkfs {oursMkfs.TotalSeconds:F2} s (digest + staging copy + mkfs.erofs + …); " +
                         $"mkfs.erofs + veritysetup format + sfdisk (no copy, no signature, partitions not filled) {theirs.TotalSeconds:F2} s; " +
                         $"ratio {theirs / ours:F2} (erofs-mkfs: {theirs / oursMkfs:F2})");

        static TreeEntry Dir(string path) => new() { Path = path, Kind = TreeEntryKind.Directory, Permissions = 0b111_101_101 };
        static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
        static void Check(ToolResult r) => Assert.True(r.ExitCode == 0, r.ToString());
    }
}
