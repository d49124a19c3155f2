using System.Diagnostics;
using System.Text;
using Initrd.Apt.Lock;
using Initrd.Apt.Repositories;
using Initrd.Apt.Resolution;
using Initrd.Formats.Deb;
using Initrd.Testing;

namespace Initrd.Apt.Tests.Resolution;

/// <summary>
/// The solver against apt (<c>apt-get install -s</c> with the same trixie sources and an empty dpkg status):
/// for each package set, our set is closed and consistent (checked by <see cref="ClosureCheck"/>, not by the
/// solver), apt's set passes the same check, versions agree, and every package one side has and the other
/// has not is explained: an alternative (or provider) of a relation that both sides satisfied differently,
/// or something only such a package pulled in.
/// </summary>
/// <remarks>
/// With an empty status apt treats nothing as installed and, in a simulation, adds no Essential packages
/// of its own accord (checked by <see cref="AptAddsNoEssentialPackages"/>), so apt's set is the closure of
/// the request, the same thing <see cref="EssentialPolicy.Closure"/> computes.
/// </remarks>
public sealed class AptOracleTests(ITestOutputHelper output)
{
    public const string DefaultInitrdSet =
        "systemd udev bash less gzip kmod dmsetup libcryptsetup12 libseccomp2 btrfs-progs e2fsprogs dosfstools procps " +
        "util-linux mount libfido2-1 libfdisk1 systemd-cryptsetup systemd-repart libtss2-esys-3.0.2-0t64 " +
        "libtss2-mu-4.0.1-0t64 libtss2-rc0t64 libtss2-tcti-device0t64 linux-image-amd64";

    public static readonly string[] SetList =
    [
        "systemd", "lvm2", "cryptsetup", "busybox-static", "udev", "openssh-server", "nfs-common", "open-iscsi",
        "btrfs-progs", "plymouth", "network-manager", "iproute2", "curl", "python3-minimal", "dracut-core", "mdadm",
        "multipath-tools", "e2fsprogs", "dosfstools", DefaultInitrdSet, "kmod", "cryptsetup-initramfs", "systemd-boot",
        "xfsprogs", "nvme-cli", "tpm2-tools", "apt", "ifupdown", "dbus", "sudo", "perl", "bsd-mailx", "linux-image-amd64",
        "systemd-sysv udev dbus", "mkosi", "zstd xz-utils cpio", "openssh-client rsync", "isc-dhcp-client",
        "systemd-resolved systemd-timesyncd", "default-mta",
        // Larger closures, where alternatives and virtual packages are met in different orders.
        "devscripts", "libvirt-daemon-system", "gnome-core", "logrotate", "chrony", "postfix", "build-essential",
        "qemu-system-x86", "apache2", "pipewire",
    ];

    public static TheoryData<string> Sets => new(SetList);

    [Theory, MemberData(nameof(Sets))]
    public void ClosureIsConsistentAndDiffersFromAptOnlyByExplainedChoices(string set)
    {
        var oracle = AptOracle.Require();
        var request = set.Split(' ');
        var ours = new DependencySolver(oracle.Universe).Solve(request, "amd64");
        var apt = oracle.Install(request);
        Assert.True(apt.ExitCode == 0, $"apt-get install -s {set} failed:\n{apt.Output}");

        var ourSet = ours.Packages.Select(p => p.Package).ToList();
        var aptSet = apt.Installed.Select(kv => Lookup(oracle.Universe, kv.Key, kv.Value)).ToList();
        var report = Compare(set, ourSet, aptSet, out var unexplained);
        output.WriteLine(report);

        Assert.Empty(ClosureCheck.Problems(ourSet));
        Assert.Empty(ClosureCheck.Problems(aptSet)); // the check itself agrees with apt
        foreach (var name in request) Assert.Contains(ourSet, p => p.Name == name || ClosureCheck.Satisfies(p, PackageRelation.Parse(name)));
        Assert.True(unexplained.Count == 0, "unexplained differences:\n" + string.Join('\n', unexplained));
    }

