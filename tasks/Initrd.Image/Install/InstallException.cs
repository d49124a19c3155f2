namespace Initrd.Image.Install;

/// <summary>
/// A package cannot be unpacked into an install tree: a malformed or hostile archive (an entry leaving the tree, a
/// symlink escaping it, a hard link to a file the package does not ship, a truncated file), or a conflict the tree
/// cannot represent. <see cref="Package"/> and <see cref="Entry"/> name the culprit when known; the message says
/// what is wrong. The tree being built is discarded: nothing partial is left in the cache.
/// </summary>
public sealed class InstallException : Exception
{
    public InstallException(string reason, string? package = null, string? entry = null, Exception? innerException = null)
        : base(Format(reason, package, entry), innerException)
    {
        Reason = reason;
        Package = package;
        Entry = entry;
    }

    /// <summary>The package being unpacked, or null when the problem is not about one package.</summary>
    public string? Package { get; }

    /// <summary>The archive entry as stored in the package's data.tar (e.g. "./usr/bin/x"), or null.</summary>
    public string? Entry { get; }

    /// <summary>What is wrong, without the package and entry prefix.</summary>
    public string Reason { get; }

    static string Format(string reason, string? package, string? entry) => (package, entry) switch
    {
        (null, null) => reason,
        (not null, null) => $"package {package}: {reason}",
        (null, not null) => $"entry '{entry}': {reason}",
        _ => $"package {package}, entry '{entry}': {reason}",
    };
}
