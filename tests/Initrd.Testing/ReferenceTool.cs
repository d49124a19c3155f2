using System.Diagnostics;
using System.Text;
using Xunit;

namespace Initrd.Testing;

/// <summary>
/// Finds a reference tool (an independent reader such as cpio, bsdtar, zstd, dpkg) on PATH and runs it.
/// A missing tool skips the test on a developer machine, but fails it when <c>CI=true</c>:
/// in CI a skipped oracle is not a pass, and .ci/run installs every tool the tests use.
/// </summary>
public static class ReferenceTool
{
    static readonly string[] ExtraDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    public static bool InCi => string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase);

    /// <summary>Full path of <paramref name="name"/>, or null when it is not installed.</summary>
    public static string? Find(string name)
    {
        if (name.Contains('/')) return File.Exists(name) ? name : null;
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(ExtraDirectories))
        {
            var candidate = System.IO.Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Returns the tool's path; skips the test (or fails it under CI) when the tool is absent.</summary>
    public static string Require(string name, string debianPackage)
    {
        var found = Find(name);
        if (found is not null) return found;
        var message = $"reference tool '{name}' is not installed (Debian package {debianPackage}; .ci/run installs it)";
        if (InCi) Assert.Fail(message);
        Assert.Skip(message);
        return null!; // unreachable
    }

    /// <summary>Runs a tool and returns its result; never throws on a non-zero exit.</summary>
    public static ToolResult Run(string fileName, IEnumerable<string> arguments, string? workingDirectory = null,
        byte[]? standardInput = null, TimeSpan? timeout = null, IDictionary<string, string>? environment = null)
    {
        var psi = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        if (environment is not null)
            foreach (var (k, v) in environment) psi.Environment[k] = v;

        using var process = Process.Start(psi)!;
        var stdout = new MemoryStream();
        var stdoutTask = process.StandardOutput.BaseStream.CopyToAsync(stdout);
        var stderrTask = process.StandardError.ReadToEndAsync();
        if (standardInput is not null)
        {
            try { process.StandardInput.BaseStream.Write(standardInput); } catch (IOException) { /* tool closed stdin early */ }
        }
        try { process.StandardInput.Close(); } catch (IOException) { }
        if (!process.WaitForExit(timeout ?? TimeSpan.FromMinutes(5)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', arguments)} did not finish in time");
        }
        stdoutTask.Wait();
        return new ToolResult(process.ExitCode, stdout.ToArray(), stderrTask.Result);
    }
}

public sealed record ToolResult(int ExitCode, byte[] StandardOutputBytes, string StandardError)
{
    public string StandardOutput => Encoding.UTF8.GetString(StandardOutputBytes);

    public override string ToString() => $"exit {ExitCode}\n--- stdout\n{StandardOutput}\n--- stderr\n{StandardError}";
}
