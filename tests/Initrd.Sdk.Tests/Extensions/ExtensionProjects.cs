using Initrd.Sdk.Tests.LocalRepository;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.Extensions;

/// <summary>
/// A hermetic base initrd (the local repository's systemd closure, whose os-release says ID=initrdtest VERSION_ID=1)
/// and an extension project referencing it, sharing one package cache; plus a key pair made by openssl.
/// </summary>
internal sealed class ExtensionProjects : IDisposable
{
    public enum Signing { None, Signed, WrongKey }

    /// <summary>A package with files a sysext keeps (/usr) and one it drops (/etc).</summary>
    public static readonly TestPackage ToolWithConfig = new("tool-with-config", "2.0-1")
    {
        Fields = [("Depends", "libc6 (>= 2.38)")],
        Entries =
        [
            TestEntry.Directory("usr"), TestEntry.Directory("usr/bin"), TestEntry.Executable("usr/bin/tool-with-config", "#!/bin/sh\necho tool\n"),
            TestEntry.Directory("etc"), TestEntry.File("etc/tool.conf", "setting=1\n"),
        ],
    };

    readonly TempDirectory keys = new("extension-keys");

    public ExtensionProjects(LocalRepositoryFixture fixture, string format, string packages, string extraBody = "", string name = "Tools", Signing signing = Signing.None)
    {
        if (signing != Signing.None)
        {
            var signer = KeyPair("signer");
            extraBody += SigningProperties(signing == Signing.Signed ? signer : (signer.Certificate, KeyPair("other").Key));
        }
        Repository = fixture.NewRepository(r => r.Add(ToolWithConfig, fixture.Deb(ToolWithConfig.Name, () => DebBuilder.Build(ToolWithConfig))));
        Base = new HermeticImage(Repository, "systemd", name: "Base");
        Extension = new HermeticImage(Repository, packages, $"""
              <PropertyGroup>
                <ImageFormat>{format}</ImageFormat>
              </PropertyGroup>
              <ItemGroup>
                <ProjectReference Include="{Base.Project.ProjectPath}" />
              </ItemGroup>
            {extraBody}
            """, Base.CacheDirectory, name);
    }

    public LocalAptRepository Repository { get; }

    public HermeticImage Base { get; }

    public HermeticImage Extension { get; }

    public string ImagePath(string suffix = ".sysext.raw") => Path.Combine(Extension.Project.OutputDirectory, Extension.Project.Name + suffix);

    /// <summary>A self-signed RSA certificate and key (PEM), made by openssl.</summary>
    public (string Certificate, string Key) KeyPair(string name = "signer")
    {
        var openssl = ReferenceTool.Require("openssl", "openssl");
        var cert = keys.Combine(name + ".crt");
        var key = keys.Combine(name + ".key");
        if (!File.Exists(cert))
        {
            var made = ReferenceTool.Run(openssl, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=Initrd.Sdk " + name]);
            Assert.True(made.ExitCode == 0, made.ToString());
        }
        return (cert, key);
    }

    public static string SigningProperties((string Certificate, string Key) pair) => $"""
          <PropertyGroup>
            <ImageSigningKey>{pair.Key}</ImageSigningKey>
            <ImageSigningCertificate>{pair.Certificate}</ImageSigningCertificate>
          </PropertyGroup>
        """;

    public void Dispose()
    {
        Extension.Dispose();
        Base.Dispose();
        Repository.Dispose();
        keys.Dispose();
    }
}
