using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Initrd.Apt.Repositories;
using Initrd.Formats.Compression;
using Initrd.Testing;

namespace Initrd.Apt.Tests.Repositories;

/// <summary>What the test server answers for one path.</summary>
/// <param name="CutAfter">Close the connection after this many body bytes although Content-Length promised all.</param>
sealed record TestResponse(int Status, byte[] Body, IReadOnlyDictionary<string, string>? Headers = null, int? CutAfter = null)
{
    public static TestResponse Ok(byte[] body) => new(200, body);
    public static readonly TestResponse NotFound = new(404, "not found"u8.ToArray());
}

sealed record TestRequest(string Path, IReadOnlyDictionary<string, string> Headers);

/// <summary>
/// A minimal HTTP/1.1 server on 127.0.0.1 (one request per connection), enough to serve a crafted apt
/// repository and to misbehave on purpose: wrong bodies, 404, 503, connections cut mid-body.
/// </summary>
sealed class TestHttpServer : IAsyncDisposable
{
    readonly TcpListener listener = new(IPAddress.Loopback, 0);
    readonly CancellationTokenSource stop = new();
    readonly Task loop;

    public TestHttpServer()
    {
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        loop = Task.Run(AcceptLoop);
    }

    public int Port { get; }
    public string BaseUrl => $"http://127.0.0.1:{Port}";

    /// <summary>Handlers by absolute path; a handler may change its answer between calls.</summary>
    public ConcurrentDictionary<string, Func<TestRequest, TestResponse>> Routes { get; } = new();

    public ConcurrentQueue<TestRequest> Requests { get; } = new();

    public void Set(string path, byte[] body) => Routes[path] = _ => TestResponse.Ok(body);
    public void Set(string path, TestResponse response) => Routes[path] = _ => response;

    public int CountRequests(Func<string, bool> pathFilter) => Requests.Count(r => pathFilter(r.Path));

    async Task AcceptLoop()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            _ = Task.Run(() => Serve(client));
        }
    }

    async Task Serve(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            var head = new StringBuilder();
            var one = new byte[1];
            while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
            {
                if (await stream.ReadAsync(one) == 0) return;
                head.Append((char)one[0]);
            }
            var lines = head.ToString().Split("\r\n");
            var path = lines[0].Split(' ')[1];
            var headers = lines.Skip(1).Where(l => l.Contains(':'))
                .ToDictionary(l => l[..l.IndexOf(':')].Trim(), l => l[(l.IndexOf(':') + 1)..].Trim(), StringComparer.OrdinalIgnoreCase);
            var request = new TestRequest(path, headers);
            Requests.Enqueue(request);
            var response = Routes.TryGetValue(path, out var handler) ? handler(request) : TestResponse.NotFound;

            var sb = new StringBuilder($"HTTP/1.1 {response.Status} X\r\nContent-Length: {response.Body.Length}\r\nConnection: close\r\n");
            foreach (var (k, v) in response.Headers ?? new Dictionary<string, string>()) sb.Append($"{k}: {v}\r\n");
            sb.Append("\r\n");
            await stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()));
            var body = response.CutAfter is { } cut ? response.Body.AsMemory(0, cut) : response.Body;
            await stream.WriteAsync(body);
            await stream.FlushAsync();
            if (response.CutAfter is not null) client.Client.LingerState = new LingerOption(true, 0); // reset, not a clean close
        }
        catch (IOException) { }
        catch (SocketException) { }
    }

    public async ValueTask DisposeAsync()
    {
        stop.Cancel();
        listener.Stop();
        try { await loop; } catch (Exception) { /* the loop ends with the listener */ }
        stop.Dispose();
    }
}

/// <summary>
/// Throwaway OpenPGP keys in a private GNUPGHOME, made with gpg: a trusted one (exported as the repository's
/// keyring), an unknown one (not in the keyring) and one that expired long ago (in the keyring).
/// </summary>
sealed class TestKeys : IDisposable
{
    readonly GpgHome home = new("initrd-gpg");

