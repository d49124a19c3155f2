using System.Diagnostics;
using Initrd.Apt.Resolution;
using static Initrd.Apt.Tests.Resolution.TestUniverse;

namespace Initrd.Apt.Tests.Resolution;

public sealed class DependencySolverTests(ITestOutputHelper output)
{
    // ------------------------------------------------------------ alternatives and versions

    [Fact]
    public void FirstAlternativeIsPreferred()
    {
        var r = Solve("""
            Package: a
            Depends: b | c

            Package: b

            Package: c
            """, "a");
        Assert.Equal(["a=1", "b=1"], r.Names());
    }

    [Fact]
    public void AlternativeAlreadyInTheSetIsReused()
    {
        // c comes in anyway (a's plain Depends are served before its choices), so "b | c" is already satisfied.
        var r = Solve("""
            Package: a
            Depends: b | c, d

            Package: b

            Package: c

            Package: d
            Depends: c
            """, "a");
        Assert.Equal(["a=1", "c=1", "d=1"], r.Names());
    }

    [Fact]
    public void RequestedAlternativeIsReused()
    {
        var r = Solve("""
            Package: a
            Depends: b | c

            Package: b

            Package: c
            """, "a", "c");
        Assert.Equal(["a=1", "c=1"], r.Names());
    }

    [Fact]
    public void ChoiceMadeRedundantLaterIsPruned()
    {
        // logrotate's choice is made before libpam-systemd's plain dependency brings in systemd-sysv, which
        // satisfies logrotate as well: cron (and what only cron needs) is dropped from the result.
        var r = Solve("""
            Package: app
            Depends: logrotate, session

            Package: session
            Depends: logind | default-logind

            Package: logrotate
            Depends: cron | anacron | systemd-sysv

            Package: cron
            Pre-Depends: cron-daemon-common

            Package: cron-daemon-common

            Package: logind
            Depends: libpam-systemd

            Package: libpam-systemd
            Depends: systemd-sysv

            Package: systemd-sysv
            """, "app");
        Assert.Equal(["app=1", "libpam-systemd=1", "logind=1", "logrotate=1", "session=1", "systemd-sysv=1"], r.Names());
        Assert.Equal(2, r.Statistics.Pruned);
        Assert.Equal("libpam-systemd Depends: systemd-sysv", r.Find("systemd-sysv")!.Reason);
        Assert.Equal(["systemd-sysv"], r.Find("logrotate")!.Dependencies);
    }

    [Fact]
    public void MissingFirstAlternativeFallsBackToTheSecond()
    {
        var r = Solve("""
            Package: a
            Depends: nowhere | c (>= 2)

            Package: c
            Version: 2
            """, "a");
        Assert.Equal(["a=1", "c=2"], r.Names());
    }

    [Fact]
    public void HighestSatisfyingVersionIsChosen()
    {
        const string universe = """
            Package: b
            Version: 1

            Package: b
            Version: 3

            Package: b
            Version: 2
            """;
        Assert.Equal(["a=1", "b=3"], Solve(universe + "\n\nPackage: a\nDepends: b (>= 2)", "a").Names());
        Assert.Equal(["a=1", "b=2"], Solve(universe + "\n\nPackage: a\nDepends: b (<< 3)", "a").Names());
        Assert.Equal(["a=1", "b=1"], Solve(universe + "\n\nPackage: a\nDepends: b (<= 1.0)", "a").Names());
        Assert.Equal(["a=1", "b=2"], Solve(universe + "\n\nPackage: a\nDepends: b (= 2)", "a").Names());
        Assert.Equal(["a=1", "b=3"], Solve(universe + "\n\nPackage: a\nDepends: b (>> 2)", "a").Names());
    }

    [Fact]
    public void LowerVersionIsTakenWhenTwoRelationsNeedIt()
    {
        // The highest b is tried first, c's relation rules it out; the search goes back and takes b 2.
        var r = Solve("""
            Package: a
            Depends: b, c

            Package: b
            Version: 3

            Package: b
            Version: 2

            Package: c
            Depends: b (<< 3)
            """, "a");
        Assert.Equal(["a=1", "b=2", "c=1"], r.Names());
    }

