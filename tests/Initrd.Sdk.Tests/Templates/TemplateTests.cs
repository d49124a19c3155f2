using System.IO.Compression;
using System.Text;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Templates;

/// <summary>
/// The Initrd.Templates package: `dotnet pack templates/Initrd.Templates.csproj` produces a template package with the
/// initrd, uki, addon, sysext and confext templates, `dotnet new install` takes it (with a private DOTNET_CLI_HOME, so
/// the user's templates are untouched), and `dotnet new &lt;template&gt;` writes a project that names the SDK version
/// packed with it (compared with snapshots). Instantiated outside the repository, each project builds for real against
/// the packed Initrd.Sdk from a local feed and the host's Debian mirror (package cache shared with the other tests), and
/// its build ends with the summary line "Name -> path (size, N packages)". Cheap checks without the network: an
/// invalid Architecture gives INITRD0004 (SDK resolved from the package, tasks loaded), and a design-time build
/// resolves nothing.
/// </summary>
[Collection(PackedTemplatesCollection.Name)]
public sealed class TemplateTests
{
    /// <summary>Set to 1 to rewrite the snapshots under Templates/Snapshots from what the templates produce.</summary>
    const string UpdateSnapshotsVariable = "INITRD_UPDATE_SNAPSHOTS";

    const string VersionPlaceholder = "{SdkVersion}";

    static readonly string[] TemplateFolders = ["addon", "confext", "initrd", "sysext", "uki"];

    readonly PackedTemplates _packed;

    public TemplateTests(PackedTemplates packed) => _packed = packed;

    [Fact]
    public void PackProducesATemplatePackageWithTheTemplateFoldersOnly()
    {
        Assert.True(_packed.TemplatesPackResult.ExitCode == 0, _packed.TemplatesPackResult.ToString());
        using var zip = ZipFile.OpenRead(_packed.TemplatesPackage);
        var content = zip.Entries.Select(e => e.FullName).Where(n => n.StartsWith("content/", StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal([
            "content/addon/.template.config/template.json", "content/addon/MyAddon.initrdproj",
            "content/confext/.template.config/template.json", "content/confext/MyConfext.initrdproj", "content/confext/files/etc/issue.d/MyConfext.issue",
            "content/initrd/.template.config/template.json", "content/initrd/MyInitrd.initrdproj",
            "content/sysext/.template.config/template.json", "content/sysext/MySysext.initrdproj",
            "content/uki/.template.config/template.json", "content/uki/MyUki.initrdproj",
        ], content);
        Assert.DoesNotContain(zip.Entries, e => e.FullName.StartsWith("lib/", StringComparison.Ordinal));

        using var nuspec = new StreamReader(zip.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal)).Open());
        var nuspecText = nuspec.ReadToEnd();
        Assert.Contains("<packageType name=\"Template\" />", nuspecText);
        Assert.DoesNotContain("<dependencies>", nuspecText);

        // Each packed template.json defaults SdkVersion to the package's own version; the repository's keeps the source version.
        foreach (var folder in TemplateFolders)
        {
            using var templateJson = new StreamReader(zip.GetEntry($"content/{folder}/.template.config/template.json")!.Open());
            var packedJson = templateJson.ReadToEnd();
            Assert.Contains($"\"defaultValue\": \"{_packed.Version}\"", packedJson);
            var sourceJson = File.ReadAllText(Path.Combine(RepositoryLayout.Root, "templates", "content", folder, ".template.config", "template.json"));
            Assert.Equal(sourceJson.Replace("\"defaultValue\": \"0.0.0-source\"", $"\"defaultValue\": \"{_packed.Version}\"", StringComparison.Ordinal), packedJson);
        }
    }

    [Fact]
    public void DotnetNewListShowsEveryTemplate()
    {
        _packed.AssertReady();
        var result = _packed.DotnetNew(["list", "--tag", "Boot"], _packed.Folder.Path);
        Assert.True(result.ExitCode == 0, result.ToString());
        foreach (var shortName in TemplateFolders)
            Assert.Matches($@"(?m)\s{shortName}\s", result.StandardOutput);
    }

    [Fact]
    public void InitrdTemplateWritesTheSnapshotProjectNamingThePackedSdkVersion()
    {
        _packed.AssertReady();
        using var work = new TempDirectory("initrd-template-new");
        var result = _packed.NewInitrd("Foo", work.Combine("Foo"));
        Assert.True(result.ExitCode == 0, result.ToString());

        var files = Directory.GetFiles(work.Path, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(work.Path, f).Replace('\\', '/')).Order().ToArray();
        Assert.Equal(["Foo/Foo.initrdproj"], files);

        var project = File.ReadAllText(work.Combine("Foo", "Foo.initrdproj"));
        Assert.StartsWith($"<Project Sdk=\"Initrd.Sdk/{_packed.Version}\">", project, StringComparison.Ordinal);
        AssertMatchesSnapshot(Path.Combine("initrd", "Foo.initrdproj.txt"), project.Replace(_packed.Version, VersionPlaceholder, StringComparison.Ordinal));
    }

