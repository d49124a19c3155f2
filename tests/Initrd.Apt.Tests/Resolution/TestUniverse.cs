using System.Security.Cryptography;
using System.Text;
using Initrd.Apt.Repositories;
using Initrd.Apt.Resolution;
using Initrd.Formats.Deb;

namespace Initrd.Apt.Tests.Resolution;

/// <summary>
/// Builds small synthetic universes from deb822 text. A paragraph without Version gets "1", without
/// Architecture gets "amd64"; Filename, Size and SHA256 are made up from the name. A paragraph may carry
/// a pseudo-field "X-Suite: trixie-security" to place it in another suite (default "trixie").
/// </summary>
internal static class TestUniverse
{
    public const string Repository = "http://archive.invalid/debian";

    public static List<RepositoryPackage> Packages(string deb822)
    {
        var result = new List<RepositoryPackage>();
        foreach (var block in deb822.Replace("\r", "").Split("\n\n", StringSplitOptions.RemoveEmptyEntries))
        {
            var lines = block.Split('\n').Select(l => l.TrimEnd()).Where(l => l.Trim().Length > 0).Select(l => l.TrimStart()).ToList();
            if (lines.Count == 0) continue;
            string Get(string field) => lines.FirstOrDefault(l => l.StartsWith(field + ":", StringComparison.OrdinalIgnoreCase))?[(field.Length + 1)..].Trim() ?? "";
            if (Get("Version").Length == 0) lines.Add("Version: 1");
            if (Get("Architecture").Length == 0) lines.Add("Architecture: amd64");
            var suite = Get("X-Suite") is { Length: > 0 } s ? s : "trixie";
            var name = Get("Package");
            var version = Get("Version");
            var arch = Get("Architecture");
            var filename = $"pool/main/{name[0]}/{name}/{name}_{version.Replace(":", "%3a")}_{arch}.deb";
            var sha = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes($"{name} {version} {arch} {suite}")));
            lines.Add($"Filename: {filename}");
            lines.Add($"Size: {1000 + name.Length}");
            lines.Add($"SHA256: {sha}");
            var paragraph = Deb822.Parse(string.Join('\n', lines) + "\n").Single();
            var stanza = new PackageStanza(paragraph);
            var origin = new PackageOrigin(Repository, suite, "main", $"main/binary-{arch}/Packages");
            result.Add(new RepositoryPackage(stanza, origin, filename, stanza.Size ?? 0, sha));
        }
        return result;
    }

    public static PackageUniverse Of(string deb822) => new(Packages(deb822));

    public static ResolvedSet Solve(string deb822, params string[] request) =>
        new DependencySolver(Of(deb822)).Solve(request, "amd64");

    public static ResolvedSet Solve(string deb822, SolverOptions options, params string[] request) =>
        new DependencySolver(Of(deb822)).Solve(request, "amd64", options);

    /// <summary>"name=version" of every package, in result order; arch appended when not amd64.</summary>
    public static string[] Names(this ResolvedSet r) =>
        r.Packages.Select(p => p.Architecture is "amd64" or "all" ? $"{p.Name}={p.Version}" : $"{p.Name}:{p.Architecture}={p.Version}").ToArray();

    public static ResolutionException Fails(string deb822, params string[] request) =>
        Assert.Throws<ResolutionException>(() => Solve(deb822, request));

    public static ResolutionException Fails(string deb822, SolverOptions options, params string[] request) =>
        Assert.Throws<ResolutionException>(() => Solve(deb822, options, request));
}
