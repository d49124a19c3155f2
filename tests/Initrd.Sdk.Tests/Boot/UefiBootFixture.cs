using Initrd.Sdk.Tests.Common;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Boot;

/// <summary>
/// Everything a UEFI boot of the default initrd needs, built once per test class with the real `dotnet build`: a UKI
/// project (ImageFormat uki: systemd-stub from the SDK's own systemd-boot-efi, the trixie kernel, the default initrd
/// through a ProjectReference, a command line that names no root device) referencing an addon project (ImageFormat
/// addon) that appends <see cref="AddonParameter"/>; and a GPT disk (<see cref="UefiDisk"/>) whose ESP holds the UKI as
/// <c>EFI/BOOT/BOOTX64.EFI</c> with its <c>.extra.d/</c> beside it, and whose second partition is the test root with the
/// Discoverable Partitions x86-64 root type.
/// </summary>
public sealed class UefiBootFixture : IDisposable
{
    /// <summary>The generic UKI's command line: the serial console for the test, and no root=.</summary>
    public const string UkiCommandLine = "console=ttyS0 panic=-1 systemd.show_status=true";

    /// <summary>What the addon appends.</summary>
    public const string AddonParameter = "initrd_sdk_addon_marker=1";

    /// <summary>The systemd boot loader interface's vendor GUID (LoaderInfo, StubInfo, LoaderDevicePartUUID…).</summary>
    public const string LoaderVendorGuid = "4a67b082-0a4c-41cf-b6c7-440b29bb8c4f";

    readonly Lazy<UefiBootImages> _images;

    public UefiBootFixture()
    {
        Base = new DefaultInitrd();
        Work = new TempDirectory("initrd-uefi");
        Addon = new ImageProject($"""
              <PropertyGroup>
                <ImageFormat>addon</ImageFormat>
                <KernelCommandLine>{AddonParameter}</KernelCommandLine>
              </PropertyGroup>
            """, "Marker");
        Uki = new ImageProject($"""
              <PropertyGroup>
                <ImageFormat>uki</ImageFormat>
                <KernelCommandLine>{UkiCommandLine}</KernelCommandLine>
              </PropertyGroup>
              <ItemGroup>
                <KernelPackage Include="linux-image-amd64" />
                <ProjectReference Include="{Base.Initrd.ProjectPath}" />
                <ProjectReference Include="{Addon.ProjectPath}" />
              </ItemGroup>
            """, "Uki");
        if (Base.InitrdBuild.Succeeded) UkiBuild = Uki.Run("build");
        _images = new(Prepare, LazyThreadSafetyMode.ExecutionAndPublication);
        _secureBoot = new(PrepareSecureBoot, LazyThreadSafetyMode.ExecutionAndPublication);
    }

    public DefaultInitrd Base { get; }

    public TempDirectory Work { get; }

    public ImageProject Addon { get; }

    public ImageProject Uki { get; }

    /// <summary>The UKI project's build (which builds the referenced initrd and addon projects too); null when the
    /// initrd did not build.</summary>
    public BuildResult? UkiBuild { get; }

    public string UkiPath => Path.Combine(Uki.OutputDirectory, "Uki.efi");

    public string ExtraDirectory => UkiPath + ".extra.d";

    /// <summary>
    /// The disk, made on first use (a missing reference tool then skips the test, or fails it under CI, instead of
    /// failing the fixture).
    /// </summary>
    public UefiBootImages Images
    {
        get
        {
            Assert.True(Base.InitrdBuild.Succeeded, Base.InitrdBuild.ToString());
            Assert.True(Base.RootBuild.Succeeded, Base.RootBuild.ToString());
            Assert.NotNull(UkiBuild);
            Assert.True(UkiBuild.Succeeded, UkiBuild.ToString());
            return _images.Value;
        }
    }

    readonly Lazy<SecureBootImages> _secureBoot;

    /// <summary>
    /// The UKI and addon again, signed with Debian's snakeoil test key that <see cref="Ovmf.SnakeoilVarsPath"/> enrolls
    /// in db, on a disk of their own with the same root; built on first use.
    /// </summary>
    public SecureBootImages SecureBoot
    {
        get
        {
            _ = Images;
            return _secureBoot.Value;
        }
    }

