using Initrd.Formats.Deb;

namespace Initrd.Formats.Tests.Deb;

public class Deb822Tests
{
    [Fact]
    public void ParagraphsFieldsAndLineNumbers()
    {
        const string text = """


            Package: hello
            Version: 2.10-3
            Description: example package
             A longer description
             .
             with an empty line.

            Package: world
            version:1.0  

            """;
        var paragraphs = Deb822.Parse(text).ToList();
        Assert.Equal(2, paragraphs.Count);

        var hello = paragraphs[0];
        Assert.Equal(3, hello.LineNumber);
        Assert.Equal(["Package", "Version", "Description"], hello.Fields.Select(f => f.Name));
        Assert.Equal([3, 4, 5], hello.Fields.Select(f => f.LineNumber));
        Assert.Equal("example package\n A longer description\n .\n with an empty line.", hello["description"]);
        Assert.Equal("2.10-3", hello["VERSION"]);

        var world = paragraphs[1];
        Assert.Equal(10, world.LineNumber);
        Assert.Equal("1.0", world["Version"]);       // case-insensitive; value trimmed
        Assert.Equal("version", world.Fields[1].Name); // spelling kept
        Assert.False(world.TryGetValue("Description", out _));
        Assert.Null(world.GetValueOrDefault("Description"));
        Assert.Throws<KeyNotFoundException>(() => world["Description"]);
    }

    [Fact]
    public void ValueStartingOnTheNextLine()
    {
        var p = Deb822.Parse("Checksums-Sha256:\n abc 12 a.dsc\n def 34 a.tar.xz\nFormat: 3.0 (quilt)\n").Single();
        Assert.Equal("\n abc 12 a.dsc\n def 34 a.tar.xz", p["Checksums-Sha256"]);
        Assert.Equal("Checksums-Sha256:\n abc 12 a.dsc\n def 34 a.tar.xz\nFormat: 3.0 (quilt)\n", p.ToString());
    }

    [Fact]
    public void CommentsAreSkippedEvenInsideAField()
    {
        const string text = "# leading comment\nTypes: deb\n# between fields\nURIs: http://example.invalid/debian\nSuites: a\n# inside a value\n b\n\n#only a comment\n\n";
        var p = Deb822.Parse(text).Single();
        Assert.Equal(2, p.LineNumber);
        Assert.Equal("a\n b", p["Suites"]);
        Assert.Equal(3, p.Count);
    }

    [Fact]
    public void WhitespaceOnlyLinesSeparateParagraphs()
    {
        var ps = Deb822.Parse("A: 1\n \t \nB: 2\n\t\nC: 3").ToList();
        Assert.Equal(["1", "2", "3"], ps.Select(p => p.Fields.Single().Value));
        Assert.Equal([1, 3, 5], ps.Select(p => p.LineNumber));
    }

    [Fact]
    public void CrLfIsAccepted()
    {
        var ps = Deb822.Parse("A: 1\r\nB: two\r\n words\r\n .\r\n\r\nC: 3 \r\n").ToList();
        Assert.Equal(2, ps.Count);
        Assert.Equal("two\n words\n .", ps[0]["B"]);
        Assert.Equal("3", ps[1]["C"]);
    }

    [Fact]
    public void InternalWhitespaceIsKeptRaw()
    {
        var p = Deb822.Parse("Description: a  \n\tb  \n  c\n").Single();
        Assert.Equal("a  \n\tb  \n  c", p["Description"]);
    }

    [Fact]
    public void EmptyInputHasNoParagraphs()
    {
        Assert.Empty(Deb822.Parse(""));
        Assert.Empty(Deb822.Parse("\n\n  \n# x\n"));
    }

    [Theory]
    [InlineData("A: 1\nB 2\n", 2, "'B 2'")]
    [InlineData(" continuation\n", 1, "continuation line before any field")]
    [InlineData("A: 1\n\n continuation\n", 3, "continuation line before any field")]
    [InlineData("A: 1\nB: 2\na: 3\n", 3, "duplicate field 'a' (first at line 1)")]
    [InlineData(": 1\n", 1, "empty field name")]
    [InlineData("-A: 1\n", 1, "starts with '-'")]
    [InlineData("A B: 1\n", 1, "field name 'A B'")]
    [InlineData("-----BEGIN PGP SIGNED MESSAGE-----\n", 1, "-----BEGIN PGP SIGNED MESSAGE-----")]
    public void MalformedInputNamesTheLine(string text, int line, string detail)
    {
        var e = Assert.Throws<InvalidDataException>(() => Deb822.Parse(text, "test.control").ToList());
        Assert.StartsWith($"test.control: line {line}: ", e.Message);
        Assert.Contains(detail, e.Message);
    }

