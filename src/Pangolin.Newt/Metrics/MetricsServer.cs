using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;

namespace Pangolin.Newt.Metrics;

/// <summary>The metrics address cannot be listened on (bad address, port in use, no permission).</summary>
internal sealed class MetricsBindException(string message, Exception? inner = null) : Exception(message, inner);

/// <summary>
/// Serves <c>GET /metrics</c> on <c>--metrics-address</c>, one request per connection, and 404 for anything else.
/// A plain socket rather than HttpListener: it answers whatever Host header a scraper sends (HttpListener matches it
/// against its prefix) and costs less of the AOT size budget. Whatever a client sends ends only its own connection.
/// </summary>
internal sealed partial class MetricsServer : IAsyncDisposable
{
    private const int MaxRequestHead = 8 * 1024;

    /// <summary>
    /// Connections served at once; one more is closed unanswered. A scraper uses one: the cap keeps a flood of idle
    /// connections (each held up to <see cref="RequestTimeout"/>) from costing newt memory and descriptors.
    /// </summary>
    internal const int MaxConnections = 16;
    private static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(10);

    private readonly Socket _listener;
    private readonly PrometheusExporter _exporter;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _active;

    private MetricsServer(Socket listener, PrometheusExporter exporter)
    {
        _listener = listener;
        _exporter = exporter;
        _accepting = AcceptLoopAsync();
    }

    /// <summary>Where it listens (the port chosen when 0 was asked for).</summary>
    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Listens on <paramref name="address"/>: <c>host:port</c>, or <c>:port</c> for every interface.</summary>
    /// <exception cref="MetricsBindException">The address is malformed, does not resolve or cannot be listened on.</exception>
    public static MetricsServer Start(string address, PrometheusExporter exporter, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        if (!HostPort.TryParse(address, out var host, out var port, allowEmptyHost: true))
        {
            throw new MetricsBindException($"\"{address}\" is not host:port");
        }
        IPAddress ip;
        if (host.Length == 0)
        {
            ip = IPAddress.IPv6Any;
        }
        else if (!IPAddress.TryParse(host, out ip!))
        {
            try
            {
                ip = Dns.GetHostAddresses(host).OrderBy(a => a.AddressFamily != AddressFamily.InterNetwork).First();
            }
            catch (Exception e) when (e is SocketException or InvalidOperationException)
            {
                throw new MetricsBindException($"cannot listen on {address}: {host} does not resolve", e);
            }
        }
        var server = Start(new IPEndPoint(ip, port), exporter);
        LogServing(logger, server.LocalEndPoint);
        return server;
    }

    /// <inheritdoc cref="Start(string, PrometheusExporter, ILogger)"/>
    public static MetricsServer Start(IPEndPoint endPoint, PrometheusExporter exporter)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        ArgumentNullException.ThrowIfNull(exporter);
        var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (endPoint.Address.Equals(IPAddress.IPv6Any))
            {
                socket.DualMode = true; // ":port" means IPv4 too, as Go's net.Listen does
            }
            socket.Bind(endPoint);
            socket.Listen(64);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new MetricsBindException($"cannot listen on {endPoint}: {Describe(e)}", e);
        }
        return new MetricsServer(socket, exporter);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Dispose();
        await _accepting.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        _stop.Dispose();
    }

    private static string Describe(SocketException e) => e.SocketErrorCode switch
    {
        SocketError.AddressAlreadyInUse => "the port is in use",
        SocketError.AddressNotAvailable => "no interface has that address",
        SocketError.AccessDenied => "permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
        _ => e.Message,
    };

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // the client gave up before it was accepted
            }
            if (Interlocked.Increment(ref _active) > MaxConnections)
            {
                Interlocked.Decrement(ref _active);
                client.Dispose();
                continue;
            }
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(Socket client)
    {
        using var _ = client;
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
        timeout.CancelAfter(RequestTimeout);
        try
        {
            var requestLine = await ReadRequestLineAsync(client, timeout.Token);
            var (status, body) = Answer(requestLine);
            var head = $"HTTP/1.1 {status}\r\nContent-Type: {(status == "200 OK" ? PrometheusExporter.ContentType : "text/plain; charset=utf-8")}\r\n"
                + $"Content-Length: {body.Length}\r\nConnection: close\r\n\r\n";
            await client.SendAsync(Encoding.ASCII.GetBytes(head), timeout.Token);
            await client.SendAsync(body, timeout.Token);
            client.Shutdown(SocketShutdown.Both);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away or was too slow; nothing to answer.
        }
        finally
        {
            Interlocked.Decrement(ref _active);
        }
    }

    private (string Status, byte[] Body) Answer(string? requestLine)
    {
        var parts = requestLine?.Split(' ');
        if (parts is not [var method, var target, var version] || !version.StartsWith("HTTP/1.", StringComparison.Ordinal))
        {
            return ("400 Bad Request", "bad request\n"u8.ToArray());
        }
        var path = target.Split('?', 2)[0];
        return method == "GET" && path == "/metrics"
            ? ("200 OK", Encoding.UTF8.GetBytes(_exporter.Scrape()))
            : ("404 Not Found", "not found: metrics are at GET /metrics\n"u8.ToArray());
    }

    /// <summary>Reads the request head up to its blank line; null when it is too long or the client ends early.</summary>
    private static async Task<string?> ReadRequestLineAsync(Socket client, CancellationToken ct)
    {
        var buffer = new byte[MaxRequestHead];
        var length = 0;
        while (length < buffer.Length)
        {
            var read = await client.ReceiveAsync(buffer.AsMemory(length), ct);
            if (read == 0)
            {
                return null;
            }
            length += read;
            var head = buffer.AsSpan(0, length);
            if (head.IndexOf("\r\n\r\n"u8) >= 0 || head.IndexOf("\n\n"u8) >= 0)
            {
                var end = head.IndexOf((byte)'\n');
                return Encoding.ASCII.GetString(head[..end]).TrimEnd('\r');
            }
        }
        return null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Serving Prometheus metrics at http://{Address}/metrics")]
    private static partial void LogServing(ILogger logger, IPEndPoint address);
}
