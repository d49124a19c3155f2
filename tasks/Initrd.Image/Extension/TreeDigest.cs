using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text;
using Initrd.Formats.Tree;

namespace Initrd.Image.Extension;

/// <summary>
/// A SHA-256 over what a file system image of the tree holds: each entry's path, kind, permissions, owner, link
/// target, device numbers and, for regular files, the SHA-256 of the content (not host paths, not times, which the
/// file system does not carry). The seed of everything an extension image derives from its content before the file
/// system exists: the file system UUID and the Verity salt.
/// </summary>
public static class TreeDigest
{
    static ReadOnlySpan<byte> Context => "initrd-sdk extension tree v1\n"u8;

    public static byte[] Compute(IReadOnlyList<TreeEntry> entries, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(entries);
        var ordered = entries.OrderBy(e => e.Path, StringComparer.Ordinal).ToList();
        var contentDigests = new byte[ordered.Count][];
        Parallel.For(0, ordered.Count, new ParallelOptions { CancellationToken = cancellationToken }, i =>
        {
            if (ordered[i] is { Kind: TreeEntryKind.RegularFile, ContentPath: { } path })
            {
                using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16, FileOptions.SequentialScan);
                contentDigests[i] = SHA256.HashData(stream);
            }
        });
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Context);
        Span<byte> numbers = stackalloc byte[24];
        for (var i = 0; i < ordered.Count; i++)
        {
            var e = ordered[i];
            hash.AppendData(Encoding.UTF8.GetBytes(e.Path + "\0" + (e.LinkTarget ?? "") + "\0"));
            BinaryPrimitives.WriteInt32LittleEndian(numbers, e.Mode);
            BinaryPrimitives.WriteInt32LittleEndian(numbers[4..], e.Uid);
            BinaryPrimitives.WriteInt32LittleEndian(numbers[8..], e.Gid);
            BinaryPrimitives.WriteInt32LittleEndian(numbers[12..], e.DeviceMajor);
            BinaryPrimitives.WriteInt32LittleEndian(numbers[16..], e.DeviceMinor);
            BinaryPrimitives.WriteInt32LittleEndian(numbers[20..], (int)e.Kind);
            hash.AppendData(numbers);
            if (contentDigests[i] is { } d) hash.AppendData(d);
        }
        return hash.GetHashAndReset();
    }

    /// <summary>A version 4 UUID from the digest, for <paramref name="purpose"/> ("erofs", …).</summary>
    public static Guid Uuid(ReadOnlySpan<byte> digest, string purpose) => Initrd.Formats.Gpt.DiscoverablePartitions.DeriveUuid(digest, purpose);

    /// <summary>A 32-byte Verity salt from the digest.</summary>
    public static byte[] Salt(ReadOnlySpan<byte> digest)
    {
        Span<byte> mac = stackalloc byte[32];
        HMACSHA256.HashData(digest, "verity-salt"u8, mac);
        return mac.ToArray();
    }
}
