using Initrd.Testing;

namespace Initrd.Formats.Tests.Authenticode;

/// <summary>
/// A throwaway RSA-2048 key and self-signed certificate made by
/// <c>openssl req -x509 -newkey rsa:2048 -nodes -subj /CN=test -days 1</c>, in a folder that lives as long as the
/// test class (an xunit class fixture).
/// </summary>
public sealed class TestSigningKey : IDisposable
{
    readonly TempDirectory _directory = new("authenticode-key");

    public TestSigningKey()
    {
        var openssl = ReferenceTool.Find("openssl");
        if (openssl is null) return; // tests call Require() and skip
        KeyPath = _directory.Combine("key.pem");
        CertificatePath = _directory.Combine("cert.pem");
        var result = ReferenceTool.Run(openssl,
            ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=test", "-days", "1", "-keyout", KeyPath, "-out", CertificatePath]);
        if (result.ExitCode != 0) throw new InvalidOperationException($"openssl req failed: {result}");
    }

    public string KeyPath { get; } = "";

    public string CertificatePath { get; } = "";

    /// <summary>Skips the test (fails it under CI) when openssl is missing.</summary>
    public TestSigningKey Require()
    {
        ReferenceTool.Require("openssl", "openssl");
        return this;
    }

    public void Dispose() => _directory.Dispose();
}
