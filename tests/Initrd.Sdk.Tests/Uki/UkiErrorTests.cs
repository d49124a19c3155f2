using Initrd.Sdk.Tests.Common;

namespace Initrd.Sdk.Tests.Uki;

/// <summary>Bad UKI inputs: each gives its own coded error naming the cause, and no image is written.</summary>
public sealed class UkiErrorTests(UkiProjects fixture) : IClassFixture<UkiProjects>
{
    BuildResult BuildUkiWith(string outDir, params string[] properties) =>
        fixture.Uki.Run("build", [$"-p:OutDir={outDir}/", .. properties]);

    void AssertFailsWith(BuildResult result, string code, string outDir, string? mentions = null)
    {
        Assert.False(result.Succeeded, result.ToString());
        Assert.Contains($"error {code}:", result.Output);
        if (mentions is not null) Assert.Contains(mentions, result.Output);
        Assert.DoesNotContain("   at ", result.Output); // no stack trace
        Assert.False(File.Exists(Path.Combine(outDir, "Uki.efi")), "an image was written");
        if (Directory.Exists(outDir)) Assert.Empty(Directory.GetFiles(outDir, "*.tmp-*", SearchOption.AllDirectories));
    }

    [Fact]
    public void KeyThatDoesNotMatchTheCertificateIsInitrd0013()
    {
        Assert.True(fixture.Build.Succeeded, fixture.Build.ToString());
        var outDir = fixture.Uki.Folder.Combine("err-7010");
        AssertFailsWith(BuildUkiWith(outDir, $"-p:ImageSigningKey={fixture.Keys.Combine("other.key")}"), "INITRD0013", outDir, fixture.CertificatePath);
    }

    [Fact]
    public void CertificateWithoutKeyIsInitrd0011()
    {
        var outDir = fixture.Uki.Folder.Combine("err-7011");
        AssertFailsWith(BuildUkiWith(outDir, "-p:ImageSigningKey="), "INITRD0011", outDir, "ImageSigningKey");
    }

    [Fact]
    public void MissingSplashFileIsInitrd7006()
    {
        var outDir = fixture.Uki.Folder.Combine("err-7006");
        AssertFailsWith(BuildUkiWith(outDir, "-p:UkiSplash=no-such-splash.bmp"), "INITRD7006", outDir, "no-such-splash.bmp");
    }

    [Fact]
    public void SectionNameOverEightBytesIsInitrd7009()
    {
        using var project = new ImageProject($"""
              <PropertyGroup><ImageFormat>uki</ImageFormat></PropertyGroup>
              <ItemGroup>
                <KernelPackage Include="linux-image-amd64" />
                <UkiInitrd Include="{fixture.InitrdPath}" />
                <UkiSection Include="extra.txt" SectionName=".toolongname" />
              </ItemGroup>
            """, "Uki");
        project.Folder.WriteFile("extra.txt", "x");
        var result = project.Run("build");
        AssertFailsWith(result, "INITRD7009", project.OutputDirectory, ".toolongname");
    }

    [Fact]
    public void UkiWithoutKernelPackageFailsBeforeAnyDownloadWithInitrd0010()
    {
        using var project = new ImageProject($"""
              <PropertyGroup><ImageFormat>uki</ImageFormat></PropertyGroup>
              <ItemGroup><UkiInitrd Include="{fixture.InitrdPath}" /></ItemGroup>
            """, "Uki");
        var result = project.Run("build");
        AssertFailsWith(result, "INITRD0010", project.OutputDirectory, "KernelPackage");
        Assert.False(File.Exists(Path.Combine(project.Directory, "packages.lock.json")));
    }
}