    [Fact]
    public void HighestVersionAcrossSuitesWinsAndDuplicatesFold()
    {
        const string text = """
            Package: libx
            Version: 1.0-1

            Package: libx
            Version: 1.0-1+deb13u1
            X-Suite: trixie-security

            Package: liby
            Version: 2.0-1

            Package: liby
            Version: 2.0-1
            X-Suite: trixie-updates

            Package: a
            Depends: libx, liby
            """;
        var universe = Of(text);
        Assert.Equal(1, universe.DuplicatesDropped);
        var r = new DependencySolver(universe).Solve(["a"], "amd64");
        Assert.Equal("1.0-1+deb13u1", r.Find("libx")!.Version.ToString());
        Assert.Equal("trixie-security", r.Find("libx")!.Package.Origin.Suite);
        Assert.Equal("trixie", r.Find("liby")!.Package.Origin.Suite); // the first suite in ordinal order keeps the copy
    }

    [Fact]
    public void RequestSyntax()
    {
        const string universe = """
            Package: b
            Version: 1

            Package: b
            Version: 2

            Package: t
            Architecture: i386
            """;
        Assert.Equal(["b=1"], Solve(universe, "b=1").Names());
        Assert.Equal(["b=2"], Solve(universe, "b").Names());
        Assert.Equal(["t:i386=1"], Solve(universe, new SolverOptions { ForeignArchitectures = ["i386"] }, "t:i386").Names());
        var e = Fails(universe, "b=3");
        Assert.Equal(ResolutionErrorKind.Unsatisfiable, e.Kind);
        Assert.Contains("version 2 does not satisfy (= 3)", e.Message);
        Assert.Equal(ResolutionErrorKind.InvalidRequest, Fails(universe, "b (>= 1)").Kind);
        Assert.Equal(ResolutionErrorKind.InvalidRequest, Fails(universe, "b=").Kind);
    }

    // ------------------------------------------------------------ virtual packages

    [Fact]
    public void UnversionedProvidesSatisfiesOnlyUnversionedDependencies()
    {
        const string universe = """
            Package: p
            Provides: v

            Package: a
            Depends: v

            Package: z
            Depends: v (>= 1)
            """;
        Assert.Equal(["a=1", "p=1"], Solve(universe, "a").Names());
        var e = Fails(universe, "z");
        Assert.Equal(ResolutionErrorKind.Unsatisfiable, e.Kind);
        var rejection = Assert.Single(e.Failure.Rejections);
        Assert.Equal(RejectionReason.UnversionedProvides, rejection.Reason);
        Assert.Equal("p", rejection.Name);
    }

    [Fact]
    public void VersionedProvidesSatisfiesVersionedDependencies()
    {
        const string universe = """
            Package: p
            Provides: v (= 1.2)

            Package: q
            Provides: v (= 2.0)

            Package: a
            Depends: v (>= 1.5)

            Package: b
            Depends: v (<< 1.5)
            """;
        Assert.Equal(["a=1", "q=1"], Solve(universe, "a").Names());
        Assert.Equal(["b=1", "p=1"], Solve(universe, "b").Names());
    }

    [Fact]
    public void RealPackageIsPreferredOverProviders()
    {
        var r = Solve("""
            Package: a
            Depends: v

            Package: aaa-provider
            Priority: required
            Provides: v

            Package: v
            Priority: optional
            """, "a");
        Assert.Equal(["a=1", "v=1"], r.Names());
    }

