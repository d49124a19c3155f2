using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Initrd.Apt.Repositories;

/// <summary>
/// Remembers that gpgv accepted one InRelease with one set of keyrings, so that loading the same bytes again
/// (the common case: the archive changes a few times a day, a build runs far more often) does not start gpgv.
/// </summary>
/// <remarks>
/// <para>
/// gpgv's verdict is a function of the signed file's bytes, the keyrings' bytes and the clock (a key may expire
/// or a signature lapse later). The key of an entry is the SHA-256 of the InRelease and of each keyring's content
/// (a keyring file is read and hashed on every lookup; an inline key is hashed as text), so any change to either
/// misses. The clock is bounded by <see cref="MaxAge"/>: an entry older than that, or dated in the future, is not
/// used and gpgv runs again. Only successful verifications are stored; a refused file always goes to gpgv.
/// The signed body is not stored: it is extracted from the bytes again by the same strict rules
/// (<see cref="ClearsignedMessage.Split"/>) that gpgv's output was compared with when the entry was made.
/// Valid-Until and the suite are checked by the caller on every load, cached verdict or not.
/// </para>
/// <para>
/// An entry is trusted as far as the cache directory is: like the content-addressed files, it protects against
/// damage and stale data, not against someone who can write the user's cache.
/// </para>
/// </remarks>
internal sealed class SignatureCache(MetadataCache cache)
{
    /// <summary>How long a verdict is reused before gpgv checks the same bytes again (key expiry, revocation by date).</summary>
    public static readonly TimeSpan MaxAge = TimeSpan.FromDays(1);

    const int Format = 1;

    /// <summary>The entry key for <paramref name="content"/> verified with <paramref name="keyrings"/>, or null when a keyring cannot be read (gpgv then reports it).</summary>
    public static string? KeyFor(byte[] content, IReadOnlyList<string> keyrings)
    {
        if (keyrings.Count == 0) return null;
        var text = new StringBuilder($"initrd-signature-cache {Format}\ninrelease {Convert.ToHexStringLower(SHA256.HashData(content))}\n");
        foreach (var keyring in keyrings)
        {
            if (keyring.TrimStart().StartsWith("-----BEGIN PGP", StringComparison.Ordinal))
            {
                text.Append("inline ").Append(Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(keyring)))).Append('\n');
                continue;
            }
            byte[] bytes;
            var path = Path.GetFullPath(keyring);
            try { bytes = File.ReadAllBytes(path); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
            text.Append("file ").Append(Convert.ToHexStringLower(SHA256.HashData(bytes))).Append(' ').Append(path).Append('\n');
        }
        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The verdict stored under <paramref name="key"/> for these bytes, if it is intact and not older than <see cref="MaxAge"/>.</summary>
    public VerifiedContent? TryGet(string key, byte[] content, string location, DateTimeOffset now)
    {
        var path = PathOf(key);
        Entry? entry;
        try
        {
            entry = JsonSerializer.Deserialize<Entry>(File.ReadAllBytes(path));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        catch (JsonException)
        {
            MetadataCache.TryDelete(path);
            return null;
        }
        if (entry is null || entry.Format != Format || entry.Key != key
            || entry.InReleaseSha256 != Convert.ToHexStringLower(SHA256.HashData(content))
            || entry.Signers is not { Length: > 0 } signers || !signers.All(IsFingerprint))
        {
            MetadataCache.TryDelete(path);
            return null;
        }
        if (entry.VerifiedAt > now || now - entry.VerifiedAt > MaxAge) return null;
        try
        {
            return new VerifiedContent(ClearsignedMessage.Split(content, location), signers);
        }
        catch (RepositoryException)
        {
            MetadataCache.TryDelete(path);
            return null;
        }
    }

    /// <summary>Records a successful verification (best effort: a cache that cannot be written costs a gpgv run next time).</summary>
    public void TrySet(string key, byte[] content, VerifiedContent verified, DateTimeOffset now)
    {
        if (verified.SignerFingerprints.Count == 0 || !verified.SignerFingerprints.All(IsFingerprint)) return;
        var entry = new Entry(Format, key, Convert.ToHexStringLower(SHA256.HashData(content)), [.. verified.SignerFingerprints], now);
        try
        {
            MetadataCache.WriteAtomic(PathOf(key), JsonSerializer.SerializeToUtf8Bytes(entry));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }

    string PathOf(string key) => Path.Combine(cache.Root, "verified", key);

    static bool IsFingerprint(string s) => s.Length is >= 16 and <= 64 && s.All(char.IsAsciiHexDigit);

    sealed record Entry(int Format, string Key, string InReleaseSha256, string[] Signers, DateTimeOffset VerifiedAt);
}
