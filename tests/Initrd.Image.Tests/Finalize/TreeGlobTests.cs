using Initrd.Image.Finalize;

namespace Initrd.Image.Tests.Finalize;

public class TreeGlobTests
{
    [Theory]
    [InlineData("/usr/share/doc/**", "usr/share/doc/bash/copyright", true)]
    [InlineData("/usr/share/doc/**", "usr/share/doc/bash", true)]
    [InlineData("/usr/share/doc/**", "usr/share/doc", false)] // trailing /** keeps the directory
    [InlineData("usr/share/doc/**", "usr/share/doc/x", true)] // leading '/' optional
    [InlineData("/usr/share/doc/**", "usr/share/docs/x", false)]
    [InlineData("**/*.pyc", "a.pyc", true)]
    [InlineData("**/*.pyc", "usr/lib/python3/dist-packages/x/__pycache__/m.cpython-311.pyc", true)]
    [InlineData("**/*.pyc", "usr/lib/x.pyc.txt", false)]
    [InlineData("/usr/share/locale/*/LC_MESSAGES/**", "usr/share/locale/de/LC_MESSAGES/systemd.mo", true)]
    [InlineData("/usr/share/locale/*/LC_MESSAGES/**", "usr/share/locale/de/LC_MESSAGES", false)]
    [InlineData("/usr/share/locale/*/LC_MESSAGES/**", "usr/share/locale/de/x/LC_MESSAGES/a", false)] // * stays in one component
    [InlineData("/usr/bin/?ash", "usr/bin/bash", true)]
    [InlineData("/usr/bin/?ash", "usr/bin/dash", true)]
    [InlineData("/usr/bin/?ash", "usr/bin/ash", false)]
    [InlineData("/usr/bin/[bd]ash", "usr/bin/dash", true)]
    [InlineData("/usr/bin/[!b]ash", "usr/bin/bash", false)]
    [InlineData("/usr/bin/[a-c]ash", "usr/bin/bash", true)]
    [InlineData("/a/**/b", "a/b", true)]
    [InlineData("/a/**/b", "a/x/y/b", true)]
    [InlineData("/a/**/b", "a/x/y/c", false)]
    [InlineData("/etc/*", "etc/.hidden", true)] // '*' also matches a leading dot
    [InlineData("/usr/lib/*.so*", "usr/lib/libz.so.1", true)]
    [InlineData("/x/a\\*b", "x/a*b", true)]
    [InlineData("/x/a\\*b", "x/aXb", false)]
    [InlineData("/./usr//bin/./bash", "usr/bin/bash", true)]
    [InlineData("/**", "anything/at/all", true)]
    public void Matches(string pattern, string path, bool expected) =>
        Assert.Equal(expected, TreeGlob.Parse(pattern).IsMatch(path));

    [Theory]
    [InlineData("/usr/../etc")]
    [InlineData("/")]
    [InlineData("")]
    public void RejectsInvalidPatterns(string pattern)
    {
        var e = Assert.Throws<FinalizeException>(() => TreeGlob.Parse(pattern));
        Assert.Equal(FinalizeErrorKind.InvalidGlob, e.Kind);
    }

    [Theory]
    [InlineData("/usr/share/doc/**", "usr/share/doc")]
    [InlineData("/lib/modules/*/kernel", "lib/modules")]
    [InlineData("/bin", "")]
    [InlineData("**/*.pyc", "")]
    public void LiteralDirectoryPrefix(string pattern, string prefix) =>
        Assert.Equal(prefix, TreeGlob.Parse(pattern).LiteralDirectoryPrefix);
}