    [Fact]
    public void ProviderIsChosenByPriorityThenClosureThenName()
    {
        const string providers = """
            Package: a
            Depends: v

            Package: big
            Priority: optional
            Provides: v
            Depends: l1, l2

            Package: small
            Priority: optional
            Provides: v
            Depends: l1

            Package: l1

            Package: l2
            """;
        // Same priority: the smaller closure (small + l1) wins over big + l1 + l2, although "big" sorts first.
        Assert.Equal(["a=1", "l1=1", "small=1"], Solve(providers, "a").Names());
        // Higher priority beats a smaller closure.
        Assert.Equal(["a=1", "big=1", "l1=1", "l2=1"],
            Solve(providers.Replace("Package: big\nPriority: optional", "Package: big\nPriority: important"), "a").Names());
        // A closure already in the set costs nothing: with l2 requested, both add one package; then name order.
        Assert.Equal(["a=1", "big=1", "l1=1", "l2=1"], Solve(providers, "l2", "a").Names());
        // Name order among equals.
        Assert.Equal(["a=1", "p1=1"], Solve("""
            Package: a
            Depends: v

            Package: p2
            Provides: v

            Package: p1
            Provides: v
            """, "a").Names());
    }

    [Fact]
    public void RequestForVirtualPackageTakesAProvider()
    {
        var r = Solve("""
            Package: mawk
            Priority: required
            Provides: awk

            Package: gawk
            Priority: optional
            Provides: awk
            """, "awk");
        Assert.Equal(["mawk=1"], r.Names());
        Assert.True(r.Packages[0].IsRequested);
    }

    // ------------------------------------------------------------ conflicts and breaks

    [Fact]
    public void ConflictForcesTheSecondAlternative()
    {
        const string universe = """
            Package: a
            Depends: b | c

            Package: b

            Package: c

            Package: x
            Conflicts: b
            """;
        Assert.Equal(["a=1", "c=1", "x=1"], Solve(universe, "x", "a").Names());
        // Requested the other way round: requests are served before any choice, so b is already excluded.
        Assert.Equal(["a=1", "c=1", "x=1"], Solve(universe, "a", "x").Names());
    }

    [Fact]
    public void ConflictFoundDeepBelowAChoiceBacktracks()
    {
        var r = Solve("""
            Package: a
            Depends: b | c, d

            Package: b
            Depends: e

            Package: c

            Package: d
            Conflicts: e

            Package: e
            """, "a");
        Assert.Equal(["a=1", "c=1", "d=1"], r.Names());
        Assert.True(r.Statistics.Backjumps >= 1);
    }

    [Fact]
    public void BreaksIsEnforcedBothWays()
    {
        const string universe = """
            Package: a
            Depends: lib (>= 1) | lib-old

            Package: lib
            Version: 2
            Breaks: tool (<< 2)

            Package: lib-old

            Package: tool
            Version: 1
            """;
        Assert.Equal(["a=1", "lib-old=1", "tool=1"], Solve(universe, "tool", "a").Names());
        Assert.Equal(["a=1", "lib-old=1", "tool=1"], Solve(universe, "a", "tool").Names());
        Assert.Equal(["a=1", "lib=2", "tool=2"],
            Solve(universe + "\n\nPackage: tool\nVersion: 2", "a", "tool").Names());
        // The selected lib breaks the requested tool.
        var e = Fails(universe, "lib", "tool");
        Assert.Equal(ResolutionErrorKind.Conflict, e.Kind);
        var rejection = Assert.Single(e.Failure.Rejections);
        Assert.Equal(RejectionReason.ConflictedBy, rejection.Reason);
        Assert.Equal("the selected lib 2 amd64 Breaks: tool (<< 2)", rejection.Detail);
    }

    [Fact]
    public void SelfConflictThroughProvidesIsNotAConflict()
    {
        // Policy §7.4/§7.6: "Provides: mta, Conflicts: mta, Replaces: mta" makes providers mutually exclusive.
        const string universe = """
            Package: exim
            Provides: mta
            Conflicts: mta
            Replaces: mta

            Package: postfix
            Provides: mta
            Conflicts: mta, postfix
            Replaces: mta

            Package: app
            Depends: mta
            """;
        Assert.Equal(["app=1", "exim=1"], Solve(universe, "app").Names());
        Assert.Equal(["app=1", "postfix=1"], Solve(universe, "postfix", "app").Names());
        var e = Fails(universe, "exim", "postfix");
        Assert.Equal(ResolutionErrorKind.Conflict, e.Kind);
        Assert.Contains("exim", e.Message);
        Assert.Contains("postfix", e.Message);
    }

