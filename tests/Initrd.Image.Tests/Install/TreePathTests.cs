using Initrd.Image.Install;

namespace Initrd.Image.Tests.Install;

public sealed class TreePathTests
{
    [Theory]
    [InlineData("./", "")]
    [InlineData(".", "")]
    [InlineData("./usr/bin/x", "usr/bin/x")]
    [InlineData("usr/bin/", "usr/bin")]
    [InlineData("/etc/abs", "etc/abs")]
    [InlineData("//etc//./x/", "etc/x")]
    [InlineData("./usr/lib/../share", "usr/share")]
    [InlineData("a/..", "")]
    public void Entry_names_are_normalised(string name, string expected)
    {
        Assert.Equal(expected, TreePath.Normalize(name, out var error));
        Assert.Null(error);
    }

    [Theory]
    [InlineData("..")]
    [InlineData("../etc/evil")]
    [InlineData("./../../etc/evil")]
    [InlineData("usr/../../evil")]
    [InlineData("/../evil")]
    [InlineData("usr/\0/x")]
    public void Names_leaving_the_root_are_refused(string name)
    {
        Assert.Null(TreePath.Normalize(name, out var error));
        Assert.NotNull(error);
    }

    [Theory]
    [InlineData("usr/lib", "../share/x", true)]
    [InlineData("usr/lib", "../../etc", true)]
    [InlineData("usr/lib", "../../../etc", false)]
    [InlineData("", "usr/lib", true)]
    [InlineData("", "../tmp", false)]
    [InlineData("", "/tmp", true)]
    [InlineData("usr", "/usr/lib/x", true)]
    [InlineData("usr", "/../etc", false)]
    [InlineData("usr", "a/../../..", false)]
    [InlineData("usr", "", false)]
    public void Symlink_targets_must_stay_inside_the_root(string directory, string target, bool allowed)
    {
        Assert.Equal(allowed, TreePath.CheckSymlinkTarget(directory, target) is null);
    }
}
