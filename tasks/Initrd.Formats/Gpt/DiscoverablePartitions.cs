namespace Initrd.Formats.Gpt;

/// <summary>The partition designators of the Discoverable Partitions Specification this library writes.</summary>
public enum PartitionDesignator
{
    /// <summary>Root file system (systemd name "root-&lt;arch&gt;"); sysexts and confexts use it too.</summary>
    Root,

    /// <summary>dm-verity hash data for the root partition ("root-&lt;arch&gt;-verity").</summary>
    RootVerity,

    /// <summary>Root hash and its PKCS#7 signature as JSON ("root-&lt;arch&gt;-verity-sig").</summary>
    RootVeritySignature,

    /// <summary><c>/usr</c> file system ("usr-&lt;arch&gt;").</summary>
    Usr,

    /// <summary>dm-verity hash data for the <c>/usr</c> partition ("usr-&lt;arch&gt;-verity").</summary>
    UsrVerity,

    /// <summary>Root hash signature for the <c>/usr</c> partition ("usr-&lt;arch&gt;-verity-sig").</summary>
    UsrVeritySignature,
}

/// <summary>
/// The partition type GUIDs of one architecture, from the Discoverable Partitions Specification's table "Defined
/// Partition Type UUIDs" (uapi-group/specifications, discoverable_partitions_specification.md).
/// </summary>
/// <param name="SystemdName">The architecture as systemd names it (uname-style, <c>ARCHITECTURE=</c> in os-release and
/// extension-release, the suffix of partition type names such as "root-x86-64").</param>
/// <param name="DebianNames">Debian architectures that run on it.</param>
public sealed record DiscoverableArchitecture(
    string SystemdName,
    IReadOnlyList<string> DebianNames,
    Guid Root,
    Guid Usr,
    Guid RootVerity,
    Guid UsrVerity,
    Guid RootVeritySignature,
    Guid UsrVeritySignature)
{
    /// <summary>The partition type GUID for <paramref name="designator"/>.</summary>
    public Guid TypeOf(PartitionDesignator designator) => designator switch
    {
        PartitionDesignator.Root => Root,
        PartitionDesignator.RootVerity => RootVerity,
        PartitionDesignator.RootVeritySignature => RootVeritySignature,
        PartitionDesignator.Usr => Usr,
        PartitionDesignator.UsrVerity => UsrVerity,
        PartitionDesignator.UsrVeritySignature => UsrVeritySignature,
        _ => throw new ArgumentOutOfRangeException(nameof(designator), designator, null),
    };

    /// <summary>
    /// systemd's name of the partition type, e.g. "root-x86-64-verity-sig": what <c>systemd-repart</c> uses as the
    /// default partition label, and what <c>systemd-dissect</c> prints.
    /// </summary>
    public string NameOf(PartitionDesignator designator) => designator switch
    {
        PartitionDesignator.Root => $"root-{SystemdName}",
        PartitionDesignator.RootVerity => $"root-{SystemdName}-verity",
        PartitionDesignator.RootVeritySignature => $"root-{SystemdName}-verity-sig",
        PartitionDesignator.Usr => $"usr-{SystemdName}",
        PartitionDesignator.UsrVerity => $"usr-{SystemdName}-verity",
        PartitionDesignator.UsrVeritySignature => $"usr-{SystemdName}-verity-sig",
        _ => throw new ArgumentOutOfRangeException(nameof(designator), designator, null),
    };
}

/// <summary>
/// Partition types of the Discoverable Partitions Specification for the architectures Debian releases for, and the
/// rules that tie a dm-verity data partition, its hash partition and its root hash together.
/// </summary>
/// <remarks>
/// System and configuration extensions both use the <b>root</b> types (root, root-verity, root-verity-sig), not the
/// usr types: systemd's own definitions (<c>/usr/lib/systemd/repart/definitions/sysext.repart.d/</c> and
/// <c>confext.repart.d/</c> in systemd 257: <c>Type=root</c>, <c>Type=root-verity</c>, <c>Type=root-verity-sig</c>)
/// differ only in what they copy (<c>/usr/</c> and <c>/opt/</c>, or <c>/etc/</c>).
/// </remarks>
public static class DiscoverablePartitions
{
    public static DiscoverableArchitecture X86_64 { get; } = new("x86-64", ["amd64"],
        Root: new("4f68bce3-e8cd-4db1-96e7-fbcaf984b709"), Usr: new("8484680c-9521-48c6-9c11-b0720656f69e"),
        RootVerity: new("2c7357ed-ebd2-46d9-aec1-23d437ec2bf5"), UsrVerity: new("77ff5f63-e7b6-4633-acf4-1565b864c0e6"),
        RootVeritySignature: new("41092b05-9fc8-4523-994f-2def0408b176"), UsrVeritySignature: new("e7bb33fb-06cf-4e81-8273-e543b413e2e2"));