    /// <summary>
    /// Every file a template writes, compared with Snapshots/&lt;case&gt;/: the project names the packed SDK, the
    /// template's name is replaced everywhere (file names and contents), and the parameters do what they say:
    /// --initrd and --addon name the UKI's references (no addon by default), --base names a sysext's base image
    /// (../MyInitrd/MyInitrd.initrdproj by default, as the UKI's initrd; --base "" leaves the reference out).
    /// </summary>
    [Theory]
    [InlineData("uki", "uki", "Boot")]
    [InlineData("uki-references", "uki", "Boot", "--initrd", "../Initrd/Initrd.initrdproj", "--addon", "../Serial/Serial.initrdproj")]
    [InlineData("addon", "addon", "Serial")]
    [InlineData("sysext", "sysext", "Tools")]
    [InlineData("sysext-base", "sysext", "Tools", "--base", "../Initrd/Initrd.initrdproj")]
    [InlineData("sysext-nobase", "sysext", "Tools", "--base", "")]
    [InlineData("confext", "confext", "Config")]
    public void TemplateWritesTheSnapshotFiles(string snapshot, string template, string name, params string[] extra)
    {
        _packed.AssertReady();
        using var work = new TempDirectory("initrd-template-new");
        var result = _packed.New(template, name, work.Combine(name), extra);
        Assert.True(result.ExitCode == 0, result.ToString());

        var files = Directory.GetFiles(work.Path, "*", SearchOption.AllDirectories)
            .Select(f => Path.GetRelativePath(work.Path, f).Replace('\\', '/')).Order(StringComparer.Ordinal).ToArray();
        Assert.Contains($"{name}/{name}.initrdproj", files);
        Assert.All(files, f => Assert.DoesNotContain("My", f, StringComparison.Ordinal));
        var project = File.ReadAllText(work.Combine(name, name + ".initrdproj"));
        Assert.StartsWith($"<Project Sdk=\"Initrd.Sdk/{_packed.Version}\">", project, StringComparison.Ordinal);

        // One snapshot per case: every file, each under a header line with its path.
        var all = new StringBuilder();
        foreach (var file in files)
            all.Append("==> ").Append(file).Append(" <==\n").Append(File.ReadAllText(work.Combine(file)));
        var text = all.ToString().Replace(_packed.Version, VersionPlaceholder, StringComparison.Ordinal);
        Assert.DoesNotContain("#if", text, StringComparison.Ordinal);
        AssertMatchesSnapshot(snapshot + ".txt", text);
    }

    [Fact]
    public void SdkVersionParameterOverridesTheDefault()
    {
        _packed.AssertReady();
        using var work = new TempDirectory("initrd-template-version");
        var result = _packed.NewInitrd("Bar", work.Combine("Bar"), "--SdkVersion", "9.8.7");
        Assert.True(result.ExitCode == 0, result.ToString());
        var project = File.ReadAllText(work.Combine("Bar", "Bar.initrdproj"));
        Assert.StartsWith("<Project Sdk=\"Initrd.Sdk/9.8.7\">", project, StringComparison.Ordinal);
        Assert.DoesNotContain(_packed.Version, project, StringComparison.Ordinal);
    }

    [Fact]
    public void InstantiatedProjectBuildsAgainstThePackedSdk()
    {
        _packed.AssertReady();
        using var consumer = NewConsumer("Foo");
        var result = Build(consumer, "-p:Architecture=not-an-arch");
        var output = result.StandardOutput + result.StandardError;
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("error INITRD0004:", output);
        Assert.DoesNotContain("MSB4018", output); // a task crashed
        Assert.DoesNotContain("MSB4236", output); // SDK not found
        Assert.DoesNotContain("MSB4062", output); // task assembly not loaded
        Assert.True(Directory.Exists(consumer.Combine("packages", "initrd.sdk", _packed.Version)), output);
        Assert.False(File.Exists(consumer.Combine("Foo", "packages.lock.json")), output);
    }

