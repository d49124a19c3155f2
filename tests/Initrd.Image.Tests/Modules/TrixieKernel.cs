using System.Security.Cryptography;
using System.Text.RegularExpressions;
using Initrd.Formats.Compression;
using Initrd.Formats.Deb;
using Initrd.Image.Modules;
using Initrd.Testing;

namespace Initrd.Image.Tests.Modules;

/// <summary>
/// Debian trixie's generic amd64 kernel package (<c>linux-image-6.12.*-amd64</c>), downloaded once from the host's
/// archive into the test cache and unpacked once with <c>dpkg-deb -x</c> into the cache as well (the library's own
/// install step is tested elsewhere). Shared by every test class in the process.
/// </summary>
public sealed partial class TrixieKernel
{
    const string PoolDirectory = "pool/main/l/linux-signed-amd64";
    const string PackagesIndex = "dists/trixie/main/binary-amd64/Packages.xz";

    [GeneratedRegex(@"^linux-image-(6\.12\.[0-9]+\+deb13-amd64)_([^_]+)_amd64\.deb$")]
    private static partial Regex CachedDebPattern();

    [GeneratedRegex(@"^linux-image-(6\.12\.[0-9]+\+deb13-amd64)$")]
    private static partial Regex PackagePattern();

    static readonly Lazy<TrixieKernel> Shared = new(() => new TrixieKernel(), LazyThreadSafetyMode.ExecutionAndPublication);
    static readonly object TreeLock = new();
    KernelModuleTree? _tree;

    TrixieKernel()
    {
        var deb = FindOrDownloadDeb();
        Root = Extract(deb);
        var versions = Directory.GetDirectories(Path.Combine(Root, "usr/lib/modules")).Select(Path.GetFileName).ToList();
        Assert.Single(versions);
        KernelVersion = versions[0]!;
        DebPath = deb;
    }

    /// <summary>The shared instance; skips the test (fails it under CI) when the package cannot be had.</summary>
    public static TrixieKernel Get()
    {
        ReferenceTool.Require("dpkg-deb", "dpkg");
        return Shared.Value;
    }

    public string DebPath { get; }

    /// <summary>The unpacked package (holds usr/lib/modules/&lt;kver&gt;, boot/, usr/share/).</summary>
    public string Root { get; }

    public string KernelVersion { get; }

    public string ModulesDirectory => Path.Combine(Root, "usr/lib/modules", KernelVersion);

    /// <summary>The module tree (built once; it is immutable).</summary>
    public KernelModuleTree Tree
    {
        get
        {
            lock (TreeLock) return _tree ??= KernelModuleTree.FromDirectory(Root, KernelVersion);
        }
    }

    /// <summary>Module info shared by the tests that do not measure reading (it is thread-safe).</summary>
    public ModuleInfoCache Cache { get; } = new();

    /// <summary>A selector over <see cref="Tree"/> using the shared <see cref="Cache"/>.</summary>
    public ModuleSelector Selector() => new(Tree, Cache);

    readonly object _allLock = new();
    (IReadOnlyDictionary<string, ModuleInfo> Info, TimeSpan Wall, TimeSpan Cpu)? _all;

    /// <summary>Every module's info, read once (in parallel, into the shared cache), with the time the first read took.</summary>
    public (IReadOnlyDictionary<string, ModuleInfo> Info, TimeSpan Wall, TimeSpan Cpu) AllInfo()
    {
        lock (_allLock)
        {
            if (_all is { } done) return done;
            var process = System.Diagnostics.Process.GetCurrentProcess();
            var cpu = process.TotalProcessorTime;
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var info = new ModuleSelector(Tree, Cache).ReadAll();
            var wall = watch.Elapsed;
            process.Refresh();
            _all = (info, wall, process.TotalProcessorTime - cpu);
            return _all.Value;
        }
    }

    static string FindOrDownloadDeb()
    {
        var pool = Path.Combine(DebianMirror.CacheDirectory, PoolDirectory);
        if (Directory.Exists(pool))
        {
            var cached = Directory.GetFiles(pool, "*.deb")
                .Select(f => (Path: f, Match: CachedDebPattern().Match(Path.GetFileName(f))))
                .Where(x => x.Match.Success)
                .OrderByDescending(x => DebianVersion.Parse(x.Match.Groups[2].Value))
                .FirstOrDefault();
            if (cached.Path is not null) return cached.Path;
        }

        // Not cached: find the newest such package in trixie's index and download it (~100 MB).
        var index = DebianMirror.GetCachedFile(PackagesIndex);
        Deb822Paragraph? best = null;
        using (var file = File.OpenRead(index))
        using (var xz = new XzDecompressStream(file))
        using (var reader = new StreamReader(xz))
        {
            foreach (var p in Deb822.Parse(reader, index))
            {
                if (!PackagePattern().IsMatch(p.GetValueOrDefault("Package") ?? "")) continue;
                if (best is null || DebianVersion.Parse(p["Version"]) > DebianVersion.Parse(best["Version"])) best = p;
            }
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

    /// <summary>Unpacks into the cache once: into a temporary folder, then renamed, so a half unpack is never used.</summary>
    static string Extract(string deb)
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
}
