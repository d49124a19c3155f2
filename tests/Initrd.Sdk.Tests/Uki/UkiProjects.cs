using Initrd.Sdk.Tests.Common;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Uki;

/// <summary>
/// A UKI project built once per test run from the host's Debian mirror: it references a small initrd project
/// (busybox-static: enough for byte-level checks, not meant to boot) and an addon project, carries an extra
/// section, and is signed with a throwaway certificate made by openssl.
/// </summary>
public sealed class UkiProjects : IDisposable
{
    public const string CommandLine = "console=ttyS0 quiet initrd_sdk_uki_test=1";
    public const string AddonCommandLine = "initrd_sdk_addon_marker=1";

    public UkiProjects()
    {
        Keys = new TempDirectory("uki-keys");
        TestCertificate.Create(Keys, "db", "Initrd.Sdk UKI test");
        TestCertificate.Create(Keys, "other", "Other");

        Initrd = new ImageProject("""
              <ItemGroup>
                <ImagePackage Include="busybox-static;base-files" />
                <ImageFile Include="init" Mode="755" />
              </ItemGroup>
            """, "SmallInitrd");
        Initrd.Folder.WriteFile("init", "#!/usr/bin/busybox sh\nexec /usr/bin/busybox sh\n");
        Addon = new ImageProject($"""
              <PropertyGroup>
                <ImageFormat>addon</ImageFormat>
                <KernelCommandLine>{AddonCommandLine}</KernelCommandLine>
                <ImageSigningKey>{KeyPath}</ImageSigningKey>
                <ImageSigningCertificate>{CertificatePath}</ImageSigningCertificate>
              </PropertyGroup>
            """, "Marker");
        Uki = new ImageProject($"""
              <PropertyGroup>
                <ImageFormat>uki</ImageFormat>
                <KernelCommandLine>{CommandLine}</KernelCommandLine>
                <UkiSignKernel>true</UkiSignKernel>
                <ImageSigningKey>{KeyPath}</ImageSigningKey>
                <ImageSigningCertificate>{CertificatePath}</ImageSigningCertificate>
              </PropertyGroup>
              <ItemGroup>
                <KernelPackage Include="linux-image-amd64" />
                <ProjectReference Include="{Initrd.ProjectPath}" />
                <ProjectReference Include="{Addon.ProjectPath}" />
                <UkiSection Include="extra.txt" SectionName=".sdktest" />
                <ImageCredential Include="hello.cred" />
              </ItemGroup>
            """, "Uki");
        Uki.Folder.WriteFile("extra.txt", "extra section content\n");
        Uki.Folder.WriteFile("hello.cred", "not a real credential\n");
        Build = Uki.Run("build");
    }

    public TempDirectory Keys { get; }
    public string KeyPath => Keys.Combine("db.key");
    public string CertificatePath => Keys.Combine("db.crt");

    public ImageProject Initrd { get; }
    public ImageProject Addon { get; }
    public ImageProject Uki { get; }
    public BuildResult Build { get; }

    public string UkiPath => Path.Combine(Uki.OutputDirectory, "Uki.efi");
    public string AddonPath => Path.Combine(Addon.OutputDirectory, "Marker.addon.efi");
    public string InitrdPath => Path.Combine(Initrd.OutputDirectory, "SmallInitrd.cpio.zst");
    public string ExtraDirectory => UkiPath + ".extra.d";

    public void Dispose()
    {
        Uki.Dispose();
        Addon.Dispose();
        Initrd.Dispose();
        Keys.Dispose();
    }
}
