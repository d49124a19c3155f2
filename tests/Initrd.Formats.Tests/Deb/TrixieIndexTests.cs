using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Initrd.Formats.Deb;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Deb;

/// <summary>Our readers on the real trixie archive files.</summary>
[Collection(TrixieArchive.Collection)]
public class TrixieIndexTests(ITestOutputHelper output)
{
    static StreamReader Open(string path) => new(path, Encoding.UTF8, false, new FileStreamOptions { BufferSize = 1 << 16 });

    // Wall time says little on a busy machine; the process's CPU time (this collection runs alone) says more.
    // Both are printed; the bounds asserted only catch a pathological slowdown (something quadratic).
    static TimeSpan CpuTime()
    {
        using var process = Process.GetCurrentProcess();
        return process.TotalProcessorTime;
    }

    static string Format(TimeSpan wall, TimeSpan cpu) => $"{wall.TotalMilliseconds:F0} ms ({cpu.TotalMilliseconds:F0} ms CPU)";

    [Fact]
    public void InReleaseBodyIsWhatGpgvVerified()
    {
        var path = TrixieArchive.InRelease();
        var body = Deb822.StripClearsign(File.ReadAllText(path));

        // Oracle: gpgv verifies the file and writes the text it verified.
        var gpgv = ReferenceTool.Require("gpgv", "gpgv");
        const string keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
        if (!File.Exists(keyring))
        {
            if (ReferenceTool.InCi) Assert.Fail($"{keyring} is missing (package debian-archive-keyring)");
            Assert.Skip($"{keyring} is missing (package debian-archive-keyring)");
        }
        using var temp = new TempDirectory();
        var verified = temp.Combine("verified");
        var result = ReferenceTool.Run(gpgv, ["--keyring", keyring, "--output", verified, path]);
        Assert.True(result.ExitCode == 0, result.ToString());
        Assert.Equal(File.ReadAllText(verified), body);

        var release = Deb822.Parse(body, path).Single();
        Assert.Equal("Debian", release["Origin"]);
        Assert.Equal("trixie", release["Codename"]);
        var sha256 = release["SHA256"].Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains(sha256, l => l.EndsWith(" main/binary-amd64/Packages.xz", StringComparison.Ordinal));
        output.WriteLine($"InRelease: {sha256.Length} SHA256 entries");
    }

    [Fact]
    public void PackagesXzMatchesTheReleaseFile()
    {
        var compressed = DebianMirror.GetCachedFile(TrixieArchive.PackagesXz);
        var (expected, actual) = Check();
        if (expected != actual)
        {
            // The two cached files may come from different mirror pushes: fetch both again.
            DebianMirror.GetCachedFile(TrixieArchive.InReleasePath, TimeSpan.Zero);
            DebianMirror.GetCachedFile(TrixieArchive.PackagesXz, TimeSpan.Zero);
            (expected, actual) = Check();
        }
        Assert.Equal(expected, actual);

        (string, string) Check()
        {
            var release = Deb822.Parse(Deb822.StripClearsign(File.ReadAllText(TrixieArchive.InRelease()))).Single();
            var line = release["SHA256"].Split('\n').Single(l => l.EndsWith(" main/binary-amd64/Packages.xz", StringComparison.Ordinal));
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            using var stream = File.OpenRead(compressed);
            return ($"{parts[0]} {parts[1]}", $"{Convert.ToHexStringLower(SHA256.HashData(stream))} {stream.Length}");
        }
    }

    [Fact]
    public void WholePackagesIndexParsesFast()
    {
        var path = TrixieArchive.Packages();
        var grep = ReferenceTool.Require("grep", "grep");
        var counted = ReferenceTool.Run(grep, ["-c", "^Package:", path]);
        Assert.Equal(0, counted.ExitCode);
        int expected = int.Parse(counted.StandardOutput.Trim());

        var times = new List<(TimeSpan Wall, TimeSpan Cpu)>();
        int paragraphs = 0, fields = 0;
        for (int run = 0; run < 3; run++)
        {
            var cpu = CpuTime();
            var watch = Stopwatch.StartNew();
            paragraphs = fields = 0;
            using var reader = Open(path);
            foreach (var p in Deb822.Parse(reader, path))
            {
                paragraphs++;
                fields += p.Count;
            }
            times.Add((watch.Elapsed, CpuTime() - cpu));
        }
        output.WriteLine($"Packages: {new FileInfo(path).Length / 1e6:F1} MB, {paragraphs} paragraphs, {fields} fields; " +
                         $"parse times {string.Join(", ", times.Select(t => Format(t.Wall, t.Cpu)))}");
        Assert.Equal(expected, paragraphs);
        Assert.True(times.Min(t => t.Cpu) < TimeSpan.FromSeconds(5), "parsing the index takes far longer than it should");
    }

    [Fact]
    public void EveryStanzaAndRelationOfTheIndexParses()
    {
        var path = TrixieArchive.Packages();
        var cpu = CpuTime();
        var watch = Stopwatch.StartNew();
        List<PackageStanza> stanzas;
        using (var reader = Open(path)) stanzas = [.. PackageStanza.Parse(reader, path)];
        var (stanzaTime, stanzaCpu) = (watch.Elapsed, CpuTime() - cpu);

        cpu = CpuTime();
        watch.Restart();
        long groups = 0, alternatives = 0, versioned = 0, qualified = 0;
        foreach (var s in stanzas)
        {
            foreach (var field in (IReadOnlyList<RelationGroup>[])[s.Depends, s.PreDepends, s.Recommends, s.Suggests, s.Conflicts, s.Breaks, s.Provides, s.Replaces])
            {
                groups += field.Count;
                foreach (var g in field)
                {
                    alternatives += g.Alternatives.Count;
                    foreach (var a in g.Alternatives)
                    {
                        if (a.Version is not null) versioned++;
                        if (a.ArchitectureQualifier is not null) qualified++;
                    }
                }
            }
        }
        var (relationTime, relationCpu) = (watch.Elapsed, CpuTime() - cpu);
        output.WriteLine($"{stanzas.Count} stanzas in {Format(stanzaTime, stanzaCpu)}; relations of 8 fields " +
                         $"({groups} groups, {alternatives} alternatives, {versioned} versioned, {qualified} with :arch) " +
                         $"in {Format(relationTime, relationCpu)}");

        // Round trip: printing and parsing again gives the same relations.
        foreach (var s in stanzas.Where((_, i) => i % 10 == 0))
        {
            var text = string.Join(", ", s.Depends);
            Assert.Equal(text, string.Join(", ", PackageRelation.ParseField(text)));
        }
        Assert.Contains(stanzas, s => s.Package == "libc6" && s.MultiArch == MultiArch.Same && s.Source == "glibc");
        Assert.Contains(stanzas, s => s.Essential && s.Package == "dpkg");
        Assert.All(stanzas, s => Assert.Matches("^[0-9a-f]{64}$", s.Sha256!));
        Assert.True(stanzaCpu + relationCpu < TimeSpan.FromSeconds(15), "parsing the index into stanzas takes far longer than it should");
    }
}
