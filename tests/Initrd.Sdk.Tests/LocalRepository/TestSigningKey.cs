using Initrd.Testing;

namespace Initrd.Sdk.Tests.LocalRepository;

/// <summary>
/// A throwaway OpenPGP signing key made with gpg in a private GNUPGHOME (<see cref="GpgHome"/>), and its public key
/// exported as a binary keyring (what an apt Signed-By file holds and gpgv reads). Disposing stops the gpg-agent of
/// that home.
/// </summary>
public sealed class TestSigningKey : IDisposable
{
    readonly GpgHome home = new("initrd-sdk-gpg");

    public TestSigningKey()
    {
        Fingerprint = home.GenerateKey("Initrd.Sdk Test Repository <repository@initrd.invalid>");
        KeyringPath = home.Combine("repository-keyring.gpg");
        File.WriteAllBytes(KeyringPath, home.Run(["--export", Fingerprint]).StandardOutputBytes);
    }

    public string Fingerprint { get; }

    /// <summary>The public key as a binary keyring file (for ImageRepository's SignedBy).</summary>
    public string KeyringPath { get; }

    /// <summary>Clear-signs <paramref name="text"/> (an InRelease).</summary>
    public byte[] ClearSign(string text) => home.ClearSign(text, Fingerprint);

    public void Dispose() => home.Dispose();
}