    [Fact]
    public void RandomPackagesResolveToConsistentSets()
    {
        // 1,000 packages drawn (seeded) from the index: each resolves, and its closure passes the independent check.
        var oracle = AptOracle.Require();
        var solver = new DependencySolver(oracle.Universe);
        var failures = new List<string>();
        var clock = new Stopwatch();
        double slowest = 0;
        int sizes = 0;
        foreach (var name in Sample(oracle.Universe, 1000, seed: 7))
        {
            clock.Restart();
            try
            {
                var r = solver.Solve([name], "amd64");
                slowest = Math.Max(slowest, clock.Elapsed.TotalMilliseconds);
                sizes += r.Packages.Count;
                var problems = ClosureCheck.Problems(r.Packages.Select(p => p.Package).ToList());
                if (problems.Count > 0) failures.Add($"{name}: {string.Join("; ", problems)}");
            }
            catch (ResolutionException e)
            {
                failures.Add($"{name}: {e.Message}");
            }
        }
        output.WriteLine($"1000 random packages: {sizes} packages in all, slowest resolution {slowest:F1} ms");
        Assert.True(failures.Count == 0, string.Join('\n', failures));
    }

    [Fact]
    public void RandomPackagesAgreeWithApt()
    {
        // 25 packages drawn (seeded) from the index, compared with apt like the named sets.
        var oracle = AptOracle.Require();
        var solver = new DependencySolver(oracle.Universe);
        var unexplainedAll = new List<string>();
        foreach (var name in Sample(oracle.Universe, 25, seed: 2026))
        {
            var apt = oracle.Install([name]);
            var ours = solver.Solve([name], "amd64").Packages.Select(p => p.Package).ToList();
            if (apt.ExitCode != 0)
            {
                output.WriteLine($"set: {name}\napt fails, we resolve {ours.Count} packages:\n{apt.Output}");
                unexplainedAll.Add($"{name}: apt fails");
                continue;
            }
            var aptSet = apt.Installed.Select(kv => Lookup(oracle.Universe, kv.Key, kv.Value)).ToList();
            output.WriteLine(Compare(name, ours, aptSet, out var unexplained));
            unexplainedAll.AddRange(unexplained.Select(u => $"{name}: {u}"));
        }
        Assert.True(unexplainedAll.Count == 0, string.Join('\n', unexplainedAll));
    }

