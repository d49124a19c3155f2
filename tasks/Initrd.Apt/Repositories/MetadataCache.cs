using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Initrd.Apt.Repositories;

/// <summary>
/// On-disk cache of repository metadata, shared by every build of the user (the caller passes e.g.
/// <c>$XDG_CACHE_HOME/initrd-sdk/metadata</c>):
/// <code>
/// by-hash/sha256/HASH           index files (Packages.xz…) and their decompressed content, named by SHA-256
/// derived/VARIANT/HASH          "SHA256 SIZE" of the file derived (decompressed, possibly filtered) from the
///                               compressed file HASH; VARIANT names the derivation ("full", "slim1")
/// releases/KEY/InRelease        the last InRelease of one (URI, suite), as served; never trusted as is
/// releases/KEY/InRelease.json   its HTTP validators (ETag, Last-Modified), fetch time and SHA-256
/// parsed/KIND/HASH              data computed from the verified index file HASH (e.g. the parsed index,
///                               <see cref="ParsedIndexCache"/>); each such file checks itself when read
/// verified/KEY                  a successful signature verification of one InRelease with one set of
///                               keyrings (<see cref="SignatureCache"/>), re-checked after a day
/// </code>
/// </summary>
/// <remarks>
/// Concurrency without locks: every file is written to a unique <c>*.tmp</c> in its final directory, checked
/// (size and SHA-256 for content-addressed files), flushed, and renamed over its final name; rename(2) is
/// atomic, so a reader sees a complete old file or a complete new one, and two builds writing the same
/// content-addressed name write the same bytes. A crashed writer leaves at most a <c>*.tmp</c>, which no
/// reader opens. Content-addressed files are hashed again when read, so a file damaged on disk is
/// discarded, not used. The InRelease copy is only a cache for conditional GET: the client verifies its
/// signature and Valid-Until every time it is used.
/// </remarks>
public sealed class MetadataCache
{
    public MetadataCache(string root)
    {
        Root = Path.GetFullPath(root);
    }

    public string Root { get; }

    /// <summary>Whether <see cref="TryGetVerified"/> hashes a file again on every read (default true; ~40 ms for 56 MB).</summary>
    public bool VerifyOnRead { get; init; } = true;

    string ByHashDirectory => Path.Combine(Root, "by-hash", "sha256");

    /// <summary>The path a file with this SHA-256 has in the cache (whether or not it is there).</summary>
    public string PathOf(string sha256) => Path.Combine(ByHashDirectory, CheckHash(sha256));

    /// <summary>
    /// The cached file with this SHA-256 and size, or null. A file whose size or content no longer matches
    /// is deleted and null returned.
    /// </summary>
    public string? TryGetVerified(string sha256, long size)
    {
        var path = PathOf(sha256);
        var info = new FileInfo(path);
        if (!info.Exists) return null;
        if (info.Length != size || (VerifyOnRead && !HashMatches(path, sha256)))
        {
            TryDelete(path);
            return null;
        }
        return path;
    }

    /// <summary>Removes a content-addressed file (used when its content turned out unusable).</summary>
    public void Evict(string sha256) => TryDelete(PathOf(sha256));

    /// <summary>
    /// Starts writing a content-addressed file. Write to <see cref="CacheWriter.Stream"/>, then
    /// <see cref="CacheWriter.Commit"/>; disposing without committing deletes the temporary file.
    /// </summary>
    /// <param name="expectedSha256">The hash the content must have, or null to name the file by the hash it has.</param>
    /// <param name="expectedSize">The size the content must have, or null.</param>
    /// <param name="location">The URL the content comes from, for error messages.</param>
    public CacheWriter BeginWrite(string? expectedSha256, long? expectedSize, string location)
    {
        Directory.CreateDirectory(ByHashDirectory);
        return new CacheWriter(this, expectedSha256 is null ? null : CheckHash(expectedSha256), expectedSize, location);
    }

