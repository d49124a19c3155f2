using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace Initrd.Formats.Verity;

/// <summary>
/// A dm-verity hash tree (format 1, sha256, 4096-byte data and hash blocks) over some data, computed in memory and
/// written as a hash device that <c>veritysetup verify</c>, <c>veritysetup open</c> and systemd read: the superblock
/// in the first hash block, then the tree levels, top first (see <see cref="VerityLayout"/> for the steps).
/// </summary>
/// <remarks>
/// <para>The data is read sequentially in <see cref="ChunkSize"/> pieces — once when a salt is given, twice when it is
/// derived from the content — and hashed on <see cref="VerityOptions.MaxDegreeOfParallelism"/> threads while the
/// calling thread reads ahead. Data whose length is not a multiple of 4096 is hashed as if zero-padded to the next
/// block: the data partition or file must be padded the same way (<see cref="DataLength"/>; a partition that
/// <c>GptWriter</c> sizes from its content always is).</para>
/// <para>The tree is kept in memory: 1/127 of the data (32 MiB for 4 GiB). Everything depends only on the data and
/// the options: the same data gives the same salt, UUID, root hash and bytes.</para>
/// </remarks>
public sealed class VerityHashTree
{
    /// <summary>Bytes read and handed to a hashing thread at a time (256 data blocks).</summary>
    public const int ChunkSize = 1 << 20;

    /// <summary>Domain-separation prefixes of the derived salt and UUID (part of the output: never change them).</summary>
    static ReadOnlySpan<byte> SaltContext => "initrd-sdk dm-verity salt v1\n"u8;
    static ReadOnlySpan<byte> UuidContext => "initrd-sdk dm-verity uuid v1\n"u8;

    /// <summary>Levels, index 0 = digests of the data blocks; each a whole number of hash blocks.</summary>
    readonly byte[][] _levels;

    VerityHashTree(VeritySuperblock superblock, byte[] rootHash, byte[][] levels)
    {
        Superblock = superblock;
        _rootHash = rootHash;
        _levels = levels;
        RootHashHex = Convert.ToHexStringLower(rootHash);
        HashDeviceLength = VerityLayout.HashBlockSize + levels.Sum(l => (long)l.Length);
    }

    readonly byte[] _rootHash;

    /// <summary>The superblock written at the start of the hash device.</summary>
    public VeritySuperblock Superblock { get; }

    /// <summary>The 32-byte root hash.</summary>
    public ReadOnlySpan<byte> RootHash => _rootHash;

    /// <summary>The root hash as lowercase hex, as veritysetup prints it and the verity signature JSON holds it.</summary>
    public string RootHashHex { get; }

    /// <summary>The salt (given or derived).</summary>
    public ReadOnlySpan<byte> Salt => Superblock.Salt.Span;

    /// <summary>The superblock's UUID (given or derived).</summary>
    public Guid Uuid => Superblock.Uuid;

    /// <summary>Number of 4096-byte data blocks covered.</summary>
    public long DataBlocks => Superblock.DataBlocks;

    /// <summary>Length of the data as covered: the input length rounded up to a whole block.</summary>
    public long DataLength => DataBlocks * VerityLayout.DataBlockSize;

    /// <summary>Number of tree levels (0 for a single data block).</summary>
    public int Levels => _levels.Length;

    /// <summary>Bytes <see cref="WriteHashDevice"/> writes: one superblock block and every level.</summary>
    public long HashDeviceLength { get; }

