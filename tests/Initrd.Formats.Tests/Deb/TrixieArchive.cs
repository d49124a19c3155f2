using Initrd.Testing;

namespace Initrd.Formats.Tests.Deb;

/// <summary>
/// Real trixie archive files, through the <see cref="DebianMirror"/> cache. Tests that read them share one
/// collection: they are CPU-heavy (the dpkg oracle uses both cores) and print timings that should not be
/// disturbed by each other.
/// </summary>
static class TrixieArchive
{
    public const string Collection = "Debian archive (trixie)";

    public const string PackagesXz = "dists/trixie/main/binary-amd64/Packages.xz";

    public const string InReleasePath = "dists/trixie/InRelease";

    /// <summary>The decompressed main/binary-amd64 Packages index (about 65,000 paragraphs).</summary>
    public static string Packages() => DebianMirror.GetCachedXzDecompressed(PackagesXz);

    public static string InRelease() => DebianMirror.GetCachedFile(InReleasePath);
}

[CollectionDefinition(TrixieArchive.Collection, DisableParallelization = true)]
public sealed class TrixieArchiveCollection;
