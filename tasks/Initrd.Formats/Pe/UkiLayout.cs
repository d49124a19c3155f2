namespace Initrd.Formats.Pe;

/// <summary>One PE section the Unified Kernel Image specification (or systemd-stub) gives a meaning.</summary>
/// <param name="Name">The section name, at most 8 bytes (".cmdline").</param>
/// <param name="MeasurementOrder">
/// Position in the specification's canonical order, in which systemd-stub measures sections into PCR 11
/// (".linux" first); -1 for sections that are not measured (".pcrsig").
/// </param>
/// <param name="AllowedInAddon">Whether a PE addon may carry the section.</param>
/// <param name="Singleton">False for the sections that may appear more than once (".dtb", ".dtbauto").</param>
/// <param name="Description">What the section holds.</param>
public sealed record UkiSection(string Name, int MeasurementOrder, bool AllowedInAddon, bool Singleton, string Description);

/// <summary>
/// The sections of a Unified Kernel Image and of a PE addon, as data: the UAPI "Unified Kernel Image" specification
/// (uapi-group.org, specs/unified_kernel_image) and systemd-stub(7). <see cref="Sections"/> is in file PLACEMENT
/// order, which is ukify's: small metadata first, then the initrds, sections not listed here ("extra" sections, in
/// the order given), the kernel, and <c>.sbat</c> last (systemd-stub carries its own <c>.sbat</c>, which the merged one
/// replaces in place). Placement does not affect measurement: the stub measures in <see cref="UkiSection.MeasurementOrder"/>.
/// </summary>
public static class UkiLayout
{
    public const string Osrel = ".osrel";
    public const string Cmdline = ".cmdline";
    public const string Dtb = ".dtb";
    public const string Dtbauto = ".dtbauto";
    public const string Hwids = ".hwids";
    public const string Uname = ".uname";
    public const string Splash = ".splash";
    public const string Pcrsig = ".pcrsig";
    public const string Pcrpkey = ".pcrpkey";
    public const string Initrd = ".initrd";
    public const string Ucode = ".ucode";
    public const string Linux = ".linux";
    public const string Sbat = ".sbat";
    public const string Profile = ".profile";

    /// <summary>Where sections that are not in <see cref="Sections"/> go: after this one, before <see cref="Linux"/>.</summary>
    public const string ExtraSectionsAfter = Ucode;

    /// <summary>The specification's canonical order (the measurement order); <c>.pcrsig</c> is not measured.</summary>
    public static IReadOnlyList<string> CanonicalOrder { get; } =
        [Linux, Osrel, Cmdline, Initrd, Ucode, Splash, Dtb, Uname, Sbat, Pcrsig, Pcrpkey, Profile, Dtbauto, Hwids];

    /// <summary>The known sections in placement order.</summary>
    public static IReadOnlyList<UkiSection> Sections { get; } =
    [
        Known(Osrel, addon: false, singleton: true, "the os-release file of the OS the UKI boots (boot menu title, version)"),
        Known(Cmdline, addon: true, singleton: true, "the kernel command line (an addon's is appended to the UKI's)"),
        Known(Dtb, addon: true, singleton: false, "a compiled Device Tree"),
        Known(Dtbauto, addon: false, singleton: false, "a Device Tree chosen automatically by its compatible string"),
        Known(Hwids, addon: false, singleton: true, "hardware IDs that select a .dtbauto"),
        Known(Uname, addon: false, singleton: true, "the kernel release, as uname -r prints it"),
        Known(Splash, addon: false, singleton: true, "a BMP image shown before the kernel starts"),
        Known(Pcrsig, addon: false, singleton: true, "JSON: expected PCR 11 values and their signatures (not measured)"),
        Known(Pcrpkey, addon: false, singleton: true, "the PEM public key that signed .pcrsig"),
        Known(Initrd, addon: true, singleton: true, "the initrd (cpio archives) handed to the kernel"),
        Known(Ucode, addon: true, singleton: true, "an uncompressed microcode cpio, handed to the kernel before any other initrd"),
        Known(Linux, addon: false, singleton: true, "the kernel: an EFI-stub PE image, mapped for its SizeOfImage"),
        Known(Sbat, addon: true, singleton: true, "SBAT revocation metadata of the stub, the kernel and the image"),
    ];

    /// <summary>Sections an addon may carry; it must carry at least one of <see cref="AddonPayloadSections"/>.</summary>
    public static IReadOnlyList<string> AddonSections { get; } = [.. Sections.Where(s => s.AllowedInAddon).Select(s => s.Name)];

    /// <summary>The sections that make an addon useful (the specification requires at least one).</summary>
    public static IReadOnlyList<string> AddonPayloadSections { get; } = [Cmdline, Dtb, Ucode, Initrd];

    /// <summary>The UKI's own SBAT entry when the caller gives none (ukify's default).</summary>
    public const string DefaultUkiSbatEntry = "uki,1,UKI,uki,1,https://uapi-group.org/specifications/specs/unified_kernel_image/";

    /// <summary>The addon's own SBAT entry when the caller gives none (ukify's default).</summary>
    public const string DefaultAddonSbatEntry = "uki-addon,1,UKI Addon,addon,1,https://www.freedesktop.org/software/systemd/man/latest/systemd-stub.html";

    /// <summary>The known section called <paramref name="name"/>, or null for an extra section.</summary>
    public static UkiSection? Find(string name) => Sections.FirstOrDefault(s => s.Name == name);

    /// <summary>
    /// Sort key of a section in the file: known sections by their position in <see cref="Sections"/>, extra sections
    /// right after <see cref="ExtraSectionsAfter"/> (callers keep extra sections in the order they were given).
    /// </summary>
    public static int PlacementRank(string name)
    {
        for (var i = 0; i < Sections.Count; i++)
        {
            if (Sections[i].Name == name) return 2 * i;
        }
        return 2 * IndexOf(ExtraSectionsAfter) + 1;
    }

    static int IndexOf(string name)
    {
        for (var i = 0; i < Sections.Count; i++)
        {
            if (Sections[i].Name == name) return i;
        }
        throw new InvalidOperationException(name);
    }

    static UkiSection Known(string name, bool addon, bool singleton, string description)
    {
        var order = name == Pcrsig ? -1 : IndexIn(CanonicalOrder, name);
        return new UkiSection(name, order, addon, singleton, description);
    }

    static int IndexIn(IReadOnlyList<string> list, string name)
    {
        for (var i = 0; i < list.Count; i++)
        {
            if (list[i] == name) return i;
        }
        return -1;
    }
}
