using System.Globalization;
using System.Security.Cryptography;
using Initrd.Formats.Tree;

namespace Initrd.Image.Install;

/// <summary>Tuning and progress for <see cref="InstallTreeBuilder"/>.</summary>
public sealed class InstallTreeOptions
{
    /// <summary>How many packages are read and decompressed at once; 0 (the default) means one per processor.</summary>
    public int MaxParallelism { get; init; }

    /// <summary>Called on the building thread after each package has been placed into the tree, in package order.</summary>
    public Action<PackageArchive>? PackageUnpacked { get; init; }
}

/// <summary>
/// Unpacks .deb files into an install tree (see <see cref="InstallTree"/>) cached under a key, without root and
/// without trusting the archives.
/// <para>
/// Building: each package's data.tar is streamed once, several packages in parallel (largest first), their files
/// written to a private staging folder; the staged packages are then placed into the tree strictly in the given
/// order (<see cref="TreeAssembler"/>), so the result does not depend on timing: the same packages give the same
/// manifest bytes.
/// </para>
/// <para>
/// Caching and concurrency: a tree is built in a sibling folder <c>&lt;key&gt;.tmp-&lt;random&gt;</c>, its
/// <c>complete</c> marker written last, and renamed to <c>&lt;key&gt;</c> in one step, so <c>&lt;key&gt;</c> is either
/// absent or whole. Builders of the same key serialise on an exclusive lock on <c>&lt;key&gt;.lock</c> (released by
/// the kernel if a process dies), so a second process waits for the first one's tree instead of unpacking the same
/// packages again; the atomic rename keeps the cache correct even where the lock is not effective (file locking
/// disabled, or a file system without it). The lock file is left in place: deleting it would let a waiter lock a
/// file that a newcomer can no longer see. Under the lock, a <c>&lt;key&gt;</c> folder without a valid
/// <c>complete</c> marker and leftover <c>&lt;key&gt;.tmp-*</c> folders (from a crash) are deleted; a failed or
/// cancelled build deletes its own temporary folder.
/// </para>
/// </summary>
public static class InstallTreeBuilder
{
    const string TempInfix = ".tmp-";
    const string LockSuffix = ".lock";
    const string StagingName = "staging";

    /// <inheritdoc cref="GetOrBuild(IReadOnlyList{PackageArchive}, string, string, InstallTreeOptions?, CancellationToken)"/>
    public static InstallTree GetOrBuild(IReadOnlyList<PackageArchive> packages, string treesRoot, string key, CancellationToken cancellationToken = default) =>
        GetOrBuild(packages, treesRoot, key, options: null, cancellationToken);

    /// <summary>
    /// Returns the complete tree <c>&lt;treesRoot&gt;/&lt;key&gt;</c>, unpacking <paramref name="packages"/> (in this
    /// order; a later package's file replaces an earlier one's) into it first when it is not in the cache.
    /// </summary>
    /// <param name="packages">The .deb files, in the order to unpack them (callers sort them by name).</param>
    /// <param name="treesRoot">The cache folder holding trees; created when missing.</param>
    /// <param name="key">The tree's name in the cache (e.g. a hash of the lock file): letters, digits, '.', '_', '-'.</param>
    /// <exception cref="InstallException">A package cannot be read or unpacked (<see cref="InstallException.Package"/>
    /// and <see cref="InstallException.Entry"/> say which), the cached tree under <paramref name="key"/> was built from
    /// other packages, or the cache folder cannot be written (the inner exception is the I/O error).</exception>
    /// <exception cref="ArgumentException">An invalid key or package list.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled; nothing is left behind.</exception>
    public static InstallTree GetOrBuild(IReadOnlyList<PackageArchive> packages, string treesRoot, string key, InstallTreeOptions? options,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(packages);
        ArgumentException.ThrowIfNullOrEmpty(treesRoot);
        ValidateKey(key);
        ValidatePackages(packages);
        options ??= new InstallTreeOptions();

        treesRoot = Path.GetFullPath(treesRoot);
        try
        {
            return GetOrBuildCore(packages, treesRoot, key, options, cancellationToken);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Not a package's fault (those are InstallExceptions already): the cache folder itself is the problem.
            throw new InstallException($"cannot build the install tree '{Path.Combine(treesRoot, key)}': {e.Message}", innerException: e);
        }
    }

    static InstallTree GetOrBuildCore(IReadOnlyList<PackageArchive> packages, string treesRoot, string key, InstallTreeOptions options,
        CancellationToken cancellationToken)
    {
        Directory.CreateDirectory(treesRoot);
        var target = Path.Combine(treesRoot, key);
        var packageList = InstallTree.FormatPackages(packages);

        if (TryOpenComplete(target, packageList) is { } cached) return cached;

        using var lockFile = AcquireLock(target + LockSuffix, target, packageList, cancellationToken, out cached);
        if (cached is not null) return cached;

        // Under the lock nobody else builds this key: whatever is here is a crashed build's leftover.
        if (TryOpenComplete(target, packageList) is { } finished) return finished;
        RemoveLeftovers(treesRoot, key, target);

        var temp = Path.Combine(treesRoot, key + TempInfix + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
        try
        {
            Build(packages, temp, target, options, cancellationToken);
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                Directory.Move(temp, target);
            }
            catch (IOException) when (TryOpenComplete(target, packageList) is { } other)
            {
                // Another builder got there first (only possible when the lock is not effective): use its tree.
                TryDeleteTree(temp);
                return other;
            }
        }
        catch
        {
            TryDeleteTree(temp);
            throw;
        }
        return new InstallTree(target, built: true);
    }