    public static DiscoverableArchitecture Arm64 { get; } = new("arm64", ["arm64"],
        Root: new("b921b045-1df0-41c3-af44-4c6f280d3fae"), Usr: new("b0e01050-ee5f-4390-949a-9101b17104e9"),
        RootVerity: new("df3300ce-d69f-4c92-978c-9bfb0f38d820"), UsrVerity: new("6e11a4e7-fbca-4ded-b9e9-e1a512bb664e"),
        RootVeritySignature: new("6db69de6-29f4-4758-a7a5-962190f00ce3"), UsrVeritySignature: new("c23ce4ff-44bd-4b00-b2d4-b41b3419e02a"));

    public static DiscoverableArchitecture X86 { get; } = new("x86", ["i386"],
        Root: new("44479540-f297-41b2-9af7-d131d5f0458a"), Usr: new("75250d76-8cc6-458e-bd66-bd47cc81a812"),
        RootVerity: new("d13c5d3b-b5d1-422a-b29f-9454fdc89d76"), UsrVerity: new("8f461b0d-14ee-4e81-9aa9-049b6fb97abd"),
        RootVeritySignature: new("5996fc05-109c-48de-808b-23fa0830b676"), UsrVeritySignature: new("974a71c0-de41-43c3-be5d-5c5ccd1ad2c0"));

    public static DiscoverableArchitecture Arm { get; } = new("arm", ["armhf", "armel"],
        Root: new("69dad710-2ce4-4e3c-b16c-21a1d49abed3"), Usr: new("7d0359a3-02b3-4f0a-865c-654403e70625"),
        RootVerity: new("7386cdf2-203c-47a9-a498-f2ecce45a2d6"), UsrVerity: new("c215d751-7bcd-4649-be90-6627490a4c05"),
        RootVeritySignature: new("42b0455f-eb11-491d-98d3-56145ba9d037"), UsrVeritySignature: new("d7ff812f-37d1-4902-a810-d76ba57b975a"));

    public static DiscoverableArchitecture Ppc64LittleEndian { get; } = new("ppc64-le", ["ppc64el"],
        Root: new("c31c45e6-3f39-412e-80fb-4809c4980599"), Usr: new("15bb03af-77e7-4d4a-b12b-c0d084f7491c"),
        RootVerity: new("906bd944-4589-4aae-a4e4-dd983917446a"), UsrVerity: new("ee2b9983-21e8-4153-86d9-b6901a54d1ce"),
        RootVeritySignature: new("d4a236e7-e873-4c07-bf1d-bf6cf7f1c3c6"), UsrVeritySignature: new("c8bfbd1e-268e-4521-8bba-bf314c399557"));

    public static DiscoverableArchitecture RiscV64 { get; } = new("riscv64", ["riscv64"],
        Root: new("72ec70a6-cf74-40e6-bd49-4bda08e8f224"), Usr: new("beaec34b-8442-439b-a40b-984381ed097d"),
        RootVerity: new("b6ed5582-440b-4209-b8da-5ff7c419ea3d"), UsrVerity: new("8f1056be-9b05-47c4-81d6-be53128e5b54"),
        RootVeritySignature: new("efe0f087-ea8d-4469-821a-4c2a96a8386a"), UsrVeritySignature: new("d2f9000a-7a18-453f-b5cd-4d32f77a7b32"));

    public static DiscoverableArchitecture S390X { get; } = new("s390x", ["s390x"],
        Root: new("5eead9a9-fe09-4a1e-a1d7-520d00531306"), Usr: new("8a4f5770-50aa-4ed3-874a-99b710db6fea"),
        RootVerity: new("b325bfbe-c7be-4ab8-8357-139e652d2f6b"), UsrVerity: new("31741cc4-1a2a-4111-a581-e00b447d2d06"),
        RootVeritySignature: new("c80187a5-73a3-491a-901a-017c3fa953e9"), UsrVeritySignature: new("3f324816-667b-46ae-86ee-9b0c0c6c11b4"));

    public static DiscoverableArchitecture Mips64LittleEndian { get; } = new("mips64-le", ["mips64el"],
        Root: new("700bda43-7a34-4507-b179-eeb93d7a7ca3"), Usr: new("c97c1f32-ba06-40b4-9f22-236061b08aa8"),
        RootVerity: new("16b417f8-3e06-4f57-8dd2-9b5232f41aa6"), UsrVerity: new("3c3d61fe-b5f3-414d-bb71-8739a694a4ef"),
        RootVeritySignature: new("904e58ef-5c65-4a31-9c57-6af5fc7c5de7"), UsrVeritySignature: new("f2c2c7ee-adcc-4351-b5c6-ee9816b66e16"));