    /// <summary>Computes the tree over the rest of <paramref name="data"/> (from its current position to its end).</summary>
    /// <exception cref="ArgumentException">The data is empty; or no salt is given and the stream cannot seek (the salt
    /// is derived in a first pass); or a given salt is empty or longer than 256 bytes.</exception>
    public static VerityHashTree Compute(Stream data, VerityOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        options ??= new VerityOptions();
        if (!data.CanRead) throw new ArgumentException("the data stream is not readable", nameof(data));
        var workers = options.MaxDegreeOfParallelism;
        ArgumentOutOfRangeException.ThrowIfLessThan(workers, 1, nameof(options.MaxDegreeOfParallelism));

        byte[] salt;
        long? expectedLength = null;
        if (options.Salt is { } given)
        {
            if (given.Length is 0 or > VerityLayout.SaltLength)
                throw new ArgumentException($"a verity salt must be 1 to {VerityLayout.SaltLength} bytes; the one given has {given.Length}. Give another salt, or none to derive one from the data", nameof(options));
            salt = given.ToArray();
        }
        else
        {
            if (!data.CanSeek)
                throw new ArgumentException("deriving the verity salt from the data reads it twice, and this stream cannot seek: give VerityOptions.Salt, or pass a file or a seekable stream", nameof(data));
            var start = data.Position;
            (salt, expectedLength) = DeriveSaltCore(data, workers, cancellationToken);
            data.Position = start;
        }

        // Level 0: one digest per data block, hashed in parallel (steps 1 and 5 of VerityLayout).
        var chunkDigests = new List<byte[]?>();
        var dataLength = ForEachChunk(data, workers, cancellationToken,
            index => { lock (chunkDigests) chunkDigests.Add(null); },
            () => IncrementalHash.CreateHash(HashAlgorithmName.SHA256),
            (hash, index, chunk) =>
            {
                var digests = new byte[chunk.Length / VerityLayout.DataBlockSize * VerityLayout.DigestLength];
                for (int offset = 0, d = 0; offset < chunk.Length; offset += VerityLayout.DataBlockSize, d += VerityLayout.DigestLength)
                    HashBlock(hash, salt, chunk.Slice(offset, VerityLayout.DataBlockSize), digests.AsSpan(d, VerityLayout.DigestLength));
                lock (chunkDigests) chunkDigests[(int)index] = digests;
            });
        if (dataLength == 0)
            throw new ArgumentException("the data is empty: a dm-verity device covers at least one 4096-byte block", nameof(data));
        if (expectedLength is { } expected && expected != dataLength)
            throw new InvalidDataException($"the data changed while it was read: {expected} bytes when the salt was derived, {dataLength} when the tree was computed");

        var dataBlocks = (dataLength + VerityLayout.DataBlockSize - 1) / VerityLayout.DataBlockSize;
        var levelCount = VerityLayout.LevelCount(dataBlocks);
        if (levelCount > VerityLayout.MaxLevels) throw new ArgumentException($"{dataBlocks} data blocks need {levelCount} verity levels; at most {VerityLayout.MaxLevels} are possible", nameof(data));
        var level0Length = VerityLayout.LevelBlockCount(dataBlocks, 0) * VerityLayout.HashBlockSize;
        if (level0Length > Array.MaxLength)
            throw new ArgumentException($"the data is too large ({dataLength} bytes) for an in-memory hash tree; split it, or keep images below 256 GiB", nameof(data));

        byte[] rootHash;
        var levels = new byte[levelCount][];
        if (levelCount == 0)
        {
            // Step 6: a single data block has no hash blocks; its digest is the root hash.
            rootHash = chunkDigests[0]!;
        }
        else
        {
            // Step 1: level 0 is the data blocks' digests packed from the start, the last block zero-filled.
            var level0 = new byte[level0Length];
            var at = 0;
            foreach (var digests in chunkDigests) { digests!.CopyTo(level0, at); at += digests.Length; }
            levels[0] = level0;

            // Steps 1 and 3: each level holds the digests of the blocks of the level below, until one block is left.
            using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
            for (var i = 1; i < levelCount; i++)
            {
                var below = levels[i - 1];
                var blocksBelow = below.Length / VerityLayout.HashBlockSize;
                var level = new byte[VerityLayout.LevelBlockCount(dataBlocks, i) * VerityLayout.HashBlockSize];
                for (var b = 0; b < blocksBelow; b++)
                    HashBlock(hash, salt, below.AsSpan(b * VerityLayout.HashBlockSize, VerityLayout.HashBlockSize), level.AsSpan(b * VerityLayout.DigestLength, VerityLayout.DigestLength));
                levels[i] = level;
            }

            // Step 6: the root hash is the digest of the top level's single block.
            rootHash = new byte[VerityLayout.DigestLength];
            HashBlock(hash, salt, levels[^1].AsSpan(0, VerityLayout.HashBlockSize), rootHash);
        }

        var uuid = options.Uuid ?? DeriveUuid(rootHash);
        var superblock = new VeritySuperblock(uuid, VerityLayout.HashTypeNormal, VerityLayout.Algorithm,
            VerityLayout.DataBlockSize, VerityLayout.HashBlockSize, dataBlocks, salt);
        return new VerityHashTree(superblock, rootHash, levels);
    }

