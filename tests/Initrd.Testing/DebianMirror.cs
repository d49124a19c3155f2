using Xunit;

namespace Initrd.Testing;

/// <summary>
/// The Debian archive the host's apt is configured for, and a download cache of files from it, for tests
/// that check our readers against real archive data (Packages indices, InRelease files, .debs).
/// </summary>
/// <remarks>
/// The archive URI comes from the host's apt configuration at run time, never from the code: the first
/// enabled <c>deb</c> entry (deb822 <c>/etc/apt/sources.list.d/*.sources</c> or one-line
/// <c>/etc/apt/sources.list</c>, <c>*.list</c>) with a Debian release among its suites ("trixie",
/// "bookworm-updates", "stable"…) and no "-security" suite. <c>INITRD_TEST_DEBIAN_MIRROR</c> overrides it.
/// Files are cached under <c>$XDG_CACHE_HOME/initrd-sdk-tests</c> (default <c>~/.cache/initrd-sdk-tests</c>),
/// written to a temporary name and renamed, so concurrent test processes never see half a file.
/// Without an archive or network (and no cached copy) the test is skipped, or failed when <c>CI=true</c>.
/// </remarks>
public static class DebianMirror
{
    /// <summary>The environment variable that names the archive root instead of the apt configuration.</summary>
    public const string OverrideVariable = "INITRD_TEST_DEBIAN_MIRROR";

    static readonly HttpClient Http = new() { Timeout = TimeSpan.FromMinutes(10) };

    static readonly HashSet<string> DebianReleases = new(StringComparer.Ordinal)
    {
        "hamm", "slink", "potato", "woody", "sarge", "etch", "lenny", "squeeze", "wheezy", "jessie", "stretch",
        "buster", "bullseye", "bookworm", "trixie", "forky", "duke", "sid", "experimental",
        "oldoldstable", "oldstable", "stable", "testing", "unstable",
    };

    /// <summary>The folder files are cached in.</summary>
    public static string CacheDirectory
    {
        get
        {
            var xdg = Environment.GetEnvironmentVariable("XDG_CACHE_HOME");
            var root = !string.IsNullOrEmpty(xdg)
                ? xdg
                : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache");
            return Path.Combine(root, "initrd-sdk-tests");
        }
    }

    /// <summary>The archive root (e.g. the URI ending in "/debian"), or null when the host names none.</summary>
    public static Uri? FindArchiveUri(string aptDirectory = "/etc/apt")
    {
        var overridden = Environment.GetEnvironmentVariable(OverrideVariable);
        if (!string.IsNullOrWhiteSpace(overridden)) return new Uri(overridden.TrimEnd('/') + "/");
        foreach (var (uri, suites) in ReadAptSources(aptDirectory))
        {
            if (suites.Any(s => s.EndsWith("-security", StringComparison.Ordinal))) continue;
            if (suites.Any(s => DebianReleases.Contains(s.Split('-')[0])))
                return new Uri(uri.TrimEnd('/') + "/");
        }
        return null;
    }

    /// <summary>
    /// Enabled binary (<c>deb</c>) entries of an apt configuration: archive URI and suites, in the order apt
    /// reads them (sources.list, then sources.list.d in name order). Files with other extensions are ignored,
    /// as apt ignores them ("foo.sources.disabled").
    /// </summary>
    public static IEnumerable<(string Uri, IReadOnlyList<string> Suites)> ReadAptSources(string aptDirectory)
    {
        var files = new List<string>();
        var main = Path.Combine(aptDirectory, "sources.list");
        if (File.Exists(main)) files.Add(main);
        var parts = Path.Combine(aptDirectory, "sources.list.d");
        if (Directory.Exists(parts))
        {
            files.AddRange(Directory.GetFiles(parts)
                .Where(f => f.EndsWith(".list", StringComparison.Ordinal) || f.EndsWith(".sources", StringComparison.Ordinal))
                .Order(StringComparer.Ordinal));
        }
        foreach (var file in files)
        {
            var entries = file.EndsWith(".sources", StringComparison.Ordinal)
                ? ReadDeb822Sources(File.ReadAllText(file))
                : ReadOneLineSources(File.ReadAllText(file));
            foreach (var entry in entries) yield return entry;
        }
    }

