using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Pangolin.Newt.Proxy;
using Pangolin.Newt.Tests.Infrastructure;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Newt.Tests.Tunnel;

/// <summary>
/// <c>--native</c>: newt's tunnel on a kernel TUN interface in a namespace, the exit node connecting through it to
/// relays that listen on kernel sockets bound to the tunnel IP (root, as CI runs).
/// </summary>
public sealed class NativeTunnelTests
{
    private const int InternalPort = 40001;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ProxyTarget Tcp(int port) => new(ProxyProtocol.Tcp, InternalPort, "127.0.0.1", port);

    [Fact]
    public async Task The_interface_is_up_with_the_tunnel_IP_and_MTU_and_routes_the_exit_node_through_itself()
    {
        await using var site = await NativeSite.StartAsync();

        var link = site.ShowInterface();
        var addresses = site.Namespace.Ip("-o", "addr", "show", "dev", NativeSite.InterfaceName);
        var route = site.Namespace.Ip("route", "get", NativeSite.ServerAddress.ToString());

        Assert.NotNull(link);
        Assert.Contains($"mtu {NativeSite.Mtu} ", link, StringComparison.Ordinal);
        Assert.Contains(",UP,", link, StringComparison.Ordinal);
        Assert.Contains($"inet {NativeSite.TunnelAddress}/32 ", addresses, StringComparison.Ordinal);
        Assert.Contains($"dev {NativeSite.InterfaceName} ", route, StringComparison.Ordinal);
        await site.PingUntilAnsweredAsync();
    }

    [Fact]
    public async Task A_tunnel_IP_sent_with_a_prefix_keeps_it()
    {
        await using var site = await NativeSite.StartAsync(tunnelIp: "100.89.137.4/30");

        var addresses = site.Namespace.Ip("-o", "addr", "show", "dev", NativeSite.InterfaceName);

        Assert.Contains($"inet {NativeSite.TunnelAddress}/30 ", addresses, StringComparison.Ordinal);
        await site.PingUntilAnsweredAsync();
    }

    [Fact]
    public async Task TCP_from_the_exit_node_crosses_the_relay_intact_with_each_end_of_stream_passed_on()
    {
        await using var site = await NativeSite.StartAsync();
        await using var target = LoopbackTcpServer.Echo();
        site.Session.Proxies.Add(Tcp(target.Port));
        await site.PingUntilAnsweredAsync();
        var payload = RandomNumberGenerator.GetBytes(4 << 20);

        await using var client = await site.ConnectAsync(InternalPort);
        var receiving = client.ReadToEndAsync();
        await client.WriteAsync(payload, Ct).AsTask().WaitAsync(Bounds.Bulk, Ct);
        client.ShutdownSend();

        // The echo ends its side only after it has seen ours: the whole payload back, then an end of stream.
        Assert.Equal(payload, await receiving.WaitAsync(Bounds.Bulk, Ct));
        Assert.Equal(payload.Length, site.Session.Proxies.Counters.TcpBytesIn);
        Assert.Equal(1, site.Session.Proxies.Counters.TcpAccepted);
    }

