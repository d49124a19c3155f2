using Initrd.Sdk.Tests.Common;

namespace Initrd.Sdk.Tests;

/// <summary>
/// Bad projects fail early with a coded error naming the project, write nothing to bin/, and never
/// crash a task (MSB4018). These builds need no network: they stop before resolution.
/// </summary>
public class ProjectValidationTests
{
    static void AssertCodedFailure(BuildResult result, string code, ImageProject project)
    {
        Assert.False(result.Succeeded, result.ToString());
        Assert.Contains($"error {code}:", result.Output);
        Assert.Contains(project.ProjectPath, result.Output);
        Assert.DoesNotContain("MSB4018", result.Output);
        Assert.False(System.IO.Directory.Exists(project.OutputDirectory) && System.IO.Directory.EnumerateFileSystemEntries(project.OutputDirectory).Any(),
            "a failed build must leave nothing in bin/");
    }

    [Fact]
    public void ReferenceToAProjectThatIsNotAnImageIsInitrd0014()
    {
        using var p = new ImageProject("""
              <PropertyGroup><ImageFormat>uki</ImageFormat></PropertyGroup>
              <ItemGroup>
                <KernelPackage Include="linux-image-amd64" />
                <ProjectReference Include="lib/Library.proj" />
              </ItemGroup>
            """);
        p.Folder.WriteFile("lib/Library.proj", "<Project><Target Name=\"Build\" /></Project>");
        var result = p.Run();
        AssertCodedFailure(result, "INITRD0014", p);
        Assert.Contains("Library.proj", result.Output);
    }

    [Fact]
    public void UnknownImageFormatIsInitrd0001()
    {
        using var p = new ImageProject("""
              <PropertyGroup><ImageFormat>iso</ImageFormat></PropertyGroup>
              <ItemGroup><ImagePackage Include="bash" /></ItemGroup>
            """);
        AssertCodedFailure(p.Run(), "INITRD0001", p);
    }

    [Fact]
    public void ImageWithoutPackagesIsInitrd0006()
    {
        using var p = new ImageProject("");
        AssertCodedFailure(p.Run(), "INITRD0006", p);
    }

    [Fact]
    public void UnknownCompressionIsInitrd0005()
    {
        using var p = new ImageProject("""
              <PropertyGroup><ImageCompression>lz4</ImageCompression></PropertyGroup>
              <ItemGroup><ImagePackage Include="bash" /></ItemGroup>
            """);
        AssertCodedFailure(p.Run(), "INITRD0005", p);
    }

    [Fact]
    public void UnknownArchitectureIsReportedByTheResolveTask()
    {
        // Reaches the task assembly: proves the UsingTask wiring loads this build's tasks.
        using var p = new ImageProject("""
              <PropertyGroup><Architecture>x86_64</Architecture></PropertyGroup>
              <ItemGroup><ImagePackage Include="bash" /></ItemGroup>
            """);
        AssertCodedFailure(p.Run("build"), "INITRD0004", p);
    }

    [Fact]
    public void AnImageOfOnlyAKernelPackageReachesTheResolveTask()
    {
        // No ImagePackage at all is valid when a KernelPackage is given: the task must accept an empty package list.
        using var p = new ImageProject("""
              <PropertyGroup><Architecture>x86_64</Architecture></PropertyGroup>
              <ItemGroup><KernelPackage Include="linux-image-amd64" /></ItemGroup>
            """);
        var result = p.Run("build");
        AssertCodedFailure(result, "INITRD0004", p);
        Assert.DoesNotContain("MSB4044", result.Output);
    }

    [Fact]
    public void DesignTimeBuildRunsNoStage()
    {
        using var p = new ImageProject("""
              <ItemGroup><ImagePackage Include="bash" /></ItemGroup>
            """);
        var result = p.Run("build", "-p:DesignTimeBuild=true", "-p:Architecture=x86_64");
        Assert.True(result.Succeeded, result.ToString());
        Assert.False(File.Exists(Path.Combine(p.Directory, "packages.lock.json")));
    }
}
