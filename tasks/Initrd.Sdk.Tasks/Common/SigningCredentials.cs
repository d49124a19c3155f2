using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Initrd.Sdk.Tasks.Common;

/// <summary>
/// The ImageSigningKey/ImageSigningCertificate pair, loaded and checked once for every format that signs (Authenticode
/// for UKIs and addons, the verity root-hash signature for extensions): both or neither, readable PEM, and a key that
/// belongs to the certificate — each a coded error before any work is done.
/// </summary>
public sealed class SigningCredentials : IDisposable
{
    SigningCredentials(X509Certificate2 certificate, X509Certificate2Collection chain, AsymmetricAlgorithm privateKey)
    {
        Certificate = certificate;
        Chain = chain;
        PrivateKey = privateKey;
    }

    /// <summary>The signer's certificate, with its private key attached.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>Further certificates of the certificate file (intermediates), to include with a signature.</summary>
    public X509Certificate2Collection Chain { get; }

    /// <summary>The private key (RSA or ECDSA).</summary>
    public AsymmetricAlgorithm PrivateKey { get; }

    /// <summary>Null when neither property is set.</summary>
    /// <exception cref="BuildErrorException">INITRD0011 (only one set), INITRD0012 (unreadable), INITRD0013 (key and certificate do not match).</exception>
    public static SigningCredentials? Load(string? keyPath, string? certificatePath, string? projectFile)
    {
        var hasKey = !string.IsNullOrWhiteSpace(keyPath);
        var hasCertificate = !string.IsNullOrWhiteSpace(certificatePath);
        if (!hasKey && !hasCertificate) return null;
        if (!hasKey) throw new BuildErrorException(Strings.SigningIncomplete, "ImageSigningCertificate", "ImageSigningKey") { File = projectFile };
        if (!hasCertificate) throw new BuildErrorException(Strings.SigningIncomplete, "ImageSigningKey", "ImageSigningCertificate") { File = projectFile };
        var key = Path.GetFullPath(keyPath!.Trim());
        var certificate = Path.GetFullPath(certificatePath!.Trim());

        var all = new X509Certificate2Collection();
        AsymmetricAlgorithm privateKey;
        try
        {
            all.ImportFromPemFile(certificate);
            if (all.Count == 0) throw new CryptographicException("the file holds no PEM certificate");
            privateKey = ImportKey(File.ReadAllText(key));
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException or IOException or UnauthorizedAccessException)
        {
            Dispose(all);
            throw new BuildErrorException(e, projectFile, Strings.SigningUnreadable, certificate, key, e.Message.TrimEnd('.')) { File = projectFile };
        }
        try
        {
            var withKey = privateKey switch
            {
                RSA rsa => all[0].CopyWithPrivateKey(rsa),
                ECDsa ec => all[0].CopyWithPrivateKey(ec),
                _ => throw new CryptographicException("unsupported key type"),
            };
            var chain = new X509Certificate2Collection();
            for (var i = 1; i < all.Count; i++) chain.Add(all[i]);
            all[0].Dispose();
            return new SigningCredentials(withKey, chain, privateKey);
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            privateKey.Dispose();
            Dispose(all);
            throw new BuildErrorException(e, projectFile, Strings.SigningKeyMismatch, key, certificate, e.Message.TrimEnd('.')) { File = projectFile };
        }
    }

    static AsymmetricAlgorithm ImportKey(string pem)
    {
        var rsa = RSA.Create();
        try { rsa.ImportFromPem(pem); return rsa; }
        catch (ArgumentException) { rsa.Dispose(); }
        var ec = ECDsa.Create();
        try { ec.ImportFromPem(pem); return ec; }
        catch (ArgumentException) { ec.Dispose(); throw new ArgumentException("the key file holds no unencrypted RSA or ECDSA private key in PEM form"); }
    }

    static void Dispose(X509Certificate2Collection certificates)
    {
        foreach (var c in certificates) c.Dispose();
    }

    public void Dispose()
    {
        Certificate.Dispose();
        Dispose(Chain);
        PrivateKey.Dispose();
    }
}
