using System.Text;
using Initrd.Testing;

namespace Initrd.Sdk.Tests.LocalRepository;

/// <summary>
/// A throwaway OpenPGP signing key made with gpg in a private GNUPGHOME, and its public key exported as a binary
/// keyring (what an apt Signed-By file holds and gpgv reads). Disposing stops the gpg-agent of that home.
/// </summary>
public sealed class TestSigningKey : IDisposable
{
    readonly TempDirectory home = new("initrd-sdk-gpg");
    readonly string gpg;

    public TestSigningKey()
    {
        gpg = ReferenceTool.Require("gpg", "gnupg");
        ReferenceTool.Require("gpgv", "gpgv");
        Run(["--quick-gen-key", "Initrd.Sdk Test Repository <repository@initrd.invalid>", "ed25519", "sign", "never"]);
        var colons = Run(["--list-keys", "--with-colons"]).StandardOutput;
        Fingerprint = colons.Split('\n').First(l => l.StartsWith("fpr:", StringComparison.Ordinal)).Split(':')[9];
        KeyringPath = home.Combine("repository-keyring.gpg");
        File.WriteAllBytes(KeyringPath, Run(["--export", Fingerprint]).StandardOutputBytes);
    }

    public string Fingerprint { get; }

    /// <summary>The public key as a binary keyring file (for ImageRepository's SignedBy).</summary>
    public string KeyringPath { get; }

    /// <summary>Clear-signs <paramref name="text"/> (an InRelease).</summary>
    public byte[] ClearSign(string text) =>
        Run(["--local-user", Fingerprint, "--digest-algo", "SHA256", "--clearsign"], Encoding.UTF8.GetBytes(text)).StandardOutputBytes;

    ToolResult Run(IEnumerable<string> args, byte[]? input = null)
    {
        var result = ReferenceTool.Run(gpg,
            ["--batch", "--homedir", home.Path, "--pinentry-mode", "loopback", "--passphrase", "", .. args],
            standardInput: input ?? []);
        if (result.ExitCode != 0) throw new InvalidOperationException($"gpg {string.Join(' ', args)} failed: {result}");
        return result;
    }

    public void Dispose()
    {
        var gpgconf = ReferenceTool.Find("gpgconf");
        if (gpgconf is not null) ReferenceTool.Run(gpgconf, ["--homedir", home.Path, "--kill", "gpg-agent"]);
        home.Dispose();
    }
}