    [Fact]
    public void ConflictingRequestedPairNamesBoth()
    {
        var e = Fails("""
            Package: sysvinit-core
            Version: 3.14-4

            Package: systemd-sysv
            Version: 257.9-1
            Conflicts: sysvinit-core
            """, "sysvinit-core", "systemd-sysv");
        Assert.Equal(ResolutionErrorKind.Conflict, e.Kind);
        Assert.Equal("systemd-sysv", e.Failure.RequestedPackage);
        var rejection = Assert.Single(e.Failure.Rejections);
        Assert.Equal(RejectionReason.Conflicts, rejection.Reason);
        Assert.Equal("sysvinit-core 3.14-4 amd64", rejection.BlockedBy);
        Assert.Equal("requested", rejection.BlockedByChain);
        Assert.Contains("systemd-sysv", e.Message);
        Assert.Contains("sysvinit-core 3.14-4", e.Message);
        Assert.Contains("Conflicts: sysvinit-core", e.Message);
        output.WriteLine(e.Message);
    }

    [Fact]
    public void ConflictThroughDependenciesIsExplained()
    {
        var e = Fails("""
            Package: a
            Depends: liba

            Package: liba
            Depends: libcommon (>= 2)

            Package: b
            Depends: libcommon (<< 2)

            Package: libcommon
            Version: 1

            Package: libcommon
            Version: 2
            """, "b", "a");
        Assert.Equal(ResolutionErrorKind.Conflict, e.Kind);
        Assert.Equal("a", e.Failure.RequestedPackage);
        Assert.Equal("a → liba → libcommon (>= 2)", e.Failure.ChainText);
        Assert.Contains(e.Failure.Rejections, r => r.Reason == RejectionReason.OtherVersionSelected && r.BlockedBy == "libcommon 1 amd64"
                                                   && r.BlockedByChain == "b → libcommon (<< 2)");
        Assert.StartsWith("The packages for 'a' (amd64) conflict with other packages of the set: libcommon 2 is needed, but libcommon 1 amd64 is selected.", e.Message);
        output.WriteLine(e.Message);
    }

    // ------------------------------------------------------------ Multi-Arch

    [Fact]
    public void MultiArchForeignSatisfiesOtherArchitectures()
    {
        const string universe = """
            Package: app
            Depends: tool

            Package: tool
            Architecture: i386
            Multi-Arch: foreign
            """;
        var options = new SolverOptions { ForeignArchitectures = ["i386"] };
        Assert.Equal(["app=1", "tool:i386=1"], Solve(universe, options, "app").Names());

        var e = Fails(universe.Replace("Multi-Arch: foreign", "Multi-Arch: no"), options, "app");
        Assert.Equal(RejectionReason.MultiArch, Assert.Single(e.Failure.Rejections).Reason);

        // Without i386 among the architectures the package is not installable at all.
        e = Fails(universe, "app");
        Assert.Equal(RejectionReason.Architecture, Assert.Single(e.Failure.Rejections).Reason);
    }

    [Fact]
    public void AnyQualifierNeedsMultiArchAllowed()
    {
        const string universe = """
            Package: script
            Architecture: all
            Depends: python3:any

            Package: python3
            Multi-Arch: allowed
            """;
        Assert.Equal(["python3=1", "script=1"], Solve(universe, "script").Names());
        var e = Fails(universe.Replace("Multi-Arch: allowed", "Multi-Arch: foreign"), "script");
        var rejection = Assert.Single(e.Failure.Rejections);
        Assert.Equal(RejectionReason.MultiArch, rejection.Reason);
        Assert.Contains("Multi-Arch: allowed", rejection.Detail);
        Assert.Equal(RejectionReason.MultiArch, Assert.Single(Fails(universe.Replace("Multi-Arch: allowed", "Multi-Arch: no"), "script").Failure.Rejections).Reason);
    }

