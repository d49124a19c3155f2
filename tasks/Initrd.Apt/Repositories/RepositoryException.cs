namespace Initrd.Apt.Repositories;

/// <summary>What went wrong with a repository; the MSBuild layer maps each kind to one INITRDxxxx code.</summary>
public enum RepositoryErrorKind
{
    /// <summary>The server could not be reached, or kept failing with transient errors after the retries.</summary>
    Unreachable,
    /// <summary>The server answered 404 (or another non-transient 4xx) for a file the repository must have.</summary>
    NotFound,
    /// <summary>gpgv reported a bad signature: the file was changed after it was signed.</summary>
    SignatureInvalid,
    /// <summary>The InRelease file carries no OpenPGP signature, or one we refuse to split (unsigned text around it).</summary>
    Unsigned,
    /// <summary>Signed, but by no key in the repository's keyring.</summary>
    UnknownSigningKey,
    /// <summary>Signed by a key that has expired or been revoked.</summary>
    SigningKeyExpired,
    /// <summary>The keyring named by Signed-By does not exist or cannot be read.</summary>
    KeyringMissing,
    /// <summary>The Release file's Valid-Until lies in the past.</summary>
    Expired,
    /// <summary>A downloaded file's SHA-256 differs from the one the signed Release file lists.</summary>
    HashMismatch,
    /// <summary>A downloaded file's size differs from the one the signed Release file lists.</summary>
    SizeMismatch,
    /// <summary>A Release or Packages file could not be parsed, or lacks a required field.</summary>
    Malformed,
    /// <summary>The repository does not list the requested architecture.</summary>
    ArchitectureUnsupported,
    /// <summary>The repository does not list the requested component, or has no Packages index for it.</summary>
    ComponentUnsupported,
    /// <summary>The signed Release file belongs to another suite than the one asked for (a replay of other metadata).</summary>
    SuiteMismatch,
    /// <summary>A host program the repository code needs (gpgv) is not installed.</summary>
    ToolMissing,
    /// <summary>The host's apt configuration names no repository this operation can use.</summary>
    NoRepositoryConfigured,
    /// <summary>Offline mode was requested but the metadata is not in the cache.</summary>
    NotCached,
}

/// <summary>
/// The one exception type of the repository layer. <see cref="Exception.Message"/> says what is wrong
/// and what to do about it; <see cref="Kind"/> and <see cref="Location"/> let the MSBuild task choose
/// the error code and the file to blame.
/// </summary>
public sealed class RepositoryException : Exception
{
    public RepositoryException(RepositoryErrorKind kind, string? location, string message, Exception? inner = null)
        : base(message, inner)
    {
        Kind = kind;
        Location = location;
    }

    public RepositoryErrorKind Kind { get; }

    /// <summary>The URI or file the error concerns (an InRelease URL, a Packages URL, a sources file), when known.</summary>
    public string? Location { get; }

    internal static RepositoryException Unreachable(string uri, string detail, Exception? inner = null) =>
        new(RepositoryErrorKind.Unreachable, uri,
            $"Cannot download {uri}: {detail}. Check the network connection and that the repository URI is right; " +
            "the build retried transient failures before giving up.", inner);

    internal static RepositoryException NotFound(string uri, int status) =>
        new(RepositoryErrorKind.NotFound, uri,
            $"{uri} does not exist on the server (HTTP {status}). Check the repository's URI, suite and component " +
            "(the suite must be a directory under dists/).");

    internal static RepositoryException Expired(string uri, DateTimeOffset validUntil, DateTimeOffset now) =>
        new(RepositoryErrorKind.Expired, uri,
            $"The repository metadata {uri} expired at {validUntil:u} (now {now:u}): a mirror serving it is stale, or this is an " +
            "archived snapshot. Use a current mirror, or set AllowExpiredRepositoryMetadata=true for archived snapshots.");

    internal static RepositoryException HashMismatch(string uri, string expected, string actual) =>
        new(RepositoryErrorKind.HashMismatch, uri,
            $"{uri} has SHA-256 {actual}, but the signed Release file lists {expected}. The mirror is being updated or is " +
            "corrupt (or the file was tampered with); retry later or use another mirror. Nothing was cached.");

    internal static RepositoryException SizeMismatch(string uri, long expected, long actual, bool atLeast = false) =>
        new(RepositoryErrorKind.SizeMismatch, uri,
            $"{uri} has {(atLeast ? "at least " : "")}{actual} bytes, but the signed Release file lists {expected}. The download " +
            "was truncated or the mirror is inconsistent; retry later or use another mirror. Nothing was cached.");

    internal static RepositoryException Malformed(string location, string detail, Exception? inner = null) =>
        new(RepositoryErrorKind.Malformed, location,
            $"{location} is malformed: {detail}. The repository publishes broken metadata; report it to its maintainer or use another mirror.",
            inner);
}
