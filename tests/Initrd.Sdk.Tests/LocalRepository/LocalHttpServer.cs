using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Initrd.Sdk.Tests.LocalRepository;

/// <summary>
/// A static file server on 127.0.0.1 (a free port), enough for apt-style clients: GET and HEAD, one request per
/// connection, files served from <see cref="Root"/> as they are on disk at the time of the request (so a test
/// mutates the repository by changing files). <see cref="Stop"/> closes the port: later connections are refused,
/// as with a mirror that went away. Every request is recorded, so a test can prove that a build made none.
/// </summary>
public sealed class LocalHttpServer : IDisposable
{
    readonly TcpListener listener;
    readonly CancellationTokenSource stop = new();
    readonly Task loop;

    public LocalHttpServer(string root)
    {
        Root = Path.GetFullPath(root);
        listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        Port = ((IPEndPoint)listener.LocalEndpoint).Port;
        loop = Task.Run(AcceptLoop);
    }

    /// <summary>The folder whose files are served (URL path "/a/b" is the file Root/a/b).</summary>
    public string Root { get; }

    public int Port { get; }

    public string BaseUrl => $"http://127.0.0.1:{Port}";

    public bool IsRunning => !stop.IsCancellationRequested;

    /// <summary>URL paths of every request received, in order.</summary>
    public ConcurrentQueue<string> Requests { get; } = new();

    /// <summary>Stops listening; the port refuses connections from now on.</summary>
    public void Stop()
    {
        if (stop.IsCancellationRequested) return;
        stop.Cancel();
        listener.Stop();
        try { loop.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { /* the loop ends with the listener */ }
    }

    async Task AcceptLoop()
    {
        while (!stop.IsCancellationRequested)
        {
            TcpClient client;
            try { client = await listener.AcceptTcpClientAsync(stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { return; }
            _ = Task.Run(() => Serve(client));
        }
    }

    async Task Serve(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            var head = await ReadHead(stream);
            if (head is null) return;
            var requestLine = head.Split("\r\n")[0].Split(' ');
            if (requestLine.Length < 2) return;
            var method = requestLine[0];
            var path = Uri.UnescapeDataString(requestLine[1].Split('?')[0]);
            Requests.Enqueue(path);

            var file = ResolveFile(path);
            if (file is null || (method != "GET" && method != "HEAD"))
            {
                await Respond(stream, 404, "Not Found", "not found\n"u8.ToArray(), method);
                return;
            }
            byte[] body;
            try { body = await File.ReadAllBytesAsync(file); }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                await Respond(stream, 404, "Not Found", "not found\n"u8.ToArray(), method);
                return;
            }
            await Respond(stream, 200, "OK", body, method);
        }
        catch (IOException) { }
        catch (SocketException) { }
        catch (ObjectDisposedException) { }
    }

    /// <summary>The file for a URL path, or null when it is not a file under <see cref="Root"/>.</summary>
    string? ResolveFile(string urlPath)
    {
        var relative = urlPath.TrimStart('/');
        if (relative.Length == 0) return null;
        var full = Path.GetFullPath(Path.Combine(Root, relative));
        if (!full.StartsWith(Root + Path.DirectorySeparatorChar, StringComparison.Ordinal)) return null;
        return File.Exists(full) ? full : null;
    }

    static async Task<string?> ReadHead(NetworkStream stream)
    {
        var head = new StringBuilder();
        var one = new byte[1];
        while (!head.ToString().EndsWith("\r\n\r\n", StringComparison.Ordinal))
        {
            if (head.Length > 16384) return null;
            if (await stream.ReadAsync(one) == 0) return null;
            head.Append((char)one[0]);
        }
        return head.ToString();
    }

    static async Task Respond(NetworkStream stream, int status, string reason, byte[] body, string method)
    {
        var header = $"HTTP/1.1 {status} {reason}\r\nContent-Length: {body.Length}\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n";
        await stream.WriteAsync(Encoding.ASCII.GetBytes(header));
        if (method != "HEAD") await stream.WriteAsync(body);
        await stream.FlushAsync();
    }

    public void Dispose()
    {
        Stop();
        stop.Dispose();
    }
}
