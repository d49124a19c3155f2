namespace Initrd.Testing;

/// <summary>
/// UEFI firmware for QEMU: OVMF from Debian's <c>ovmf</c> package (edk2; bookworm installs the 4 MiB-variable-store
/// builds under /usr/share/OVMF). The code image is mapped read-only; every boot gets its own writable copy of the
/// variable store, so boots never share NVRAM and the package's template is never changed.
/// </summary>
public static class Ovmf
{
    public const string Directory = "/usr/share/OVMF";

    /// <summary>Firmware without Secure Boot support (no SMM needed).</summary>
    public static string CodePath => Path.Combine(Directory, "OVMF_CODE_4M.fd");

    /// <summary>The empty variable store (no Secure Boot keys enrolled).</summary>
    public static string VarsTemplatePath => Path.Combine(Directory, "OVMF_VARS_4M.fd");

    /// <summary>Firmware with Secure Boot support; needs <c>-machine q35,smm=on</c> and a secure pflash.</summary>
    public static string SecureBootCodePath => Path.Combine(Directory, "OVMF_CODE_4M.secboot.fd");

    /// <summary>
    /// A variable store with Secure Boot enabled and Debian's test-only "snakeoil" certificate enrolled as PK, KEK and
    /// db: firmware with it runs only EFI images signed with <see cref="SnakeoilKeyPath"/> (README.Debian of ovmf).
    /// </summary>
    public static string SnakeoilVarsPath => Path.Combine(Directory, "OVMF_VARS_4M.snakeoil.fd");

    /// <summary>The snakeoil certificate (PEM) enrolled in <see cref="SnakeoilVarsPath"/>.</summary>
    public static string SnakeoilCertificatePath => "/usr/share/ovmf/PkKek-1-snakeoil.pem";

    /// <summary>The snakeoil private key (PEM, encrypted with the password <see cref="SnakeoilKeyPassword"/>).</summary>
    public static string SnakeoilKeyPath => "/usr/share/ovmf/PkKek-1-snakeoil.key";

    public const string SnakeoilKeyPassword = "snakeoil";

    /// <summary>
    /// QEMU arguments for a q35 machine booting with OVMF, its variable store a fresh copy in
    /// <paramref name="workDirectory"/>, and each disk image attached as a virtio-blk disk (raw). With no boot entries
    /// in the store, the firmware boots the removable-media path <c>\EFI\BOOT\BOOTX64.EFI</c> of the first disk's ESP.
    /// Skips the test (fails it under CI) when qemu or OVMF is not installed.
    /// </summary>
    /// <param name="varsTemplate">The variable store to copy; <see cref="VarsTemplatePath"/> when null.</param>
    /// <param name="secureBoot">Use <see cref="SecureBootCodePath"/> (SMM, secure flash). Secure Boot is enforced only
    /// if the store has keys enrolled (PK, KEK, db).</param>
    public static IReadOnlyList<string> MachineArguments(string workDirectory, IEnumerable<string> disks,
        string? varsTemplate = null, bool secureBoot = false)
    {
        ReferenceTool.Require("qemu-system-x86_64", "qemu-system-x86");
        var code = ReferenceTool.Require(secureBoot ? SecureBootCodePath : CodePath, "ovmf");
        var template = ReferenceTool.Require(varsTemplate ?? VarsTemplatePath, "ovmf");
        var vars = Path.Combine(workDirectory, $"OVMF_VARS.{Guid.NewGuid():N}.fd");
        File.Copy(template, vars);

        var args = new List<string>();
        if (secureBoot)
            args.AddRange(["-machine", "q35,smm=on", "-global", "driver=cfi.pflash01,property=secure,value=on"]);
        else
            args.AddRange(["-machine", "q35"]);
        args.AddRange([
            "-drive", $"if=pflash,format=raw,unit=0,readonly=on,file={code}",
            "-drive", $"if=pflash,format=raw,unit=1,file={vars}",
        ]);
        foreach (var disk in disks)
            args.AddRange(["-drive", $"file={disk},if=virtio,format=raw"]);
        return args;
    }
}
