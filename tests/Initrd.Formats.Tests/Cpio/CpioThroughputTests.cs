using System.Diagnostics;
using Initrd.Formats.Cpio;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Cpio;

/// <summary>
/// Measures, without asserting a time, how fast the archive writer packs a large host tree compared with
/// <c>find | LC_ALL=C sort | cpio -o -H newc</c> on the same tree. The tree is read only.
/// Set INITRD_CPIO_BENCH_ROOT to measure another folder (default /usr/share).
/// </summary>
public class CpioThroughputTests(ITestOutputHelper output)
{
    [Fact]
    [Trait("Category", "Benchmark")]
    public void WriterThroughputAgainstGnuCpio()
    {
        Measurement.RequireEnabled();
        var root = Environment.GetEnvironmentVariable("INITRD_CPIO_BENCH_ROOT") is { Length: > 0 } r ? r : "/usr/share";
        if (!Directory.Exists(root)) Assert.Skip($"{root} does not exist");
        var sh = ReferenceTool.Require("sh", "dash");
        var cpio = ReferenceTool.Require("cpio", "cpio");

        var walk = Stopwatch.StartNew();
        var entries = HostFiles.Walk(root, out var skipped);
        walk.Stop();

        // Warm the page cache for both contenders (the first reader would otherwise pay for the disk).
        var warm = CpioArchiveWriter.Write(Stream.Null, entries, cancellationToken: TestContext.Current.CancellationToken);

        var ours = Stopwatch.StartNew();
        var counting = new CountingStream();
        var summary = CpioArchiveWriter.Write(counting, entries, cancellationToken: TestContext.Current.CancellationToken);
        ours.Stop();
        Assert.Equal(warm.BytesWritten, summary.BytesWritten);
        Assert.Equal(summary.BytesWritten, counting.Length);

        var gnu = Stopwatch.StartNew();
        var result = ReferenceTool.Run(sh, ["-c", $"find . | LC_ALL=C sort | {cpio} -o -H newc --quiet | wc -c"], root, timeout: TimeSpan.FromMinutes(20));
        gnu.Stop();
        Assert.True(result.ExitCode == 0, result.ToString());
        var gnuBytes = long.Parse(result.StandardOutput.Trim());

        static string Rate(long bytes, TimeSpan t) => $"{bytes / 1e6 / t.TotalSeconds,8:F0} MB/s";
        output.WriteLine($"tree {root}: {summary.EntryCount} entries ({skipped} skipped), {summary.ContentBytes / 1e6:F0} MB content, archive {summary.BytesWritten / 1e6:F0} MB");
        output.WriteLine($"walk (statx per entry):               {walk.Elapsed.TotalSeconds,6:F2} s");
        output.WriteLine($"CpioArchiveWriter (sort+validate+write): {ours.Elapsed.TotalSeconds,6:F2} s {Rate(summary.BytesWritten, ours.Elapsed)}");
        output.WriteLine($"walk + write:                         {(walk.Elapsed + ours.Elapsed).TotalSeconds,6:F2} s {Rate(summary.BytesWritten, walk.Elapsed + ours.Elapsed)}");
        output.WriteLine($"find | sort | cpio -o -H newc:        {gnu.Elapsed.TotalSeconds,6:F2} s {Rate(gnuBytes, gnu.Elapsed)} ({gnuBytes / 1e6:F0} MB)");
    }

    /// <summary>A null sink that counts what it is given (<see cref="Stream.Null"/> with a length).</summary>
    sealed class CountingStream : Stream
    {
        long _length;
        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => _length;
        public override long Position { get => _length; set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => _length += count;
        public override void Write(ReadOnlySpan<byte> buffer) => _length += buffer.Length;
    }
}
