using System.Text.RegularExpressions;
using System.Xml.Linq;
using Initrd.Testing;

namespace Initrd.Sdk.Tests;

/// <summary>
/// Every diagnostic the SDK can raise has a stable, unique INITRDnnnn code, whether it comes from a
/// task (Strings.resx) or from a target (Error/Warning Code= in sdk/build/*.targets).
/// </summary>
public partial class ErrorCodeTests
{
    [GeneratedRegex(@"^INITRD(\d{4}): \S")]
    private static partial Regex ResourceValue();

    [GeneratedRegex(@"<(Error|Warning)\s[^>]*Code=""([^""]*)""", RegexOptions.Singleline)]
    private static partial Regex TargetsDiagnostic();

    static IEnumerable<(string Name, string Value, string? Comment)> Resources()
    {
        var resx = XDocument.Load(Path.Combine(RepositoryLayout.Root, "tasks", "Initrd.Sdk.Tasks", "Resources", "Strings.resx"));
        return resx.Root!.Elements("data").Select(d => ((string)d.Attribute("name")!, (string)d.Element("value")!, (string?)d.Element("comment")));
    }

    static IEnumerable<(string File, string Code)> TargetCodes() =>
        Directory.EnumerateFiles(Path.Combine(RepositoryLayout.Root, "sdk"), "*.targets", SearchOption.AllDirectories)
            .Concat(Directory.EnumerateFiles(Path.Combine(RepositoryLayout.Root, "sdk"), "*.props", SearchOption.AllDirectories))
            .SelectMany(f => TargetsDiagnostic().Matches(File.ReadAllText(f)).Select(m => (Path.GetFileName(f), m.Groups[2].Value)));

    [Fact]
    public void EveryResourceStartsWithItsCodeAndDeclaresStrBegin()
    {
        var problems = new List<string>();
        foreach (var (name, value, comment) in Resources())
        {
            var m = ResourceValue().Match(value);
            if (!m.Success) { problems.Add($"{name}: value does not start with 'INITRDnnnn: '"); continue; }
            var expected = $"{{StrBegin=\"INITRD{m.Groups[1].Value}: \"}}";
            if (comment is null || !comment.Contains(expected, StringComparison.Ordinal))
                problems.Add($"{name}: comment must contain {expected}");
        }
        Assert.True(problems.Count == 0, string.Join("\n", problems));
    }

    [Fact]
    public void CodesAreUniqueAcrossTasksAndTargets()
    {
        var all = Resources().Select(r => (Where: "Strings.resx:" + r.Name, Code: r.Value[..10]))
            .Concat(TargetCodes().Select(t => (Where: t.File, t.Code)))
            .ToList();
        Assert.NotEmpty(all);
        var duplicates = all.GroupBy(x => x.Code).Where(g => g.Count() > 1)
            .Select(g => $"{g.Key}: {string.Join(", ", g.Select(x => x.Where))}").ToList();
        Assert.True(duplicates.Count == 0, "duplicate codes:\n" + string.Join("\n", duplicates));
    }

    [Fact]
    public void TargetCodesAreWellFormed()
    {
        var bad = TargetCodes().Where(t => !Regex.IsMatch(t.Code, @"^INITRD\d{4}$")).ToList();
        Assert.True(bad.Count == 0, string.Join("\n", bad));
        Assert.Contains(TargetCodes(), t => t.Code == "INITRD0001");
    }

    [Fact]
    public void EveryResourceIsUsedByCode()
    {
        var sources = string.Concat(Directory.EnumerateFiles(Path.Combine(RepositoryLayout.Root, "tasks", "Initrd.Sdk.Tasks"), "*.cs", SearchOption.AllDirectories)
            .Select(File.ReadAllText));
        var unused = Resources().Select(r => r.Name).Where(n => !sources.Contains("Strings." + n, StringComparison.Ordinal)).ToList();
        Assert.True(unused.Count == 0, "unused messages: " + string.Join(", ", unused));
    }
}