    static void Build(IReadOnlyList<PackageArchive> packages, string temp, string target, InstallTreeOptions options, CancellationToken cancellationToken)
    {
        var hostRoot = Path.Combine(temp, InstallTree.RootName);
        var staging = Path.Combine(temp, StagingName);
        Directory.CreateDirectory(hostRoot);
        Directory.CreateDirectory(staging);

        var assembler = new TreeAssembler(hostRoot);
        UnpackAll(packages, staging, assembler, options, cancellationToken);
        cancellationToken.ThrowIfCancellationRequested();

        TreeManifest.Write(Path.Combine(temp, InstallTree.ManifestName), assembler.GetEntries(Path.Combine(target, InstallTree.RootName)));
        InstallTree.WriteOwners(Path.Combine(temp, InstallTree.OwnersName), assembler.GetOwners());
        InstallTree.WriteOverlaps(Path.Combine(temp, InstallTree.OverlapsName), assembler.Overlaps);
        InstallTree.WritePackages(Path.Combine(temp, InstallTree.PackagesName), packages);
        Directory.Delete(staging, recursive: true);
        // Last: the marker that makes the folder a tree.
        File.WriteAllText(Path.Combine(temp, InstallTree.CompleteName), InstallTree.CompleteContent);
    }

    /// <summary>
    /// Reads and decompresses packages on worker threads (largest first, to finish early) while this thread places
    /// them into the tree in package order as soon as each one's turn comes. A failure at package <c>i</c> stops only
    /// the packages after it, so the error reported is always the first one in package order, whatever the timing.
    /// </summary>
    static void UnpackAll(IReadOnlyList<PackageArchive> packages, string staging, TreeAssembler assembler, InstallTreeOptions options,
        CancellationToken cancellationToken)
    {
        var count = packages.Count;
        if (count == 0) return;
        var staged = new TaskCompletionSource<StagedPackage>[count];
        var stops = new CancellationTokenSource[count];
        for (var i = 0; i < count; i++)
        {
            staged[i] = new TaskCompletionSource<StagedPackage>(TaskCreationOptions.RunContinuationsAsynchronously);
            stops[i] = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        }
        var order = Enumerable.Range(0, count).OrderByDescending(i => FileLength(packages[i].Path)).ThenBy(i => i).ToArray();
        var gate = new object();
        var firstFailure = count;
        void StopAfter(int index)
        {
            lock (gate)
            {
                if (index >= firstFailure) return;
                for (var i = index + 1; i < firstFailure; i++) stops[i].Cancel();
                firstFailure = index;
            }
        }

        var next = -1;
        var workerCount = Math.Clamp(options.MaxParallelism > 0 ? options.MaxParallelism : Environment.ProcessorCount, 1, count);
        var workers = new Task[workerCount];
        for (var w = 0; w < workerCount; w++)
        {
            workers[w] = Task.Factory.StartNew(() =>
            {
                var buffer = new byte[PackageStager.CopyBufferSize];
                int k;
                while ((k = Interlocked.Increment(ref next)) < count)
                {
                    var i = order[k];
                    var stop = stops[i].Token;
                    try
                    {
                        stop.ThrowIfCancellationRequested();
                        var directory = Path.Combine(staging, i.ToString(CultureInfo.InvariantCulture));
                        staged[i].TrySetResult(PackageStager.Stage(packages[i], directory, buffer, stop));
                    }
                    catch (OperationCanceledException) when (stop.IsCancellationRequested)
                    {
                        staged[i].TrySetCanceled(stop);
                    }
                    catch (Exception e)
                    {
                        staged[i].TrySetException(e);
                        StopAfter(i);
                    }
                }
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        }

        var index = 0;
        try
        {
            for (; index < count; index++)
            {
                // A package is cancelled only after an earlier one failed, which this loop meets first.
                var package = staged[index].Task.GetAwaiter().GetResult();
                assembler.Add(package, cancellationToken);
                options.PackageUnpacked?.Invoke(packages[index]);
            }
        }
        catch
        {
            StopAfter(index);
            cancellationToken.ThrowIfCancellationRequested();
            throw;
        }
        finally
        {
            StopAfter(-1);
            try { Task.WaitAll(workers); } catch (AggregateException) { /* workers report through staged[] */ }
            foreach (var stop in stops) stop.Dispose();
        }
    }

    static FileStream? AcquireLock(string lockPath, string target, string packageList, CancellationToken cancellationToken, out InstallTree? cached)
    {
        var delay = 10;
        while (true)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                // FileShare.None: an exclusive flock(2) on Unix, held until disposed or the process ends.
                var stream = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None, bufferSize: 1);
                cached = null;
                return stream;
            }
            catch (IOException e) when (IsLockedByOther(e))
            {
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                throw new InstallException($"cannot lock '{lockPath}' to build the install tree: {e.Message}", innerException: e);
            }
            if (TryOpenComplete(target, packageList) is { } tree)
            {
                cached = tree;
                return null;
            }
            if (cancellationToken.WaitHandle.WaitOne(delay)) cancellationToken.ThrowIfCancellationRequested();
            delay = Math.Min(delay * 2, 250);
        }
    }

    /// <summary>EWOULDBLOCK from flock(2) on Linux (errno 11), a sharing violation on Windows.</summary>
    static bool IsLockedByOther(IOException e) =>
        e.GetType() == typeof(IOException) && (e.HResult == 11 || e.HResult == unchecked((int)0x80070020) || e.HResult == 35 /* macOS */);

    /// <summary>The complete tree at <paramref name="directory"/>, or null when there is none (a missing or foreign marker).</summary>
    static InstallTree? TryOpenComplete(string directory, string packageList)
    {
        string marker;
        try
        {
            marker = File.ReadAllText(Path.Combine(directory, InstallTree.CompleteName));
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            return null;
        }
        if (marker != InstallTree.CompleteContent) return null;

        var packagesPath = Path.Combine(directory, InstallTree.PackagesName);
        var built = File.Exists(packagesPath) ? File.ReadAllText(packagesPath) : null;
        if (built != packageList)
            throw new InstallException(
                $"the cached install tree '{directory}' was built from other packages than requested; the key must identify the package list " +
                "(delete that folder to rebuild it)");
        return new InstallTree(directory, built: false);
    }

    /// <summary>Deletes a crashed build's leftovers: an incomplete <c>&lt;key&gt;</c> and stale <c>&lt;key&gt;.tmp-*</c> folders.</summary>
    static void RemoveLeftovers(string treesRoot, string key, string target)
    {
        if (Path.Exists(target))
        {
            // Renamed first, so that the name is free at once even if the deletion is interrupted.
            var doomed = Path.Combine(treesRoot, key + TempInfix + "stale-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)));
            try
            {
                Directory.Move(target, doomed);
            }
            catch (IOException)
            {
                doomed = target;
            }
            DeleteTree(doomed);
        }
        // Another process's build folder is only safe to delete while the lock really excludes it.
        if (FileLockingDisabled()) return;
        foreach (var leftover in Directory.EnumerateFileSystemEntries(treesRoot, key + TempInfix + "*"))
            DeleteTree(leftover);
    }

    static bool FileLockingDisabled() =>
        (AppContext.TryGetSwitch("System.IO.DisableFileLocking", out var disabled) && disabled)
        || Environment.GetEnvironmentVariable("DOTNET_SYSTEM_IO_DISABLEFILELOCKING") is "1" or "true";

    /// <summary>Cleans up after a failure without hiding it.</summary>
    static void TryDeleteTree(string path)
    {
        try
        {
            DeleteTree(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Left for the next build of this key, which deletes stale temporary folders under the lock.
        }
    }

    /// <summary>Deletes a folder and everything in it without following symlinks (a symlink itself is just unlinked).</summary>
    static void DeleteTree(string path)
    {
        try
        {
            var attributes = File.GetAttributes(path);
            if ((attributes & FileAttributes.Directory) == 0 || (attributes & FileAttributes.ReparsePoint) != 0)
                File.Delete(path);
            else
                Directory.Delete(path, recursive: true);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
        }
    }

    static long FileLength(string path)
    {
        try
        {
            return new FileInfo(path).Length;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return 0; // reported when the package is opened
        }
    }

    static void ValidateKey(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        var valid = key.Length <= 200 && key[0] != '.' && !key.Contains(TempInfix, StringComparison.Ordinal)
            && !key.EndsWith(LockSuffix, StringComparison.Ordinal)
            && key.All(c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-');
        if (!valid)
            throw new ArgumentException(
                $"The install tree key '{key}' is not a plain folder name: use up to 200 letters, digits, '.', '_' and '-', " +
                $"not starting with '.', without '{TempInfix}' and not ending with '{LockSuffix}'.", nameof(key));
    }

    static void ValidatePackages(IReadOnlyList<PackageArchive> packages)
    {
        for (var i = 0; i < packages.Count; i++)
        {
            var p = packages[i] ?? throw new ArgumentException($"Package #{i} is null.", nameof(packages));
            if (string.IsNullOrEmpty(p.Name) || string.IsNullOrEmpty(p.Path))
                throw new ArgumentException($"Package #{i} ({p}) has no name or no path.", nameof(packages));
        }
    }
}