    /// <summary>Computes the tree over a file (see <see cref="Compute(Stream, VerityOptions?, CancellationToken)"/>).</summary>
    public static VerityHashTree Compute(string dataPath, VerityOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(dataPath);
        using var stream = new FileStream(dataPath, FileMode.Open, FileAccess.Read, FileShare.Read, bufferSize: 0, FileOptions.SequentialScan);
        return Compute(stream, options, cancellationToken);
    }

    /// <summary>
    /// Writes the hash device: the superblock zero-padded to one hash block, then the levels, top first (step 4 of
    /// <see cref="VerityLayout"/>). Exactly <see cref="HashDeviceLength"/> bytes, sequentially.
    /// </summary>
    public void WriteHashDevice(Stream output, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(output);
        var first = new byte[VerityLayout.HashBlockSize];
        Superblock.WriteTo(first);
        output.Write(first);
        for (var i = _levels.Length - 1; i >= 0; i--)
        {
            cancellationToken.ThrowIfCancellationRequested();
            output.Write(_levels[i]);
        }
    }

    /// <summary>The hash device as one array (for small data and tests).</summary>
    public byte[] ToHashDeviceArray()
    {
        var memory = new MemoryStream(checked((int)HashDeviceLength));
        WriteHashDevice(memory);
        return memory.ToArray();
    }

    /// <summary>
    /// The salt derived from content: SHA-256 over a fixed context string, the number of data blocks (64-bit
    /// little-endian) and the SHA-256 of each <see cref="ChunkSize"/> piece of the zero-padded data, in order. Hashing
    /// per piece lets several threads do it; any change of the data changes the salt.
    /// </summary>
    /// <remarks>Reads <paramref name="data"/> from its position to its end and leaves it there.</remarks>
    public static byte[] DeriveSalt(Stream data, int maxDegreeOfParallelism = 0, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return DeriveSaltCore(data, maxDegreeOfParallelism > 0 ? maxDegreeOfParallelism : Environment.ProcessorCount, cancellationToken).Salt;
    }

    static (byte[] Salt, long Length) DeriveSaltCore(Stream data, int workers, CancellationToken cancellationToken)
    {
        var pieceDigests = new List<byte[]?>();
        var length = ForEachChunk(data, workers, cancellationToken,
            index => { lock (pieceDigests) pieceDigests.Add(null); },
            () => 0,
            (_, index, chunk) =>
            {
                var digest = SHA256.HashData(chunk);
                lock (pieceDigests) pieceDigests[(int)index] = digest;
            });
        var blocks = (length + VerityLayout.DataBlockSize - 1) / VerityLayout.DataBlockSize;
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(SaltContext);
        Span<byte> count = stackalloc byte[8];
        BinaryPrimitives.WriteInt64LittleEndian(count, blocks);
        hash.AppendData(count);
        foreach (var digest in pieceDigests) hash.AppendData(digest!);
        return (hash.GetHashAndReset(), length);
    }

