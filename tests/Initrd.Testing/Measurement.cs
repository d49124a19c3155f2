using Xunit;

namespace Initrd.Testing;

/// <summary>
/// Throughput measurements live beside the code they measure but are not tests: performance is judged by
/// the benchmarks under eng/bench, in ratios against peers in one run, never inside the test suite.
/// They run only when asked for (INITRD_BENCH=1) and are skipped otherwise.
/// </summary>
public static class Measurement
{
    public static void RequireEnabled()
    {
        if (Environment.GetEnvironmentVariable("INITRD_BENCH") != "1")
            Assert.Skip("a throughput measurement, not a test: run it with INITRD_BENCH=1 (see eng/bench)");
    }
}
