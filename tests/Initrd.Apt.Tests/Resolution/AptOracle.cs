using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Initrd.Apt.Repositories;
using Initrd.Apt.Resolution;
using Initrd.Formats.Deb;
using Initrd.Testing;

namespace Initrd.Apt.Tests.Resolution;

/// <summary>
/// apt itself, run as an oracle with its own state: trixie, trixie-updates (main archive) and trixie-security
/// (security archive), the archive URIs taken from the host's apt configuration, Debian's archive keyring
/// given per source with <c>[signed-by=…]</c>, an empty dpkg status (nothing installed), amd64 only, no
/// Recommends. The host's <c>/etc/apt/apt.conf.d</c> and preferences are kept out (APT_CONFIG points at a
/// file that moves Dir::Etc::Parts, Main and the preferences to empty places), so Docker images' "keep
/// indexes compressed" and similar settings do not change what apt reads.
/// </summary>
/// <remarks>
/// The state lives in the test cache folder and <c>apt-get update</c> runs at most once a day (under a lock
/// file, so parallel test processes do not update it together). The solver's universe is read from the very
/// Packages files apt reads (listed by <c>apt-get indextargets</c>), so both sides see the same data.
/// <c>apt-get install -s</c> results are cached on disk, keyed by the set, the apt version and the
/// InRelease files, so a second test run does not pay apt's seconds per set again.
/// </remarks>
internal sealed partial class AptOracle
{
    const string Release = "trixie";
    const string Keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
    static readonly Lazy<(AptOracle? Oracle, string? Unavailable)> Instance = new(Create, LazyThreadSafetyMode.ExecutionAndPublication);

    readonly string aptGet;
    readonly string root;
    readonly string stateKey;

    AptOracle(string aptGet, string root, IReadOnlyList<RepositoryPackage> packages, IReadOnlyList<string> indexFiles,
        TimeSpan parseTime, string stateKey)
    {
        this.aptGet = aptGet;
        this.root = root;
        this.stateKey = stateKey;
        Packages = packages;
        IndexFiles = indexFiles;
        ParseTime = parseTime;
        var clock = Stopwatch.StartNew();
        Universe = new PackageUniverse(packages);
        IndexTime = clock.Elapsed;
    }

    /// <summary>The packages of the three suites as apt reads them, with provenance from apt's index targets.</summary>
    public IReadOnlyList<RepositoryPackage> Packages { get; }

    public IReadOnlyList<string> IndexFiles { get; }

    public PackageUniverse Universe { get; }

    /// <summary>Time to parse the Packages files into stanzas (not the solver's work).</summary>
    public TimeSpan ParseTime { get; }

    /// <summary>Time to build the <see cref="PackageUniverse"/> from the parsed stanzas.</summary>
    public TimeSpan IndexTime { get; }

    /// <summary>The oracle; skips the test (fails it under CI) when apt, the keyring or the archive is unavailable.</summary>
    public static AptOracle Require()
    {
        var (oracle, unavailable) = Instance.Value;
        if (oracle is not null) return oracle;
        if (ReferenceTool.InCi) Assert.Fail(unavailable);
        Assert.Skip(unavailable!);
        return null!;
    }