    /// <summary>
    /// The superblock UUID derived from the root hash: the first 16 bytes of SHA-256(context ‖ root hash), with the
    /// RFC 9562 version (4) and variant bits set, so that it reads as an ordinary random UUID.
    /// </summary>
    public static Guid DeriveUuid(ReadOnlySpan<byte> rootHash)
    {
        Span<byte> input = stackalloc byte[UuidContext.Length + rootHash.Length];
        UuidContext.CopyTo(input);
        rootHash.CopyTo(input[UuidContext.Length..]);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(input, digest);
        return UuidFromBytes(digest[..16], setVersion4: true);
    }

    /// <summary>A UUID whose text form is <paramref name="bytes"/> in order (RFC 9562 byte order).</summary>
    internal static Guid UuidFromBytes(ReadOnlySpan<byte> bytes, bool setVersion4)
    {
        Span<byte> b = stackalloc byte[16];
        bytes[..16].CopyTo(b);
        if (setVersion4)
        {
            b[6] = (byte)((b[6] & 0x0F) | 0x40);
            b[8] = (byte)((b[8] & 0x3F) | 0x80);
        }
        return new Guid(b, bigEndian: true);
    }

    /// <summary>Step 5: digest = sha256(salt ‖ block).</summary>
    static void HashBlock(IncrementalHash hash, ReadOnlySpan<byte> salt, ReadOnlySpan<byte> block, Span<byte> digest)
    {
        hash.AppendData(salt);
        hash.AppendData(block);
        hash.TryGetHashAndReset(digest, out _);
    }

    /// <summary>
    /// Reads <paramref name="data"/> to its end in <see cref="ChunkSize"/> pieces on the calling thread and hands
    /// each piece (the last one zero-padded to a whole data block) to one of <paramref name="workers"/> threads.
    /// <paramref name="announce"/> runs on the reading thread, in order, before a piece is handed out. Returns the
    /// number of bytes read (unpadded).
    /// </summary>
    static long ForEachChunk<TState>(Stream data, int workers, CancellationToken cancellationToken,
        Action<long> announce, Func<TState> createState, Action<TState, long, ReadOnlySpan<byte>> process)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        using var free = new BlockingCollection<byte[]>();
        using var work = new BlockingCollection<(long Index, byte[] Buffer, int Length)>();
        for (var i = 0; i < workers * 2 + 1; i++) free.Add(GC.AllocateUninitializedArray<byte>(ChunkSize));

        var failures = new ConcurrentQueue<Exception>();
        var threads = new Task[workers];
        for (var w = 0; w < workers; w++)
        {
            threads[w] = Task.Factory.StartNew(() =>
            {
                var state = createState();
                try
                {
                    foreach (var (index, buffer, length) in work.GetConsumingEnumerable(stop.Token))
                    {
                        process(state, index, buffer.AsSpan(0, length));
                        free.Add(buffer);
                    }
                }
                catch (OperationCanceledException) when (stop.IsCancellationRequested) { }
                catch (Exception e) { failures.Enqueue(e); stop.Cancel(); }
                finally { (state as IDisposable)?.Dispose(); }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        long total = 0;
        try
        {
            for (long index = 0; ; index++)
            {
                var buffer = free.Take(stop.Token);
                var filled = 0;
                while (filled < ChunkSize)
                {
                    var n = data.Read(buffer, filled, ChunkSize - filled);
                    if (n == 0) break;
                    filled += n;
                }
                if (filled == 0) break;
                total += filled;
                var padded = (filled + VerityLayout.DataBlockSize - 1) / VerityLayout.DataBlockSize * VerityLayout.DataBlockSize;
                buffer.AsSpan(filled, padded - filled).Clear();
                announce(index);
                work.Add((index, buffer, padded), stop.Token);
                if (filled < ChunkSize) break;
            }
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested && !failures.IsEmpty) { }
        catch { stop.Cancel(); throw; }
        finally
        {
            work.CompleteAdding();
            Task.WaitAll(threads);
        }
        if (failures.Count == 1) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failures.First());
        if (!failures.IsEmpty) throw new AggregateException(failures);
        cancellationToken.ThrowIfCancellationRequested();
        return total;
    }
}
