namespace Initrd.Formats.Deb;

/// <summary>The Multi-Arch field (Debian Policy §5.6.33; the MultiArchSpec).</summary>
public enum MultiArch
{
    /// <summary>No field, or "no": the package satisfies dependencies only from its own architecture.</summary>
    No,
    /// <summary>"same": co-installable with itself for other architectures.</summary>
    Same,
    /// <summary>"foreign": satisfies dependencies of packages of any architecture.</summary>
    Foreign,
    /// <summary>"allowed": satisfies dependencies qualified ":any".</summary>
    Allowed,
}