    public TestKeys()
    {
        Trusted = home.GenerateKey("Initrd Test Repository <trusted@initrd.invalid>", "never");
        Unknown = home.GenerateKey("Initrd Unknown Key <unknown@initrd.invalid>", "never");
        Expired = home.GenerateKey("Initrd Expired Key <expired@initrd.invalid>", "1d", "20200101T000000");
        KeyringPath = home.Combine("keyring.gpg");
        File.WriteAllBytes(KeyringPath, home.Run(["--export", Trusted, Expired]).StandardOutputBytes);
        ArmoredKeyringPath = home.Combine("keyring.asc");
        File.WriteAllBytes(ArmoredKeyringPath, home.Run(["--armor", "--export", Trusted]).StandardOutputBytes);
    }

    public string Trusted { get; }
    public string Unknown { get; }
    public string Expired { get; }

    /// <summary>Binary keyring with <see cref="Trusted"/> and <see cref="Expired"/>, as gpgv reads it.</summary>
    public string KeyringPath { get; }

    /// <summary>ASCII-armoured export of <see cref="Trusted"/> only.</summary>
    public string ArmoredKeyringPath { get; }

    /// <summary>Clear-signs <paramref name="text"/> with the key <paramref name="fingerprint"/>.</summary>
    public byte[] ClearSign(string text, string fingerprint) =>
        home.ClearSign(text, fingerprint, fingerprint == Expired ? "20200101T120000" : null);

    public void Dispose() => home.Dispose();
}

/// <summary>A crafted one-suite, one-component apt repository published on a <see cref="TestHttpServer"/>.</summary>
sealed class FakeRepository(TestHttpServer server, TestKeys keys, string suite = "testing")
{
    public const string Root = "/debian";
    public string Suite { get; } = suite;
    public string Uri => server.BaseUrl + Root;
    public string SuiteDir => $"{Root}/dists/{Suite}";

    public DateTimeOffset Date { get; set; } = DateTimeOffset.UtcNow.AddDays(-1);
    public DateTimeOffset? ValidUntil { get; set; } = DateTimeOffset.UtcNow.AddDays(7);
    public bool AcquireByHash { get; set; } = true;
    public string? ExtraReleaseFields { get; set; }
    public string SigningKey { get; set; } = keys.Trusted;

    /// <summary>The Packages index published by <see cref="Publish"/>.</summary>
    public string Packages { get; set; } = Stanza("hello", "1.0-1", "amd64") + "\n" + Stanza("hello-data", "1.0-1", "all");

    /// <summary>When set, published as main/binary-all/Packages(.xz), and "all" is added to Architectures.</summary>
    public string? AllPackages { get; set; }

    /// <summary>Adds "No-Support-for-Architecture-all: Packages".</summary>
    public bool NoSupportForArchitectureAll { get; set; }

    public byte[] PackagesXz { get; private set; } = [];
    public string PackagesXzSha256 => Convert.ToHexStringLower(SHA256.HashData(PackagesXz));
    public string PackagesXzPath => $"{SuiteDir}/main/binary-amd64/Packages.xz";
    public string PackagesXzByHashPath => $"{SuiteDir}/main/binary-amd64/by-hash/SHA256/{PackagesXzSha256}";

    public RepositorySpec Spec(string? keyring = null) => new(Uri, Suite, ["main"], [keyring ?? keys.KeyringPath]);

    public static string Stanza(string name, string version, string arch, string? extra = null) =>
        $"Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: Test <t@initrd.invalid>\n" +
        $"Description: {name} for tests\nFilename: pool/main/{name[0]}/{name}/{name}_{version}_{arch}.deb\n" +
        $"Size: {100 + name.Length}\nSHA256: {Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(name + version)))}\n" +
        (extra ?? "");

