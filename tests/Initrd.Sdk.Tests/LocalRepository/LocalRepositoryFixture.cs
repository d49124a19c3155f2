using System.Collections.Concurrent;

namespace Initrd.Sdk.Tests.LocalRepository;

/// <summary>
/// Shared by the tests of one class: a throwaway signing key and the standard packages built once with dpkg-deb.
/// Each test takes its own <see cref="LocalAptRepository"/> (own folder, own port) from <see cref="NewRepository"/>,
/// so that a test breaking its repository does not disturb another. Created on first use, so a missing gpg or
/// dpkg-deb skips the tests that need them instead of failing the class.
/// </summary>
public sealed class LocalRepositoryFixture : IDisposable
{
    readonly Lazy<TestSigningKey> key = new(() => new TestSigningKey());
    readonly Lazy<IReadOnlyDictionary<string, byte[]>> standardDebs = new(() =>
        TestPackages.Standard.AsParallel().ToDictionary(p => p.Name, DebBuilder.Build, StringComparer.Ordinal));
    readonly ConcurrentDictionary<string, byte[]> extraDebs = new(StringComparer.Ordinal);
    readonly ConcurrentBag<LocalAptRepository> repositories = [];

    public TestSigningKey Key => key.Value;

    public IReadOnlyDictionary<string, byte[]> StandardDebs => standardDebs.Value;

    /// <summary>A .deb built once per fixture and kept under <paramref name="id"/> (large or special packages).</summary>
    public byte[] Deb(string id, Func<byte[]> build) => extraDebs.GetOrAdd(id, _ => build());

    /// <summary>A new repository holding the standard packages, published and served.</summary>
    public LocalAptRepository NewRepository(Action<LocalAptRepository>? customize = null)
    {
        var repo = new LocalAptRepository(Key);
        repositories.Add(repo);
        foreach (var package in TestPackages.Standard) repo.Add(package, StandardDebs[package.Name]);
        customize?.Invoke(repo);
        repo.Publish();
        return repo;
    }

    public void Dispose()
    {
        foreach (var repo in repositories) repo.Dispose();
        if (key.IsValueCreated) key.Value.Dispose();
    }
}
