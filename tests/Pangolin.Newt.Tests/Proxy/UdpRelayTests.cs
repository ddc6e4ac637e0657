using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Netstack.Udp;
using Pangolin.Newt.Proxy;
using Pangolin.Newt.Tests.Infrastructure;

namespace Pangolin.Newt.Tests.Proxy;

/// <summary>
/// UDP relaying: clients on the server's stack send to the site's tunnel IP, newt relays each client through its own
/// OS socket to a loopback echo that says which port it heard from.
/// </summary>
public sealed class UdpRelayTests : IAsyncDisposable
{
    private const int InternalPort = 40010;

    private readonly TunnelPair _pair = new();
    private readonly Socket _echo;
    private readonly Task _echoLoop;

    public UdpRelayTests()
    {
        _echo = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        _echo.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        EchoPort = ((IPEndPoint)_echo.LocalEndPoint!).Port;
        _echoLoop = EchoLoopAsync();
    }

    private int EchoPort { get; }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static IPEndPoint Relay => new(TunnelPair.TunnelAddress, InternalPort);

    public async ValueTask DisposeAsync()
    {
        _echo.Dispose();
        await _echoLoop;
        _pair.Dispose();
    }

    /// <summary>Answers each datagram with "&lt;the sender's port&gt;|&lt;the datagram&gt;".</summary>
    private async Task EchoLoopAsync()
    {
        var buffer = new byte[65_535];
        while (true)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _echo.ReceiveFromAsync(buffer, new IPEndPoint(IPAddress.Any, 0));
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                return;
            }
            var sender = (IPEndPoint)received.RemoteEndPoint;
            var prefix = Encoding.ASCII.GetBytes(sender.Port.ToString(CultureInfo.InvariantCulture) + "|");
            byte[] reply = [.. prefix, .. buffer.AsSpan(0, received.ReceivedBytes)];
            await _echo.SendToAsync(reply, sender);
        }
    }

    private UdpProxy StartProxy(ProxyCounters counters, ProxyOptions options)
    {
        var proxy = new UdpProxy(_pair.Newt.BindUdp(Relay), "127.0.0.1", EchoPort, counters, options);
        proxy.Start();
        return proxy;
    }

    private UdpSocket Client() => _pair.Server.BindUdp(new IPEndPoint(TunnelPair.ServerAddress, 0));

    /// <summary>Sends through the relay and returns the echo's answer: the upstream port it heard from, and the payload.</summary>
    private static async Task<(int UpstreamPort, byte[] Payload)> RoundTripAsync(UdpSocket client, byte[] payload)
    {
        client.SendTo(payload, Relay);
        var buffer = new byte[70_000];
        var received = await client.ReceiveFromAsync(buffer, Ct).AsTask().WaitAsync(Bounds.Step, Ct);
        Assert.Equal(Relay, received.RemoteEndPoint);
        var bar = Array.IndexOf(buffer, (byte)'|');
        return (int.Parse(Encoding.ASCII.GetString(buffer, 0, bar), CultureInfo.InvariantCulture), buffer[(bar + 1)..received.Length]);
    }

    private static Task<(int UpstreamPort, byte[] Payload)> RoundTripAsync(UdpSocket client, string text) =>
        RoundTripAsync(client, Encoding.ASCII.GetBytes(text));

    [Fact]
    public async Task Datagrams_cross_the_relay_both_ways_including_one_that_is_fragmented_in_the_tunnel()
    {
        var counters = new ProxyCounters();
        await using var proxy = StartProxy(counters, new ProxyOptions());
        using var client = Client();
        var large = new byte[20_000];
        new Random(3).NextBytes(large);

        var (firstPort, first) = await RoundTripAsync(client, "hello");
        var (secondPort, second) = await RoundTripAsync(client, large);

        Assert.Equal("hello", Encoding.ASCII.GetString(first));
        Assert.Equal(large, second);
        Assert.Equal(firstPort, secondPort); // one session per client
        Assert.Equal(1, proxy.SessionCount);
        Assert.Equal(5 + large.Length, counters.UdpBytesIn);
        Assert.Equal(1, counters.UdpSessions);
    }

    [Fact]
    public async Task The_manager_relays_UDP_targets_too()
    {
        await using var manager = new ProxyManager(_pair.Newt, TunnelPair.TunnelAddress);
        manager.Add(new ProxyTarget(ProxyProtocol.Udp, InternalPort, "localhost", EchoPort));
        using var client = Client();

        var (_, payload) = await RoundTripAsync(client, "through the manager");

        Assert.Equal("through the manager", Encoding.ASCII.GetString(payload));
        Assert.Equal(1, manager.Counters.UdpActiveSessions);
    }

    [Fact]
    public async Task Two_clients_get_separate_sessions_and_each_gets_its_own_replies()
    {
        var counters = new ProxyCounters();
        await using var proxy = StartProxy(counters, new ProxyOptions());
        using var a = Client();
        using var b = Client();

        var (aPort, aPayload) = await RoundTripAsync(a, "from a");
        var (bPort, bPayload) = await RoundTripAsync(b, "from b");
        var (aAgain, _) = await RoundTripAsync(a, "a again");

        Assert.Equal("from a", Encoding.ASCII.GetString(aPayload));
        Assert.Equal("from b", Encoding.ASCII.GetString(bPayload));
        Assert.NotEqual(aPort, bPort);
        Assert.Equal(aPort, aAgain);
        Assert.Equal(2, proxy.SessionCount);
        Assert.Equal(2, counters.UdpActiveSessions);
        Assert.Equal(new[] { a.LocalEndPoint.Port, b.LocalEndPoint.Port }.Order(), proxy.Clients.Select(e => e.Port).Order());
    }

    [Fact]
    public async Task A_session_closes_after_the_idle_timeout_and_traffic_either_way_postpones_it()
    {
        var time = new FakeTimeProvider();
        var counters = new ProxyCounters();
        await using var proxy = StartProxy(counters, new ProxyOptions { Time = time, UdpIdleTimeout = TimeSpan.FromSeconds(90) });
        using var client = Client();
        await RoundTripAsync(client, "first");

        time.Advance(TimeSpan.FromSeconds(89));
        Assert.Equal(1, proxy.SessionCount);
        await RoundTripAsync(client, "refresh at 89 s");
        time.Advance(TimeSpan.FromSeconds(89));
        Assert.Equal(1, proxy.SessionCount);
        time.Advance(TimeSpan.FromSeconds(1));

        Assert.Equal(0, proxy.SessionCount);
        Assert.Equal(1, counters.UdpExpired);
        Assert.Equal(0, counters.UdpActiveSessions);
        var (_, payload) = await RoundTripAsync(client, "a new session");
        Assert.Equal("a new session", Encoding.ASCII.GetString(payload));
        Assert.Equal(2, counters.UdpSessions);
    }

    [Fact]
    public async Task At_the_session_limit_a_new_client_closes_the_longest_idle_session()
    {
        var time = new FakeTimeProvider();
        var counters = new ProxyCounters();
        await using var proxy = StartProxy(counters, new ProxyOptions { Time = time, UdpMaxSessions = 2 });
        using var a = Client();
        using var b = Client();
        using var c = Client();
        await RoundTripAsync(a, "a at 0 s");
        time.Advance(TimeSpan.FromSeconds(1));
        await RoundTripAsync(b, "b at 1 s");
        time.Advance(TimeSpan.FromSeconds(1));
        await RoundTripAsync(a, "a again at 2 s");
        time.Advance(TimeSpan.FromSeconds(1));

        await RoundTripAsync(c, "c at 3 s");

        Assert.Equal(2, proxy.SessionCount);
        Assert.Equal([a.LocalEndPoint.Port, c.LocalEndPoint.Port], proxy.Clients.Select(e => e.Port).Order());
        Assert.Equal(1, counters.UdpEvicted);
        Assert.Equal(2, counters.UdpActiveSessions);
    }

    [Fact]
    public async Task Disposing_closes_every_session_and_frees_the_port()
    {
        var counters = new ProxyCounters();
        var proxy = StartProxy(counters, new ProxyOptions());
        using var a = Client();
        using var b = Client();
        await RoundTripAsync(a, "a");
        await RoundTripAsync(b, "b");

        await proxy.DisposeAsync().AsTask().WaitAsync(Bounds.Step, Ct);

        Assert.Equal(0, proxy.SessionCount);
        Assert.Equal(0, counters.UdpActiveSessions);
        using var again = _pair.Newt.BindUdp(Relay);
    }
}