    /// <summary>Compresses <see cref="Packages"/>, writes and signs the InRelease, and serves everything.</summary>
    /// <param name="mutateRelease">Changes the Release text before it is signed.</param>
    /// <param name="mutateSigned">Changes the signed InRelease bytes (after signing).</param>
    public void Publish(Func<string, string>? mutateRelease = null, Func<string, string>? mutateSigned = null)
    {
        var plain = Encoding.UTF8.GetBytes(Packages);
        PackagesXz = Compress(plain, CompressionFormat.Xz);
        var gz = Compress(plain, CompressionFormat.Gzip);
        var files = new List<(string Path, byte[] Data)>
        {
            ("main/binary-amd64/Packages", plain),
            ("main/binary-amd64/Packages.gz", gz),
            ("main/binary-amd64/Packages.xz", PackagesXz),
        };
        if (AllPackages is not null)
        {
            var all = Encoding.UTF8.GetBytes(AllPackages);
            files.Add(("main/binary-all/Packages", all));
            files.Add(("main/binary-all/Packages.xz", Compress(all, CompressionFormat.Xz)));
        }
        var release = new StringBuilder();
        release.Append($"Origin: Initrd Test\nLabel: Initrd Test\nSuite: {Suite}\nCodename: {Suite}\n");
        release.Append($"Date: {Date.UtcDateTime:ddd, dd MMM yyyy HH:mm:ss} UTC\n");
        if (ValidUntil is { } v) release.Append($"Valid-Until: {v.UtcDateTime:ddd, dd MMM yyyy HH:mm:ss} UTC\n");
        if (AcquireByHash) release.Append("Acquire-By-Hash: yes\n");
        if (NoSupportForArchitectureAll) release.Append("No-Support-for-Architecture-all: Packages\n");
        release.Append(AllPackages is null ? "Architectures: amd64 arm64\n" : "Architectures: all amd64 arm64\n");
        release.Append("Components: main\n");
        release.Append(ExtraReleaseFields ?? "");
        release.Append("SHA256:\n");
        foreach (var (path, data) in files)
            release.Append($" {Convert.ToHexStringLower(SHA256.HashData(data))} {data.Length,8} {path}\n");
        var text = mutateRelease?.Invoke(release.ToString()) ?? release.ToString();
        var signed = keys.ClearSign(text, SigningKey);
        if (mutateSigned is not null) signed = Encoding.UTF8.GetBytes(mutateSigned(Encoding.UTF8.GetString(signed)));

        server.Set($"{SuiteDir}/InRelease", signed);
        foreach (var (path, data) in files)
        {
            server.Set($"{SuiteDir}/{path}", data);
            var dir = path[..path.LastIndexOf('/')];
            server.Set($"{SuiteDir}/{dir}/by-hash/SHA256/{Convert.ToHexStringLower(SHA256.HashData(data))}", data);
        }
    }

    static byte[] Compress(byte[] data, CompressionFormat format)
    {
        var output = new MemoryStream();
        using (var c = CompressionStreams.OpenWrite(output, format, CompressionStreams.DefaultLevel(format), leaveOpen: true))
            c.Write(data);
        return output.ToArray();
    }
}

/// <summary>A clock that stays where the test puts it.</summary>
sealed class FixedTime(DateTimeOffset now) : TimeProvider
{
    public DateTimeOffset Now { get; set; } = now;
    public override DateTimeOffset GetUtcNow() => Now;
}

/// <summary>Counts requests per path on the way to the real handler.</summary>
sealed class CountingHandler(HttpMessageHandler inner) : DelegatingHandler(inner)
{
    public ConcurrentQueue<string> Requests { get; } = new();

    protected override Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
    {
        Requests.Enqueue(request.RequestUri!.AbsolutePath);
        return base.SendAsync(request, cancellationToken);
    }
}

/// <summary>Makes the test keys once per test class, on first use (so a missing gpg skips the tests that need it).</summary>
public sealed class GpgFixture : IDisposable
{
    readonly Lazy<TestKeys> keys = new(() => new TestKeys());

    internal TestKeys Keys => keys.Value;

    public void Dispose()
    {
        if (keys.IsValueCreated) keys.Value.Dispose();
    }
}
