using Initrd.Formats.Deb;
using Initrd.Image.Modules;
using Initrd.Testing;

namespace Initrd.Image.Tests.Modules;

/// <summary>
/// Debian trixie's generic amd64 kernel package (<c>linux-image-6.12.*-amd64</c>), downloaded once from the host's
/// archive into the test cache and unpacked once with <c>dpkg-deb -x</c> into the cache as well, by
/// <see cref="TrixiePackages"/> (the library's own install step is tested elsewhere). Shared by every test class in
/// the process.
/// </summary>
public sealed class TrixieKernel
{
    static readonly Lazy<TrixieKernel> Shared = new(() => new TrixieKernel(), LazyThreadSafetyMode.ExecutionAndPublication);
    static readonly object TreeLock = new();
    KernelModuleTree? _tree;

    TrixieKernel()
    {
        var deb = TrixiePackages.DownloadGenericKernel(
            static (a, b) => DebianVersion.Parse(a).CompareTo(DebianVersion.Parse(b)));
        Root = TrixiePackages.Extract(deb);
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
}
