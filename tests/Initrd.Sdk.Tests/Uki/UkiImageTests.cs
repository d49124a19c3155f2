using System.Text;
using System.Text.RegularExpressions;
using Initrd.Formats.Pe;
using Initrd.Formats.Tree;
using Initrd.Sdk.Tests.Common;
using Initrd.Testing;
using Microsoft.Build.Logging.StructuredLogger;

namespace Initrd.Sdk.Tests.Uki;

/// <summary>
/// ImageFormat=uki and addon built by `dotnet build`, checked with the tools that read them: objdump and objcopy
/// (binutils) for the layout and contents, sbverify and osslsigncode for the Authenticode signatures.
/// </summary>
public sealed partial class UkiImageTests(UkiProjects fixture) : IClassFixture<UkiProjects>
{
    void AssertBuilt() => Assert.True(fixture.Build.Succeeded, fixture.Build.ToString());

    [Fact]
    public void ObjdumpListsTheCanonicalSectionsInOrderWithTheirSizes()
    {
        AssertBuilt();
        var objdump = ReferenceTool.Require("objdump", "binutils");
        var r = ReferenceTool.Run(objdump, ["-h", fixture.UkiPath]);
        Assert.True(r.ExitCode == 0, r.ToString());
        var sections = SectionLine().Matches(r.StandardOutput)
            .Select(m => (Name: m.Groups["name"].Value, Size: Convert.ToInt64(m.Groups["size"].Value, 16), Vma: Convert.ToUInt64(m.Groups["vma"].Value, 16)))
            .ToList();
        var names = sections.Select(s => s.Name).ToList();
        // The stub's own sections first, then ours in the UKI specification's order, .linux last.
        var ours = names.SkipWhile(n => n != ".osrel").ToList();
        Assert.Equal([".osrel", ".cmdline", ".uname", ".initrd", ".sdktest", ".linux"], ours);
        Assert.Single(names, ".sbat");
        Assert.Equal(UkiProjects.CommandLine.Length, sections.Single(s => s.Name == ".cmdline").Size);
        Assert.Equal(new FileInfo(fixture.InitrdPath).Length, sections.Single(s => s.Name == ".initrd").Size);
        // Virtual addresses increase, page aligned, without overlap.
        for (var i = 1; i < sections.Count; i++)
        {
            Assert.Equal(0UL, sections[i].Vma % 4096);
            Assert.True(sections[i].Vma >= sections[i - 1].Vma + (ulong)sections[i - 1].Size, $"{sections[i].Name} overlaps {sections[i - 1].Name}");
        }
        // .linux is the kernel file itself, and the UKI's SizeOfImage leaves room for the kernel's whole SizeOfImage
        // after .linux's address (systemd-stub runs the kernel in place).
        var kernel = ObjcopyDump(".linux");
        var linux = sections.Single(s => s.Name == ".linux");
        Assert.Equal(kernel.Length, linux.Size);
        r = ReferenceTool.Run(objdump, ["-p", fixture.UkiPath]);
        var imageBase = Convert.ToUInt64(HeaderField(r.StandardOutput, "ImageBase"), 16);
        var sizeOfImage = Convert.ToUInt64(HeaderField(r.StandardOutput, "SizeOfImage"), 16);
        Assert.True(sizeOfImage >= linux.Vma - imageBase + PeFile.Parse(kernel).SizeOfImage, $"SizeOfImage 0x{sizeOfImage:x}");
    }

