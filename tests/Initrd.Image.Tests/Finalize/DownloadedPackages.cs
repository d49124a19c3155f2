using Initrd.Testing;

namespace Initrd.Image.Tests.Finalize;

/// <summary>Real packages fetched once per test class with <c>apt-get download</c> (the host's bookworm sources) and unpacked.</summary>
public sealed class DownloadedPackages : IDisposable
{
    readonly TempDirectory _temp = new("initrd-finalize-debs");
    readonly Dictionary<string, string?> _extracted = new(StringComparer.Ordinal);
    readonly Lock _lock = new();

    /// <summary>Unpacks the packages into one folder and returns it; skips the test (fails under CI) when they cannot be downloaded.</summary>
    public string Get(params string[] packages)
    {
        var key = string.Join(",", packages);
        lock (_lock)
        {
            if (!_extracted.TryGetValue(key, out var root))
            {
                var aptGet = ReferenceTool.Require("apt-get", "apt");
                var dpkgDeb = ReferenceTool.Require("dpkg-deb", "dpkg");
                var dir = _temp.Combine("debs-" + _extracted.Count);
                Directory.CreateDirectory(dir);
                var download = ReferenceTool.Run(aptGet, ["download", .. packages], workingDirectory: dir);
                root = null;
                if (download.ExitCode == 0)
                {
                    root = _temp.Combine("root-" + _extracted.Count);
                    foreach (var deb in Directory.GetFiles(dir, "*.deb").Order(StringComparer.Ordinal))
                    {
                        var x = ReferenceTool.Run(dpkgDeb, ["-x", deb, root]);
                        if (x.ExitCode != 0) throw new InvalidOperationException($"dpkg-deb -x {deb}: {x}");
                    }
                }
                else
                {
                    var message = $"apt-get download {key} failed (no network or apt sources?): {download.StandardError}";
                    if (ReferenceTool.InCi) Assert.Fail(message);
                }
                _extracted[key] = root;
            }
            if (root is null) Assert.Skip($"apt-get download {key} is not possible here");
            return root!;
        }
    }

    public void Dispose() => _temp.Dispose();
}
