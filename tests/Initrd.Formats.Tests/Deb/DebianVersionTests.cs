using Initrd.Formats.Deb;

namespace Initrd.Formats.Tests.Deb;

public class DebianVersionTests
{
    static DebianVersion V(string s) => DebianVersion.Parse(s);

    [Theory]
    [InlineData("1.0", 0, "1.0", "")]
    [InlineData("1.0-1", 0, "1.0", "1")]
    [InlineData("2:1.0-1", 2, "1.0", "1")]
    [InlineData("1.2-3-4", 0, "1.2-3", "4")]
    [InlineData("1:2:3-4", 1, "2:3", "4")]
    [InlineData("0:1.0", 0, "1.0", "")]
    [InlineData("1.0~rc1+dfsg-1~bpo12+1", 0, "1.0~rc1+dfsg", "1~bpo12+1")]
    [InlineData("  1.0-1\t", 0, "1.0", "1")]
    [InlineData("+1:2", 1, "2", "")]
    [InlineData("-0:2", 0, "2", "")]
    [InlineData("2147483647:1", int.MaxValue, "1", "")]
    public void Parts(string text, int epoch, string upstream, string revision)
    {
        var v = V(text);
        Assert.Equal(epoch, v.Epoch);
        Assert.Equal(upstream, v.Upstream);
        Assert.Equal(revision, v.Revision);
        Assert.Equal(revision.Length > 0, v.HasRevision);
        Assert.Equal(text.Trim(' ', '\t'), v.ToString());
    }

    [Fact]
    public void ToStringRoundTripsTheText()
    {
        foreach (var s in new[] { "1.00", "0:1.0", "1.0-0", "01:1.0-01", "1:2:3-4-5" })
            Assert.Same(s, V(s).ToString());
    }

    // Each line is strictly increasing (Policy §5.6.12, deb-version(7)).
    [Theory]
    [InlineData("1.0~~", "1.0~~a", "1.0~", "1.0~rc1", "1.0", "1.0a", "1.0+b1", "1.0.1")]
    [InlineData("1.0~rc1-1", "1.0-0~", "1.0", "1.0-0.1", "1.0-1~bpo1", "1.0-1", "1.0-1+b1", "1.0-1.1")]
    [InlineData("9", "10", "99", "100", "1:0", "1:0.1", "2:0~", "2:0")]
    [InlineData("1.0", "1.0A", "1.0Z", "1.0a", "1.0z", "1.0+", "1.0.")] // letters by ASCII code, then the rest
    [InlineData("A", "Z", "a", "z", "z+")]
    [InlineData("1~", "1", "1a", "1+", "1.")]
    [InlineData("1.18446744073709551615", "1.18446744073709551616", "1.99999999999999999999999999999999999999", "1.100000000000000000000000000000000000000")]
    public void StrictlyIncreasing(params string[] versions)
    {
        for (int i = 0; i + 1 < versions.Length; i++)
        {
            var (a, b) = (DebianVersion.Parse(versions[i]), DebianVersion.Parse(versions[i + 1]));
            Assert.True(a < b, $"{a} < {b}");
            Assert.True(b > a, $"{b} > {a}");
            Assert.Equal(-1, DebianVersion.Compare(a, b));
            Assert.Equal(1, DebianVersion.Compare(b, a));
            Assert.NotEqual(a, b);
        }
    }

    [Fact]
    public void LettersSortByAsciiCodeBeforeOtherCharacters()
    {
        Assert.True(V("1.0A") < V("1.0a"));   // 'A' 65 < 'a' 97
        Assert.True(V("1.0z") < V("1.0+"));   // any letter < any non-letter
        Assert.True(V("1.0+") < V("1.0.")); // '+' 43 < '.' 46
        Assert.True(V("1.0~") < V("1.0"));    // '~' before the end
        Assert.True(V("1.0") < V("1.0a"));    // the end before a letter
    }

