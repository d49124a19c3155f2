using System.Diagnostics;

namespace Initrd.Image.Extension;

/// <summary>Finds and runs a host program (a stop-gap file system writer) with a clean environment.</summary>
internal static class HostProgram
{
    static readonly string[] SystemDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"];

    /// <summary>The program's full path, or null when it is not installed.</summary>
    public static string? Find(string name)
    {
        var path = Environment.GetEnvironmentVariable("PATH") ?? "";
        foreach (var dir in path.Split(':', StringSplitOptions.RemoveEmptyEntries).Concat(SystemDirectories))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>Runs <paramref name="program"/> and throws <see cref="ExtensionException"/> when it is missing or fails.</summary>
    public static void Run(string program, string debianPackage, IReadOnlyList<string> arguments, CancellationToken cancellationToken)
    {
        var path = Find(program) ?? throw new ExtensionException(ExtensionErrorKind.FileSystemFailed,
            $"{program} is not installed. Install it (Debian package {debianPackage}), or choose another ExtensionFileSystem.");
        var psi = new ProcessStartInfo(path)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var a in arguments) psi.ArgumentList.Add(a);
        psi.Environment["LC_ALL"] = "C";
        psi.Environment.Remove("SOURCE_DATE_EPOCH"); // the arguments carry the timestamp; the tools read it differently
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        try
        {
            process.WaitForExitAsync(cancellationToken).GetAwaiter().GetResult();
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        if (process.ExitCode != 0)
        {
            var output = (stderr.Result + "\n" + stdout.Result).Trim();
            if (output.Length > 2000) output = output[..2000] + "…";
            throw new ExtensionException(ExtensionErrorKind.FileSystemFailed,
                $"{program} {string.Join(' ', arguments)} failed with exit code {process.ExitCode}: {output}");
        }
    }
}
