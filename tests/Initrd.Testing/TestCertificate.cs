using Xunit;

namespace Initrd.Testing;

/// <summary>A throwaway self-signed RSA certificate and its unencrypted key, made by openssl (the signing oracle's own tool).</summary>
public static class TestCertificate
{
    /// <summary>Writes <c>&lt;name&gt;.key</c> and <c>&lt;name&gt;.crt</c> into <paramref name="directory"/>.</summary>
    public static (string Key, string Certificate) Create(TempDirectory directory, string name, string commonName)
    {
        var openssl = ReferenceTool.Require("openssl", "openssl");
        var key = directory.Combine(name + ".key");
        var certificate = directory.Combine(name + ".crt");
        var r = ReferenceTool.Run(openssl, ["req", "-new", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650",
            "-subj", "/CN=" + commonName, "-keyout", key, "-out", certificate]);
        Assert.True(r.ExitCode == 0, r.ToString());
        return (key, certificate);
    }
}
