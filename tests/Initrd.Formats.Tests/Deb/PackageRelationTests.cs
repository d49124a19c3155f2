using Initrd.Formats.Deb;

namespace Initrd.Formats.Tests.Deb;

public class PackageRelationTests
{
    [Fact]
    public void GroupsAndAlternatives()
    {
        var groups = PackageRelation.ParseField("libc6 (>= 2.36), debconf (>= 0.5) | debconf-2.0, zlib1g");
        Assert.Equal(3, groups.Count);
        Assert.Equal(["libc6"], groups[0].Alternatives.Select(a => a.Name));
        Assert.Equal(["debconf", "debconf-2.0"], groups[1].Alternatives.Select(a => a.Name));
        Assert.Equal(new VersionConstraint(RelationOperator.LaterOrEqual, DebianVersion.Parse("0.5")), groups[1].Alternatives[0].Version);
        Assert.Null(groups[1].Alternatives[1].Version);
        Assert.Equal("debconf (>= 0.5) | debconf-2.0", groups[1].ToString());
    }

    [Theory]
    [InlineData("<<", RelationOperator.StrictlyEarlier)]
    [InlineData("<=", RelationOperator.EarlierOrEqual)]
    [InlineData("=", RelationOperator.Equal)]
    [InlineData(">=", RelationOperator.LaterOrEqual)]
    [InlineData(">>", RelationOperator.StrictlyLater)]
    [InlineData("<", RelationOperator.EarlierOrEqual)]   // obsolete: dpkg reads '<' as '<='
    [InlineData(">", RelationOperator.LaterOrEqual)]     // obsolete: dpkg reads '>' as '>='
    [InlineData("", RelationOperator.Equal)]             // dpkg: "implicit exact match", a warning only
    public void Relations(string op, RelationOperator expected)
    {
        var r = PackageRelation.Parse($"foo ({op} 1.0-1)");
        Assert.Equal(expected, r.Version!.Operator);
        Assert.Equal("1.0-1", r.Version.Version.ToString());
        Assert.Equal(expected, PackageRelation.Parse($"foo({op}1.0-1)").Version!.Operator);
    }

    [Theory]
    [InlineData(RelationOperator.StrictlyEarlier, "0.9,1.0~rc1", "1.0,1.00,1.0-1")]
    [InlineData(RelationOperator.EarlierOrEqual, "1.0~rc1,1.0,1.00,0:1.0-0", "1.0+b1,1.0-1")]
    [InlineData(RelationOperator.Equal, "1.0,1.00,0:1.0,1.0-0", "1.0-1,1.0~,1:1.0")]
    [InlineData(RelationOperator.LaterOrEqual, "1.0,1.0+b1,1.0-1,1:0", "1.0~rc1,0.9")]
    [InlineData(RelationOperator.StrictlyLater, "1.0-1,1.0+b1,1:0", "1.0,1.00,1.0~")]
    public void Satisfies(RelationOperator op, string yes, string no)
    {
        var constraint = new VersionConstraint(op, DebianVersion.Parse("1.0"));
        foreach (var v in yes.Split(',')) Assert.True(constraint.Satisfies(DebianVersion.Parse(v)), $"{v} {constraint}");
        foreach (var v in no.Split(',')) Assert.False(constraint.Satisfies(DebianVersion.Parse(v)), $"{v} {constraint}");
    }

    [Fact]
    public void ArchitectureQualifiers()
    {
        var groups = PackageRelation.ParseField("python3:any (>= 3.11), libfoo1:amd64, gcc:native, perl:any(>= 5)");
        Assert.Equal(["any", "amd64", "native", "any"], groups.Select(g => g.Alternatives[0].ArchitectureQualifier));
        Assert.Equal("python3:any (>= 3.11)", groups[0].ToString());
        Assert.Null(PackageRelation.Parse("perl").ArchitectureQualifier);
    }

    [Fact]
    public void ArchitectureRestrictionsAndProfiles()
    {
        var r = PackageRelation.Parse("libseccomp-dev (>= 2.3) [amd64 arm64 !i386] <!nocheck !stage1> <cross>");
        Assert.Equal([new("amd64", false), new("arm64", false), new("i386", true)], r.Architectures);
        Assert.Equal(2, r.BuildProfiles.Count);
        Assert.Equal([new RestrictionTerm("nocheck", true), new RestrictionTerm("stage1", true)], r.BuildProfiles[0]);
        Assert.Equal("libseccomp-dev (>= 2.3) [amd64 arm64 !i386] <!nocheck !stage1> <cross>", r.ToString());
        Assert.True(r.AppliesToProfiles([]));
        Assert.False(r.AppliesToProfiles(["nocheck"]));
        Assert.True(r.AppliesToProfiles(["nocheck", "cross"]));
    }