    [Fact]
    public void MultiArchSameIsCoInstallableAtOneVersion()
    {
        const string universe = """
            Package: libfoo
            Multi-Arch: same

            Package: libfoo
            Architecture: i386
            Multi-Arch: same

            Package: app32
            Architecture: i386
            Depends: libfoo
            """;
        var options = new SolverOptions { ForeignArchitectures = ["i386"] };
        Assert.Equal(["app32:i386=1", "libfoo=1", "libfoo:i386=1"], Solve(universe, options, "libfoo", "app32:i386").Names());

        // Different versions of a Multi-Arch: same package cannot be co-installed.
        var e = Fails(universe.Replace("Architecture: i386\nMulti-Arch: same", "Architecture: i386\nVersion: 2\nMulti-Arch: same"),
            options, "libfoo", "app32:i386");
        Assert.Equal(ResolutionErrorKind.Conflict, e.Kind);
        Assert.Contains(e.Failure.Rejections, r => r.Reason == RejectionReason.OtherVersionSelected);
    }

    [Fact]
    public void ArchitectureAllCountsAsNative()
    {
        // An arch:all package's unqualified dependency is satisfied by the native (Multi-Arch: no) library,
        // and an arch:all library satisfies a native package's dependency.
        var r = Solve("""
            Package: data
            Architecture: all
            Depends: libnative

            Package: libnative
            Depends: common

            Package: common
            Architecture: all
            """, "data");
        Assert.Equal(["common=1", "data=1", "libnative=1"], r.Names());
    }

    [Fact]
    public void ArchitectureRestrictionListsAreEvaluated()
    {
        var r = Solve("""
            Package: a
            Depends: only-arm [arm64], everywhere [!arm64]

            Package: everywhere
            """, "a");
        Assert.Equal(["a=1", "everywhere=1"], r.Names());
    }

    // ------------------------------------------------------------ loops

    [Fact]
    public void DependencyLoopsTerminate()
    {
        var r = Solve("""
            Package: a
            Depends: b

            Package: b
            Depends: a
            """, "a");
        Assert.Equal(["a=1", "b=1"], r.Names());

        r = Solve("""
            Package: x
            Pre-Depends: y

            Package: y
            Pre-Depends: z (>= 1)

            Package: z
            Pre-Depends: x
            Depends: z
            """, "x");
        Assert.Equal(["x=1", "y=1", "z=1"], r.Names());
    }

    [Fact]
    public void UnsatisfiableLoopTerminatesWithAnError()
    {
        var e = Fails("""
            Package: a
            Depends: b

            Package: b
            Depends: a (>= 2)
            """, "a");
        Assert.Equal(ResolutionErrorKind.Unsatisfiable, e.Kind);
        Assert.Equal("a → b → a (>= 2)", e.Failure.ChainText);
    }

    // ------------------------------------------------------------ errors