    static IEnumerable<(string, IReadOnlyList<string>)> ReadOneLineSources(string text)
    {
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Split('#')[0].Trim();
            if (!line.StartsWith("deb ", StringComparison.Ordinal) && !line.StartsWith("deb\t", StringComparison.Ordinal)) continue;
            line = line[3..].Trim();
            if (line.StartsWith('['))
            {
                int close = line.IndexOf(']');
                if (close < 0) continue;
                line = line[(close + 1)..].Trim();
            }
            var words = line.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (words.Length >= 2) yield return (words[0], [words[1]]);
        }
    }

    // A minimal deb822 reader: this project must not depend on the library under test.
    static IEnumerable<(string, IReadOnlyList<string>)> ReadDeb822Sources(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? last = null;
        foreach (var raw in text.Replace("\r", "").Split('\n').Append(""))
        {
            if (raw.StartsWith('#')) continue;
            if (raw.Trim().Length == 0)
            {
                if (Entries(fields) is { } entries) foreach (var e in entries) yield return e;
                fields.Clear();
                last = null;
            }
            else if (raw[0] is ' ' or '\t')
            {
                if (last is not null) fields[last] += "\n" + raw;
            }
            else if (raw.IndexOf(':') is var colon and > 0)
            {
                last = raw[..colon].Trim();
                fields[last] = raw[(colon + 1)..].Trim();
            }
        }

        static List<(string, IReadOnlyList<string>)>? Entries(Dictionary<string, string> f)
        {
            static string[] Words(string? s) => (s ?? "").Split([' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
            if (!Words(f.GetValueOrDefault("Types")).Contains("deb")) return null;
            if (f.GetValueOrDefault("Enabled")?.Trim().ToLowerInvariant() is "no" or "false" or "0") return null;
            var suites = Words(f.GetValueOrDefault("Suites"));
            return [.. Words(f.GetValueOrDefault("URIs")).Select(u => (u, (IReadOnlyList<string>)suites))];
        }
    }

    /// <summary>The archive root; skips the test (fails it under CI) when the host names none.</summary>
    public static Uri RequireArchiveUri()
    {
        var uri = FindArchiveUri();
        if (uri is not null) return uri;
        Unavailable($"the host's apt configuration names no Debian archive (set {OverrideVariable})");
        return null!;
    }

    /// <summary>
    /// The local path of <paramref name="relativePath"/> (e.g. "dists/trixie/InRelease") downloaded from the
    /// archive. A cached copy younger than <paramref name="maxAge"/> (default 7 days) is used as it is; an
    /// older one is refreshed, and still used when the archive cannot be reached.
    /// </summary>
    public static string GetCachedFile(string relativePath, TimeSpan? maxAge = null)
    {
        var local = CachePath(relativePath);
        if (File.Exists(local) && DateTime.UtcNow - File.GetLastWriteTimeUtc(local) < (maxAge ?? TimeSpan.FromDays(7)))
            return local;
        var uri = RequireArchiveUri();
        try
        {
            Download(new Uri(uri, relativePath), local);
        }
        catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
        {
            if (File.Exists(local)) return local;
            Unavailable($"cannot download {relativePath} from the Debian archive: {e.Message}");
        }
        return local;
    }

    /// <summary>
    /// Downloads an .xz file (through the cache) and returns the path of its decompressed copy, made with the
    /// reference tool <c>xz -dc</c> and cached beside it.
    /// </summary>
    public static string GetCachedXzDecompressed(string relativePath, TimeSpan? maxAge = null)
    {
        if (!relativePath.EndsWith(".xz", StringComparison.Ordinal))
            throw new ArgumentException("expected a path ending in .xz", nameof(relativePath));
        var compressed = GetCachedFile(relativePath, maxAge);
        var decompressed = compressed[..^3];
        if (File.Exists(decompressed) && File.GetLastWriteTimeUtc(decompressed) >= File.GetLastWriteTimeUtc(compressed))
            return decompressed;
        var xz = ReferenceTool.Require("xz", "xz-utils");
        var result = ReferenceTool.Run(xz, ["-dc", compressed]);
        if (result.ExitCode != 0) throw new InvalidDataException($"xz -dc {compressed} failed: {result}");
        var temporary = $"{decompressed}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        File.WriteAllBytes(temporary, result.StandardOutputBytes);
        File.Move(temporary, decompressed, overwrite: true);
        return decompressed;
    }

    static string CachePath(string relativePath)
    {
        if (relativePath.StartsWith('/') || relativePath.Split('/').Contains(".."))
            throw new ArgumentException($"'{relativePath}' is not a path inside the archive", nameof(relativePath));
        return Path.Combine(CacheDirectory, relativePath);
    }

    static void Download(Uri uri, string local)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(local)!);
        var temporary = $"{local}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";
        try
        {
            using (var response = Http.GetAsync(uri, HttpCompletionOption.ResponseHeadersRead).GetAwaiter().GetResult())
            {
                response.EnsureSuccessStatusCode();
                using var body = response.Content.ReadAsStream();
                using var file = File.Create(temporary);
                body.CopyTo(file);
                if (response.Content.Headers.ContentLength is { } length && file.Length != length)
                    throw new IOException($"{uri}: got {file.Length} of {length} bytes");
            }
            File.Move(temporary, local, overwrite: true);
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    static void Unavailable(string message)
    {
        if (ReferenceTool.InCi) Assert.Fail(message);
        Assert.Skip(message);
    }
}
