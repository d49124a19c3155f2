using System.Diagnostics;
using System.Text;

namespace Initrd.Testing;

/// <summary>What a boot printed on the serial console, and how it ended.</summary>
public sealed record BootResult(bool MarkerSeen, bool TimedOut, int? ExitCode, string Console, TimeSpan Elapsed)
{
    public override string ToString() =>
        $"marker seen: {MarkerSeen}, timed out: {TimedOut}, exit: {ExitCode?.ToString() ?? "-"}, {Elapsed.TotalSeconds:F1} s\n--- console\n{Console}";
}

/// <summary>
/// Boots a guest under QEMU with TCG (this machine's /dev/kvm does not run stock kernels, see
/// shared/FACTS.md) and reads its serial console until a marker line appears, the guest powers off,
/// or the timeout passes. The guest is always killed at the end.
/// </summary>
public static class QemuBoot
{
    public static BootResult Run(IEnumerable<string> machineArguments, string marker, TimeSpan timeout, string? consoleLogPath = null)
    {
        var qemu = ReferenceTool.Require("qemu-system-x86_64", "qemu-system-x86");
        var psi = new ProcessStartInfo(qemu)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in new[] { "-accel", "tcg,thread=multi", "-cpu", "max", "-smp", "2", "-m", "1536",
                     "-nographic", "-no-reboot", "-serial", "mon:stdio", "-nodefaults" })
            psi.ArgumentList.Add(a);
        foreach (var a in machineArguments) psi.ArgumentList.Add(a);

        var console = new StringBuilder();
        var seen = new ManualResetEventSlim();
        var watch = Stopwatch.StartNew();
        using var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (console) console.AppendLine(e.Data);
            if (e.Data.Contains(marker, StringComparison.Ordinal)) seen.Set();
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (console) console.AppendLine("[qemu] " + e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var deadline = DateTime.UtcNow + timeout;
        var timedOut = false;
        while (!seen.IsSet && !process.HasExited)
        {
            if (DateTime.UtcNow > deadline) { timedOut = true; break; }
            seen.Wait(TimeSpan.FromMilliseconds(200));
        }
        // Give the guest a moment to print what follows the marker (failed units, poweroff).
        if (seen.IsSet && !process.HasExited) process.WaitForExit(TimeSpan.FromSeconds(20));
        int? exitCode = null;
        if (!process.HasExited)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            process.WaitForExit();
        }
        else
        {
            process.WaitForExit(); // flush the asynchronous readers
            exitCode = process.ExitCode;
        }
        string text;
        lock (console) text = console.ToString();
        if (consoleLogPath is not null) File.WriteAllText(consoleLogPath, text);
        return new BootResult(seen.IsSet, timedOut, exitCode, text, watch.Elapsed);
    }
}
