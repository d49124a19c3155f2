namespace Initrd.Image.Extension;

/// <summary>The two kinds of extension image systemd merges at boot (systemd-sysext(8)).</summary>
public enum ExtensionKind
{
    /// <summary>A system extension: <c>/usr</c> and <c>/opt</c>, merged by systemd-sysext.</summary>
    Sysext,

    /// <summary>A configuration extension: <c>/etc</c>, merged by systemd-confext.</summary>
    Confext,
}

/// <summary>What differs between a sysext and a confext: the trees they may hold and where their release file lives.</summary>
public static class ExtensionKinds
{
    /// <summary>The kind for an ImageFormat value ("sysext", "confext"), or null.</summary>
    public static ExtensionKind? ForFormat(string imageFormat) => imageFormat.ToLowerInvariant() switch
    {
        "sysext" => ExtensionKind.Sysext,
        "confext" => ExtensionKind.Confext,
        _ => null,
    };

    /// <summary>The top-level directories the extension may hold (image paths, no leading '/').</summary>
    public static IReadOnlyList<string> AllowedRoots(ExtensionKind kind) => kind == ExtensionKind.Sysext ? ["usr", "opt"] : ["etc"];

    /// <summary>The folder of the extension-release file: <c>usr/lib/extension-release.d</c> or <c>etc/extension-release.d</c>.</summary>
    public static string ReleaseDirectory(ExtensionKind kind) => kind == ExtensionKind.Sysext ? "usr/lib/extension-release.d" : "etc/extension-release.d";

    /// <summary>The image path of the release file for extension <paramref name="name"/>.</summary>
    public static string ReleasePath(ExtensionKind kind, string name) => $"{ReleaseDirectory(kind)}/extension-release.{name}";

    /// <summary>The prefix of the kind's own release fields: <c>SYSEXT_</c> or <c>CONFEXT_</c>.</summary>
    public static string FieldPrefix(ExtensionKind kind) => kind == ExtensionKind.Sysext ? "SYSEXT_" : "CONFEXT_";

    /// <summary>"sysext" or "confext".</summary>
    public static string Name(ExtensionKind kind) => kind == ExtensionKind.Sysext ? "sysext" : "confext";
}
