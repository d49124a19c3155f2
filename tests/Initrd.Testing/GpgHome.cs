using System.Text;

namespace Initrd.Testing;

/// <summary>
/// A private, throwaway GNUPGHOME for making OpenPGP test keys and signatures with gpg (batch mode, no passphrase).
/// Skips the test (fails it under CI) when gpg or gpgv is missing. Disposing stops the gpg-agent that gpg started
/// for the home (it would outlive the test run) and deletes the folder.
/// </summary>
public sealed class GpgHome : IDisposable
{
    readonly TempDirectory home;
    readonly string gpg;

    public GpgHome(string prefix = "initrd-gpg")
    {
        gpg = ReferenceTool.Require("gpg", "gnupg");
        ReferenceTool.Require("gpgv", "gpgv");
        home = new TempDirectory(prefix);
    }

    /// <summary>The home folder (a place for keyring files as well).</summary>
    public string Path => home.Path;

    public string Combine(params string[] parts) => home.Combine(parts);

    /// <summary>
    /// Makes an ed25519 signing key for <paramref name="uid"/> that expires after <paramref name="expire"/> ("never",
    /// "1d"…), optionally as if made at <paramref name="fakedTime"/> (gpg's <c>--faked-system-time</c>); returns its fingerprint.
    /// </summary>
    public string GenerateKey(string uid, string expire = "never", string? fakedTime = null)
    {
        var args = new List<string>();
        if (fakedTime is not null) args.AddRange(["--faked-system-time", fakedTime]);
        args.AddRange(["--quick-gen-key", uid, "ed25519", "sign", expire]);
        Run(args);
        var list = Run(["--list-keys", "--with-colons", uid]).StandardOutput;
        return list.Split('\n').First(l => l.StartsWith("fpr:", StringComparison.Ordinal)).Split(':')[9];
    }

    /// <summary>Clear-signs <paramref name="text"/> with the key <paramref name="fingerprint"/> (an InRelease).</summary>
    public byte[] ClearSign(string text, string fingerprint, string? fakedTime = null)
    {
        var args = new List<string>();
        if (fakedTime is not null) args.AddRange(["--faked-system-time", fakedTime]);
        args.AddRange(["--local-user", fingerprint, "--digest-algo", "SHA256", "--clearsign"]);
        return Run(args, Encoding.UTF8.GetBytes(text)).StandardOutputBytes;
    }

    /// <summary>Runs gpg on this home; throws when it fails.</summary>
    public ToolResult Run(IEnumerable<string> args, byte[]? input = null)
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
