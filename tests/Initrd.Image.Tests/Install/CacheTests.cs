using Initrd.Image.Install;
using Initrd.Testing;
using static Initrd.Image.Tests.Install.HandMadeDeb;

namespace Initrd.Image.Tests.Install;

/// <summary>The cache contract: complete trees are reused, anything else is rebuilt, builders never collide.</summary>
public sealed class CacheTests
{
    static CancellationToken Ct => TestContext.Current.CancellationToken;

    static List<PackageArchive> Packages(string directory) =>
    [
        Write(directory, "alpha", Dir("./"), Dir("./usr/"), Dir("./usr/bin/"), File("./usr/bin/alpha", "alpha\n", 0x1ED),
            Symlink("./usr/bin/a", "alpha"), HardLink("./usr/bin/alpha2", "./usr/bin/alpha", 0x1ED)),
        Write(directory, "beta", Dir("./"), Dir("./etc/"), File("./etc/beta.conf", "beta\n"), Dir("./usr/share/beta/"),
            File("./usr/share/beta/data", string.Concat(Enumerable.Repeat("data ", 100_000)))),
        Write(directory, "gamma", Dir("./usr/"), Dir("./usr/lib/"), File("./usr/lib/libgamma.so.1", "gamma\n")),
    ];

    [Fact]
    public void A_complete_tree_is_reused()
    {
        using var temp = new TempDirectory("install-cache");
        var packages = Packages(temp.Path);
        var trees = temp.Combine("trees");
        var first = InstallTreeBuilder.GetOrBuild(packages, trees, "k", Ct);
        var second = InstallTreeBuilder.GetOrBuild(packages, trees, "k", Ct);
        Assert.True(first.Built);
        Assert.False(second.Built);
        Assert.Equal(first.Directory, second.Directory);
        Assert.Equal(Path.Combine(Path.GetFullPath(trees), "k"), first.Directory);
        Assert.Equal(Path.Combine(first.Directory, "root"), first.RootDirectory);
        Assert.Equal(first.Entries, second.Entries);
        Assert.Equal(["complete", "manifest", "overlaps", "owners", "packages", "root"],
            Directory.GetFileSystemEntries(first.Directory).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.Equal(["k", "k.lock"], Directory.GetFileSystemEntries(trees).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_cached_tree_of_other_packages_under_the_same_key_is_refused()
    {
        using var temp = new TempDirectory("install-cache");
        var packages = Packages(temp.Path);
        var trees = temp.Combine("trees");
        InstallTreeBuilder.GetOrBuild(packages, trees, "k", Ct);
        var e = Assert.Throws<InstallException>(() => InstallTreeBuilder.GetOrBuild(packages.Take(2).ToList(), trees, "k", Ct));
        Assert.Contains("other packages", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Leftovers_of_a_crashed_build_are_replaced_by_the_same_tree()
    {
        using var temp = new TempDirectory("install-crash");
        var packages = Packages(temp.Path);
        var trees = temp.Combine("trees");
        var clean = InstallTreeBuilder.GetOrBuild(packages, trees, "k", Ct);
        var cleanManifest = System.IO.File.ReadAllBytes(clean.ManifestPath);
        var cleanOwners = System.IO.File.ReadAllBytes(clean.OwnersPath);

        // A crash: a half-written temporary folder, and a tree folder whose marker is missing.
        System.IO.File.Delete(Path.Combine(clean.Directory, "complete"));
        System.IO.File.WriteAllText(Path.Combine(clean.Directory, "root", "usr", "bin", "alpha"), "corrupt");
        Directory.CreateDirectory(Path.Combine(trees, "k.tmp-x", "root", "usr"));
        System.IO.File.WriteAllText(Path.Combine(trees, "k.tmp-x", "manifest"), "half");

        var rebuilt = InstallTreeBuilder.GetOrBuild(packages, trees, "k", Ct);
        Assert.True(rebuilt.Built);
        Assert.Equal(cleanManifest, System.IO.File.ReadAllBytes(rebuilt.ManifestPath));
        Assert.Equal(cleanOwners, System.IO.File.ReadAllBytes(rebuilt.OwnersPath));
        Assert.Equal("alpha\n", System.IO.File.ReadAllText(Path.Combine(rebuilt.RootDirectory, "usr", "bin", "alpha")));
        Assert.Equal(["k", "k.lock"], Directory.GetFileSystemEntries(trees).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void A_marker_of_another_format_is_not_trusted()
    {
        using var temp = new TempDirectory("install-crash");
        var packages = Packages(temp.Path);
        var trees = temp.Combine("trees");
        var clean = InstallTreeBuilder.GetOrBuild(packages, trees, "k", Ct);
        System.IO.File.WriteAllText(Path.Combine(clean.Directory, "complete"), "something else\n");
        Assert.True(InstallTreeBuilder.GetOrBuild(packages, trees, "k", Ct).Built);
    }

    [Fact]
    public void A_cancelled_build_leaves_nothing_and_the_next_one_is_identical()
    {
        using var temp = new TempDirectory("install-cancel");
        var packages = Packages(temp.Path);
        var reference = InstallTreeBuilder.GetOrBuild(packages, temp.Combine("reference"), "k", Ct);

        var trees = temp.Combine("trees");
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        var unpacked = new List<string>();
        var options = new InstallTreeOptions
        {
            PackageUnpacked = p =>
            {
                unpacked.Add(p.Name);
                cts.Cancel(); // half-way: after the first package is in the tree
            },
        };
        Assert.ThrowsAny<OperationCanceledException>(() => InstallTreeBuilder.GetOrBuild(packages, trees, "k", options, cts.Token));
        Assert.Equal(["alpha"], unpacked);
        TreesRoot.AssertNoTrees(trees);

        var tree = InstallTreeBuilder.GetOrBuild(packages, trees, "k", Ct);
        Assert.True(tree.Built);
        Assert.Equal(
            System.IO.File.ReadAllText(reference.ManifestPath).Replace(reference.RootDirectory, "<root>", StringComparison.Ordinal),
            System.IO.File.ReadAllText(tree.ManifestPath).Replace(tree.RootDirectory, "<root>", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Concurrent_builders_of_one_key_share_one_tree()
    {
        using var temp = new TempDirectory("install-concurrent");
        var packages = Packages(temp.Path);
        var trees = temp.Combine("trees");
        using var start = new Barrier(4);
        var tasks = Enumerable.Range(0, 4).Select(_ => Task.Factory.StartNew(() =>
        {
            start.SignalAndWait(Ct);
            return InstallTreeBuilder.GetOrBuild(packages, trees, "k", Ct);
        }, Ct, TaskCreationOptions.LongRunning, TaskScheduler.Default)).ToArray();
        var results = await Task.WhenAll(tasks);
        Assert.Single(results, r => r.Built);
        Assert.All(results, r => Assert.Equal(results[0].Directory, r.Directory));
        Assert.All(results, r => Assert.Equal(results[0].Entries, r.Entries));
        Assert.Equal(["k", "k.lock"], Directory.GetFileSystemEntries(trees).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Fact]
    public async Task A_builder_waits_for_another_process_holding_the_lock_and_takes_its_tree()
    {
        // flock(1) takes the same flock(2) lock as .NET's FileShare.None; while holding it, the "other builder"
        // moves a finished tree into place, which the waiting call must return instead of building its own.
        var flock = ReferenceTool.Require("flock", "util-linux");
        using var temp = new TempDirectory("install-processes");
        var packages = Packages(temp.Path);
        var trees = Path.GetFullPath(temp.Combine("trees"));
        var prepared = InstallTreeBuilder.GetOrBuild(packages, temp.Combine("elsewhere"), "k", Ct);
        Directory.CreateDirectory(trees);
        var ready = temp.Combine("ready");

        var other = Task.Run(() => ReferenceTool.Run(flock,
            [Path.Combine(trees, "k.lock"), "-c", $"touch '{ready}' && sleep 1 && mv '{prepared.Directory}' '{Path.Combine(trees, "k")}'"]), Ct);
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!System.IO.File.Exists(ready) && DateTime.UtcNow < deadline) Thread.Sleep(20);
        Assert.True(System.IO.File.Exists(ready), "flock did not take the lock");

        var tree = InstallTreeBuilder.GetOrBuild(packages, trees, "k", Ct);
        Assert.False(tree.Built);
        Assert.Equal(0, (await other).ExitCode);
        Assert.Equal(Path.Combine(trees, "k"), tree.Directory);
        Assert.Equal(["k", "k.lock"], Directory.GetFileSystemEntries(trees).Select(Path.GetFileName).Order(StringComparer.Ordinal));
    }

    [Theory]
    [InlineData("")]
    [InlineData(".hidden")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("k.tmp-1")]
    [InlineData("k.lock")]
    [InlineData("with space")]
    public void Keys_must_be_plain_folder_names(string key)
    {
        using var temp = new TempDirectory("install-key");
        Assert.ThrowsAny<ArgumentException>(() => InstallTreeBuilder.GetOrBuild([], temp.Combine("trees"), key, Ct));
    }
}