    public static DiscoverableArchitecture LoongArch64 { get; } = new("loongarch64", ["loong64"],
        Root: new("77055800-792c-4f94-b39a-98c91b762bb6"), Usr: new("e611c702-575c-4cbe-9a46-434fa0bf7e3f"),
        RootVerity: new("f3393b22-e9af-4613-a948-9d3bfbd0c535"), UsrVerity: new("f46b2c26-59ae-48f0-9106-c50ed47f673d"),
        RootVeritySignature: new("5afb67eb-ecc8-4f85-ae8e-ac1e7c50e7d0"), UsrVeritySignature: new("b024f315-d330-444c-8461-44bbde524e99"));

    /// <summary>Every architecture in the table.</summary>
    public static IReadOnlyList<DiscoverableArchitecture> Architectures { get; } =
        [X86_64, Arm64, X86, Arm, Ppc64LittleEndian, RiscV64, S390X, Mips64LittleEndian, LoongArch64];

    /// <summary>The architecture a Debian architecture name ("amd64", "arm64", …) runs on.</summary>
    /// <exception cref="ArgumentException">No discoverable partition types are known for it (the message lists the
    /// supported names).</exception>
    public static DiscoverableArchitecture ForDebianArchitecture(string debianArchitecture)
    {
        ArgumentNullException.ThrowIfNull(debianArchitecture);
        return Architectures.FirstOrDefault(a => a.DebianNames.Contains(debianArchitecture, StringComparer.Ordinal))
            ?? throw new ArgumentException($"no Discoverable Partitions types are known for the Debian architecture '{debianArchitecture}'; use one of {string.Join(", ", Architectures.SelectMany(a => a.DebianNames))}", nameof(debianArchitecture));
    }

    /// <summary>The architecture systemd calls <paramref name="systemdArchitecture"/> ("x86-64", "arm64", …).</summary>
    /// <exception cref="ArgumentException">Unknown name (the message lists the supported names).</exception>
    public static DiscoverableArchitecture ForSystemdArchitecture(string systemdArchitecture)
    {
        ArgumentNullException.ThrowIfNull(systemdArchitecture);
        return Architectures.FirstOrDefault(a => a.SystemdName == systemdArchitecture)
            ?? throw new ArgumentException($"no Discoverable Partitions types are known for the architecture '{systemdArchitecture}'; use one of {string.Join(", ", Architectures.Select(a => a.SystemdName))}", nameof(systemdArchitecture));
    }

    /// <summary>Finds the architecture and designator of a partition type GUID.</summary>
    public static bool TryIdentify(Guid type, out DiscoverableArchitecture? architecture, out PartitionDesignator designator)
    {
        foreach (var a in Architectures)
            foreach (var d in Enum.GetValues<PartitionDesignator>())
                if (a.TypeOf(d) == type) { architecture = a; designator = d; return true; }
        architecture = null;
        designator = default;
        return false;
    }

    /// <summary>
    /// The partition UUIDs of a dm-verity pair, as the specification's Verity section asks: the data partition's UUID
    /// is the first 128 bits of the root hash, the Verity partition's the last 128 bits, each read as a UUID in text
    /// order (root hash "2d429389d9fa7113…" gives data partition UUID 2d429389-d9fa-7113-…; no version bits are set).
    /// systemd-repart 257 does exactly this. The root hash must be at least 32 bytes.
    /// </summary>
    public static (Guid Data, Guid Verity) VerityPartitionUuids(ReadOnlySpan<byte> rootHash)
    {
        if (rootHash.Length < 32)
            throw new ArgumentException($"a root hash of at least 32 bytes is needed to derive partition UUIDs; this one has {rootHash.Length}", nameof(rootHash));
        return (new Guid(rootHash[..16], bigEndian: true), new Guid(rootHash[^16..], bigEndian: true));
    }

    /// <summary>
    /// A UUID for anything else in an image that should follow from its content — the disk GUID, the signature
    /// partition's UUID — as systemd-repart derives its UUIDs from a seed: the first 16 bytes of
    /// HMAC-SHA256(key: <paramref name="seed"/>, message: <paramref name="purpose"/> in UTF-8), with the RFC 9562
    /// version 4 and variant bits set. Use the root hash as the seed, and distinct purposes
    /// ("disk", "root-verity-sig", …) for distinct UUIDs.
    /// </summary>
    public static Guid DeriveUuid(ReadOnlySpan<byte> seed, string purpose)
    {
        ArgumentException.ThrowIfNullOrEmpty(purpose);
        if (seed.IsEmpty) throw new ArgumentException("the seed is empty; use the root hash or another content hash", nameof(seed));
        Span<byte> mac = stackalloc byte[32];
        System.Security.Cryptography.HMACSHA256.HashData(seed, System.Text.Encoding.UTF8.GetBytes(purpose), mac);
        mac[6] = (byte)((mac[6] & 0x0F) | 0x40);
        mac[8] = (byte)((mac[8] & 0x3F) | 0x80);
        return new Guid(mac[..16], bigEndian: true);
    }
}
