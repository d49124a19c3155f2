using Initrd.Apt.Repositories;

namespace Initrd.Apt.Tests.Repositories;

public sealed class ReleaseFileTests
{
    // The head of trixie's Release file as the archive publishes it (checksums shortened to two files).
    const string Trixie = """
        Origin: Debian
        Label: Debian
        Suite: stable
        Version: 13.7
        Codename: trixie
        Date: Sat, 12 Sep 2026 07:55:41 UTC
        Acquire-By-Hash: yes
        No-Support-for-Architecture-all: Packages
        Architectures: all amd64 arm64 armel armhf i386 ppc64el riscv64 s390x
        Components: main contrib non-free-firmware non-free
        Description: Debian 13.7 Released 12 September 2026
        MD5Sum:
         6f508ba532c6d22628f1f11bc34749ab  4533564 main/binary-all/Packages.xz
        SHA256:
         55bef3400f6614ac8bfdd05922310d9ff456e458d0bf9a0a201e6d9359144108  4533564 main/binary-all/Packages.xz
         4f2c68d67001d595fbd343f6dbad44468953a51c4d9dec3a4803249f6e295940 56620099 main/binary-amd64/Packages
         7778d3e3f303b7ddb8ce0fe7c8d57473a076c6bf2e8f241f75421d2396352498  9678380 main/binary-amd64/Packages.xz

        """;

    [Fact]
    public void ParsesTheFieldsAptUses()
    {
        var r = ReleaseFile.Parse(Trixie, "InRelease");
        Assert.Equal("Debian", r.Origin);
        Assert.Equal("stable", r.Suite);
        Assert.Equal("trixie", r.Codename);
        Assert.Equal("13.7", r.Version);
        Assert.Equal(new DateTimeOffset(2026, 9, 12, 7, 55, 41, TimeSpan.Zero), r.Date);
        Assert.Null(r.ValidUntil);
        Assert.True(r.AcquireByHash);
        Assert.Equal(["Packages"], r.NoSupportForArchitectureAll);
        Assert.Contains("amd64", r.Architectures);
        Assert.Equal(["main", "contrib", "non-free-firmware", "non-free"], r.Components);
        Assert.Equal(3, r.Files.Count); // SHA256 only
        Assert.True(r.TryGetFile("main/binary-amd64/Packages.xz", out var xz));
        Assert.Equal(9678380, xz.Size);
        Assert.Equal("7778d3e3f303b7ddb8ce0fe7c8d57473a076c6bf2e8f241f75421d2396352498", xz.Sha256);
        Assert.True(r.IsForSuite("trixie"));
        Assert.True(r.IsForSuite("stable"));
        Assert.False(r.IsForSuite("bookworm"));
    }

    [Fact]
    public void ArchitectureAll_FollowsAptsRule()
    {
        // trixie: arch:all packages are in binary-amd64 as well; binary-all must not be read on top.
        Assert.False(ReleaseFile.Parse(Trixie, "x").HasArchitectureAllIndex());
        // A repository with "all" and without the field: arch:all packages are only in binary-all.
        var split = Trixie.Replace("No-Support-for-Architecture-all: Packages\n", "");
        Assert.True(ReleaseFile.Parse(split, "x").HasArchitectureAllIndex());
        // The security archive lists no "all" at all.
        var noAll = split.Replace("Architectures: all ", "Architectures: ");
        Assert.False(ReleaseFile.Parse(noAll, "x").HasArchitectureAllIndex());
    }

    [Fact]
    public void Components_SecurityStyle()
    {
        var r = ReleaseFile.Parse(Trixie.Replace("Components: main contrib non-free-firmware non-free", "Components: updates/main updates/contrib"), "x");
        Assert.True(r.SupportsComponent("main"));
        Assert.True(r.SupportsComponent("updates/main"));
        Assert.False(r.SupportsComponent("non-free"));
    }

    [Theory]
    [InlineData("Sat, 12 Sep 2026 07:55:41 UTC")]
    [InlineData("Sat, 12 Sep 2026 07:55:41 GMT")]
    [InlineData("Sat, 12 Sep 2026 07:55:41 +0000")]
    [InlineData("Sat, 12 Sep 2026 09:55:41 +0200")]
    [InlineData("12 Sep 2026 07:55:41 Z")]
    public void Dates(string text)
    {
        Assert.Equal(new DateTimeOffset(2026, 9, 12, 7, 55, 41, TimeSpan.Zero), ReleaseFile.ParseRfc2822Date(text)!.Value.ToUniversalTime());
    }

    [Theory]
    [InlineData("Origin: x\n")]                                                       // no SHA256 field
    [InlineData("SHA256:\n abc 12 main/x\n")]                                         // short hash
    [InlineData("SHA256:\n 7778d3e3f303b7ddb8ce0fe7c8d57473a076c6bf2e8f241f75421d2396352498 -1 main/x\n")]
    [InlineData("SHA256:\n 7778d3e3f303b7ddb8ce0fe7c8d57473a076c6bf2e8f241f75421d2396352498 1 ../../x\n")]
    [InlineData("Date: yesterday\nSHA256:\n")]
    [InlineData("Origin: a\n\nOrigin: b\nSHA256:\n")]                                 // two paragraphs
    [InlineData("Origin a\n")]                                                        // not deb822
    public void Malformed(string text)
    {
        var e = Assert.Throws<RepositoryException>(() => ReleaseFile.Parse(text, "http://x/InRelease"));
        Assert.Equal(RepositoryErrorKind.Malformed, e.Kind);
        Assert.Equal("http://x/InRelease", e.Location);
    }
}
