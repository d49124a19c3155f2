using System.Globalization;
using System.Text.RegularExpressions;
using Initrd.Testing;

namespace Initrd.Formats.Tests.Pe;

/// <summary>GNU binutils as the oracle for PE layout: <c>objdump -h</c> and <c>objcopy --dump-section</c>.</summary>
static partial class PeTools
{
    /// <summary>One line of <c>objdump -h</c>: BFD's view of a section (size, VMA = ImageBase + RVA, file offset).</summary>
    public sealed record ObjdumpSection(int Index, string Name, ulong Size, ulong Vma, ulong FileOffset);

    //   0 .text         0001080e  000000014df91000  000000014df91000  00000600  2**4
    [GeneratedRegex(@"^\s*(?<idx>\d+)\s+(?<name>\S+)\s+(?<size>[0-9a-f]+)\s+(?<vma>[0-9a-f]+)\s+(?<lma>[0-9a-f]+)\s+(?<off>[0-9a-f]+)\s+2\*\*\d+\s*$")]
    private static partial Regex SectionLine();

    public static List<ObjdumpSection> Objdump(string path)
    {
        var objdump = ReferenceTool.Require("objdump", "binutils");
        var result = ReferenceTool.Run(objdump, ["-h", path]);
        Assert.True(result.ExitCode == 0, $"objdump -h failed: {result}");
        Assert.DoesNotContain("warning", result.StandardError, StringComparison.OrdinalIgnoreCase);
        var sections = new List<ObjdumpSection>();
        foreach (var line in result.StandardOutput.Split('\n'))
        {
            var m = SectionLine().Match(line);
            if (!m.Success) continue;
            sections.Add(new ObjdumpSection(int.Parse(m.Groups["idx"].Value, CultureInfo.InvariantCulture), m.Groups["name"].Value,
                Hex(m.Groups["size"].Value), Hex(m.Groups["vma"].Value), Hex(m.Groups["off"].Value)));
        }
        Assert.NotEmpty(sections);
        return sections;
    }

    /// <summary>Runs <c>objcopy --dump-section</c> for each name and returns the files' bytes.</summary>
    public static Dictionary<string, byte[]> DumpSections(string path, TempDirectory temp, params string[] names)
    {
        var objcopy = ReferenceTool.Require("objcopy", "binutils");
        var arguments = new List<string>();
        foreach (var name in names) arguments.AddRange(["--dump-section", $"{name}={temp.Combine("dump" + name)}"]);
        arguments.AddRange([path, temp.Combine("objcopy-output.efi")]);
        var result = ReferenceTool.Run(objcopy, arguments);
        Assert.True(result.ExitCode == 0, $"objcopy failed: {result}");
        return names.ToDictionary(n => n, n => File.ReadAllBytes(temp.Combine("dump" + n)));
    }

    static ulong Hex(string s) => ulong.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
}