    [Fact]
    public void ObjcopyReturnsCmdlineOsrelInitrdAndExtraSectionByteForByte()
    {
        AssertBuilt();
        Assert.Equal(UkiProjects.CommandLine, Encoding.UTF8.GetString(ObjcopyDump(".cmdline")));
        Assert.Equal(File.ReadAllBytes(fixture.InitrdPath), ObjcopyDump(".initrd"));
        Assert.Equal("extra section content\n", Encoding.UTF8.GetString(ObjcopyDump(".sdktest")));
        // .osrel: the referenced initrd's os-release (its finalized tree), not the build machine's.
        var tree = TreeManifest.Read(Path.Combine(fixture.Initrd.Directory, "obj", "Debug", "initrd.tree"));
        var osRelease = tree.Single(e => e.Path == "usr/lib/os-release");
        Assert.Equal(File.ReadAllBytes(osRelease.ContentPath!), ObjcopyDump(".osrel"));
        Assert.Contains("VERSION_CODENAME=trixie", Encoding.UTF8.GetString(ObjcopyDump(".osrel")));
        Assert.Matches(@"^\d+\.\d+\.\d+\S*-amd64$", Encoding.UTF8.GetString(ObjcopyDump(".uname")));
        var sbat = Encoding.UTF8.GetString(ObjcopyDump(".sbat")).TrimEnd('\0');
        Assert.StartsWith("sbat,1,", sbat);
        Assert.Contains("\nsystemd-stub,", sbat);
        Assert.Contains("\nuki,1,", sbat);
    }

    [Fact]
    public void SbverifyAndOsslsigncodeAcceptTheSignedUkiAndAddonAndRejectATamperedCopy()
    {
        AssertBuilt();
        foreach (var image in new[] { fixture.UkiPath, fixture.AddonPath })
        {
            AssertVerifies(image, expected: true);
            var tampered = fixture.Keys.Combine(Path.GetFileName(image) + ".tampered");
            var bytes = File.ReadAllBytes(image);
            // Flip a byte inside the last section's data (the .cmdline of the addon, the kernel of the UKI).
            var headers = PeFile.Parse(bytes);
            var last = headers.Sections[^1];
            bytes[last.PointerToRawData + 16] ^= 0x40;
            File.WriteAllBytes(tampered, bytes);
            AssertVerifies(tampered, expected: false);
        }
    }

    [Fact]
    public void UkiSignKernelSignsTheEmbeddedKernelWithTheSameKeyInsteadOfDebians()
    {
        AssertBuilt();
        var kernel = fixture.Keys.Combine("linux.efi");
        File.WriteAllBytes(kernel, ObjcopyDump(".linux"));
        AssertVerifies(kernel, expected: true);
        // One signature (ours): Debian's was removed, not kept beside it.
        var sbverify = ReferenceTool.Require("sbverify", "sbsigntool");
        var list = ReferenceTool.Run(sbverify, ["--list", kernel]);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Single(Regex.Matches(list.StandardOutput, @"^signature \d+", RegexOptions.Multiline));
        Assert.Contains("Initrd.Sdk UKI test", list.StandardOutput);
    }

    void AssertVerifies(string image, bool expected)
    {
        var sbverify = ReferenceTool.Require("sbverify", "sbsigntool");
        var r = ReferenceTool.Run(sbverify, ["--cert", fixture.CertificatePath, image]);
        Assert.True((r.ExitCode == 0) == expected, $"sbverify on {image}: {r}");
        var osslsigncode = ReferenceTool.Require("osslsigncode", "osslsigncode");
        r = ReferenceTool.Run(osslsigncode, ["verify", "-CAfile", fixture.CertificatePath, "-in", image]);
        Assert.True((r.ExitCode == 0) == expected, $"osslsigncode on {image}: {r}");
    }

    [Fact]
    public void ExtraFolderHoldsTheReferencedAddonAndTheCredentialReadyForAnEsp()
    {
        AssertBuilt();
        var files = Directory.GetFiles(fixture.ExtraDirectory).Select(f => Path.GetFileName(f)!).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(["Marker.addon.efi", "hello.cred"], files);
        Assert.Equal(File.ReadAllBytes(fixture.AddonPath), File.ReadAllBytes(Path.Combine(fixture.ExtraDirectory, "Marker.addon.efi")));
        // The addon holds only its command line and SBAT besides the stub's code.
        var addon = File.ReadAllBytes(fixture.AddonPath);
        Assert.DoesNotContain(PeFile.Parse(addon).Sections, s => s.Name is ".linux" or ".initrd" or ".osrel");
        Assert.Equal(UkiProjects.AddonCommandLine, Encoding.UTF8.GetString(ObjcopyDump(".cmdline", fixture.AddonPath)));
    }