    SecureBootImages PrepareSecureBoot()
    {
        var openssl = ReferenceTool.Require("openssl", "openssl");
        var certificate = ReferenceTool.Require(Ovmf.SnakeoilCertificatePath, "ovmf");
        var encryptedKey = ReferenceTool.Require(Ovmf.SnakeoilKeyPath, "ovmf");
        var key = Work.Combine("snakeoil.key");
        var r = ReferenceTool.Run(openssl, ["pkey", "-in", encryptedKey, "-passin", $"pass:{Ovmf.SnakeoilKeyPassword}", "-out", key]);
        Assert.True(r.ExitCode == 0, r.ToString());

        SignedAddon = new ImageProject($"""
              <PropertyGroup>
                <ImageFormat>addon</ImageFormat>
                <KernelCommandLine>{AddonParameter}</KernelCommandLine>
                <ImageSigningKey>{key}</ImageSigningKey>
                <ImageSigningCertificate>{certificate}</ImageSigningCertificate>
              </PropertyGroup>
            """, "Marker");
        SignedUki = new ImageProject($"""
              <PropertyGroup>
                <ImageFormat>uki</ImageFormat>
                <KernelCommandLine>{UkiCommandLine}</KernelCommandLine>
                <ImageSigningKey>{key}</ImageSigningKey>
                <ImageSigningCertificate>{certificate}</ImageSigningCertificate>
              </PropertyGroup>
              <ItemGroup>
                <KernelPackage Include="linux-image-amd64" />
                <ProjectReference Include="{Base.Initrd.ProjectPath}" />
                <ProjectReference Include="{SignedAddon.ProjectPath}" />
              </ItemGroup>
            """, "Uki");
        var build = SignedUki.Run("build");
        Assert.True(build.Succeeded, build.ToString());

        var uki = Path.Combine(SignedUki.OutputDirectory, "Uki.efi");
        var espFiles = EspFilesOf(uki);
        var work = Work.Combine("secure-boot");
        Directory.CreateDirectory(work);
        var disk = Path.Combine(work, "disk.raw");
        UefiDisk.Create(disk, work, espFiles, Images.RootFileSystem);
        return new SecureBootImages(uki, espFiles, disk);
    }

    ImageProject? SignedAddon { get; set; }

    ImageProject? SignedUki { get; set; }

    static List<(string EspPath, string HostFile)> EspFilesOf(string uki)
    {
        var espFiles = new List<(string, string)> { ("EFI/BOOT/BOOTX64.EFI", uki) };
        if (Directory.Exists(uki + ".extra.d"))
            espFiles.AddRange(Directory.GetFiles(uki + ".extra.d").Order(StringComparer.Ordinal)
                .Select(f => ($"EFI/BOOT/BOOTX64.EFI.extra.d/{Path.GetFileName(f)}", f)));
        return espFiles;
    }

    UefiBootImages Prepare()
    {
        // The UKI as the removable-media loader, and its .extra.d/ (the addons the project references) beside it.
        var espFiles = EspFilesOf(UkiPath);
        var root = MakeRoot();
        var disk = Work.Combine("disk.raw");
        var table = UefiDisk.Create(disk, Work.Path, espFiles, root);
        return new UefiBootImages(espFiles, root, disk, table);
    }

    /// <summary>
    /// The default fixture's busybox test root with an init that also prints what the boot loader interface left in
    /// EFI variables (StubInfo: which stub ran; LoaderDevicePartUUID: the ESP it was loaded from) and the final
    /// /proc/cmdline, then the marker, then powers off. Made into ext4 with mkfs.ext4 -d.
    /// </summary>
    string MakeRoot()
    {
        var tree = Work.Combine("root");
        var cp = ReferenceTool.Run("cp", ["-a", Base.RootDirectory, tree]);
        Assert.True(cp.ExitCode == 0, cp.ToString());
        var initPath = Path.Combine(tree, "usr/sbin/init");
        File.Delete(initPath);
        File.WriteAllText(initPath, $"""
            #!/usr/bin/busybox sh
            bb=/usr/bin/busybox
            $bb mount -t proc proc /proc 2>/dev/null
            $bb mount -t sysfs sysfs /sys 2>/dev/null
            $bb mount -t efivarfs efivarfs /sys/firmware/efi/efivars 2>/dev/null
            for v in StubInfo LoaderDevicePartUUID; do
              f=/sys/firmware/efi/efivars/$v-{LoaderVendorGuid}
              if [ -e "$f" ]; then echo "efivar $v=$($bb tail -c +5 "$f" | $bb tr -d '\000')"; else echo "efivar $v missing"; fi
            done
            echo "root mount: $($bb grep ' / ' /proc/mounts)"
            echo "final cmdline: $($bb cat /proc/cmdline)"
            echo "{DefaultInitrd.RootMarker}"
            $bb sleep 1
            $bb poweroff -f
            """.Replace("\r", ""));
        File.SetUnixFileMode(initPath, (UnixFileMode)0b111_101_101);

        return DefaultInitrd.MakeExt4(tree, Work.Combine("root.ext4"));
    }

    public void Dispose()
    {
        SignedUki?.Dispose();
        SignedAddon?.Dispose();
        Uki.Dispose();
        Addon.Dispose();
        Work.Dispose();
        Base.Dispose();
    }
}

/// <summary>What <see cref="UefiBootFixture"/> made.</summary>
/// <param name="EspFiles">Path on the ESP → host file.</param>
public sealed record UefiBootImages(IReadOnlyList<(string EspPath, string HostFile)> EspFiles, string RootFileSystem, string DiskPath,
    Initrd.Formats.Gpt.GptTable Table);

/// <summary>The signed UKI and its disk (see <see cref="UefiBootFixture.SecureBoot"/>).</summary>
public sealed record SecureBootImages(string UkiPath, IReadOnlyList<(string EspPath, string HostFile)> EspFiles, string DiskPath);
