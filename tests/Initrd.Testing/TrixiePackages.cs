using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Xunit;

namespace Initrd.Testing;

/// <summary>
/// Packages of Debian trixie (main, amd64) from the host's archive (<see cref="DebianMirror"/>): the newest package
/// whose name matches is looked up in the Packages index, downloaded into the test cache, checked against the
/// index's SHA-256 and unpacked once with <c>dpkg-deb -x</c> into the cache as well.
/// </summary>
/// <remarks>
/// This project must not depend on the libraries under test, so the index is decompressed with the reference tool
/// (<see cref="DebianMirror.GetCachedXzDecompressed"/>), read with a minimal paragraph reader, and Debian version
/// order is the caller's (<c>DebianVersion</c>). Downloads and unpacks go to temporary names that are renamed, so
/// threads and concurrent test processes never use half a file or half a tree.
/// </remarks>
public static partial class TrixiePackages
{
    public const string PackagesIndex = "dists/trixie/main/binary-amd64/Packages.xz";

    /// <summary>Where the generic amd64 kernel packages live in the archive.</summary>
    public const string KernelPool = "pool/main/l/linux-signed-amd64";

    [GeneratedRegex(@"^linux-image-(6\.12\.[0-9]+\+deb13-amd64)$")]
    private static partial Regex KernelPackage();

    [GeneratedRegex(@"^linux-image-(6\.12\.[0-9]+\+deb13-amd64)_([^_]+)_amd64\.deb$")]
    private static partial Regex CachedKernelDeb();

    /// <summary>
    /// The generic amd64 kernel (<c>linux-image-6.12.*-amd64</c>): the newest cached .deb in <see cref="KernelPool"/>,
    /// else the newest in the index, downloaded.
    /// </summary>
    public static string DownloadGenericKernel(Comparison<string> compareVersions) =>
        Download(p => KernelPackage().IsMatch(p), compareVersions, KernelPool, CachedKernelDeb());

    /// <summary>
    /// Finds the newest package whose name matches <paramref name="packageName"/> (or, when given, the newest cached
    /// .deb in <paramref name="cachedPool"/> whose file name matches <paramref name="cachedFileName"/>, group 2 being
    /// the version) and downloads it; returns the local path of the verified .deb.
    /// </summary>
    public static string Download(Func<string, bool> packageName, Comparison<string> compareVersions,
        string? cachedPool = null, Regex? cachedFileName = null)
    {
        if (cachedPool is not null && cachedFileName is not null && Directory.Exists(Path.Combine(DebianMirror.CacheDirectory, cachedPool)))
        {
            var cached = Directory.GetFiles(Path.Combine(DebianMirror.CacheDirectory, cachedPool), "*.deb")
                .Select(f => (Path: f, Match: cachedFileName.Match(Path.GetFileName(f))))
                .Where(x => x.Match.Success)
                .Select(x => (x.Path, Version: x.Match.Groups[2].Value))
                .OrderDescending(Comparer<(string Path, string Version)>.Create((a, b) => compareVersions(a.Version, b.Version)))
                .FirstOrDefault();
            if (cached.Path is not null) return cached.Path;
        }

        var index = DebianMirror.GetCachedXzDecompressed(PackagesIndex);
        Dictionary<string, string>? best = null;
        foreach (var p in ReadParagraphs(index))
        {
            if (!packageName(p.GetValueOrDefault("Package") ?? "")) continue;
            if (best is null || compareVersions(p["Version"], best["Version"]) > 0) best = p;
        }
        Assert.NotNull(best);
        var relative = best["Filename"];
        var local = DebianMirror.GetCachedFile(relative, TimeSpan.MaxValue);
        using (var stream = File.OpenRead(local))
        {
            var sha = Convert.ToHexStringLower(SHA256.HashData(stream));
            if (sha != best["SHA256"].Trim().ToLowerInvariant())
            {
                File.Delete(local);
                Assert.Fail($"{relative}: SHA-256 {sha} differs from the index's {best["SHA256"]}; the download was deleted");
            }
        }
        return local;
    }

    /// <summary>
    /// Unpacks <paramref name="deb"/> into the cache once (<c>unpacked/&lt;name&gt;</c>): into a temporary folder,
    /// then renamed, so a half unpack is never used. Returns the folder.
    /// </summary>
    public static string Extract(string deb)
    {
        var target = Path.Combine(DebianMirror.CacheDirectory, "unpacked", Path.GetFileNameWithoutExtension(deb));
        if (File.Exists(Path.Combine(target, ".complete"))) return target;
        if (Directory.Exists(target)) Directory.Delete(target, recursive: true); // an interrupted unpack of an older run
        var temporary = $"{target}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        Directory.CreateDirectory(temporary);
        try
        {
            var result = ReferenceTool.Run(ReferenceTool.Require("dpkg-deb", "dpkg"), ["-x", deb, temporary]);
            Assert.True(result.ExitCode == 0, $"dpkg-deb -x failed: {result}");
            File.WriteAllText(Path.Combine(temporary, ".complete"), "");
            try
            {
                Directory.Move(temporary, target);
            }
            catch (IOException) when (File.Exists(Path.Combine(target, ".complete")))
            {
                // Another test process was faster.
            }
        }
        finally
        {
            if (Directory.Exists(temporary)) Directory.Delete(temporary, recursive: true);
        }
        return target;
    }

    // A minimal reader of a Packages index: the single-line fields of each paragraph (continuation lines skipped).
    static IEnumerable<Dictionary<string, string>> ReadParagraphs(string path)
    {
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var line in File.ReadLines(path).Append(""))
        {
            if (line.Length == 0)
            {
                if (fields.Count > 0) yield return fields;
                fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            }
            else if (line[0] is not (' ' or '\t') && line.IndexOf(':') is var colon and > 0)
            {
                fields[line[..colon]] = line[(colon + 1)..].Trim();
            }
        }
    }
}
