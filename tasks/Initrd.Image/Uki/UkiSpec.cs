using Initrd.Formats.Pe;
using Initrd.Image.Pack;

namespace Initrd.Image.Uki;

/// <summary>An extra PE section: its name (at most 8 bytes, e.g. ".pcrpkey") and the host file holding its bytes.</summary>
public sealed record UkiSectionFile(string Name, string HostPath);

/// <summary>
/// Everything a UKI or a PE addon is made of, as host files and text. Empty or null members are left out of the
/// image (a UKI needs <see cref="Kernel"/>; an addon needs at least one of command line, devicetree, microcode, initrd).
/// </summary>
public sealed record UkiSpec
{
    public UkiKind Kind { get; init; } = UkiKind.Uki;

    /// <summary>systemd-stub: linux&lt;arch&gt;.efi.stub for a UKI, addon&lt;arch&gt;.efi.stub for an addon.</summary>
    public required string Stub { get; init; }

    /// <summary>The EFI-stub kernel image (/boot/vmlinuz-*) for <c>.linux</c>.</summary>
    public string? Kernel { get; init; }

    /// <summary>
    /// Signs the kernel itself before it is embedded (for shim, which verifies the kernel it starts): its existing
    /// signature, if any, is replaced. Null: the kernel is embedded as it is.
    /// </summary>
    public Initrd.Formats.Authenticode.ICmsSigner? KernelSigner { get; init; }

    /// <summary>Initrds concatenated, in order, into <c>.initrd</c> (each padded to 4 bytes, as the kernel requires).</summary>
    public IReadOnlyList<string> Initrds { get; init; } = [];

    public string? CommandLine { get; init; }

    /// <summary>The os-release text for <c>.osrel</c>.</summary>
    public string? OsRelease { get; init; }

    /// <summary>The kernel release for <c>.uname</c>; null: read from the kernel image when it is an x86 bzImage.</summary>
    public string? Uname { get; init; }

    public string? Splash { get; init; }

    public IReadOnlyList<string> Devicetrees { get; init; } = [];

    /// <summary>Early microcode, packed as the uncompressed cpio the kernel's early loader reads, for <c>.ucode</c>.</summary>
    public IReadOnlyList<MicrocodeBlob> Microcode { get; init; } = [];

    public IReadOnlyList<UkiSectionFile> ExtraSections { get; init; } = [];

    /// <summary>SBAT CSV lines of the image itself; empty: the UAPI default entry for a UKI or an addon.</summary>
    public string? Sbat { get; init; }

    /// <summary>Seconds since the epoch for the .ucode cpio's entries.</summary>
    public long SourceDateEpoch { get; init; }
}
