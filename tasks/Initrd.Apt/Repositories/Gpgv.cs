using System.Diagnostics;
using System.Text;
using Initrd.Formats.Deb;

namespace Initrd.Apt.Repositories;

/// <summary>The signed text of a verified InRelease, and who signed it.</summary>
/// <param name="Body">Exactly the signed message (dash-escaping removed), ending in a newline.</param>
/// <param name="SignerFingerprints">Fingerprints of the keys whose signatures were good (VALIDSIG).</param>
public sealed record VerifiedContent(string Body, IReadOnlyList<string> SignerFingerprints);

/// <summary>Checks the OpenPGP signature of a cleartext-signed file (an InRelease) against given keyrings.</summary>
public interface ISignatureVerifier
{
    /// <summary>Verifies <paramref name="clearsigned"/> and returns its signed body.</summary>
    /// <param name="keyrings">Keyring file paths (binary or ASCII-armoured) and/or inline ASCII-armoured key blocks.</param>
    /// <param name="location">The URL or file the data came from, for messages.</param>
    /// <exception cref="RepositoryException">Unsigned, SignatureInvalid, UnknownSigningKey, SigningKeyExpired,
    /// KeyringMissing or ToolMissing.</exception>
    Task<VerifiedContent> VerifyAsync(byte[] clearsigned, IReadOnlyList<string> keyrings, string location,
        CancellationToken cancellationToken = default);
}

/// <summary>
/// Verifies with the host's <c>gpgv</c>, as apt does (apt's <c>methods/gpgv.cc</c>): <c>gpgv --status-fd 1
/// --keyring K… --output BODY FILE</c>, then reads the <c>[GNUPG:]</c> status lines. Accepted when at least
/// one signature is good (GOODSIG with VALIDSIG, by a key that is neither expired nor revoked, with a strong
/// digest) and none is bad (BADSIG), and every ERRSIG is a missing key (NO_PUBKEY): Debian signs each
/// InRelease with several keys, and a keyring commonly holds only some of them. apt tolerates any ERRSIG
/// next to a good signature; we refuse those that are not a missing key.
/// </summary>
/// <remarks>
/// The body returned is the message <see cref="Deb822.StripClearsign"/> extracts, which refuses (like apt's
/// <c>SplitClearSignedFile</c>) any text before the signed message, after the signature, or a second signed
/// message: gpgv would ignore such text, a parser might not. It must also equal what gpgv itself says it
/// verified (its <c>--output</c>), so a difference between the two readings of the file is an error too.
/// </remarks>
public sealed class Gpgv : ISignatureVerifier
{
    /// <param name="gpgvPath">The gpgv program; default: found on PATH or in /usr/bin.</param>
    public Gpgv(string? gpgvPath = null) => GpgvPath = gpgvPath;

    public string? GpgvPath { get; }

    /// <summary>How long gpgv may run.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromMinutes(1);

