using System.Collections.Concurrent;
using Xunit;

namespace Initrd.Testing;

/// <summary>
/// Real .deb files for tests: the host's candidate version of a package, fetched with <c>apt-get download</c> from
/// the host's configured repositories (bookworm) once per test run into a temporary folder (removed when the
/// process exits); shared by the test projects (Initrd.Formats.Tests, Initrd.Image.Tests' RealDebs).
/// Without apt-get, or when the download fails, the test is skipped locally and fails under CI.
/// </summary>
public static class DebianPackages
{
    static readonly Lazy<string> s_directory = new(() =>
    {
        var directory = Directory.CreateTempSubdirectory("initrd-test-debs-").FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            try { Directory.Delete(directory, recursive: true); }
            catch (IOException) { }
            catch (UnauthorizedAccessException) { }
        };
        return directory;
    });

    static readonly ConcurrentDictionary<string, Lazy<string>> s_packages = new();

    /// <summary>Path of the downloaded .deb of <paramref name="package"/>.</summary>
    public static string Get(string package)
    {
        var aptGet = ReferenceTool.Require("apt-get", "apt");
        return s_packages.GetOrAdd(package, p => new Lazy<string>(() => Download(aptGet, p))).Value;
    }

    static string Download(string aptGet, string package)
    {
        var directory = Path.Combine(s_directory.Value, package);
        Directory.CreateDirectory(directory);
        var result = ReferenceTool.Run(aptGet, ["download", "-q", package], directory, timeout: TimeSpan.FromMinutes(5));
        var debs = Directory.GetFiles(directory, "*.deb");
        if (result.ExitCode == 0 && debs.Length == 1) return debs[0];

        var message = $"apt-get download {package} failed (is the apt cache updated and a repository reachable?): {result}";
        if (ReferenceTool.InCi) Assert.Fail(message);
        Assert.Skip(message);
        return null!; // unreachable
    }
}
