using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Pangolin.Edge.L4;

namespace Pangolin.Edge.Tests.L4;

/// <summary>
/// The listeners between real loopback sockets: a client, the edge's port, and echo servers reached through a dialer
/// that connects to them directly.
/// </summary>
public sealed class RawResourceListenersTests : IAsyncDisposable
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    private readonly TestConfigSource _source = new();
    private readonly TestDialer _dialer = new();
    private readonly ListLogger<RawResourceListeners> _log = new();
    private readonly List<IDisposable> _servers = [];
    private readonly CancellationTokenSource _timeout = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
    private RawResourceListeners? _edge;

    public RawResourceListenersTests() => _timeout.CancelAfter(TimeSpan.FromSeconds(30));

    private CancellationToken Token => _timeout.Token;

    public async ValueTask DisposeAsync()
    {
        if (_edge is not null)
        {
            await _edge.StopAsync(CancellationToken.None).WaitAsync(Patience, CancellationToken.None);
        }

        foreach (var server in _servers)
        {
            server.Dispose();
        }

        _timeout.Dispose();
        _source.Dispose();
    }

    private async Task<RawResourceListeners> StartAsync(Action<RawResourceOptions>? configure = null)
    {
        var options = new RawResourceOptions { BindAddress = "127.0.0.1" };
        configure?.Invoke(options);
        _edge = new RawResourceListeners(_source, _dialer, Options.Create(options), _log);
        await _edge.StartAsync(Token);
        return _edge;
    }

    private T Server<T>(T server)
        where T : IDisposable
    {
        _servers.Add(server);
        return server;
    }

    private static EdgeRawResource Tcp(int port, int[] targets, int? proxyProtocol = null, EdgeRule[]? rules = null, bool blocked = false, int id = 1) =>
        new(id, "tcp", port, proxyProtocol, blocked, rules is not null, rules ?? [], targets);

    private static EdgeRawResource Udp(int port, int[] targets, EdgeRule[]? rules = null, int id = 2) =>
        new(id, "udp", port, null, false, rules is not null, rules ?? [], targets);

    private async Task<Socket> ConnectAsync(int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), Token);
        return socket;
    }

    /// <summary>Everything until the peer's FIN; null when the connection was reset instead.</summary>
    private async Task<byte[]?> ReadToEndAsync(Socket socket)
    {
        var all = new MemoryStream();
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                var read = await socket.ReceiveAsync(buffer, SocketFlags.None, Token);
                if (read == 0)
                {
                    return all.ToArray();
                }

                all.Write(buffer, 0, read);
            }
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return null;
        }
    }

    private async Task<byte[]> ReadExactlyAsync(Socket socket, int count)
    {
        var buffer = new byte[count];
        var done = 0;
        while (done < count)
        {
            var read = await socket.ReceiveAsync(buffer.AsMemory(done), SocketFlags.None, Token);
            Assert.NotEqual(0, read);
            done += read;
        }

        return buffer;
    }

    /// <summary>Sends, then shuts down sending, and reads everything back.</summary>
    private async Task<byte[]?> ExchangeAsync(int port, byte[] payload)
    {
        Socket client;
        try
        {
            client = await ConnectAsync(port);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            // Accepted and reset at once: on loopback the reset can beat the connect's completion.
            return null;
        }

        using var _ = client;
        var reading = ReadToEndAsync(client);
        try
        {
            await client.SendAsync(payload, SocketFlags.None, Token);
            client.Shutdown(SocketShutdown.Send);
        }
        catch (SocketException)
        {
            // Refused under our feet: the read says how.
        }

        return await reading;
    }

    private static async Task WaitUntilAsync(Func<bool> condition, CancellationToken token)
    {
        while (!condition())
        {
            await Task.Delay(20, token);
        }
    }

    [Fact(Timeout = 30_000)]
    public async Task Tcp_carries_a_megabyte_both_ways_byte_for_byte()
    {
        var echo = Server(new TcpEchoServer());
        _dialer.Targets[7] = echo.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [7]));
        await StartAsync();

        var payload = new byte[1024 * 1024];
        new Random(42).NextBytes(payload);
        var received = await ExchangeAsync(port, payload);

        Assert.NotNull(received);
        Assert.Equal(payload.Length + TcpEchoServer.Trailer.Length, received.Length);
        Assert.True(received.AsSpan(0, payload.Length).SequenceEqual(payload));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_client_half_close_reaches_the_target_and_the_client_still_reads_the_rest()
    {
        var echo = Server(new TcpEchoServer());
        _dialer.Targets[1] = echo.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1]));
        var edge = await StartAsync();

        using var client = await ConnectAsync(port);
        await client.SendAsync("hello"u8.ToArray(), SocketFlags.None, Token);
        Assert.Equal("hello"u8.ToArray(), await ReadExactlyAsync(client, 5));
        client.Shutdown(SocketShutdown.Send);

        // The echo server writes its trailer only after it saw the FIN; then it closes, and so does the edge.
        Assert.Equal(TcpEchoServer.Trailer, await ReadToEndAsync(client));
        await WaitUntilAsync(() => edge.ActiveTcpConnections == 0, Token);
    }

    [Fact(Timeout = 30_000)]
    public async Task Proxy_protocol_v1_reaches_the_target_first_exactly()
    {
        var backend = Server(new TcpEchoServer(headerLine: true));
        _dialer.Targets[1] = backend.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1], proxyProtocol: 1));
        await StartAsync();

        using var client = await ConnectAsync(port);
        var clientPort = ((IPEndPoint)client.LocalEndPoint!).Port;
        await client.SendAsync("data"u8.ToArray(), SocketFlags.None, Token);
        Assert.Equal("data"u8.ToArray(), await ReadExactlyAsync(client, 4));

        Assert.True(backend.Headers.TryDequeue(out var header));
        Assert.Equal($"PROXY TCP4 127.0.0.1 127.0.0.1 {clientPort} {port}\r\n", Encoding.ASCII.GetString(header));
    }

    [Fact(Timeout = 30_000)]
    public async Task Proxy_protocol_v2_reaches_the_target_first_exactly()
    {
        var backend = Server(new TcpEchoServer(headerBytes: 28));
        _dialer.Targets[1] = backend.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1], proxyProtocol: 2));
        await StartAsync();

        using var client = await ConnectAsync(port);
        var clientPort = ((IPEndPoint)client.LocalEndPoint!).Port;
        await client.SendAsync("data"u8.ToArray(), SocketFlags.None, Token);
        Assert.Equal("data"u8.ToArray(), await ReadExactlyAsync(client, 4));

        Assert.True(backend.Headers.TryDequeue(out var header));
        byte[] expected =
        [
            0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A, 0x21, 0x11, 0x00, 0x0C,
            127, 0, 0, 1, 127, 0, 0, 1,
            (byte)(clientPort >> 8), (byte)clientPort, (byte)(port >> 8), (byte)port,
        ];
        Assert.Equal(expected, header);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_drop_rule_closes_the_connection_before_any_target_is_dialled()
    {
        var echo = Server(new TcpEchoServer());
        _dialer.Targets[1] = echo.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1], rules: [new EdgeRule(1, 1, "DROP", "CIDR", "127.0.0.0/8", null)]));
        await StartAsync();

        var received = await ExchangeAsync(port, "x"u8.ToArray());

        Assert.True(received is null || received.Length == 0, "the connection was closed without data");
        Assert.Empty(_dialer.TcpAttempts);
        Assert.Equal(0, echo.Accepted);
    }

    [Fact(Timeout = 30_000)]
    public async Task An_accept_rule_lets_the_client_through_before_a_later_drop()
    {
        var echo = Server(new TcpEchoServer());
        _dialer.Targets[1] = echo.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1], rules:
        [
            new EdgeRule(2, 20, "DROP", "CIDR", "0.0.0.0/0", null),
            new EdgeRule(1, 10, "ACCEPT", "CIDR", "127.0.0.0/8", null),
        ]));
        await StartAsync();

        Assert.Equal("ok<eof>"u8.ToArray(), await ExchangeAsync(port, "ok"u8.ToArray()));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_blocked_resource_closes_every_connection()
    {
        var echo = Server(new TcpEchoServer());
        _dialer.Targets[1] = echo.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1], blocked: true));
        await StartAsync();

        var received = await ExchangeAsync(port, "x"u8.ToArray());

        Assert.True(received is null || received.Length == 0);
        Assert.Empty(_dialer.TcpAttempts);
    }

    [Fact(Timeout = 30_000)]
    public async Task Resources_added_to_the_snapshot_open_their_port_and_removed_ones_close_it()
    {
        var echo = Server(new TcpEchoServer());
        _dialer.Targets[1] = echo.EndPoint;
        var port = FreePort.Tcp();
        var edge = await StartAsync();
        var refused = await Assert.ThrowsAsync<SocketException>(() => ConnectAsync(port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);

        _source.Set(Tcp(port, [1]));
        Assert.Equal("a<eof>"u8.ToArray(), await ExchangeAsync(port, "a"u8.ToArray()));

        // A live connection through the port ends when the resource goes.
        using var live = await ConnectAsync(port);
        await live.SendAsync("b"u8.ToArray(), SocketFlags.None, Token);
        Assert.Equal("b"u8.ToArray(), await ReadExactlyAsync(live, 1));

        _source.Set();
        var rest = await ReadToEndAsync(live);
        Assert.True(rest is null || rest.Length == 0);
        refused = await Assert.ThrowsAsync<SocketException>(() => ConnectAsync(port));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        Assert.Empty(edge.OpenPorts);

        // And it can come back.
        _source.Set(Tcp(port, [1]));
        Assert.Equal("c<eof>"u8.ToArray(), await ExchangeAsync(port, "c"u8.ToArray()));
    }

    [Fact(Timeout = 30_000)]
    public async Task A_changed_resource_keeps_its_port_and_live_connections_and_new_ones_use_the_new_targets()
    {
        var first = Server(new TcpEchoServer());
        var second = Server(new TcpEchoServer());
        _dialer.Targets[1] = first.EndPoint;
        _dialer.Targets[2] = second.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1]));
        await StartAsync();

        using var live = await ConnectAsync(port);
        await live.SendAsync("1"u8.ToArray(), SocketFlags.None, Token);
        Assert.Equal("1"u8.ToArray(), await ReadExactlyAsync(live, 1));

        _source.Set(Tcp(port, [2]));
        Assert.Equal("2<eof>"u8.ToArray(), await ExchangeAsync(port, "2"u8.ToArray()));
        Assert.Equal(1, first.Accepted);
        Assert.Equal(1, second.Accepted);

        // The connection made before the change still works, to its first target.
        await live.SendAsync("3"u8.ToArray(), SocketFlags.None, Token);
        Assert.Equal("3"u8.ToArray(), await ReadExactlyAsync(live, 1));
    }

    [Fact(Timeout = 30_000)]
    public async Task An_unreachable_target_fails_over_to_the_next_and_connections_are_balanced()
    {
        var echo = Server(new TcpEchoServer());
        _dialer.Targets[1] = new IPEndPoint(IPAddress.Loopback, FreePort.Tcp()); // nothing listens
        _dialer.Targets[2] = echo.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1, 2]));
        await StartAsync();

        for (var i = 0; i < 4; i++)
        {
            Assert.Equal("x<eof>"u8.ToArray(), await ExchangeAsync(port, "x"u8.ToArray()));
        }

        // Round robin starts at 1, 2, 1, 2: each start at 1 fails over to 2; each start at 2 goes there at once.
        Assert.Equal([1, 2, 2, 1, 2, 2], _dialer.TcpAttempts.ToArray());
        Assert.Equal(4, echo.Accepted);
        Assert.Contains(_log.Entries, e => e.Level == LogLevel.Warning && e.Message.Contains("target 1 unreachable", StringComparison.Ordinal));
    }

    [Fact(Timeout = 30_000)]
    public async Task When_no_target_is_reachable_the_connection_is_closed()
    {
        _dialer.Targets[1] = new IPEndPoint(IPAddress.Loopback, FreePort.Tcp());
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1, 99]));
        var edge = await StartAsync();

        var received = await ExchangeAsync(port, "x"u8.ToArray());

        Assert.True(received is null || received.Length == 0);
        Assert.Equal([1, 99], _dialer.TcpAttempts.ToArray());
        await WaitUntilAsync(() => edge.ActiveTcpConnections == 0, Token);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_port_that_cannot_be_bound_is_logged_leaves_the_others_alone_and_is_retried_on_the_next_snapshot()
    {
        var echo = Server(new TcpEchoServer());
        _dialer.Targets[1] = echo.EndPoint;
        var taken = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        taken.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        taken.Listen();
        var takenPort = ((IPEndPoint)taken.LocalEndPoint!).Port;
        var freePort = FreePort.Tcp();
        _source.Set(Tcp(takenPort, [1], id: 1), Tcp(freePort, [1], id: 2));
        var edge = await StartAsync();

        Assert.Equal("ok<eof>"u8.ToArray(), await ExchangeAsync(freePort, "ok"u8.ToArray()));
        var error = Assert.Single(_log.Entries, e => e.Level == LogLevel.Error);
        Assert.Contains($"TCP port {takenPort}: cannot listen (AddressAlreadyInUse", error.Message, StringComparison.Ordinal);

        taken.Dispose();
        _source.Set(Tcp(takenPort, [1], id: 1), Tcp(freePort, [1], id: 2));
        Assert.Equal(2, edge.OpenPorts.Count);
        Assert.Equal("again<eof>"u8.ToArray(), await ExchangeAsync(takenPort, "again"u8.ToArray()));
    }

    [Fact(Timeout = 30_000)]
    public async Task Connections_past_the_limit_are_closed()
    {
        var echo = Server(new TcpEchoServer());
        _dialer.Targets[1] = echo.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1]));
        var edge = await StartAsync(o => o.MaxTcpConnections = 1);

        using var first = await ConnectAsync(port);
        await first.SendAsync("1"u8.ToArray(), SocketFlags.None, Token);
        Assert.Equal("1"u8.ToArray(), await ReadExactlyAsync(first, 1));

        var second = await ExchangeAsync(port, "2"u8.ToArray());
        Assert.True(second is null || second.Length == 0);

        first.Shutdown(SocketShutdown.Send);
        Assert.Equal(TcpEchoServer.Trailer, await ReadToEndAsync(first));
        await WaitUntilAsync(() => edge.ActiveTcpConnections == 0, Token);
        Assert.Equal("3<eof>"u8.ToArray(), await ExchangeAsync(port, "3"u8.ToArray()));
    }

    [Fact(Timeout = 30_000)]
    public async Task An_idle_tcp_connection_is_closed_after_the_idle_timeout()
    {
        var echo = Server(new TcpEchoServer());
        _dialer.Targets[1] = echo.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1]));
        await StartAsync(o => o.TcpIdleTimeout = TimeSpan.FromMilliseconds(300));

        using var client = await ConnectAsync(port);
        await client.SendAsync("1"u8.ToArray(), SocketFlags.None, Token);
        Assert.Equal("1"u8.ToArray(), await ReadExactlyAsync(client, 1));

        var started = DateTime.UtcNow;
        var rest = await ReadToEndAsync(client);
        Assert.True(rest is null || rest.Length == 0);
        Assert.True(DateTime.UtcNow - started >= TimeSpan.FromMilliseconds(200));
    }

    private static async Task<Socket> UdpClientAsync()
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        await Task.CompletedTask;
        return socket;
    }

    private async Task<string> UdpRoundTripAsync(Socket client, int port, string text)
    {
        await client.SendToAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None, new IPEndPoint(IPAddress.Loopback, port), Token);
        var buffer = new byte[1500];
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(Token);
        wait.CancelAfter(TimeSpan.FromSeconds(5));
        var result = await client.ReceiveFromAsync(buffer, SocketFlags.None, new IPEndPoint(IPAddress.Any, 0), wait.Token);
        Assert.Equal(port, ((IPEndPoint)result.RemoteEndPoint).Port);
        return Encoding.ASCII.GetString(buffer, 0, result.ReceivedBytes);
    }

    [Fact(Timeout = 30_000)]
    public async Task Udp_echoes_both_ways_for_two_clients_each_with_its_own_session()
    {
        var echo = Server(new UdpEchoServer());
        _dialer.Targets[5] = echo.EndPoint;
        var port = FreePort.Udp();
        _source.Set(Udp(port, [5]));
        var edge = await StartAsync();

        using var one = await UdpClientAsync();
        using var two = await UdpClientAsync();
        Assert.Equal("one-a", await UdpRoundTripAsync(one, port, "one-a"));
        Assert.Equal("two-a", await UdpRoundTripAsync(two, port, "two-a"));
        Assert.Equal("one-b", await UdpRoundTripAsync(one, port, "one-b"));
        Assert.Equal("two-b", await UdpRoundTripAsync(two, port, "two-b"));

        Assert.Equal(2, edge.ActiveUdpSessions);
        Assert.Equal(2, _dialer.UdpOpens.Count);
        Assert.Equal(2, echo.Senders.Count); // one flow per client
        Assert.All(echo.Senders.Values, n => Assert.Equal(2, n));
    }

    [Fact(Timeout = 30_000)]
    public async Task An_idle_udp_session_expires_and_the_next_datagram_starts_a_new_one()
    {
        var echo = Server(new UdpEchoServer());
        _dialer.Targets[5] = echo.EndPoint;
        var port = FreePort.Udp();
        _source.Set(Udp(port, [5]));
        var edge = await StartAsync(o => o.UdpSessionIdleTimeout = TimeSpan.FromMilliseconds(300));

        using var client = await UdpClientAsync();
        Assert.Equal("a", await UdpRoundTripAsync(client, port, "a"));
        Assert.Equal(1, edge.ActiveUdpSessions);

        await WaitUntilAsync(() => edge.ActiveUdpSessions == 0, Token);

        Assert.Equal("b", await UdpRoundTripAsync(client, port, "b"));
        Assert.Equal(2, _dialer.UdpOpens.Count);
        Assert.Equal(2, echo.Senders.Count);
    }

    [Fact(Timeout = 30_000)]
    public async Task A_udp_drop_rule_opens_no_session()
    {
        var echo = Server(new UdpEchoServer());
        _dialer.Targets[5] = echo.EndPoint;
        var port = FreePort.Udp();
        _source.Set(Udp(port, [5], rules: [new EdgeRule(1, 1, "DROP", "IP", "127.0.0.1", null)]));
        var edge = await StartAsync();

        using var client = await UdpClientAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => UdpRoundTripAsync(client, port, "x"));

        Assert.Equal(0, edge.ActiveUdpSessions);
        Assert.Empty(_dialer.UdpOpens);
    }

    [Fact(Timeout = 30_000)]
    public async Task Tcp_and_udp_resources_share_a_port_number_and_a_removed_udp_port_closes()
    {
        var tcpEcho = Server(new TcpEchoServer());
        var udpEcho = Server(new UdpEchoServer());
        _dialer.Targets[1] = tcpEcho.EndPoint;
        _dialer.Targets[5] = udpEcho.EndPoint;
        var port = FreePort.Tcp();
        _source.Set(Tcp(port, [1]), Udp(port, [5]));
        var edge = await StartAsync();

        using var client = await UdpClientAsync();
        Assert.Equal("u", await UdpRoundTripAsync(client, port, "u"));
        Assert.Equal("t<eof>"u8.ToArray(), await ExchangeAsync(port, "t"u8.ToArray()));

        _source.Set(Tcp(port, [1]));
        Assert.Equal([(ProtocolType.Tcp, port)], edge.OpenPorts);
        await WaitUntilAsync(() => edge.ActiveUdpSessions == 0, Token);

        // Nothing answers on the UDP port now: it can be bound again.
        using var rebind = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        rebind.Bind(new IPEndPoint(IPAddress.Loopback, port));
    }
}
