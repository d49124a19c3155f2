using System.Diagnostics;
using System.Text;
using Initrd.Formats.Deb;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Deb;

/// <summary>
/// <c>dpkg --compare-versions</c> as the oracle for <see cref="DebianVersion"/>: every answer we give is
/// asked of dpkg too.
/// </summary>
[Collection(TrixieArchive.Collection)]
public class DebianVersionOracleTests(ITestOutputHelper output)
{
    // Reads "A OP B" lines and prints 1 when dpkg agrees, 0 when it does not, E<status> on a dpkg error.
    // One perl process per core forks dpkg directly (no shell): about 1.6 ms a pair on an idle core.
    const string Driver = """
        while (my $line = <STDIN>) {
            chomp $line;
            my ($a, $op, $b) = split / /, $line;
            my $rc = system('dpkg', '--compare-versions', $a, $op, $b);
            print $rc == 0 ? "1\n" : ($rc >> 8) == 1 ? "0\n" : "E$rc\n";
        }
        """;

    sealed record Pair(DebianVersion A, DebianVersion B, string Why)
    {
        public string Relation => Math.Sign(DebianVersion.Compare(A, B)) switch { < 0 => "lt", 0 => "eq", _ => "gt" };
    }

    [Fact]
    public void AgreesWithDpkgOnTheTrixieIndex()
    {
        var total = Stopwatch.StartNew();
        var versionsBySource = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        var distinct = new HashSet<string>(StringComparer.Ordinal);
        using (var reader = new StreamReader(TrixieArchive.Packages()))
        {
            foreach (var p in Deb822.Parse(reader))
            {
                var version = p["Version"];
                distinct.Add(version);
                var source = p.GetValueOrDefault("Source") ?? p["Package"];
                int paren = source.IndexOf('(');
                var sourceName = paren < 0 ? source.Trim() : source[..paren].Trim();
                if (paren >= 0) distinct.Add(source[(paren + 1)..source.IndexOf(')')].Trim());
                if (!versionsBySource.TryGetValue(sourceName, out var list)) versionsBySource[sourceName] = list = [];
                if (!list.Contains(version)) list.Add(version);
            }
        }

        // Every version in the archive follows Policy: the strict parser takes them all.
        var parsed = distinct.ToDictionary(s => s, DebianVersion.ParseStrict, StringComparer.Ordinal);
        var sorted = parsed.Values.ToList();
        sorted.Sort(DebianVersion.Compare);

        // Distinct pairs: each costs a dpkg process (about 2 ms of CPU).
        var pairs = new List<Pair>();
        var seen = new HashSet<(string, string)>();
        void Add(DebianVersion a, DebianVersion b, string why)
        {
            if (!ReferenceEquals(a, b) && seen.Add((a.ToString(), b.ToString()))) pairs.Add(new(a, b, why));
        }
        for (int i = 0; i + 1 < sorted.Count; i++) Add(sorted[i], sorted[i + 1], "adjacent after sorting");
        var random = new Random(20250520);
        foreach (var list in versionsBySource.Values.Where(l => l.Count > 1))
        {
            for (int i = 0; i + 1 < list.Count; i++) Add(parsed[list[i]], parsed[list[i + 1]], "same source");
            Add(parsed[list[random.Next(list.Count)]], parsed[list[random.Next(list.Count)]], "same source, random");
        }
        while (pairs.Count < 100_000)
            Add(sorted[random.Next(sorted.Count)], sorted[random.Next(sorted.Count)], "random");

        // Equality must agree with hashing (Dictionary and HashSet rely on it).
        foreach (var pair in pairs.Where(p => p.Relation == "eq"))
        {
            Assert.True(pair.A.Equals(pair.B));
            Assert.Equal(pair.A.GetHashCode(), pair.B.GetHashCode());
        }

        var prepared = total.Elapsed;
        var dpkgTime = Stopwatch.StartNew();
        var failures = AskDpkg(pairs);
        output.WriteLine($"{distinct.Count} distinct versions, {versionsBySource.Count} sources; {pairs.Count} pairs " +
                         $"({pairs.Count(p => p.Relation == "lt")} lt, {pairs.Count(p => p.Relation == "eq")} eq, " +
                         $"{pairs.Count(p => p.Relation == "gt")} gt); prepared in {prepared.TotalSeconds:F1} s, " +
                         $"dpkg checked them in {dpkgTime.Elapsed.TotalSeconds:F1} s; total {total.Elapsed.TotalSeconds:F1} s");
        Assert.True(failures.Count == 0, $"{failures.Count} disagreements with dpkg, e.g.:\n{string.Join("\n", failures.Take(20))}");
    }