    [Fact]
    public void ParsingIsLazy()
    {
        using var e = Deb822.Parse("A: 1\n\nB: 2\n\nbroken\n").GetEnumerator();
        Assert.True(e.MoveNext());
        Assert.True(e.MoveNext());
        Assert.Throws<InvalidDataException>(() => e.MoveNext());
    }

    [Fact]
    public void LongValuesCrossBufferBoundaries()
    {
        // Values far longer than the reader's buffer, split at every kind of boundary.
        var lines = Enumerable.Range(0, 20000).Select(i => $" {i:x64} {i} file{i}").ToList();
        var text = "Origin: Debian\nSHA256:\n" + string.Join("\n", lines) + "\nLast: x\n\n" +
                   string.Concat(Enumerable.Range(0, 3000).Select(i => $"Package: p{i}\nVersion: {i}\n\n"));
        var ps = Deb822.Parse(new StringReader(text)).ToList();
        Assert.Equal(3001, ps.Count);
        Assert.Equal("\n" + string.Join("\n", lines), ps[0]["SHA256"]);
        Assert.Equal("x", ps[0]["Last"]);
        Assert.Equal("p2999", ps[^1]["Package"]);
        Assert.Equal(20005 + 2999 * 3, ps[^1].LineNumber);
    }

    [Fact]
    public void ByteOrderMarkIsIgnored() => Assert.Equal("1", Deb822.Parse("\uFEFFA: 1\n").Single()["A"]);

    const string Signed = """
        -----BEGIN PGP SIGNED MESSAGE-----
        Hash: SHA512

        Origin: Debian
        - -----not a header
        - - dash
        Description: x
         y
        -----BEGIN PGP SIGNATURE-----

        iQIzBAEBCgAdFiEE
        =abcd
        -----END PGP SIGNATURE-----
        """;

    [Fact]
    public void ClearsignStrippedAndDashEscapingUndone()
    {
        var body = Deb822.StripClearsign(Signed);
        Assert.Equal("Origin: Debian\n-----not a header\n- dash\nDescription: x\n y\n", body);
        Assert.Equal(body, Deb822.StripClearsign(Signed.Replace("\n", "\r\n") + "\r\n\r\n"));
    }

    [Theory]
    [InlineData("garbage\n", "expected '-----BEGIN PGP SIGNED MESSAGE-----'")]
    [InlineData("Origin: Debian\n", "expected '-----BEGIN PGP SIGNED MESSAGE-----'")]
    [InlineData("", "not a clear-signed message")]
    public void NotClearsigned(string text, string detail)
    {
        var e = Assert.Throws<InvalidDataException>(() => Deb822.StripClearsign(text));
        Assert.Contains(detail, e.Message);
    }

    public static TheoryData<string, int, string> MalformedClearsigned => new()
    {
        { Signed.Replace("Hash: SHA512", "NotDashEscaped: yes"), 2, "unexpected armor header" },
        { Signed.Replace("Origin: Debian", "Origin: Debian\n-not escaped"), 5, "not dash-escaped" },
        { Signed.Replace("Origin: Debian", "Origin: Debian\n-----BEGIN PGP SIGNED MESSAGE-----"), 5, "not dash-escaped" },
        { Signed + "\nOrigin: Evil", 14, "text after the signature" },
        { "garbage\n" + Signed, 1, "expected '-----BEGIN PGP SIGNED MESSAGE-----'" },
        { Signed.Replace("\n-----END PGP SIGNATURE-----", ""), 12, "signature block is not terminated" },
        { Signed[..Signed.IndexOf("-----BEGIN PGP SIGNATURE-----")], 9, "the signed text has no signature" },
    };

    [Theory]
    [MemberData(nameof(MalformedClearsigned))]
    public void MalformedClearsignRejected(string text, int line, string detail)
    {
        var e = Assert.Throws<InvalidDataException>(() => Deb822.StripClearsign(text));
        Assert.Contains(detail, e.Message);
        Assert.Contains($"line {line}:", e.Message);
    }
}
