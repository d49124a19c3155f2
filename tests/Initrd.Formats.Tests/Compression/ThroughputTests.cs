using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using Initrd.Formats.Compression;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Compression;

/// <summary>
/// Prints throughput of our zstd against the zstd command line on the same 100 MB of semi-compressible data, as
/// wall-clock and as CPU time (user + system), the latter being what a loaded build machine does not distort.
/// Informational: it asserts correctness only, never speed. It runs alone, after the parallel tests, and each figure
/// is the best of three runs.
/// </summary>
[Collection(nameof(ThroughputTests))]
public partial class ThroughputTests(ITestOutputHelper output)
{
    const int Size = 100_000_000;
    const double MiB = 1024 * 1024;

    [Fact]
    [Trait("Category", "Performance")]
    public void ZstdLevel3AgainstTheCli()
    {
        Measurement.RequireEnabled();
        var zstd = ReferenceTool.Require("zstd", "zstd");
        var bash = ReferenceTool.Require("bash", "bash");
        var data = TestData.SemiCompressible(Size);
        using var temp = new TempDirectory();
        var input = temp.Combine("data");
        File.WriteAllBytes(input, data);
        var cliOutput = temp.Combine("cli.zst");
        var oursOutput = temp.Combine("ours.zst");

        Compress(data.AsSpan(0, 8 << 20), workers: -1); // warm-up: library load, threads

        var ours = Array.Empty<byte>();
        Report($"ours, level 3, {Environment.ProcessorCount} workers", Best(() => InProcess(() => ours = Compress(data, workers: -1))), ours.Length);
        Report("ours, level 3, 1 worker", Best(() => InProcess(() => Compress(data, workers: 1))), ours.Length);
        Report("zstd -3 -T0", Best(() => Cli(bash, $"{zstd} -3 -T0 -q -f {input} -o {cliOutput}")), new FileInfo(cliOutput).Length);
        Report("zstd -3 -T1", Best(() => Cli(bash, $"{zstd} -3 -T1 -q -f {input} -o {cliOutput}")), new FileInfo(cliOutput).Length);

        File.WriteAllBytes(oursOutput, ours);
        Report("ours, decompress", Best(() => InProcess(() =>
        {
            using var reader = new ZstdDecompressStream(new MemoryStream(ours));
            var buffer = new byte[1 << 20];
            long total = 0;
            int n;
            while ((n = reader.Read(buffer)) > 0) total += n;
            Assert.Equal(Size, total);
        })), Size);
        Report("zstd -d", Best(() => Cli(bash, $"{zstd} -d -q -f {oursOutput} -o /dev/null")), Size);
    }

    static byte[] Compress(ReadOnlySpan<byte> data, int workers)
    {
        var result = new MemoryStream(data.Length / 2);
        using (var zstd = new ZstdCompressStream(result, 3, workers, leaveOpen: true))
        {
            for (var rest = data; !rest.IsEmpty; rest = rest[Math.Min(rest.Length, 1 << 20)..])
                zstd.Write(rest[..Math.Min(rest.Length, 1 << 20)]);
        }
        return result.ToArray();
    }

    static (TimeSpan Wall, TimeSpan Cpu) InProcess(Action action)
    {
        using var process = Process.GetCurrentProcess();
        var cpu = process.TotalProcessorTime;
        var watch = Stopwatch.StartNew();
        action();
        var wall = watch.Elapsed;
        process.Refresh();
        return (wall, process.TotalProcessorTime - cpu);
    }

    /// <summary>Runs a command line under bash, whose <c>times</c> reports the children's user and system time.</summary>
    static (TimeSpan Wall, TimeSpan Cpu) Cli(string bash, string command)
    {
        var watch = Stopwatch.StartNew();
        var result = ReferenceTool.Run(bash, ["-c", command + " && times"]);
        var wall = watch.Elapsed;
        Assert.True(result.ExitCode == 0, result.ToString());
        var children = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries)[^1];
        var cpu = TimesField().Matches(children).Sum(m =>
            int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture) * 60 + double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture));
        return (wall, TimeSpan.FromSeconds(cpu));
    }

    static (TimeSpan Wall, TimeSpan Cpu) Best(Func<(TimeSpan Wall, TimeSpan Cpu)> run)
    {
        var best = (Wall: TimeSpan.MaxValue, Cpu: TimeSpan.MaxValue);
        for (var i = 0; i < 3; i++)
        {
            var (wall, cpu) = run();
            if (wall < best.Wall) best.Wall = wall;
            if (cpu < best.Cpu) best.Cpu = cpu;
        }
        return best;
    }

    void Report(string what, (TimeSpan Wall, TimeSpan Cpu) time, long compressedLength) =>
        output.WriteLine(
            $"{what,-28} {Size / MiB / time.Wall.TotalSeconds,7:F0} MiB/s wall ({time.Wall.TotalMilliseconds,5:F0} ms), " +
            $"{Size / MiB / time.Cpu.TotalSeconds,5:F0} MiB/s per CPU second ({time.Cpu.TotalMilliseconds,5:F0} ms CPU); " +
            $"{Size / MiB:F1} MiB ↔ {compressedLength / MiB:F1} MiB");

    [GeneratedRegex(@"(\d+)m([\d.]+)s")]
    private static partial Regex TimesField();
}

[CollectionDefinition(nameof(ThroughputTests), DisableParallelization = true)]
public sealed class ThroughputCollection;
