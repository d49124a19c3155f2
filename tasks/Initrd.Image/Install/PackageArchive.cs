namespace Initrd.Image.Install;

/// <summary>
/// One .deb to unpack into an install tree. <see cref="Name"/> is what the tree's owners file records for the paths
/// the package ships; <see cref="Version"/> and <see cref="Architecture"/> identify the package in the tree's
/// package list (a cached tree is only reused for the same name/version/architecture list).
/// </summary>
/// <param name="Name">Package name, e.g. "libc6".</param>
/// <param name="Version">Debian version, e.g. "2.36-9+deb12u4".</param>
/// <param name="Architecture">Debian architecture, e.g. "amd64" or "all".</param>
/// <param name="Path">The .deb file on disk.</param>
public sealed record PackageArchive(string Name, string Version, string Architecture, string Path)
{
    public override string ToString() => $"{Name} {Version} ({Architecture})";
}