    [Fact]
    public async Task When_the_target_ends_its_side_the_exit_node_sees_the_end_and_can_still_send()
    {
        await using var site = await NativeSite.StartAsync();
        var targetRead = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var target = new LoopbackTcpServer(async socket =>
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("all I have to say"));
            socket.Shutdown(SocketShutdown.Send);
            var text = new StringBuilder();
            var buffer = new byte[256];
            int read;
            while ((read = await socket.ReceiveAsync(buffer)) > 0)
            {
                text.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }
            targetRead.SetResult(text.ToString());
        });
        site.Session.Proxies.Add(Tcp(target.Port));
        await site.PingUntilAnsweredAsync();
        await using var client = await site.ConnectAsync(InternalPort);

        Assert.Equal("all I have to say", Encoding.ASCII.GetString(await client.ReadToEndAsync()));
        await client.WriteAsync("a reply after your end");
        client.ShutdownSend();

        Assert.Equal("a reply after your end", await targetRead.Task.WaitAsync(Bounds.Step, Ct));
    }

    [Fact]
    public async Task UDP_from_the_exit_node_crosses_the_relay_with_a_session_per_client()
    {
        await using var site = await NativeSite.StartAsync();
        using var echo = new UdpEcho();
        site.Session.Proxies.Add(new ProxyTarget(ProxyProtocol.Udp, InternalPort, "127.0.0.1", echo.Port));
        await site.PingUntilAnsweredAsync();
        var relay = new IPEndPoint(NativeSite.TunnelAddress, InternalPort);
        using var first = site.Node.Stack.BindUdp(new IPEndPoint(NativeSite.ServerAddress, 0));
        using var second = site.Node.Stack.BindUdp(new IPEndPoint(NativeSite.ServerAddress, 0));
        var large = RandomNumberGenerator.GetBytes(8000);

        var (firstPort, firstAnswer) = await RoundTripAsync(first, relay, large);
        var (secondPort, secondAnswer) = await RoundTripAsync(second, relay, "hello"u8.ToArray());
        var (againPort, _) = await RoundTripAsync(first, relay, "again"u8.ToArray());

        Assert.Equal(large, firstAnswer);
        Assert.Equal("hello"u8.ToArray(), secondAnswer);
        Assert.NotEqual(firstPort, secondPort); // each client its own upstream socket
        Assert.Equal(firstPort, againPort);
        Assert.Equal(2, site.Session.Proxies.Counters.UdpSessions);
    }

    [Fact]
    public async Task A_removed_target_stops_listening_while_its_open_connection_goes_on()
    {
        await using var site = await NativeSite.StartAsync();
        await using var target = LoopbackTcpServer.Echo();
        site.Session.Proxies.Add(Tcp(target.Port));
        await site.PingUntilAnsweredAsync();
        await using var open = await site.ConnectAsync(InternalPort);
        await open.WriteAsync("ping");
        Assert.Equal("ping", await open.ReadTextAsync(4));

        Assert.True(site.Session.Proxies.Remove(ProxyProtocol.Tcp, InternalPort));

        var error = await Record.ExceptionAsync(() => site.ConnectAsync(InternalPort));
        Assert.True(error is SocketException or IOException, $"Expected the connection to be refused, got {error?.GetType().Name ?? "a connection"}.");
        await open.WriteAsync("still relayed");
        Assert.Equal("still relayed", await open.ReadTextAsync(13));
    }

    [Fact]
    public async Task A_replaced_target_takes_new_connections_at_once_while_the_old_one_goes_on()
    {
        await using var site = await NativeSite.StartAsync();
        await using var first = LoopbackTcpServer.Named("one");
        await using var second = LoopbackTcpServer.Named("two");
        site.Session.Proxies.Add(Tcp(first.Port));
        await site.PingUntilAnsweredAsync();
        await using var old = await site.ConnectAsync(InternalPort);
        Assert.Equal("one\n", await old.ReadTextAsync(4));

        site.Session.Proxies.Add(Tcp(second.Port));

        await using var replacement = await site.ConnectAsync(InternalPort);
        Assert.Equal("two\n", await replacement.ReadTextAsync(4));
        await old.WriteAsync("still one");
        Assert.Equal("still one", await old.ReadTextAsync(9));
    }

    [Fact]
    public async Task A_replaced_UDP_target_gets_the_next_datagram_on_the_same_port()
    {
        await using var site = await NativeSite.StartAsync();
        using var first = new UdpEcho();
        using var second = new UdpEcho();
        site.Session.Proxies.Add(new ProxyTarget(ProxyProtocol.Udp, InternalPort, "127.0.0.1", first.Port));
        await site.PingUntilAnsweredAsync();
        var relay = new IPEndPoint(NativeSite.TunnelAddress, InternalPort);
        using var client = site.Node.Stack.BindUdp(new IPEndPoint(NativeSite.ServerAddress, 0));
        await RoundTripAsync(client, relay, "to the first"u8.ToArray());

        site.Session.Proxies.Add(new ProxyTarget(ProxyProtocol.Udp, InternalPort, "127.0.0.1", second.Port));
        var (_, answer) = await RoundTripAsync(client, relay, "to the second"u8.ToArray());

        Assert.Equal("to the second"u8.ToArray(), answer);
        Assert.Equal(1, first.Received);
        Assert.Equal(1, second.Received);
    }

    [Fact]
    public async Task Teardown_removes_the_interface()
    {
        await using var site = await NativeSite.StartAsync();
        Assert.NotNull(site.ShowInterface());

        await site.StopSessionAsync();

        Assert.True(await Eventually.TrueAsync(() => site.ShowInterface() is null, Bounds.Step), "the interface outlived the tunnel");
    }

    [Fact]
    public async Task A_stale_interface_of_the_same_name_is_replaced_and_goes_with_the_tunnel()
    {
        // A persistent TUN with an address of its own, as a crashed or foreign run could leave behind.
        await using var site = await NativeSite.StartAsync(ns =>
        {
            ns.Ip("tuntap", "add", "dev", NativeSite.InterfaceName, "mode", "tun");
            ns.AddAddress(NativeSite.InterfaceName, "10.9.9.9/32");
        });

        var addresses = site.Namespace.Ip("-o", "addr", "show", "dev", NativeSite.InterfaceName);
        Assert.DoesNotContain("10.9.9.9", addresses, StringComparison.Ordinal);
        Assert.Contains($"inet {NativeSite.TunnelAddress}/32 ", addresses, StringComparison.Ordinal);
        await site.PingUntilAnsweredAsync();

        await site.StopSessionAsync();

        // Not merely attached to: the persistent one would have stayed.
        Assert.True(await Eventually.TrueAsync(() => site.ShowInterface() is null, Bounds.Step), "the interface outlived the tunnel");
    }

    [Fact]
    public async Task Four_unanswered_pings_through_the_kernel_count_as_a_lost_tunnel()
    {
        await using var site = await NativeSite.StartAsync();
        await site.PingUntilAnsweredAsync();
        var lost = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await site.Node.DisposeAsync(); // the exit node goes away: nothing answers any more

        site.Session.StartLiveness(TimeSpan.FromMilliseconds(50), TimeSpan.FromMilliseconds(200), TimeProvider.System, () => lost.SetResult());

        await lost.Task.WaitAsync(Bounds.Step, Ct);
    }

    private static async Task<(int UpstreamPort, byte[] Payload)> RoundTripAsync(Pangolin.Netstack.Udp.UdpSocket client, IPEndPoint relay, byte[] payload)
    {
        client.SendTo(payload, relay);
        var buffer = new byte[70_000];
        var received = await client.ReceiveFromAsync(buffer, Ct).AsTask().WaitAsync(Bounds.Step, Ct);
        Assert.Equal(relay, received.RemoteEndPoint);
        var port = BitConverter.ToUInt16(buffer, 0);
        return (port, buffer[2..received.Length]);
    }

    /// <summary>Answers each datagram with the sender's port (2 bytes, host order) and the datagram.</summary>
    private sealed class UdpEcho : IDisposable
    {
        private readonly Socket _socket = new(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        private int _received;

        public UdpEcho()
        {
            _socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            Port = ((IPEndPoint)_socket.LocalEndPoint!).Port;
            _ = LoopAsync();
        }

        public int Port { get; }

        public int Received => Volatile.Read(ref _received);

        public void Dispose() => _socket.Dispose();

        private async Task LoopAsync()
        {
            var buffer = new byte[65_535];
            while (true)
            {
                SocketReceiveFromResult received;
                try
                {
                    received = await _socket.ReceiveFromAsync(buffer.AsMemory(2), new IPEndPoint(IPAddress.Any, 0));
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    return;
                }
                Interlocked.Increment(ref _received);
                var sender = (IPEndPoint)received.RemoteEndPoint;
                BitConverter.TryWriteBytes(buffer, (ushort)sender.Port);
                await _socket.SendToAsync(buffer.AsMemory(0, received.ReceivedBytes + 2), sender);
            }
        }
    }
}