    /// <summary>
    /// The file derived by <paramref name="variant"/> from the compressed file <paramref name="compressedSha256"/>
    /// (its decompressed content, say), if cached and intact.
    /// </summary>
    public (string Path, string Sha256, long Size)? TryGetDerived(string compressedSha256, string variant)
    {
        var refFile = DerivedRef(compressedSha256, variant);
        string text;
        try { text = File.ReadAllText(refFile); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
        var parts = text.Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || !IsHash(parts[0]) || !long.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var size))
        {
            TryDelete(refFile);
            return null;
        }
        var path = TryGetVerified(parts[0], size);
        return path is null ? null : (path, parts[0], size);
    }

    /// <summary>Records that <paramref name="variant"/> derives the cached file <paramref name="sha256"/> from <paramref name="compressedSha256"/>.</summary>
    public void SetDerived(string compressedSha256, string variant, string sha256, long size) =>
        WriteAtomic(DerivedRef(compressedSha256, variant),
            Encoding.ASCII.GetBytes($"{CheckHash(sha256)} {size.ToString(CultureInfo.InvariantCulture)}\n"));

    /// <summary>Forgets what <paramref name="variant"/> derived from <paramref name="compressedSha256"/>.</summary>
    public void EvictDerived(string compressedSha256, string variant)
    {
        var derived = TryGetDerived(compressedSha256, variant);
        TryDelete(DerivedRef(compressedSha256, variant));
        if (derived is { } d) TryDelete(d.Path);
    }

    string DerivedRef(string compressedSha256, string variant)
    {
        if (variant.Length == 0 || !variant.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            throw new ArgumentException($"'{variant}' is not a variant name", nameof(variant));
        return Path.Combine(Root, "derived", variant, CheckHash(compressedSha256));
    }

    /// <summary>
    /// The bytes of the file of kind <paramref name="kind"/> computed from the index file <paramref name="sha256"/>,
    /// or null. Not checked here: the format must check itself (size, checksum, key) and be rebuilt when it fails.
    /// </summary>
    public byte[]? TryReadParsed(string kind, string sha256)
    {
        try { return File.ReadAllBytes(ParsedPath(kind, sha256)); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }
    }

    /// <summary>
    /// Stores a file of kind <paramref name="kind"/> for the index file <paramref name="sha256"/>: written to a
    /// temporary file and renamed, without waiting for the disk (a file lost or cut short by a crash fails its own
    /// check and is rebuilt).
    /// </summary>
    public void WriteParsed(string kind, string sha256, Action<Stream> write)
    {
        var path = ParsedPath(kind, sha256);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var tmp = TempNameFor(path);
        try
        {
            using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16))
                write(f);
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            TryDelete(tmp);
        }
    }

    /// <summary>Removes a file of kind <paramref name="kind"/> (it failed its check).</summary>
    public void EvictParsed(string kind, string sha256) => TryDelete(ParsedPath(kind, sha256));

    string ParsedPath(string kind, string sha256) => Path.Combine(Root, "parsed", CheckName(kind), CheckHash(sha256));

    static string CheckName(string name) =>
        name.Length > 0 && name.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') ? name : throw new ArgumentException($"'{name}' is not a cache kind", nameof(name));

    /// <summary>The last InRelease stored for (<paramref name="uri"/>, <paramref name="suite"/>), or null.</summary>
    public CachedRelease? TryGetRelease(string uri, string suite)
    {
        var dir = ReleaseDirectory(uri, suite);
        byte[] content;
        try { content = File.ReadAllBytes(Path.Combine(dir, "InRelease")); }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException) { return null; }

        ReleaseMetadata? meta = null;
        try
        {
            meta = JsonSerializer.Deserialize<ReleaseMetadata>(File.ReadAllBytes(Path.Combine(dir, "InRelease.json")));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException or JsonException) { }
        // The two files are replaced one after the other; validators that describe other content are useless.
        if (meta is null || meta.Sha256 != Convert.ToHexStringLower(SHA256.HashData(content)))
            return new CachedRelease(content, null, null, DateTimeOffset.MinValue);
        return new CachedRelease(content, meta.ETag, meta.LastModified, meta.FetchedAt);
    }

    /// <summary>Stores an InRelease (already verified by the caller) with its HTTP validators.</summary>
    public void SetRelease(string uri, string suite, byte[] content, string? etag, string? lastModified, DateTimeOffset fetchedAt)
    {
        var dir = ReleaseDirectory(uri, suite);
        WriteAtomic(Path.Combine(dir, "InRelease"), content);
        TouchRelease(uri, suite, content, etag, lastModified, fetchedAt);
    }

    /// <summary>Updates the validators and fetch time of the stored InRelease (after a 304 Not Modified).</summary>
    public void TouchRelease(string uri, string suite, byte[] content, string? etag, string? lastModified, DateTimeOffset fetchedAt)
    {
        var meta = new ReleaseMetadata(Convert.ToHexStringLower(SHA256.HashData(content)), etag, lastModified, fetchedAt);
        WriteAtomic(Path.Combine(ReleaseDirectory(uri, suite), "InRelease.json"), JsonSerializer.SerializeToUtf8Bytes(meta));
    }

    /// <summary>Forgets the stored InRelease of (<paramref name="uri"/>, <paramref name="suite"/>).</summary>
    public void EvictRelease(string uri, string suite)
    {
        var dir = ReleaseDirectory(uri, suite);
        TryDelete(Path.Combine(dir, "InRelease.json"));
        TryDelete(Path.Combine(dir, "InRelease"));
    }

    string ReleaseDirectory(string uri, string suite)
    {
        // Readable like apt's lists/ names, plus a hash so that different URIs never share a directory.
        var id = uri.TrimEnd('/') + " " + suite;
        var readable = new StringBuilder();
        foreach (var c in id.Replace("://", "_"))
            readable.Append(char.IsAsciiLetterOrDigit(c) || c is '.' or '-' ? c : '_');
        var name = (readable.Length > 100 ? readable.ToString(0, 100) : readable.ToString())
                   + "_" + Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(id)))[..12];
        return Path.Combine(Root, "releases", name);
    }

    /// <summary>Writes <paramref name="content"/> to <paramref name="path"/> through a temporary file and a rename.</summary>
    internal static void WriteAtomic(string path, byte[] content)
    {
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var tmp = TempNameFor(path);
        try
        {
            using (var f = new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None))
            {
                f.Write(content);
                f.Flush(flushToDisk: true);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            TryDelete(tmp);
        }
    }

    internal static string TempNameFor(string path) =>
        $"{path}.{Environment.ProcessId}.{Guid.NewGuid():N}.tmp";

    internal static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }

    static bool HashMatches(string path, string sha256)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete, 1 << 16);
        return Convert.ToHexStringLower(SHA256.HashData(f)) == sha256;
    }

    internal static bool IsHash(string s) => s.Length == 64 && s.All(char.IsAsciiHexDigitLower);

    static string CheckHash(string sha256)
    {
        var lower = sha256.ToLowerInvariant();
        return IsHash(lower) ? lower : throw new ArgumentException($"'{sha256}' is not a SHA-256 in hex", nameof(sha256));
    }

    sealed record ReleaseMetadata(string Sha256, string? ETag, string? LastModified, DateTimeOffset FetchedAt);

    /// <summary>A content-addressed file being written; see <see cref="BeginWrite"/>.</summary>
    public sealed class CacheWriter : IDisposable
    {
        readonly MetadataCache cache;
        readonly string? expectedSha256;
        readonly long? expectedSize;
        readonly string location;
        readonly string tmp;
        readonly HashingStream stream;
        bool done;

        internal CacheWriter(MetadataCache cache, string? expectedSha256, long? expectedSize, string location)
        {
            this.cache = cache;
            this.expectedSha256 = expectedSha256;
            this.expectedSize = expectedSize;
            this.location = location;
            tmp = TempNameFor(Path.Combine(cache.ByHashDirectory, expectedSha256 ?? "content"));
            stream = new HashingStream(new FileStream(tmp, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 16), expectedSize, location);
        }

        /// <summary>Where the content goes. Writing more than the expected size fails at once (SizeMismatch).</summary>
        public Stream Stream => stream;

        /// <summary>Bytes written so far.</summary>
        public long Length => stream.Length;

        /// <summary>
        /// Checks size and hash, and moves the file to its content-addressed name.
        /// Returns (path, sha256, size). Throws SizeMismatch or HashMismatch and leaves nothing behind.
        /// </summary>
        public (string Path, string Sha256, long Size) Commit()
        {
            ObjectDisposedException.ThrowIf(done, this);
            done = true;
            try
            {
                var size = stream.Length;
                var hash = stream.FinishHash();
                stream.Inner.Flush(flushToDisk: true);
                stream.Inner.Dispose();
                if (expectedSize is { } s && s != size)
                    throw RepositoryException.SizeMismatch(location, s, size);
                if (expectedSha256 is not null && expectedSha256 != hash)
                    throw RepositoryException.HashMismatch(location, expectedSha256, hash);
                var final = cache.PathOf(hash);
                File.Move(tmp, final, overwrite: true);
                return (final, hash, size);
            }
            finally
            {
                TryDelete(tmp);
            }
        }

        public void Dispose()
        {
            stream.Dispose();
            TryDelete(tmp);
            done = true;
        }
    }

    /// <summary>A write-only stream that hashes what passes through and refuses to grow past a limit.</summary>
    sealed class HashingStream(FileStream inner, long? limit, string location) : Stream
    {
        readonly IncrementalHash hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        long length;

        public FileStream Inner => inner;

        public string FinishHash() => Convert.ToHexStringLower(hash.GetHashAndReset());

        public override void Write(byte[] buffer, int offset, int count) => Write(buffer.AsSpan(offset, count));

        public override void Write(ReadOnlySpan<byte> buffer)
        {
            Account(buffer.Length);
            hash.AppendData(buffer);
            inner.Write(buffer);
        }

        public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default)
        {
            Account(buffer.Length);
            hash.AppendData(buffer.Span);
            await inner.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);
        }

        public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
            WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

        void Account(int count)
        {
            length += count;
            // A hostile or broken server may send endless data: stop as soon as it exceeds what the Release promised.
            if (limit is { } l && length > l) throw RepositoryException.SizeMismatch(location, l, length, atLeast: true);
        }

        public override bool CanRead => false;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => length;
        public override long Position { get => length; set => throw new NotSupportedException(); }
        public override void Flush() => inner.Flush();
        public override Task FlushAsync(CancellationToken cancellationToken) => inner.FlushAsync(cancellationToken);
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();

        protected override void Dispose(bool disposing)
        {
            if (disposing) { inner.Dispose(); hash.Dispose(); }
            base.Dispose(disposing);
        }
    }
}

/// <summary>A stored InRelease with the validators for a conditional GET.</summary>
public sealed record CachedRelease(byte[] Content, string? ETag, string? LastModified, DateTimeOffset FetchedAt);