    // Hand-made versions around every rule; all ordered pairs (both directions) are asked of dpkg.
    static readonly string[] Tricky =
    [
        "0", "00", "0:0", "1", "01", "1.0", "1.00", "1.0.0", "1.0-0", "1.0-00", "0:1.0", "1:1.0", "01:1.0",
        "2147483647:0", "1.0~", "1.0~~", "1.0~~a", "1.0~a", "1.0~rc1", "1.0~rc1-1", "1.0a", "1.0a0", "1.0A",
        "1.0z", "1.0Z", "1.0+", "1.0+b1", "1.0.", "1.0..", "1.0-1", "1.0-1~", "1.0-1+b1", "1.0-1.1", "1.0-a",
        "1.0-~", "1.0-0~", "1.0-0.1", "1.2-3-4", "1.2-3", "1.2-3.4", "1:1.2-3-4", "1:1:1", "1:1:1-1",
        "1.18446744073709551615", "1.18446744073709551616", "1.000000000000000000000000000000000000001",
        "99999999999999999999999999999999999999999", "1.0+~", "1.0~+", "a0b", "ab", "a", "A", "z~", "1.0é",
        "1.0ê", "1.0€", "1.0\U0001F600", "1.0_1", "1e5", "1.0-1e5",
    ];

    [Fact]
    public void AgreesWithDpkgOnTrickyVersions()
    {
        var versions = Tricky.Select(DebianVersion.Parse).ToList();
        var pairs = (from a in versions from b in versions select new Pair(a, b, "tricky")).ToList();
        var failures = AskDpkg(pairs);
        Assert.True(failures.Count == 0, $"{failures.Count} disagreements with dpkg:\n{string.Join("\n", failures.Take(40))}");
    }

    // Whether dpkg accepts a version (error → our Parse rejects) and whether it warns (→ ParseStrict rejects).
    [Theory]
    [InlineData("1.0")]
    [InlineData(" 1.0 ")]
    [InlineData("1.0 1")]
    [InlineData(":1.0")]
    [InlineData("a:1.0")]
    [InlineData("1a:1.0")]
    [InlineData("-1:1.0")]
    [InlineData("-0:1.0")]
    [InlineData("+2:1.0")]
    [InlineData("2147483647:1")]
    [InlineData("2147483648:1")]
    [InlineData("1:")]
    [InlineData("1.0-")]
    [InlineData("-1")]
    [InlineData("1:-1")]
    [InlineData("a1.0")]
    [InlineData("1.0_1")]
    [InlineData("1.0-1_1")]
    [InlineData("1:1.0-1:1")]
    [InlineData("1.0é")]
    [InlineData("1:2:3")]
    [InlineData("~1")]
    public void ValidationAgreesWithDpkg(string text)
    {
        var dpkg = ReferenceTool.Require("dpkg", "dpkg");
        // A leading blank keeps dpkg from reading "-1:1.0" as an option; parseversion trims it.
        var result = ReferenceTool.Run(dpkg, ["--compare-versions", " " + text, "eq", " " + text]);
        bool dpkgError = result.ExitCode != 0;
        bool dpkgWarning = result.StandardError.Contains("bad syntax");
        Assert.Equal(dpkgError, !DebianVersion.TryParse(text, out _));
        bool strictOk;
        try { DebianVersion.ParseStrict(text); strictOk = true; }
        catch (InvalidDataException) { strictOk = false; }
        Assert.True(strictOk == !dpkgWarning, $"dpkg: {result}; ParseStrict accepted: {strictOk}");
    }

    /// <summary>Asks dpkg about every pair, split over two processes; returns the disagreements.</summary>
    static List<string> AskDpkg(IReadOnlyList<Pair> pairs)
    {
        ReferenceTool.Require("dpkg", "dpkg");
        var perl = ReferenceTool.Require("perl", "perl-base");
        int chunks = Math.Clamp(Environment.ProcessorCount, 1, 8);
        var answers = new string[chunks][];
        Parallel.For(0, chunks, c =>
        {
            var input = new StringBuilder();
            for (int i = c; i < pairs.Count; i += chunks)
                input.Append(pairs[i].A).Append(' ').Append(pairs[i].Relation).Append(' ').Append(pairs[i].B).Append('\n');
            var result = ReferenceTool.Run(perl, ["-e", Driver], standardInput: new UTF8Encoding(false).GetBytes(input.ToString()),
                timeout: TimeSpan.FromMinutes(10));
            Assert.True(result.ExitCode == 0, result.ToString());
            answers[c] = result.StandardOutput.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        });
        var failures = new List<string>();
        for (int i = 0; i < pairs.Count; i++)
        {
            var answer = answers[i % chunks][i / chunks];
            if (answer != "1")
                failures.Add($"we say '{pairs[i].A}' {pairs[i].Relation} '{pairs[i].B}' ({pairs[i].Why}); dpkg answers {answer}");
        }
        return failures;
    }
}