    [Theory]
    [InlineData("[amd64 arm64]", "amd64", true)]
    [InlineData("[amd64 arm64]", "i386", false)]
    [InlineData("[!i386 !hurd-any]", "amd64", true)]
    [InlineData("[!i386 !hurd-any]", "i386", false)]
    [InlineData("[!i386 !hurd-any]", "hurd-amd64", false)]
    [InlineData("[linux-any]", "arm64", true)]
    [InlineData("[linux-any]", "kfreebsd-amd64", false)]
    [InlineData("[any-amd64]", "amd64", true)]
    [InlineData("[any-amd64]", "x32", true)]         // x32 is the amd64 CPU with the x32 ABI
    [InlineData("[any-amd64]", "hurd-amd64", true)]
    [InlineData("[any-arm]", "armhf", true)]
    [InlineData("[any-arm]", "arm64", false)]
    [InlineData("[gnu-any-any]", "riscv64", true)]
    [InlineData("[musl-any-any]", "riscv64", false)]
    [InlineData("[any]", "ppc64el", true)]
    [InlineData("[AMD64]", "amd64", true)]           // dpkg-dev lower-cases the terms
    [InlineData("", "s390x", true)]
    public void AppliesTo(string restriction, string architecture, bool applies) =>
        Assert.Equal(applies, PackageRelation.Parse($"foo {restriction}").AppliesTo(architecture));

    [Fact]
    public void WhitespaceAndNewlinesAreTolerated()
    {
        var groups = PackageRelation.ParseField("\n a\t(\n>=\n1.0\n)\n[\namd64\n]\n|\nb ,\n c:any ,\n");
        Assert.Equal("a (>= 1.0) [amd64] | b", groups[0].ToString());
        Assert.Equal("c:any", groups[1].ToString());
        Assert.Equal(2, groups.Count);
        Assert.Empty(PackageRelation.ParseField(""));
        Assert.Empty(PackageRelation.ParseField(" \n "));
    }

    [Theory]
    [InlineData("foo,,bar", "missing package name, found ','")]
    [InlineData("foo |", "missing package name")]
    [InlineData("| foo", "missing package name, found '|'")]
    [InlineData("foo bar", "unexpected 'b'")]
    [InlineData("-foo", "invalid package name '-foo'")]
    [InlineData("foo_bar!", "invalid package name 'foo_bar!'")]
    [InlineData("foo (>= 1.0", "not terminated by ')'")]
    [InlineData("foo (>= 1.0 1)", "version of 'foo' contains white space")]
    [InlineData("foo (>= 1:)", "invalid version '1:'")]
    [InlineData("foo (>=)", "missing version")]
    [InlineData("foo (<> 1)", "bad version relation '<>'")]
    [InlineData("foo (>< 1)", "bad version relation '><'")]
    [InlineData("foo (>= (1))", "version of 'foo' contains '('")]
    [InlineData("foo:", "missing architecture name after 'foo:'")]
    [InlineData("foo:, bar", "missing architecture name after 'foo:'")]
    [InlineData("foo:am_d64", "invalid architecture name 'am_d64'")]
    [InlineData("perl :any", "unexpected ':'")]                 // no white space before the qualifier (dpkg)
    [InlineData("foo [amd64", "not terminated by ']'")]
    [InlineData("foo []", "empty architecture list")]
    [InlineData("foo [am_d64]", "invalid name 'am_d64'")]
    [InlineData("foo <>", "empty build-profile list")]
    [InlineData("foo <nocheck", "not terminated by '>'")]
    [InlineData("foo (= 1) (= 2)", "unexpected '('")]
    public void MalformedInputRejected(string text, string detail)
    {
        var e = Assert.Throws<InvalidDataException>(() => PackageRelation.ParseField(text, "Depends", 42));
        Assert.Contains(detail, e.Message);
        Assert.StartsWith("Depends field at line 42: ", e.Message);
        Assert.Contains(text, e.Message);
    }

    [Theory]
    [InlineData("Conflicts")]
    [InlineData("breaks")]
    [InlineData("Provides")]
    [InlineData("Replaces")]
    public void AlternativesOnlyWhereDpkgAllowsThem(string field)
    {
        var e = Assert.Throws<InvalidDataException>(() => PackageRelation.ParseField("a, b | c", field, 7));
        Assert.Contains($"alternatives ('|') are not allowed in the {field} field", e.Message);
        Assert.Equal(2, PackageRelation.ParseField("a, b | c", "Pre-Depends").Count);
    }

    [Fact]
    public void ParseRejectsMoreThanOneRelation()
    {
        Assert.Throws<InvalidDataException>(() => PackageRelation.Parse("a, b"));
        Assert.Throws<InvalidDataException>(() => PackageRelation.Parse("a | b"));
    }

    [Fact]
    public void IsSatisfiedByWithoutAVersionAcceptsAll() =>
        Assert.True(PackageRelation.Parse("foo").IsSatisfiedBy(DebianVersion.Parse("0~")));
}