    public async Task<VerifiedContent> VerifyAsync(byte[] clearsigned, IReadOnlyList<string> keyrings, string location,
        CancellationToken cancellationToken = default)
    {
        var message = ClearsignedMessage.Split(clearsigned, location);
        var gpgv = FindGpgv();
        if (keyrings.Count == 0)
            throw new RepositoryException(RepositoryErrorKind.KeyringMissing, location,
                $"No keyring is configured for {location}. Name the repository's keyring (Signed-By).");

        var work = Directory.CreateTempSubdirectory("initrd-gpgv-");
        try
        {
            var keyringFiles = new List<string>();
            var index = 0;
            foreach (var keyring in keyrings)
                keyringFiles.Add(PrepareKeyring(keyring, work.FullName, index++, location));

            var input = Path.Combine(work.FullName, "InRelease");
            var output = Path.Combine(work.FullName, "body");
            await File.WriteAllBytesAsync(input, clearsigned, cancellationToken).ConfigureAwait(false);

            var psi = new ProcessStartInfo(gpgv)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                UseShellExecute = false,
            };
            psi.ArgumentList.Add("--status-fd");
            psi.ArgumentList.Add("1");
            foreach (var k in keyringFiles)
            {
                psi.ArgumentList.Add("--keyring");
                psi.ArgumentList.Add(k);
            }
            psi.ArgumentList.Add("--output");
            psi.ArgumentList.Add(output);
            psi.ArgumentList.Add(input);
            psi.Environment["LC_ALL"] = "C";
            // Keep gpgv away from the user's ~/.gnupg (it may create files there); all keyrings are absolute paths.
            psi.Environment["GNUPGHOME"] = work.FullName;

            string status, stderr;
            using (var process = Process.Start(psi) ?? throw new InvalidOperationException($"cannot start {gpgv}"))
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(Timeout);
                var stdoutTask = process.StandardOutput.ReadToEndAsync(timeout.Token);
                var stderrTask = process.StandardError.ReadToEndAsync(timeout.Token);
                try
                {
                    await process.WaitForExitAsync(timeout.Token).ConfigureAwait(false);
                    status = await stdoutTask.ConfigureAwait(false);
                    stderr = await stderrTask.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* already exited */ }
                    if (cancellationToken.IsCancellationRequested) throw;
                    throw new RepositoryException(RepositoryErrorKind.SignatureInvalid, location,
                        $"gpgv did not finish verifying {location} within {Timeout.TotalSeconds:0} s.");
                }
            }

            var result = GpgvStatus.Parse(status);
            result.ThrowIfNotAccepted(location, stderr);

            // Only a good signature leads here; gpgv wrote exactly the data it verified.
            var body = File.Exists(output) ? Encoding.UTF8.GetString(await File.ReadAllBytesAsync(output, cancellationToken).ConfigureAwait(false)) : null;
            if (body is null || ClearsignedMessage.Normalize(body) != ClearsignedMessage.Normalize(message))
                throw new RepositoryException(RepositoryErrorKind.SignatureInvalid, location,
                    $"The signed text gpgv verified in {location} differs from the text apt's rules extract from the file; " +
                    "the file is crafted to confuse parsers. Do not use this repository.");
            return new VerifiedContent(message, result.GoodFingerprints);
        }
        finally
        {
            try { work.Delete(recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    string FindGpgv()
    {
        if (GpgvPath is not null)
            return File.Exists(GpgvPath) ? GpgvPath : throw ToolMissing();
        var dirs = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Append("/usr/bin").Append("/bin");
        foreach (var dir in dirs)
        {
            var candidate = Path.Combine(dir, "gpgv");
            if (File.Exists(candidate)) return candidate;
        }
        throw ToolMissing();
    }

    RepositoryException ToolMissing() =>
        new(RepositoryErrorKind.ToolMissing, GpgvPath ?? "gpgv",
            "gpgv, which checks the repositories' OpenPGP signatures, is not installed. Install the Debian package 'gpgv' " +
            "(apt-get install gpgv).");

    /// <summary>
    /// gpgv reads binary keyrings only: an ASCII-armoured file (.asc) or an inline Signed-By block is
    /// dearmoured into the work directory first.
    /// </summary>
    static string PrepareKeyring(string keyring, string work, int index, string location)
    {
        string? armoured = null;
        if (keyring.TrimStart().StartsWith("-----BEGIN PGP", StringComparison.Ordinal))
            armoured = keyring;
        else
        {
            var path = Path.GetFullPath(keyring);
            if (!File.Exists(path))
                throw new RepositoryException(RepositoryErrorKind.KeyringMissing, path,
                    $"The keyring {path} (Signed-By of {location}) does not exist. Install the package that provides it " +
                    "(for Debian: debian-archive-keyring) or point the repository's keyring at an existing file.");
            byte[] head;
            try
            {
                using var f = File.OpenRead(path);
                head = new byte[Math.Min(64, f.Length)];
                f.ReadExactly(head);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new RepositoryException(RepositoryErrorKind.KeyringMissing, path,
                    $"The keyring {path} cannot be read: {e.Message}. Check its permissions.", e);
            }
            if (!Encoding.ASCII.GetString(head).TrimStart().StartsWith("-----BEGIN PGP", StringComparison.Ordinal))
                return path;
            armoured = File.ReadAllText(path);
        }

        byte[] binary;
        try
        {
            binary = OpenPgpArmor.Dearmor(armoured);
        }
        catch (FormatException e)
        {
            throw new RepositoryException(RepositoryErrorKind.KeyringMissing, location,
                $"A keyring of {location} is not a valid ASCII-armoured OpenPGP key: {e.Message}. Export it again " +
                "(gpg --armor --export KEY) or give a binary keyring.", e);
        }
        var file = Path.Combine(work, $"keyring{index}.gpg");
        File.WriteAllBytes(file, binary);
        return file;
    }
}

/// <summary>The verdict of one gpgv run, from its <c>--status-fd</c> lines (GnuPG's doc/DETAILS).</summary>
internal sealed class GpgvStatus
{
    public List<string> GoodKeyIds { get; } = [];
    public List<string> ValidFingerprints { get; } = [];
    public List<string> Bad { get; } = [];
    public List<string> ErrorKeyIds { get; } = [];
    public List<string> NoPublicKey { get; } = [];
    public List<string> ExpiredOrRevoked { get; } = [];
    public List<string> WeakDigest { get; } = [];
    public bool NoData { get; private set; }

    /// <summary>Fingerprints of signatures both GOODSIG and VALIDSIG, not expired/revoked, with a strong digest.</summary>
    public List<string> GoodFingerprints { get; } = [];

    // RFC 4880 hash algorithm ids a signature may not use: MD5, SHA-1, RIPEMD-160 (apt refuses them too).
    static readonly HashSet<string> WeakDigests = ["1", "2", "3"];

    public static GpgvStatus Parse(string statusOutput)
    {
        var s = new GpgvStatus();
        foreach (var raw in statusOutput.Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            if (!line.StartsWith("[GNUPG:] ", StringComparison.Ordinal)) continue;
            var tokens = line[9..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (tokens.Length == 0) continue;
            var arg = tokens.Length > 1 ? tokens[1] : "";
            switch (tokens[0])
            {
                case "GOODSIG": s.GoodKeyIds.Add(arg); break;
                case "BADSIG": s.Bad.Add(arg); break;
                case "ERRSIG": s.ErrorKeyIds.Add(arg); break;
                case "NO_PUBKEY": s.NoPublicKey.Add(arg); break;
                case "EXPKEYSIG":
                case "REVKEYSIG":
                case "EXPSIG":
                    s.ExpiredOrRevoked.Add(arg); break;
                case "NODATA": s.NoData = true; break;
                case "VALIDSIG":
                    s.ValidFingerprints.Add(arg);
                    // VALIDSIG <fpr> <date> <ts> <expire> <version> <reserved> <pk-algo> <hash-algo> <class> [<primary-fpr>]
                    if (tokens.Length > 8 && WeakDigests.Contains(tokens[8])) s.WeakDigest.Add(arg);
                    break;
            }
        }
        foreach (var fpr in s.ValidFingerprints)
        {
            if (s.WeakDigest.Contains(fpr)) continue;
            if (s.ExpiredOrRevoked.Any(k => SameKey(fpr, k))) continue;
            if (s.GoodKeyIds.Any(k => SameKey(fpr, k))) s.GoodFingerprints.Add(fpr);
        }
        return s;
    }

    /// <summary>A long key id (16 hex digits) or fingerprint names the key whose fingerprint ends in it.</summary>
    static bool SameKey(string fingerprint, string keyIdOrFingerprint) =>
        fingerprint.EndsWith(keyIdOrFingerprint, StringComparison.OrdinalIgnoreCase);

    public void ThrowIfNotAccepted(string location, string stderr)
    {
        var detail = string.IsNullOrWhiteSpace(stderr) ? "" : $" gpgv said: {stderr.Trim().ReplaceLineEndings(" | ")}";
        if (Bad.Count > 0)
            throw new RepositoryException(RepositoryErrorKind.SignatureInvalid, location,
                $"The signature of {location} is BAD (key {string.Join(", ", Bad)}): the file was modified after it was signed. " +
                "Do not use this mirror until it serves intact files; a proxy or the mirror may be tampering with it." + detail);
        var unexplained = ErrorKeyIds.Where(k => !NoPublicKey.Contains(k, StringComparer.OrdinalIgnoreCase)).ToList();
        if (unexplained.Count > 0)
            throw new RepositoryException(RepositoryErrorKind.SignatureInvalid, location,
                $"gpgv could not check the signature of {location} by key {string.Join(", ", unexplained)} (ERRSIG: unsupported " +
                "algorithm or damaged signature). Update gpgv, or check that the file was not damaged." + detail);
        if (GoodFingerprints.Count > 0) return;
        if (ExpiredOrRevoked.Count > 0)
            throw new RepositoryException(RepositoryErrorKind.SigningKeyExpired, location,
                $"{location} is signed only by expired or revoked keys ({string.Join(", ", ExpiredOrRevoked)}). Update the keyring " +
                "(for Debian: a newer debian-archive-keyring) or, for an archived snapshot, use a keyring that was valid then." + detail);
        if (WeakDigest.Count > 0)
            throw new RepositoryException(RepositoryErrorKind.SignatureInvalid, location,
                $"{location} is signed only with a weak digest (MD5/SHA-1/RIPEMD-160), which is not trusted." + detail);
        if (NoPublicKey.Count > 0)
            throw new RepositoryException(RepositoryErrorKind.UnknownSigningKey, location,
                $"{location} is signed by key {string.Join(", ", NoPublicKey)}, which is not in the repository's keyring. " +
                "Add the repository's signing key to its keyring (Signed-By); for Debian install a current debian-archive-keyring." + detail);
        throw new RepositoryException(RepositoryErrorKind.Unsigned, location,
            $"gpgv found no valid signature in {location}." + (NoData ? " (no signature data)" : "") +
            " The repository must publish a signed InRelease file." + detail);
    }
}

/// <summary>
/// The signed text of a cleartext-signed file, taken with <see cref="Deb822.StripClearsign"/>, which is as strict
/// as apt's <c>SplitClearSignedFile</c>: nothing but blank lines around the one signed message, only "Hash:"
/// armour headers, every body line starting with '-' dash-escaped, one signature block.
/// </summary>
internal static class ClearsignedMessage
{
    const string BeginMessage = "-----BEGIN PGP SIGNED MESSAGE-----";

    /// <summary>Returns the signed message (ending in a newline) or throws Unsigned/SignatureInvalid.</summary>
    public static string Split(byte[] data, string location)
    {
        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(data);
        }
        catch (DecoderFallbackException)
        {
            throw Refuse(RepositoryErrorKind.SignatureInvalid, location, "it is not UTF-8 text");
        }
        if (!text.Contains(BeginMessage, StringComparison.Ordinal))
            throw Refuse(RepositoryErrorKind.Unsigned, location, "it is not a cleartext-signed (InRelease) file");
        try
        {
            return Deb822.StripClearsign(text);
        }
        catch (InvalidDataException e)
        {
            throw Refuse(RepositoryErrorKind.SignatureInvalid, location, e.Message);
        }
    }

    /// <summary>Line endings and trailing blanks do not count in a text signature (RFC 4880 §7.1).</summary>
    public static string Normalize(string text) =>
        string.Join('\n', text.Split('\n').Select(l => l.TrimEnd('\r', ' ', '\t'))).TrimEnd('\n');

    static RepositoryException Refuse(RepositoryErrorKind kind, string location, string detail) =>
        new(kind, location,
            $"{location} is refused: {detail}. A valid InRelease is one cleartext-signed message and nothing else " +
            "(unsigned text around it would not be covered by the signature); the mirror serves a damaged or crafted file — use another mirror.");
}

/// <summary>ASCII armour (RFC 4880 §6) to binary, for the keyrings gpgv reads.</summary>
internal static class OpenPgpArmor
{
    /// <summary>Decodes every armoured block in <paramref name="text"/> and concatenates them.</summary>
    /// <exception cref="FormatException">No block, a bad base64 body or a CRC-24 mismatch.</exception>
    public static byte[] Dearmor(string text)
    {
        var output = new MemoryStream();
        var lines = text.Replace("\r", "").Split('\n').Select(l => l.Trim()).ToArray();
        var blocks = 0;
        for (var i = 0; i < lines.Length; i++)
        {
            if (!lines[i].StartsWith("-----BEGIN PGP ", StringComparison.Ordinal)) continue;
            var j = i + 1;
            // Armour headers (Version:, Comment:) end at the first empty line; some exporters write none.
            var k = j;
            while (k < lines.Length && lines[k].Length != 0 && lines[k].Contains(": ")) k++;
            if (k < lines.Length && lines[k].Length == 0) j = k + 1;
            var b64 = new StringBuilder();
            string? crc = null;
            for (; j < lines.Length && !lines[j].StartsWith("-----END PGP ", StringComparison.Ordinal); j++)
            {
                if (lines[j].StartsWith('=') && lines[j].Length == 5) crc = lines[j][1..];
                else b64.Append(lines[j]);
            }
            if (j >= lines.Length) throw new FormatException("armoured block has no END line");
            var bytes = Convert.FromBase64String(b64.ToString());
            if (crc is not null)
            {
                var expected = Convert.FromBase64String(crc);
                var actual = Crc24(bytes);
                if (expected.Length != 3 || expected[0] != (byte)(actual >> 16) || expected[1] != (byte)(actual >> 8) || expected[2] != (byte)actual)
                    throw new FormatException("armour checksum (CRC-24) mismatch");
            }
            output.Write(bytes);
            blocks++;
            i = j;
        }
        if (blocks == 0) throw new FormatException("no '-----BEGIN PGP' block");
        return output.ToArray();
    }

    static uint Crc24(byte[] data)
    {
        uint crc = 0xB704CE;
        foreach (var b in data)
        {
            crc ^= (uint)b << 16;
            for (var i = 0; i < 8; i++)
            {
                crc <<= 1;
                if ((crc & 0x1000000) != 0) crc ^= 0x1864CFB;
            }
        }
        return crc & 0xFFFFFF;
    }
}