    [Fact]
    public void UnsatisfiableDependencyExplainsChainAndCandidates()
    {
        var e = Fails("""
            Package: systemd
            Version: 257.9-1
            Depends: libbar (>= 1)

            Package: libbar
            Version: 1.5
            Depends: libfoo (>= 2) | libfoo-compat

            Package: libfoo
            Version: 1.0

            Package: libfoo
            Version: 1.1
            X-Suite: trixie-security

            Package: libfoo
            Version: 3.0
            Architecture: arm64
            """, "systemd");
        Assert.Equal(ResolutionErrorKind.Unsatisfiable, e.Kind);
        var f = e.Failure;
        Assert.Equal("systemd", f.RequestedPackage);
        Assert.Equal("systemd → libbar (>= 1) → libfoo (>= 2) | libfoo-compat", f.ChainText);
        Assert.Equal("libbar 1.5 amd64", f.Dependent);
        Assert.Equal(["systemd", "libbar"], f.Chain.Select(s => s.Package));
        Assert.Equal(
            [
                "libfoo 3.0 arm64 (trixie/main): architecture arm64 is not installable for amd64",
                "libfoo 1.1 amd64 (trixie-security/main): version 1.1 does not satisfy (>= 2)",
                "libfoo 1.0 amd64 (trixie/main): version 1.0 does not satisfy (>= 2)",
                "libfoo-compat: not found in any repository (no package has this name and none provides it)",
            ],
            f.Rejections.Select(r => r.ToString()));
        Assert.Equal(
            [RejectionReason.Architecture, RejectionReason.Version, RejectionReason.Version, RejectionReason.NotFound],
            f.Rejections.Select(r => r.Reason));
        Assert.Contains("libfoo 1.0 amd64 (trixie/main)", f.AvailableVersions);
        Assert.Contains("systemd → libbar (>= 1) → libfoo (>= 2) | libfoo-compat", e.Message);
        Assert.Contains("version 1.1 does not satisfy (>= 2)", e.Message);
        Assert.Contains("not found in any repository", e.Message);
        output.WriteLine(e.Message);
    }

    [Fact]
    public void FailureUnderEveryAlternativeIsNested()
    {
        var e = Fails("""
            Package: a
            Depends: b | c

            Package: b
            Depends: missing-b

            Package: c
            Depends: missing-c (>= 2)

            Package: missing-c
            """, "a");
        Assert.Equal(ResolutionErrorKind.Unsatisfiable, e.Kind);
        Assert.Equal("a → b | c", e.Failure.ChainText);
        Assert.Equal([RejectionReason.DependenciesFailed, RejectionReason.DependenciesFailed], e.Failure.Rejections.Select(r => r.Reason));
        Assert.Equal("a → b | c → missing-b", e.Failure.Rejections[0].Cause!.ChainText);
        Assert.Equal(RejectionReason.NotFound, e.Failure.Rejections[0].Cause!.Rejections.Single().Reason);
        Assert.Equal(RejectionReason.Version, e.Failure.Rejections[1].Cause!.Rejections.Single().Reason);
        Assert.Contains("missing-c 1 amd64 (trixie/main): version 1 does not satisfy (>= 2)", e.Message);
        output.WriteLine(e.Message);
    }

    [Fact]
    public void UnknownRequestIsNotFoundWithSuggestions()
    {
        var e = Fails("""
            Package: systemd

            Package: systemd-boot

            Package: udev
            """, "sytemd");
        Assert.Equal(ResolutionErrorKind.NotFound, e.Kind);
        Assert.Equal("systemd", e.Failure.Suggestions[0]);
        Assert.Contains("'sytemd' is not in any repository", e.Message);
        Assert.Contains("did you mean 'systemd'", e.Message);
    }

    [Fact]
    public void RemovedRequestNamesItsReplacements()
    {
        var e = Fails("""
            Package: polkitd
            Replaces: policykit-1 (<< 124-1~)

            Package: pkexec
            Replaces: policykit-1 (<< 124-1~)

            Package: policykit-1-doc
            Architecture: all
            """, "policykit-1");
        Assert.Equal(ResolutionErrorKind.NotFound, e.Kind);
        Assert.Equal(["pkexec", "polkitd"], e.Failure.ReplacedBy);
        Assert.Equal(["policykit-1-doc"], e.Failure.Suggestions);
        Assert.StartsWith("Package 'policykit-1' is not in any repository; these packages replace it: 'pkexec', 'polkitd' (did you mean 'policykit-1-doc'?).", e.Message);
    }

    [Fact]
    public void MalformedRelationFieldRejectsOnlyThatPackage()
    {
        var r = Solve("""
            Package: a
            Depends: b | c

            Package: b
            Depends: libx (>= )

            Package: c
            """, "a");
        Assert.Equal(["a=1", "c=1"], r.Names());
        var e = Fails("Package: b\nDepends: libx (>= )", "b");
        Assert.Equal(RejectionReason.Malformed, Assert.Single(e.Failure.Rejections).Reason);
    }