    // dpkg --compare-versions A eq B holds for each pair (checked against dpkg in the oracle tests).
    [Theory]
    [InlineData("1.0", "1.00")]
    [InlineData("1.0", "0:1.0")]
    [InlineData("1.0", "1.0-0")]
    [InlineData("1.0", "1.0-00")]
    [InlineData("1.0", "01.0")]
    [InlineData("1.0a", "1.0a0")]
    [InlineData("1:1.2-3", "01:1.2-03")]
    [InlineData("1.0000000000000000000000000000000000000001", "1.1")]
    public void EqualAsDpkgSays(string a, string b)
    {
        var (x, y) = (V(a), V(b));
        Assert.Equal(0, DebianVersion.Compare(x, y));
        Assert.True(x == y);
        Assert.True(x.Equals(y));
        Assert.Equal(x.GetHashCode(), y.GetHashCode());
        Assert.NotEqual(x.ToString(), y.ToString());
    }

    [Theory]
    [InlineData("1.0", "1.0.0")]   // "." vs end: not equal
    [InlineData("a0b", "ab")]      // a zero run is not nothing in the middle
    [InlineData("0.0", "0")]
    [InlineData("1.0-0.0", "1.0")]
    public void NotEqual(string a, string b)
    {
        Assert.NotEqual(0, DebianVersion.Compare(V(a), V(b)));
        Assert.False(V(a).Equals(V(b)));
    }

    [Fact]
    public void EpochDominates() => Assert.True(V("1:0.1") > V("999999999999999999999"));

    [Theory]
    [InlineData("", "version string is empty")]
    [InlineData("   ", "version string is empty")]
    [InlineData("1.0 1", "embedded spaces")]
    [InlineData(":1.0", "epoch in version is empty")]
    [InlineData("a:1.0", "epoch in version is empty")]
    [InlineData("1a:1.0", "epoch in version is not number")]
    [InlineData("-1:1.0", "epoch in version is negative")]
    [InlineData("2147483648:1", "epoch in version is too big")]
    [InlineData("99999999999999999999999:1", "epoch in version is too big")]
    [InlineData("1:", "nothing after colon")]
    [InlineData("1.0-", "revision number is empty")]
    [InlineData("-1", "upstream version is empty")]
    [InlineData("1:-1", "upstream version is empty")]
    [InlineData("1.0\0", "NUL")]
    public void RejectedAsDpkgRejects(string text, string reason)
    {
        var e = Assert.Throws<InvalidDataException>(() => DebianVersion.Parse(text));
        Assert.Contains(reason, e.Message);
        Assert.Contains($"'{text}'", e.Message);
        Assert.False(DebianVersion.TryParse(text, out _));
    }

    // dpkg only warns about these (and compares them); dpkg-deb and dpkg-gencontrol refuse them.
    [Theory]
    [InlineData("a1.0", "does not start with digit")]
    [InlineData("1.0_1", "invalid character in version number")]
    [InlineData("1.0-1_1", "invalid character in revision number")]
    [InlineData("1:1.0-1:1", "invalid character in revision number")]
    [InlineData("1.0é", "invalid character in version number")]
    public void PolicyViolationsAreWarnings(string text, string reason)
    {
        Assert.True(DebianVersion.TryParse(text, out _));
        var e = Assert.Throws<InvalidDataException>(() => DebianVersion.ParseStrict(text));
        Assert.Contains(reason, e.Message);
    }

    [Fact]
    public void NullSortsFirstAndOperatorsAreNullSafe()
    {
        DebianVersion? none = null;
        Assert.True(none < V("0"));
        Assert.True(none == null);
        Assert.Equal(1, V("0").CompareTo(null));
        Assert.False(DebianVersion.TryParse(null, out _));
    }

    [Fact]
    public void SortsLikeDpkg()
    {
        var sorted = new[] { "1.0", "1.0~rc1", "1:0.5", "1.0-1", "0.9", "1.0+b1", "1.0~~" }
            .Select(V).Order().Select(v => v.ToString());
        Assert.Equal(["0.9", "1.0~~", "1.0~rc1", "1.0", "1.0-1", "1.0+b1", "1:0.5"], sorted);
    }
}
