using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Initrd.Formats.Gpt;
using Initrd.Formats.Verity;

namespace Initrd.Formats.Extension;

/// <summary>The signer of a Verity root hash: a certificate and the private key that belongs to it.</summary>
public sealed record VeritySigner(X509Certificate2 Certificate, AsymmetricAlgorithm PrivateKey);

/// <summary>Choices for <see cref="VerityDiskImage.Write"/>.</summary>
public sealed record VerityDiskImageOptions
{
    /// <summary>The architecture whose Discoverable Partitions types the image uses (e.g. <see cref="DiscoverablePartitions.X86_64"/>).</summary>
    public required DiscoverableArchitecture Architecture { get; init; }

    /// <summary>
    /// Add a dm-verity hash partition (root-&lt;arch&gt;-verity). Without it the image holds the data partition only
    /// and no root hash exists; a <see cref="Signer"/> needs it.
    /// </summary>
    public bool Verity { get; init; } = true;

    /// <summary>Signs the root hash into a root-&lt;arch&gt;-verity-sig partition; null: no signature partition.</summary>
    public VeritySigner? Signer { get; init; }

    /// <summary>The Verity salt; null: derived from the file system's content (<see cref="VerityHashTree.DeriveSalt"/>).</summary>
    public ReadOnlyMemory<byte>? Salt { get; init; }

    /// <summary>
    /// Seed for the UUIDs of an image without Verity (disk GUID and data partition UUID), e.g. a digest of the tree
    /// the file system was made from. Ignored with Verity (the root hash is the seed then). Null: the file system's
    /// SHA-256 is computed.
    /// </summary>
    public ReadOnlyMemory<byte>? ContentSeed { get; init; }
}

/// <summary>What <see cref="VerityDiskImage.Write"/> wrote.</summary>
/// <param name="Table">The partition table.</param>
/// <param name="RootHashHex">The Verity root hash as lowercase hex; null without Verity.</param>
/// <param name="Signed">Whether a signature partition was written.</param>
public sealed record VerityDiskImageResult(GptTable Table, string? RootHashHex, bool Signed);

/// <summary>
/// A Discoverable Disk Image as systemd's own system and configuration extensions are made
/// (<c>sysext.repart.d</c>/<c>confext.repart.d</c>): a GPT with the file system in a root-&lt;arch&gt; partition, its
/// dm-verity hash tree in root-&lt;arch&gt;-verity and the signed root hash in root-&lt;arch&gt;-verity-sig.
/// </summary>
/// <remarks>
/// Everything follows from the file system bytes and the options: the salt (unless given), the root hash, the data
/// and Verity partition UUIDs (the two halves of the root hash, as the specification asks), the signature partition
/// UUID and the disk GUID (both derived from the root hash). All partitions carry the read-only attribute; the
/// signature JSON is NUL-padded to 4096 bytes.
/// </remarks>
public static class VerityDiskImage
{
    /// <summary>Writes the disk image to <paramref name="output"/> from the file system image at <paramref name="fileSystemPath"/>.</summary>
    /// <exception cref="ArgumentException">A signer without Verity; a key that does not belong to its certificate
    /// (<see cref="VeritySignature.CreatePartitionContent(string, X509Certificate2, AsymmetricAlgorithm?)"/>); an empty file system.</exception>
    public static VerityDiskImageResult Write(Stream output, string fileSystemPath, VerityDiskImageOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentException.ThrowIfNullOrEmpty(fileSystemPath);
        ArgumentNullException.ThrowIfNull(options);
        if (options.Signer is not null && !options.Verity)
            throw new ArgumentException("a root hash signature needs the Verity partition; enable Verity or drop the signer", nameof(options));

        var arch = options.Architecture;
        var data = GptPartitionContent.FromFile(fileSystemPath);
        if (data.Length == 0) throw new ArgumentException($"the file system image '{fileSystemPath}' is empty", nameof(fileSystemPath));
        const GptPartitionAttributes readOnly = GptPartitionAttributes.ReadOnly;

        if (!options.Verity)
        {
            var seed = options.ContentSeed?.ToArray() ?? HashFile(fileSystemPath);
            var plain = new List<GptPartition>
            {
                new() { Type = arch.Root, Uuid = DiscoverablePartitions.DeriveUuid(seed, "root"), Name = arch.NameOf(PartitionDesignator.Root),
                        Attributes = readOnly, Content = data },
            };
            var t = GptWriter.Write(output, plain, new GptWriteOptions { DiskGuid = DiscoverablePartitions.DeriveUuid(seed, "disk") }, cancellationToken);
            return new VerityDiskImageResult(t, null, false);
        }

        var tree = VerityHashTree.Compute(fileSystemPath, new VerityOptions { Salt = options.Salt }, cancellationToken);
        var rootHash = tree.RootHash.ToArray();
        var hashDevice = tree.ToHashDeviceArray();
        var (dataUuid, verityUuid) = DiscoverablePartitions.VerityPartitionUuids(rootHash);
        var partitions = new List<GptPartition>
        {
            new() { Type = arch.Root, Uuid = dataUuid, Name = arch.NameOf(PartitionDesignator.Root), Attributes = readOnly, Content = data },
            new() { Type = arch.RootVerity, Uuid = verityUuid, Name = arch.NameOf(PartitionDesignator.RootVerity), Attributes = readOnly,
                    Content = GptPartitionContent.FromBytes(hashDevice) },
        };
        if (options.Signer is { } signer)
        {
            var signature = VeritySignature.CreatePartitionContent(tree.RootHashHex, signer.Certificate, signer.PrivateKey);
            partitions.Add(new()
            {
                Type = arch.RootVeritySignature,
                Uuid = DiscoverablePartitions.DeriveUuid(rootHash, "root-verity-sig"),
                Name = arch.NameOf(PartitionDesignator.RootVeritySignature),
                Attributes = readOnly,
                Content = GptPartitionContent.FromBytes(signature),
            });
        }
        var table = GptWriter.Write(output, partitions, new GptWriteOptions { DiskGuid = DiscoverablePartitions.DeriveUuid(rootHash, "disk") }, cancellationToken);
        return new VerityDiskImageResult(table, tree.RootHashHex, options.Signer is not null);
    }

    static byte[] HashFile(string path)
    {
        using var stream = File.OpenRead(path);
        return SHA256.HashData(stream);
    }
}
