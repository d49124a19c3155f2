using Initrd.Testing;

namespace Initrd.Sdk.Tests.Boot;

/// <summary>
/// A signed sysext handed over by systemd-stub (from the UKI's .extra.d/) is merged by systemd-sysext in the initrd,
/// after the initrd checked its root-hash signature against the certificate it carries, and a program from it runs.
/// </summary>
public sealed class SysextBootTests(SysextBootFixture fixture, ITestOutputHelper output) : IClassFixture<SysextBootFixture>
{
    string Boot(string disk)
    {
        var boot = QemuBoot.Run(Ovmf.MachineArguments(fixture.Work.Path, [disk]), DefaultInitrd.RootMarker, TimeSpan.FromMinutes(10));
        var console = DefaultInitrd.AnsiEscape().Replace(boot.Console, "").Replace("\r", "");
        output.WriteLine($"boot: {boot.Elapsed.TotalSeconds:F1} s wall; marker seen: {boot.MarkerSeen}; exit {boot.ExitCode}; timed out {boot.TimedOut}");
        foreach (var line in console.Split('\n').Where(l => l.Contains("sysext", StringComparison.OrdinalIgnoreCase) || l.Contains("bash[", StringComparison.Ordinal)))
            output.WriteLine(line.TrimEnd());
        if (!boot.MarkerSeen)
        {
            File.WriteAllText(Path.Combine(Path.GetTempPath(), "initrd-sdk-sysext-boot-console.log"), console);
            Assert.Fail($"the test root was not reached:\n{boot}");
        }
        return console;
    }

    [Fact]
    public void SysextInExtraDIsMergedInTheInitrdAndItsProgramRuns()
    {
        Assert.True(File.Exists(Path.Combine(fixture.UkiPath + ".extra.d", "Tools.sysext.raw")));
        var console = Boot(fixture.MakeDisk());
        try
        {
            // systemd-sysext merged the image (its status lists the extension on /usr), then the program ran.
            Assert.Contains("Finished systemd-sysext.service", console);
            Assert.Matches(@"/usr\s+Tools\s", console);
            Assert.Contains("Hello, world!", console);
            Assert.Contains(SysextBootFixture.ProbeDone, console);
            Assert.Contains("Reached target initrd.target", console);
            Assert.DoesNotContain("[FAILED]", console);
        }
        catch
        {
            output.WriteLine(console);
            // The fixture's folder goes away with it; keep the console where CI artifacts and humans can find it.
            File.WriteAllText(Path.Combine(Path.GetTempPath(), "initrd-sdk-sysext-boot-console.log"), console);
            throw;
        }
    }

    [Fact]
    public void SysextSignedWithAKeyTheInitrdDoesNotTrustIsNotMerged()
    {
        var console = Boot(fixture.MakeDisk(fixture.BuildUntrustedSysext()));
        try
        {
            Assert.Contains("Reached target initrd.target", console);
            Assert.Contains(SysextBootFixture.ProbeDone, console);
            Assert.DoesNotContain("Hello, world!", console);
            Assert.DoesNotMatch(@"/usr\s+Tools\s", console);
        }
        catch
        {
            output.WriteLine(console);
            throw;
        }
    }
}