    static IEnumerable<string> Sample(PackageUniverse universe, int count, int seed)
    {
        var names = universe.Packages.Select(p => p.Name).Distinct().ToArray(); // in name order: stable for a given index
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ => names[random.Next(names.Length)]);
    }

    [Fact]
    public void Summary()
    {
        var oracle = AptOracle.Require();
        var table = new StringBuilder("set | ours | apt | common | ours only | apt only\n");
        foreach (var set in SetList)
        {
            var request = set.Split(' ');
            var ours = new DependencySolver(oracle.Universe).Solve(request, "amd64").Packages.Select(p => p.Package).ToList();
            var apt = oracle.Install(request);
            var ourNames = ours.Select(p => p.Name).ToHashSet();
            var aptNames = apt.Installed.Keys.ToHashSet();
            table.Append(set == DefaultInitrdSet ? "default initrd set" : set)
                .Append(" | ").Append(ourNames.Count).Append(" | ").Append(aptNames.Count)
                .Append(" | ").Append(ourNames.Intersect(aptNames).Count())
                .Append(" | ").AppendJoin(' ', ourNames.Except(aptNames).Order(StringComparer.Ordinal))
                .Append(" | ").AppendJoin(' ', aptNames.Except(ourNames).Order(StringComparer.Ordinal)).Append('\n');
        }
        output.WriteLine(table.ToString());
    }

    [Fact]
    public void WhereAptFailsWeFailToo()
    {
        var oracle = AptOracle.Require();
        var solver = new DependencySolver(oracle.Universe);

        // Gone from trixie; apt: "However the following packages replace it: polkitd pkexec".
        var apt = oracle.Install(["policykit-1"]);
        Assert.NotEqual(0, apt.ExitCode);
        Assert.Contains("replace it", apt.Output);
        var e = Assert.Throws<ResolutionException>(() => solver.Solve(["policykit-1"], "amd64"));
        Assert.Equal(ResolutionErrorKind.NotFound, e.Kind);
        Assert.Contains("polkitd", e.Failure.ReplacedBy);
        Assert.Contains("pkexec", e.Failure.ReplacedBy);
        output.WriteLine(e.Message);

        // systemd-sysv Conflicts: sysvinit-core.
        apt = oracle.Install(["systemd-sysv", "sysvinit-core"]);
        Assert.NotEqual(0, apt.ExitCode);
        e = Assert.Throws<ResolutionException>(() => solver.Solve(["systemd-sysv", "sysvinit-core"], "amd64"));
        Assert.Equal(ResolutionErrorKind.Conflict, e.Kind);
        Assert.Contains("systemd-sysv", e.Message);
        Assert.Contains("sysvinit-core", e.Message);
        output.WriteLine(e.Message);
    }

    [Fact]
    public void AptAddsNoEssentialPackages()
    {
        // dpkg, coreutils and perl-base are Essential; nothing in systemd's closure depends on them.
        var oracle = AptOracle.Require();
        var apt = oracle.Install(["systemd"]);
        Assert.Equal(0, apt.ExitCode);
        Assert.DoesNotContain("dpkg", apt.Installed.Keys);
        Assert.DoesNotContain("coreutils", apt.Installed.Keys);
        Assert.DoesNotContain("perl-base", apt.Installed.Keys);

        var all = new DependencySolver(oracle.Universe).Solve(["systemd"], "amd64", new SolverOptions { Essential = EssentialPolicy.All });
        foreach (var name in (string[])["dpkg", "coreutils", "perl-base", "base-files", "bash"]) Assert.NotNull(all.Find(name));
        Assert.Empty(ClosureCheck.Problems(all.Packages.Select(p => p.Package).ToList()));
        output.WriteLine($"systemd: closure {new DependencySolver(oracle.Universe).Solve(["systemd"], "amd64").Packages.Count} packages, " +
                         $"with every Essential package {all.Packages.Count}");
    }

    [Fact]
    public void RecommendsComeInWhenAsked()
    {
        var oracle = AptOracle.Require();
        var solver = new DependencySolver(oracle.Universe);
        var without = solver.Solve(["systemd"], "amd64");
        var with = solver.Solve(["systemd"], "amd64", new SolverOptions { IncludeRecommends = true });
        Assert.True(with.Packages.Count > without.Packages.Count);
        Assert.Empty(ClosureCheck.Problems(with.Packages.Select(p => p.Package).ToList()));
        output.WriteLine($"systemd: {without.Packages.Count} packages, {with.Packages.Count} with Recommends: " +
                         string.Join(' ', with.Packages.Select(p => p.Name).Except(without.Packages.Select(p => p.Name))));
    }

    [Fact]
    public void ShuffledRealIndexGivesTheSameSet()
    {
        var oracle = AptOracle.Require();
        var request = DefaultInitrdSet.Split(' ');
        var expected = new DependencySolver(oracle.Universe).Solve(request, "amd64");
        var shuffled = oracle.Packages.ToArray();
        new Random(42).Shuffle(shuffled);
        var again = new DependencySolver(new PackageUniverse(shuffled)).Solve(request, "amd64");
        Assert.Equal(Describe(expected), Describe(again));

        static string[] Describe(ResolvedSet r) => r.Packages
            .Select(p => $"{p} {p.Package.Origin.Suite} {p.Package.Sha256} [{string.Join(',', p.Dependencies)}] {p.Reason}").ToArray();
    }

    [Fact]
    public void LockOfTheDefaultSet()
    {
        var oracle = AptOracle.Require();
        var request = new ImageResolveRequest { Packages = DefaultInitrdSet.Split(' '), Architecture = "amd64", Release = "trixie" };
        var inputsHash = PackageLock.HashInputs(["trixie", "amd64", DefaultInitrdSet]);
        var lockFile = ImageResolver.Resolve(request, oracle.Universe, inputsHash);

        Assert.Equal(inputsHash, lockFile.InputsHash);
        Assert.Equal("amd64", lockFile.Architecture);
        Assert.Equal(request.Packages.Order(StringComparer.Ordinal), lockFile.Packages.Where(p => p.Type == "Direct").Select(p => p.Name).Order(StringComparer.Ordinal));
        foreach (var p in lockFile.Packages)
        {
            Assert.StartsWith("http", p.Repository);
            Assert.Matches("^trixie(-updates|-security)?/main$", p.Origin);
            Assert.StartsWith("pool/", p.Path);
            Assert.True(p.Size > 0);
            Assert.Matches("^[0-9a-f]{64}$", p.Sha256);
            Assert.All(p.Dependencies, d => Assert.Contains(lockFile.Packages, q => q.Name == d));
        }
        var systemd = lockFile.Packages.Single(p => p.Name == "systemd");
        Assert.Contains("libsystemd-shared", systemd.Dependencies);

        using var temp = new TempDirectory();
        var path = temp.Combine("packages.lock.json");
        Assert.True(lockFile.WriteIfChanged(path));
        var read = PackageLock.Read(path);
        Assert.Equal(lockFile.ToJson(), read.ToJson());
        Assert.False(ImageResolver.Resolve(request, oracle.Universe, inputsHash).WriteIfChanged(path)); // same inputs, same bytes
    }

    [Fact]
    public void ResolutionTimeOfTheDefaultInitrdSet()
    {
        var oracle = AptOracle.Require();
        var request = DefaultInitrdSet.Split(' ');
        var sb = new StringBuilder();
        sb.Append($"index files: {string.Join(", ", oracle.IndexFiles.Select(Path.GetFileName))}\n");
        sb.Append($"parse {oracle.Packages.Count} paragraphs (Deb822 + PackageStanza, not the solver's work): {oracle.ParseTime.TotalMilliseconds:F0} ms\n");
        sb.Append($"index (first build, in the oracle): {oracle.IndexTime.TotalMilliseconds:F1} ms, {oracle.Universe.Count} packages, {oracle.Universe.DuplicatesDropped} duplicates folded\n");

        var indexTimes = new List<double>();
        for (int i = 0; i < 5; i++)
        {
            var clock = Stopwatch.StartNew();
            _ = new PackageUniverse(oracle.Packages);
            indexTimes.Add(clock.Elapsed.TotalMilliseconds);
        }
        indexTimes.Sort();
        sb.Append($"index (rebuilt 5×): min {indexTimes[0]:F1} ms, median {indexTimes[2]:F1} ms\n");

        var universe = new PackageUniverse(oracle.Packages);
        var first = Stopwatch.StartNew();
        var result = new DependencySolver(universe).Solve(request, "amd64");
        first.Stop();
        var solveTimes = new List<double>();
        for (int i = 0; i < 21; i++)
        {
            var clock = Stopwatch.StartNew();
            _ = new DependencySolver(universe).Solve(request, "amd64");
            solveTimes.Add(clock.Elapsed.TotalMilliseconds);
        }
        solveTimes.Sort();
        sb.Append($"solve, first on a fresh index: {first.Elapsed.TotalMilliseconds:F1} ms (relationship fields of touched packages may already be parsed by other tests)\n");
        sb.Append($"solve, warm (21×): min {solveTimes[0]:F2} ms, median {solveTimes[10]:F2} ms\n");
        sb.Append($"result: {result.Packages.Count} packages; {result.Statistics}\n");

        var apt = oracle.TimeInstall(request);
        sb.Append($"apt-get install -s (same sets, own process, warm pkgcache.bin): {apt.TotalMilliseconds:F0} ms; " +
                  $"ratio apt / (index median + solve median) = {apt.TotalMilliseconds / (indexTimes[2] + solveTimes[10]):F1}\n");
        sb.Append($"machine: {Environment.ProcessorCount} CPUs, load average {File.ReadAllText("/proc/loadavg").Split(' ')[0]}");
        output.WriteLine(sb.ToString());
    }

    // ------------------------------------------------------------ comparison

    static RepositoryPackage Lookup(PackageUniverse universe, string name, string version) =>
        universe.GetPackages(name).FirstOrDefault(p => p.Version.ToString() == version)
        ?? throw new InvalidOperationException($"apt installs {name} {version}, which the universe does not have");

    /// <summary>
    /// Prints both sets' differences, each with its explanation; <paramref name="unexplained"/> gets the rest.
    /// A package one side has and the other has not is explained when a package of both sets has a relation
    /// that it satisfies on one side and something else satisfies on the other (a choice between alternatives
    /// or providers), or when only packages so explained (transitively) need it.
    /// </summary>
    static string Compare(string set, List<RepositoryPackage> ours, List<RepositoryPackage> apt, out List<string> unexplained)
    {
        unexplained = [];
        var sb = new StringBuilder();
        var ourNames = ours.ToDictionary(p => p.Name);
        var aptNames = apt.ToDictionary(p => p.Name);
        sb.Append($"set: {set}\nours: {ours.Count} packages, apt: {apt.Count}, common: {ourNames.Keys.Count(aptNames.ContainsKey)}\n");
        foreach (var (name, p) in ourNames.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            if (aptNames.TryGetValue(name, out var q) && p.Version != q.Version)
            {
                sb.Append($"  version differs: {name} ours {p.Version}, apt {q.Version}\n");
                unexplained.Add($"{name}: ours {p.Version}, apt {q.Version}");
            }
        Explain("apt", apt, "we", ours, sb, unexplained);
        Explain("we", ours, "apt", apt, sb, unexplained);
        return sb.ToString();
    }

    static void Explain(string sideName, List<RepositoryPackage> side, string otherName, List<RepositoryPackage> other,
        StringBuilder sb, List<string> unexplained)
    {
        var otherNames = other.Select(p => p.Name).ToHashSet();
        var extra = side.Where(p => !otherNames.Contains(p.Name)).OrderBy(p => p.Name, StringComparer.Ordinal).ToList();
        if (extra.Count == 0) return;
        var explained = new Dictionary<string, string>();
        bool progress = true;
        while (progress)
        {
            progress = false;
            foreach (var x in extra)
            {
                if (explained.ContainsKey(x.Name)) continue;
                foreach (var (dependent, group) in Dependents(side, x))
                {
                    if (otherNames.Contains(dependent.Name))
                    {
                        var alternatives = group.Alternatives.Where(a => a.AppliesTo("amd64")).ToList();
                        var instead = other.FirstOrDefault(y => alternatives.Any(a => ClosureCheck.Satisfies(y, a)));
                        if (instead is null) continue;
                        explained[x.Name] = $"{dependent.Name} Depends: {group} — {sideName} took {x.Name}, {otherName} took {instead.Name}";
                    }
                    else if (explained.ContainsKey(dependent.Name))
                    {
                        explained[x.Name] = $"needed by {dependent.Name} ({group}), which only {sideName} {(sideName == "we" ? "have" : "has")}";
                    }
                    else continue;
                    progress = true;
                    break;
                }
            }
        }
        sb.Append($"  only {sideName} {(sideName == "we" ? "pick" : "picks")}:\n");
        foreach (var x in extra)
        {
            if (explained.TryGetValue(x.Name, out var why)) sb.Append($"    {x.Name} {x.Version}: {why}\n");
            else
            {
                sb.Append($"    {x.Name} {x.Version}: UNEXPLAINED\n");
                unexplained.Add($"only {sideName}: {x.Name} {x.Version}");
            }
        }
    }

    /// <summary>The packages of <paramref name="set"/> with a Depends/Pre-Depends relation that <paramref name="x"/> satisfies.</summary>
    static IEnumerable<(RepositoryPackage Dependent, RelationGroup Group)> Dependents(List<RepositoryPackage> set, RepositoryPackage x)
    {
        foreach (var p in set.OrderBy(p => p.Name, StringComparer.Ordinal))
        {
            if (p.Name == x.Name) continue;
            foreach (var group in p.Stanza.PreDepends.Concat(p.Stanza.Depends))
                if (group.Alternatives.Any(a => a.AppliesTo("amd64") && ClosureCheck.Satisfies(x, a)))
                    yield return (p, group);
        }
    }
}