    /// <summary>A UKI of its own (so the shared fixture stays as built): unsigned, the fixture's initrd as a file.</summary>
    ImageProject PlainUki(string commandLine) => new($"""
          <PropertyGroup>
            <ImageFormat>uki</ImageFormat>
            <KernelCommandLine>{commandLine}</KernelCommandLine>
          </PropertyGroup>
          <ItemGroup>
            <KernelPackage Include="linux-image-amd64" />
            <UkiInitrd Include="{fixture.InitrdPath}" />
          </ItemGroup>
        """, "Plain");

    [Fact]
    public void UnsignedUkiIsByteIdenticalAcrossBuilds()
    {
        AssertBuilt();
        using var project = PlainUki("console=ttyS0");
        var a = project.Folder.Combine("out-a") + "/";
        var b = project.Folder.Combine("out-b") + "/";
        foreach (var outDir in new[] { a, b })
        {
            var r = project.Run("build", $"-p:OutDir={outDir}");
            Assert.True(r.Succeeded, r.ToString());
        }
        var first = File.ReadAllBytes(Path.Combine(a, "Plain.efi"));
        Assert.Equal(first, File.ReadAllBytes(Path.Combine(b, "Plain.efi")));
        Assert.False(PeFile.Parse(first).IsSigned);
    }

    [Fact]
    public void ChangingTheCommandLineRerunsOnlyTheUkiPackStage()
    {
        AssertBuilt();
        using var project = PlainUki("console=ttyS0");
        var first = project.Run("build");
        Assert.True(first.Succeeded, first.ToString());
        Assert.Equal(["InitrdResolve", "InitrdFetch", "InitrdInstall", "InitrdPackUki"], StagesThatRan(first.BinaryLog));
        var noop = project.Run("build");
        Assert.True(noop.Succeeded, noop.ToString());
        Assert.Empty(StagesThatRan(noop.BinaryLog));
        File.WriteAllText(project.ProjectPath, File.ReadAllText(project.ProjectPath).Replace("console=ttyS0", "console=ttyS0 changed=1"));
        var changed = project.Run("build");
        Assert.True(changed.Succeeded, changed.ToString());
        Assert.Equal(["InitrdPackUki"], StagesThatRan(changed.BinaryLog));
        Assert.Equal("console=ttyS0 changed=1", Encoding.UTF8.GetString(ObjcopyDump(".cmdline", Path.Combine(project.OutputDirectory, "Plain.efi"))));
        // An initrd given as a file: its os-release is read from the archive (zstd-compressed cpio).
        Assert.Contains("VERSION_CODENAME=trixie", Encoding.UTF8.GetString(ObjcopyDump(".osrel", Path.Combine(project.OutputDirectory, "Plain.efi"))));
    }

