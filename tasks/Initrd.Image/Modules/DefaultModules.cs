namespace Initrd.Image.Modules;

/// <summary>
/// The kernel modules mkosi-initrd always puts into an initrd: what the <c>default</c> keyword of a module rule list
/// expands to. Data, in mkosi's rule syntax (see <see cref="ModuleSelector"/>), in mkosi's order.
/// </summary>
/// <remarks>
/// Follows mkosi's main branch at commit 70ce10d1 (2026-07-01, version 27~devel, after v26):
/// <c>KernelModules=</c> of <c>mkosi/resources/mkosi-initrd/mkosi.conf</c>, plus
/// <c>mkosi.conf.d/arm.conf</c> for arm64. (v26 differs only in a few entries: it also listed drm_buddy,
/// drm_display_helper, intel-gtt, mxm-wmi, snd-intel-dspcfg, snd-soc-hda-codec, ttm, uvc, videobuf2-v4l2 and
/// videobuf2-vmalloc, and lacked firmware_attributes_class, platform_profile, sr_mod and tpm_vtpm_proxy.)
/// </remarks>
public static class DefaultModules
{
    /// <summary>The mkosi version (commit) this list follows.</summary>
    public const string MkosiVersion = "27~devel (main at 70ce10d1, 2026-07-01)";

    /// <summary>mkosi-initrd's <c>KernelModules=</c> for every architecture.</summary>
    public static IReadOnlyList<string> Common { get; } =
    [
        "ahci",
        "amd_atl",
        "amd_ctl",
        "amd-pmc",
        "amd64_edac",
        "atkbd",
        "autofs4",
        "binfmt_misc",
        "btrfs",
        "cdrom",
        "cfg80211",
        "configfs",
        "crc-ccitt",
        "dm-crypt",
        "dm-integrity",
        "dm-mod",
        "dm-multipath",
        "dm-raid",
        "dm-verity",
        "dmi-sysfs",
        "edac_mce_amd",
        "efi-pstore",
        "efivarfs",
        "erofs",
        "evdev",
        "ext4",
        "firmware_attributes_class",
        "hid-generic",
        "i2c-algo-bit",
        "i2c_hid_acpi",
        "i2c-mux",
        "i2c-smbus",
        "i8042",
        "intel_pmc_ssram_telemetry",
        "intel_rapl_common",
        "intel-uncore-frequency-common",
        "intel-vsec",
        "kvm",
        "libphy",
        "loop",
        "mdio_devres",
        "mei",
        "nvme",
        "nvmet-tcp",
        "overlay",
        "parport",
        "platform_profile",
        "pmt_telemetry",
        "qemu_fw_cfg",
        "raid[0-9]*",
        "rapl",
        "scsi_mod",
        "sd_mod",
        "sr_mod",
        "serio",
        "sg",
        "skx_edac_common",
        "squashfs",
        "thunderbolt_net",
        "tpm_tis",
        "tpm_vtpm_proxy",
        "typec_ucsi",
        "ucsi_acpi",
        "usbhid",
        "usb-storage",
        "vfat",
        "video",
        "virtio_balloon",
        "virtio_blk",
        "virtio_console",
        "virtio_dma_buf",
        "virtio_mmio",
        "virtio_net",
        "virtio_pci",
        "virtio_scsi",
        "virtio-rng",
        "virtiofs",
        "vmd",
        "vmw_vsock_virtio_transport",
        "vsock",
        "watchdog",
        "wmi",
        "wmi-bmof",
        "x_tables",
        "xfs",
        "xhci-pci-renesas",
        "/fs/nls/",
        "crypto/",
        "-/drivers/crypto/", // specialized crypto hardware
        "ccp_crypto",        // AMD crypto accelerator in Ryzen CPUs
        "zram",              // for systemd-zram-setup in the initrd
        "nfnetlink",         // for firewalld.service
    ];

    /// <summary>Added on arm64 (<c>mkosi.conf.d/arm.conf</c>): USB and SD cards on boards such as the Raspberry Pi.</summary>
    public static IReadOnlyList<string> Arm64 { get; } =
    [
        "/drivers/mmc/host/",
        "brcmutil",
        "udc-core",
    ];

    /// <summary>The default rules for a Debian architecture name (<c>amd64</c>, <c>arm64</c>, …).</summary>
    public static IReadOnlyList<string> For(string architecture)
    {
        ArgumentNullException.ThrowIfNull(architecture);
        return architecture == "arm64" ? [.. Common, .. Arm64] : Common;
    }
}
