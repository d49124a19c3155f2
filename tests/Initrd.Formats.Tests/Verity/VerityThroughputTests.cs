using System.Diagnostics;
using Initrd.Formats.Verity;
using Initrd.Testing;
using static Initrd.Formats.Tests.Verity.VerityTestSupport;

namespace Initrd.Formats.Tests.Verity;

/// <summary>
/// Measures, without asserting a time, the hash tree against <c>veritysetup format</c> on the same 200 MB file (page
/// cache warm for both). INITRD_VERITY_BENCH_MB changes the size.
/// </summary>
public class VerityThroughputTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Benchmark")]
    public void HashTreeThroughputAgainstVeritysetup()
    {
        Measurement.RequireEnabled();
        var veritysetup = ReferenceTool.Require("veritysetup", "cryptsetup-bin");
        var megabytes = int.TryParse(Environment.GetEnvironmentVariable("INITRD_VERITY_BENCH_MB"), out var mb) && mb > 0 ? mb : 200;
        using var dir = new TempDirectory("verity-bench");
        var data = dir.Combine("data.img");
        var length = megabytes * 1_000_000L / 4096 * 4096;
        WriteDataFile(data, length, seed: 42);
        Compute(data, new VerityOptions { Salt = new byte[32] }); // warm the page cache and the JIT

        static double Rate(long bytes, TimeSpan t) => bytes / 1e6 / t.TotalSeconds;
        var rounds = 3;
        var derived = TimeSpan.MaxValue; var given = TimeSpan.MaxValue; var single = TimeSpan.MaxValue; var theirs = TimeSpan.MaxValue;
        VerityHashTree? tree = null;
        string? theirRoot = null;
        for (var r = 0; r < rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            tree = Compute(data);
            WriteHashDevice(tree, dir.Combine("ours.hash"));
            derived = Min(derived, sw.Elapsed);

            sw.Restart();
            var t = Compute(data, new VerityOptions { Salt = tree.Salt.ToArray(), Uuid = tree.Uuid });
            WriteHashDevice(t, dir.Combine("ours2.hash"));
            given = Min(given, sw.Elapsed);

            sw.Restart();
            Compute(data, new VerityOptions { Salt = tree.Salt.ToArray(), MaxDegreeOfParallelism = 1 });
            single = Min(single, sw.Elapsed);

            var theirsPath = dir.Combine("theirs.hash");
            File.Delete(theirsPath);
            sw.Restart();
            theirRoot = VeritysetupFormat(veritysetup, data, theirsPath, tree.Salt, tree.Uuid);
            theirs = Min(theirs, sw.Elapsed);
        }
        Assert.Equal(theirRoot, tree!.RootHashHex);

        output.WriteLine($"{length / 1e6:F0} MB, {Environment.ProcessorCount} processors, best of {rounds}:");
        output.WriteLine($"VerityHashTree, salt derived (2 passes):      {derived.TotalSeconds,6:F3} s {Rate(length, derived),6:F0} MB/s");
        output.WriteLine($"VerityHashTree, salt given (1 pass):          {given.TotalSeconds,6:F3} s {Rate(length, given),6:F0} MB/s");
        output.WriteLine($"VerityHashTree, salt given, 1 hashing thread: {single.TotalSeconds,6:F3} s {Rate(length, single),6:F0} MB/s");
        output.WriteLine($"veritysetup format (process included):        {theirs.TotalSeconds,6:F3} s {Rate(length, theirs),6:F0} MB/s");
    }

    static TimeSpan Min(TimeSpan a, TimeSpan b) => a < b ? a : b;
}