    [Fact]
    public void SplashDevicetreeMicrocodeAndAnExtraInitrdLandInTheirSections()
    {
        AssertBuilt();
        using var project = new ImageProject($"""
              <PropertyGroup>
                <ImageFormat>uki</ImageFormat>
                <UkiSplash>splash.bmp</UkiSplash>
              </PropertyGroup>
              <ItemGroup>
                <KernelPackage Include="linux-image-amd64" />
                <UkiInitrd Include="{fixture.InitrdPath};extra.cpio" />
                <UkiDevicetree Include="board.dtb" />
                <ImageMicrocode Include="GenuineIntel.bin" />
              </ItemGroup>
            """, "Parts");
        var splash = project.Folder.WriteFile("splash.bmp", "BM" + new string('x', 61));
        var dtb = project.Folder.WriteFile("board.dtb", "\xd0\x0d\xfe\xed devicetree");
        project.Folder.WriteFile("GenuineIntel.bin", "intel microcode blob");
        var extra = project.Folder.WriteFile("extra.cpio", "0707010000");
        var r = project.Run("build");
        Assert.True(r.Succeeded, r.ToString());
        var uki = Path.Combine(project.OutputDirectory, "Parts.efi");
        Assert.Equal(File.ReadAllBytes(splash), ObjcopyDump(".splash", uki));
        Assert.Equal(File.ReadAllBytes(dtb), ObjcopyDump(".dtb", uki));
        // Two initrds: concatenated, the first padded to 4 bytes, as the kernel unpacks them.
        var initrd = File.ReadAllBytes(fixture.InitrdPath);
        var expected = initrd.Concat(new byte[(4 - initrd.Length % 4) % 4]).Concat(File.ReadAllBytes(extra)).ToArray();
        var section = ObjcopyDump(".initrd", uki);
        Assert.Equal(expected, section[..expected.Length]);
        Assert.All(section[expected.Length..], b => Assert.Equal(0, b)); // objcopy dumps the file-aligned raw data
        // .ucode: the early-microcode cpio, read back by GNU cpio.
        var ucode = fixture.Keys.Combine($"ucode-{Guid.NewGuid():N}.cpio");
        File.WriteAllBytes(ucode, ObjcopyDump(".ucode", uki));
        var cpio = ReferenceTool.Require("cpio", "cpio");
        var list = ReferenceTool.Run("sh", ["-c", $"'{cpio}' -it --quiet < '{ucode}'"]);
        Assert.True(list.ExitCode == 0, list.ToString());
        Assert.Contains("kernel/x86/microcode/GenuineIntel.bin", list.StandardOutput);
        var content = ReferenceTool.Run("sh", ["-c", $"'{cpio}' -i --to-stdout --quiet kernel/x86/microcode/GenuineIntel.bin < '{ucode}'"]);
        Assert.Equal("intel microcode blob", content.StandardOutput);
    }

    static readonly string[] Stages = ["InitrdResolve", "InitrdFetch", "InitrdInstall", "InitrdFinalize", "InitrdPackCpio", "InitrdPackUki"];

    static string[] StagesThatRan(string binaryLog)
    {
        var ran = new HashSet<string>(StringComparer.Ordinal);
        BinaryLog.ReadBuild(binaryLog).VisitAllChildren<Target>(t =>
        {
            if (Stages.Contains(t.Name) && !t.Skipped
                && !t.FindChildrenRecursive<Message>(m => m.Text.Contains("all output files are up-to-date", StringComparison.Ordinal)).Any())
                ran.Add(t.Name);
        });
        return [.. Stages.Where(ran.Contains)];
    }

    static string HeaderField(string objdumpP, string name) =>
        Regex.Match(objdumpP, $@"^{name}\s+([0-9a-fA-F]+)", RegexOptions.Multiline) is { Success: true } m ? m.Groups[1].Value : throw new Xunit.Sdk.XunitException($"no {name} in objdump -p");

    byte[] ObjcopyDump(string section, string? image = null)
    {
        var objcopy = ReferenceTool.Require("objcopy", "binutils");
        var output = fixture.Keys.Combine($"dump-{Guid.NewGuid():N}{section}");
        var r = ReferenceTool.Run(objcopy, ["--dump-section", $"{section}={output}", image ?? fixture.UkiPath, fixture.Keys.Combine($"scratch-{Guid.NewGuid():N}")]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return File.ReadAllBytes(output);
    }

    // "  9 .initrd       01f831be  000000014dfae000  000000014dfae000  00016e00  2**2"
    [GeneratedRegex(@"^\s*\d+\s+(?<name>\.\S+)\s+(?<size>[0-9a-f]+)\s+(?<vma>[0-9a-f]+)\s", RegexOptions.Multiline)]
    private static partial Regex SectionLine();
}