    [Fact]
    public void InstantiatedProjectDesignTimeBuildSucceedsWithoutResolving()
    {
        _packed.AssertReady();
        using var consumer = NewConsumer("Foo");
        var result = Build(consumer, "-p:DesignTimeBuild=true");
        var output = result.StandardOutput + result.StandardError;
        Assert.True(result.ExitCode == 0, output);
        Assert.True(Directory.Exists(consumer.Combine("packages", "initrd.sdk", _packed.Version)), output);
        Assert.False(File.Exists(consumer.Combine("Foo", "packages.lock.json")), output);
        Assert.False(Directory.Exists(consumer.Combine("Foo", "bin")), output);
    }

    /// <summary>
    /// Each template, instantiated with its defaults outside the repository, builds its image for real with
    /// `dotnet build` (network: the host's Debian mirror; the package cache shared with the other tests). The UKI's
    /// default --initrd and the sysext's default --base are ../MyInitrd/MyInitrd.initrdproj, so those cases instantiate
    /// the initrd template as MyInitrd beside them, and their build builds it first. No warning is allowed: a fresh
    /// template must build clean. Checked: the output file and its format's magic,
    /// the lock, and the summary line of every image built.
    /// </summary>
    [Theory]
    [InlineData("initrd", "MyInitrd", ".cpio.zst")]
    [InlineData("uki", "MyUki", ".efi")]
    [InlineData("addon", "MyAddon", ".addon.efi")]
    [InlineData("sysext", "MySysext", ".sysext.raw")]
    [InlineData("confext", "MyConfext", ".confext.raw")]
    public void InstantiatedTemplateBuildsItsImage(string template, string name, string extension)
    {
        _packed.AssertReady();
        using var consumer = _packed.NewConsumer();
        var built = new List<(string Name, string Extension)> { (name, extension) };
        if (template is "uki" or "sysext")
        {
            var initrd = _packed.New("initrd", "MyInitrd", consumer.Combine("MyInitrd"));
            Assert.True(initrd.ExitCode == 0, initrd.ToString());
            built.Add(("MyInitrd", ".cpio.zst"));
        }
        var created = _packed.New(template, name, consumer.Combine(name));
        Assert.True(created.ExitCode == 0, created.ToString());

        var result = _packed.Dotnet(consumer, ["build", name, "-nodeReuse:false", "-nologo", "-v:n",
            $"-p:InitrdCacheDirectory={PackedTemplates.CacheDirectory}"], TimeSpan.FromMinutes(20));
        var output = result.StandardOutput + result.StandardError;
        Assert.True(result.ExitCode == 0, $"dotnet build {name} (the {template} template) failed:\n{output}");

        foreach (var (project, ext) in built)
        {
            var image = consumer.Combine(project, "bin", "Debug", project + ext);
            Assert.True(File.Exists(image), $"{image} is missing:\n{output}");
            var lockFile = consumer.Combine(project, "packages.lock.json");
            Assert.True(File.Exists(lockFile), output);
            PackedTemplates.AssertSummaryLine(output, project, image, lockFile);
            var head = new byte[1024];
            using (var stream = File.OpenRead(image)) stream.ReadExactly(head);
            switch (ext)
            {
                case ".cpio.zst": Assert.Equal(new byte[] { 0x28, 0xB5, 0x2F, 0xFD }, head[..4]); break;
                case ".efi" or ".addon.efi": Assert.Equal("MZ"u8.ToArray(), head[..2]); break;
                default: Assert.Equal("EFI PART"u8.ToArray(), head[512..520]); break; // a GPT disk image
            }
        }
        var warnings = output.Split('\n').Where(l => l.Contains(": warning ", StringComparison.Ordinal)).Distinct().ToArray();
        Assert.True(warnings.Length == 0, string.Join('\n', warnings));
    }

    /// <summary>A consumer folder (see <see cref="PackedTemplates.NewConsumer"/>) with the initrd template instantiated as <paramref name="name"/>.</summary>
    TempDirectory NewConsumer(string name)
    {
        var consumer = _packed.NewConsumer();
        var result = _packed.NewInitrd(name, consumer.Combine(name));
        Assert.True(result.ExitCode == 0, result.ToString());
        return consumer;
    }

    ToolResult Build(TempDirectory consumer, params string[] properties) =>
        _packed.Dotnet(consumer, ["build", "Foo", "-nodeReuse:false", "-nologo", .. properties]);

    static void AssertMatchesSnapshot(string relativePath, string actual)
    {
        var path = Path.Combine(RepositoryLayout.Root, "tests", "Initrd.Sdk.Tests", "Templates", "Snapshots", relativePath);
        if (Environment.GetEnvironmentVariable(UpdateSnapshotsVariable) == "1")
        {
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            File.WriteAllText(path, actual);
        }
        Assert.True(File.Exists(path), $"snapshot {path} is missing; run with {UpdateSnapshotsVariable}=1 to write it");
        Assert.Equal(File.ReadAllText(path), actual);
    }
}