    static (AptOracle?, string?) Create()
    {
        var aptGet = ReferenceTool.Find("apt-get");
        if (aptGet is null) return (null, "reference tool 'apt-get' is not installed (Debian package apt)");
        if (!File.Exists(Keyring)) return (null, $"{Keyring} is missing (Debian package debian-archive-keyring)");
        var sources = DebianMirror.ReadAptSources("/etc/apt").ToList();
        var main = DebianMirror.FindArchiveUri();
        if (main is null) return (null, "the host's apt configuration names no Debian archive");
        var security = sources.Where(s => s.Suites.Any(x => x.EndsWith("-security", StringComparison.Ordinal)))
            .Select(s => s.Uri.TrimEnd('/') + "/").FirstOrDefault();

        var root = Path.Combine(RepositoryLayout.TestCache, "apt-oracle", $"{Release}-amd64");
        foreach (var dir in (string[])["state/lists/partial", "cache/archives/partial", "etc/sources.list.d", "etc/apt.conf.d", "etc/preferences.d", "results"])
            Directory.CreateDirectory(Path.Combine(root, dir));
        var sourcesList = new StringBuilder();
        sourcesList.Append($"deb [signed-by={Keyring}] {main} {Release} main\n");
        sourcesList.Append($"deb [signed-by={Keyring}] {main} {Release}-updates main\n");
        if (security is not null) sourcesList.Append($"deb [signed-by={Keyring}] {security} {Release}-security main\n");
        WriteIfChanged(Path.Combine(root, "etc", "sources.list"), sourcesList.ToString());
        WriteIfChanged(Path.Combine(root, "status"), "");
        WriteIfChanged(Path.Combine(root, "etc", "empty.conf"), "");
        WriteIfChanged(Path.Combine(root, "etc", "apt.conf"),
            $"""
            Dir::Etc::Parts "{root}/etc/apt.conf.d";
            Dir::Etc::Main "{root}/etc/empty.conf";
            Dir::Etc::Preferences "{root}/etc/empty.conf";
            Dir::Etc::PreferencesParts "{root}/etc/preferences.d";

            """);

        using (var lockFile = AcquireLock(Path.Combine(root, ".lock")))
        {
            var stamp = Path.Combine(root, "state", "updated");
            var fresh = File.Exists(stamp) && DateTime.UtcNow - File.GetLastWriteTimeUtc(stamp) < TimeSpan.FromDays(1)
                        && File.ReadAllText(stamp) == sourcesList.ToString();
            if (!fresh)
            {
                var update = Run(aptGet, root, ["update"], TimeSpan.FromMinutes(10));
                if (update.ExitCode == 0 && !update.StandardOutput.Contains("W: ", StringComparison.Ordinal)
                    && !update.StandardError.Contains("E: ", StringComparison.Ordinal))
                    File.WriteAllText(stamp, sourcesList.ToString());
                else if (!File.Exists(stamp))
                    return (null, $"apt-get update failed and there is no earlier state: {update}");
            }
        }

        // The Packages files apt reads, with the suite and component they belong to.
        var targets = Run(aptGet, root,
            ["indextargets", "--format", "$(FILENAME)|$(REPO_URI)|$(RELEASE)|$(COMPONENT)|$(ARCHITECTURE)", "Identifier: Packages"],
            TimeSpan.FromMinutes(2));
        if (targets.ExitCode != 0) return (null, $"apt-get indextargets failed: {targets}");
        var clock = Stopwatch.StartNew();
        var packages = new List<RepositoryPackage>();
        var files = new List<string>();
        foreach (var line in targets.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = line.Split('|');
            if (!File.Exists(f[0])) return (null, $"apt's index {f[0]} is missing; delete {root} and run again");
            files.Add(f[0]);
            var origin = new PackageOrigin(f[1].TrimEnd('/'), f[2], f[3], $"{f[3]}/binary-{f[4]}/Packages");
            using var reader = new StreamReader(f[0]);
            foreach (var stanza in PackageStanza.Parse(reader, f[0]))
                packages.Add(new RepositoryPackage(stanza, origin, stanza.Filename!, stanza.Size ?? 0, stanza.Sha256!));
        }
        if (packages.Count == 0) return (null, "apt's lists hold no packages");
        var parseTime = clock.Elapsed;

        // What apt's answers depend on: apt's version and the exact index files (their signed InRelease files).
        var key = new StringBuilder(Run(aptGet, root, ["--version"], TimeSpan.FromMinutes(1)).StandardOutput.Split('\n')[0]);
        foreach (var release in Directory.GetFiles(Path.Combine(root, "state", "lists"), "*InRelease").Order(StringComparer.Ordinal))
            key.Append('\n').Append(Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(release))));
        return (new AptOracle(aptGet, root, packages, files, parseTime, key.ToString()), null);
    }

    /// <summary>The packages <c>apt-get install -s</c> would install for <paramref name="request"/>: name → version.</summary>
    public AptAnswer Install(IReadOnlyList<string> request)
    {
        var text = string.Join(' ', request);
        var hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(stateKey + "\n" + text)))[..32];
        var cached = Path.Combine(root, "results", hash + ".txt");
        string output;
        TimeSpan? elapsed = null;
        int exitCode;
        if (File.Exists(cached))
        {
            var content = File.ReadAllText(cached);
            exitCode = int.Parse(content[..content.IndexOf('\n')], System.Globalization.CultureInfo.InvariantCulture);
            output = content[(content.IndexOf('\n') + 1)..];
        }
        else
        {
            var clock = Stopwatch.StartNew();
            var result = Run(aptGet, root, ["install", "-s", "-q", .. request], TimeSpan.FromMinutes(5));
            elapsed = clock.Elapsed;
            exitCode = result.ExitCode;
            output = result.StandardOutput + result.StandardError;
            var temporary = $"{cached}.{Environment.ProcessId}.tmp";
            File.WriteAllText(temporary, $"{exitCode}\n{output}");
            File.Move(temporary, cached, overwrite: true);
        }
        var installed = new SortedDictionary<string, string>(StringComparer.Ordinal);
        foreach (Match m in InstLine().Matches(output)) installed[m.Groups[1].Value] = m.Groups[2].Value;
        return new AptAnswer(exitCode, installed, output, elapsed);
    }

    /// <summary>Runs <c>apt-get install -s</c> without the result cache, for timing.</summary>
    public TimeSpan TimeInstall(IReadOnlyList<string> request)
    {
        var clock = Stopwatch.StartNew();
        var result = Run(aptGet, root, ["install", "-s", "-q", .. request], TimeSpan.FromMinutes(5));
        if (result.ExitCode != 0) throw new InvalidOperationException(result.ToString());
        return clock.Elapsed;
    }

    static ToolResult Run(string aptGet, string root, IReadOnlyList<string> arguments, TimeSpan timeout)
    {
        string[] options =
        [
            "-o", $"Dir::State={root}/state",
            "-o", $"Dir::Cache={root}/cache",
            "-o", $"Dir::Etc::SourceList={root}/etc/sources.list",
            "-o", $"Dir::Etc::SourceParts={root}/etc/sources.list.d",
            "-o", $"Dir::State::status={root}/status",
            "-o", "APT::Architecture=amd64",
            "-o", "APT::Architectures=amd64",
            "-o", "APT::Install-Recommends=false",
            "-o", "Debug::NoLocking=1",
            "-o", "Acquire::Languages=none",
            "-o", "Acquire::GzipIndexes=false",
            // Running as root, apt would drop to _apt for downloads, which cannot enter a cache under /root.
            "-o", "APT::Sandbox::User=root",
        ];
        return ReferenceTool.Run(aptGet, [.. options, .. arguments], timeout: timeout,
            environment: new Dictionary<string, string> { ["APT_CONFIG"] = $"{root}/etc/apt.conf" });
    }

    static FileStream AcquireLock(string path)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException) when (clock.Elapsed < TimeSpan.FromMinutes(15))
            {
                Thread.Sleep(500);
            }
        }
    }

    static void WriteIfChanged(string path, string content)
    {
        if (File.Exists(path) && File.ReadAllText(path) == content) return;
        var temporary = $"{path}.{Environment.ProcessId}.tmp";
        File.WriteAllText(temporary, content);
        File.Move(temporary, path, overwrite: true);
    }

    // "Inst libc6 (2.41-12 Debian:13.1/stable [amd64])"; an upgrade would read "Inst name [old] (new …)".
    [GeneratedRegex(@"^Inst (\S+) (?:\[[^\]]*\] )?\((\S+) ", RegexOptions.Multiline)]
    private static partial Regex InstLine();
}

/// <summary>What apt answered for one request.</summary>
/// <param name="Elapsed">apt's run time, when it ran now (null when the answer came from the cache).</param>
internal sealed record AptAnswer(int ExitCode, IReadOnlyDictionary<string, string> Installed, string Output, TimeSpan? Elapsed);