    [Fact]
    public void IndependentChoicesDoNotMultiplyOnFailure()
    {
        // Thirty independent two-way choices, then a requested package that cannot be installed. Chronological
        // backtracking would try 2^30 combinations; backjumping sees the failure rests on no choice and stops.
        var text = new System.Text.StringBuilder();
        var request = new List<string>();
        for (int i = 0; i < 30; i++)
        {
            text.Append($"Package: p{i}\nDepends: x{i} | y{i}\n\nPackage: x{i}\n\nPackage: y{i}\n\n");
            request.Add($"p{i}");
        }
        // The failure shows only under a choice made after all the others.
        text.Append("Package: broken\nDepends: q1 | q2\n\nPackage: q1\nDepends: nothing-provides-this\n\nPackage: q2\nDepends: nothing-provides-this\n");
        request.Add("broken");
        var clock = Stopwatch.StartNew();
        var e = Fails(text.ToString(), [.. request]);
        Assert.Equal(ResolutionErrorKind.Unsatisfiable, e.Kind);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(5), $"took {clock.Elapsed}");
        Assert.Equal("broken → q1 | q2", e.Failure.ChainText);
    }

    [Fact]
    public void BackjumpingSkipsUnrelatedChoices()
    {
        // Between the choice that matters (a: b | c) and the failure it causes (b: bad1 | bad2, both excluded by
        // z) the search makes 25 unrelated choices; it must jump straight back to a's choice.
        var text = new System.Text.StringBuilder("""
            Package: a
            Depends: b | c, z

            Package: b
            Depends: bad1 | bad2

            Package: c

            Package: bad1
            Conflicts: z

            Package: bad2
            Breaks: z

            Package: z


            """);
        var request = new List<string> { "a" };
        for (int i = 0; i < 25; i++)
        {
            text.Append($"Package: p{i}\nDepends: x{i} | y{i}\n\nPackage: x{i}\n\nPackage: y{i}\n\n");
            request.Add($"p{i}");
        }
        var r = new DependencySolver(Of(text.ToString())).Solve(request, "amd64");
        Assert.NotNull(r.Find("c"));
        Assert.Null(r.Find("b"));
        Assert.Equal(1, r.Statistics.Backjumps);
    }

    [Fact]
    public void SearchLimitStopsTheSearch()
    {
        var e = Fails("Package: a\nDepends: b\n\nPackage: b\nDepends: c\n\nPackage: c", new SolverOptions { MaxSteps = 2 }, "a");
        Assert.Equal(ResolutionErrorKind.SearchLimitExceeded, e.Kind);
    }

    // ------------------------------------------------------------ policies

    [Fact]
    public void RecommendsAreOffByDefaultAndSkippedWhenUnsatisfiable()
    {
        const string universe = """
            Package: a
            Recommends: r, missing, blocked

            Package: r
            Depends: rdep

            Package: rdep

            Package: blocked
            Conflicts: a
            """;
        Assert.Equal(["a=1"], Solve(universe, "a").Names());
        Assert.Equal(["a=1", "r=1", "rdep=1"], Solve(universe, new SolverOptions { IncludeRecommends = true }, "a").Names());
    }

    [Fact]
    public void RecommendWhoseDependenciesFailIsDropped()
    {
        var r = Solve("""
            Package: a
            Recommends: r

            Package: r
            Depends: gone
            """, new SolverOptions { IncludeRecommends = true }, "a");
        Assert.Equal(["a=1"], r.Names());
    }

    [Fact]
    public void EssentialPolicyClosureAndAll()
    {
        const string universe = """
            Package: bash
            Essential: yes

            Package: coreutils
            Essential: yes
            Depends: libacl

            Package: libacl

            Package: foreign-essential
            Architecture: i386
            Essential: yes

            Package: app
            """;
        Assert.Equal(["app=1"], Solve(universe, "app").Names());
        var all = Solve(universe, new SolverOptions { Essential = Initrd.Apt.Resolution.EssentialPolicy.All }, "app");
        Assert.Equal(["app=1", "bash=1", "coreutils=1", "libacl=1"], all.Names());
        Assert.Equal(["app"], all.Packages.Where(p => p.IsRequested).Select(p => p.Name));
        Assert.Equal("Essential: yes", all.Find("bash")!.Reason);
    }

    // ------------------------------------------------------------ determinism and output

    const string MidSizeUniverse = """
        Package: app
        Depends: lib1 | lib2, tool (>= 2), mta, awk, data
        Pre-Depends: init-helper

        Package: lib1
        Depends: libc6 (>= 2.36)
        Conflicts: legacy

        Package: lib2
        Depends: libc6

        Package: libc6
        Version: 2.41-12
        Multi-Arch: same

        Package: libc6
        Version: 2.41-12+deb13u1
        Multi-Arch: same
        X-Suite: trixie-security

        Package: libc6
        Version: 2.41-12+deb13u1
        Multi-Arch: same
        X-Suite: trixie-updates

        Package: tool
        Version: 2.1
        Depends: libc6, legacy | modern

        Package: tool
        Version: 1.9

        Package: legacy

        Package: modern

        Package: exim4
        Priority: optional
        Provides: mta
        Depends: libc6

        Package: postfix
        Priority: optional
        Provides: mta
        Depends: libc6, libssl

        Package: libssl

        Package: mawk
        Priority: required
        Provides: awk

        Package: gawk
        Priority: optional
        Provides: awk

        Package: data
        Architecture: all
        Depends: app

        Package: init-helper
        Pre-Depends: init-helper
        """;

    [Fact]
    public void ShuffledInputGivesTheSameResult()
    {
        var packages = Packages(MidSizeUniverse);
        var expected = new DependencySolver(new PackageUniverse(packages)).Solve(["app"], "amd64");
        Assert.Equal(
            ["app=1", "data=1", "exim4=1", "init-helper=1", "lib1=1", "libc6=2.41-12+deb13u1", "mawk=1", "modern=1", "tool=2.1"],
            expected.Names());
        Assert.Equal("trixie-security", expected.Find("libc6")!.Package.Origin.Suite);
        for (int seed = 1; seed <= 20; seed++)
        {
            var shuffled = packages.ToArray();
            new Random(seed).Shuffle(shuffled);
            var r = new DependencySolver(new PackageUniverse(shuffled)).Solve(["app"], "amd64");
            Assert.Equal(expected.Names(), r.Names());
            Assert.Equal(expected.Packages.Select(p => p.Package.Origin.Suite), r.Packages.Select(p => p.Package.Origin.Suite));
            Assert.Equal(expected.Packages.Select(p => string.Join(",", p.Dependencies)), r.Packages.Select(p => string.Join(",", p.Dependencies)));
            Assert.Equal(expected.Packages.Select(p => p.Reason), r.Packages.Select(p => p.Reason));
        }
    }

    [Fact]
    public void ResolvedPackagesCarryReasonsAndDependencies()
    {
        var r = new DependencySolver(Of(MidSizeUniverse)).Solve(["app"], "amd64");
        var app = r.Find("app")!;
        Assert.True(app.IsRequested);
        Assert.Equal("requested", app.Reason);
        Assert.Equal(["data", "exim4", "init-helper", "lib1", "mawk", "tool"], app.Dependencies);
        Assert.Equal("app Depends: lib1 | lib2", r.Find("lib1")!.Reason);
        // lib1 Conflicts: legacy, so tool's "legacy | modern" took modern.
        Assert.Equal("tool Depends: legacy | modern", r.Find("modern")!.Reason);
        Assert.Equal(["app"], r.Find("data")!.Dependencies);
        Assert.Empty(r.Find("init-helper")!.Dependencies); // its Pre-Depends on itself is not listed
    }
}
