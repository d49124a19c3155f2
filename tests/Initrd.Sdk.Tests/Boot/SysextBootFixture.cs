using Initrd.Sdk.Tests.Common;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Boot;

/// <summary>
/// A signed system extension merged at boot, built once per test class with the real `dotnet build`:
/// <list type="bullet">
/// <item>an initrd: the default template plus the test certificate in /etc/verity.d/ (systemd's userspace check of
/// the root-hash signature) and a probe unit that runs after systemd-sysext.service and calls a program the sysext
/// brings (Debian's <c>hello</c>, absent from the initrd);</item>
/// <item>the sysext (<c>Tools.sysext.raw</c>): package <c>hello</c>, based on the initrd through a ProjectReference (so
/// <c>SYSEXT_SCOPE=initrd</c> and the initrd's ID/VERSION_ID), signed with the test key;</item>
/// <item>a UKI referencing both: the initrd becomes .initrd, the sysext lands in <c>.efi.extra.d/</c>, from where
/// systemd-stub hands it to the initrd as /.extra/sysext/Tools.sysext.raw.</item>
/// </list>
/// Nothing enables systemd-sysext.service explicitly: the initrd's finalize applies systemd's presets, which enable it.
/// </summary>
public sealed class SysextBootFixture : IDisposable
{
    public const string ProbeDone = "INITRD-SDK-SYSEXT-PROBE-DONE";
    public const string UkiCommandLine = UefiBootFixture.UkiCommandLine;

    public SysextBootFixture()
    {
        Work = new TempDirectory("initrd-sysext-boot");
        TestCertificate.Create(Work, "verity", "Initrd.Sdk sysext test");

        Initrd = new ImageProject(DefaultInitrd.TemplateBody() + """
              <ItemGroup>
                <ImageFile Include="verity.crt" ImagePath="/etc/verity.d/initrd-sdk-test.crt" />
                <ImageFile Include="sdk-sysext-probe.service" ImagePath="/etc/systemd/system/sdk-sysext-probe.service" />
                <ImageFile Include="probe.conf" ImagePath="/etc/systemd/system/initrd.target.d/sdk-sysext-probe.conf" />
              </ItemGroup>
            """, "SysextInitrd");
        File.Copy(Work.Combine("verity.crt"), Initrd.Folder.Combine("verity.crt"));
        Initrd.Folder.WriteFile("sdk-sysext-probe.service", $"""
            [Unit]
            Description=Initrd.Sdk test: run a program from the system extension
            DefaultDependencies=no
            After=systemd-sysext.service
            Before=initrd.target

            [Service]
            Type=oneshot
            StandardOutput=journal+console
            ExecStart=/usr/bin/bash -c 'systemd-sysext status --no-pager; /usr/bin/hello; echo {ProbeDone}'
            """);
        // A drop-in, not a .wants/ symlink: ImageFile places regular files.
        Initrd.Folder.WriteFile("probe.conf", "[Unit]\nWants=sdk-sysext-probe.service\n");

        Sysext = new ImageProject($"""
              <PropertyGroup>
                <ImageFormat>sysext</ImageFormat>
                <ImageSigningKey>{Work.Combine("verity.key")}</ImageSigningKey>
                <ImageSigningCertificate>{Work.Combine("verity.crt")}</ImageSigningCertificate>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="{Initrd.ProjectPath}" />
                <ImagePackage Include="hello" />
              </ItemGroup>
            """, "Tools");

        Uki = new ImageProject($"""
              <PropertyGroup>
                <ImageFormat>uki</ImageFormat>
                <KernelCommandLine>{UkiCommandLine}</KernelCommandLine>
              </PropertyGroup>
              <ItemGroup>
                <KernelPackage Include="linux-image-amd64" />
                <ProjectReference Include="{Initrd.ProjectPath}" />
                <ProjectReference Include="{Sysext.ProjectPath}" />
              </ItemGroup>
            """, "Uki");
        UkiBuild = Uki.Run("build");

        Root = DefaultInitrd.NewTestRoot();
        RootBuild = Root.Run("build");
    }

    public TempDirectory Work { get; }
    public ImageProject Initrd { get; }
    public ImageProject Sysext { get; }
    public ImageProject Uki { get; }
    public ImageProject Root { get; }
    public BuildResult UkiBuild { get; }
    public BuildResult RootBuild { get; }

    public string UkiPath => Path.Combine(Uki.OutputDirectory, "Uki.efi");
    public string SysextPath => Path.Combine(Sysext.OutputDirectory, "Tools.sysext.raw");

    /// <summary>The GPT disk: ESP with the UKI as BOOTX64.EFI and its .extra.d/, and the test root (DPS root type).</summary>
    /// <param name="sysext">Replaces the UKI's Tools.sysext.raw on the ESP (a differently signed build of it).</param>
    public string MakeDisk(string? sysext = null)
    {
        Assert.True(UkiBuild.Succeeded, UkiBuild.ToString());
        Assert.True(RootBuild.Succeeded, RootBuild.ToString());
        var espFiles = new List<(string, string)> { ("EFI/BOOT/BOOTX64.EFI", UkiPath) };
        espFiles.AddRange(Directory.GetFiles(UkiPath + ".extra.d").Order(StringComparer.Ordinal)
            .Select(f => ($"EFI/BOOT/BOOTX64.EFI.extra.d/{Path.GetFileName(f)}", sysext is not null && f.EndsWith(".sysext.raw", StringComparison.Ordinal) ? sysext : f)));
        var rootFs = DefaultInitrd.MakeExt4(Path.Combine(Root.OutputDirectory, "TestRoot"), Work.Combine("root.ext4"));
        var disk = Work.Combine($"disk-{Guid.NewGuid():N}.raw");
        UefiDisk.Create(disk, Work.Path, espFiles, rootFs);
        return disk;
    }

    /// <summary>The same sysext signed with a key the initrd does not trust (a fresh certificate, not in /etc/verity.d/).</summary>
    public string BuildUntrustedSysext()
    {
        var (key, certificate) = TestCertificate.Create(Work, "untrusted", "Untrusted");
        var outDir = Work.Combine("untrusted") + "/";
        var build = Sysext.Run("build", $"-p:OutDir={outDir}", $"-p:ImageSigningKey={key}", $"-p:ImageSigningCertificate={certificate}");
        Assert.True(build.Succeeded, build.ToString());
        return Path.Combine(outDir, "Tools.sysext.raw");
    }

    public void Dispose()
    {
        Uki.Dispose();
        Sysext.Dispose();
        Initrd.Dispose();
        Root.Dispose();
        Work.Dispose();
    }
}
