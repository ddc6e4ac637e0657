using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Newt.Proxy;
using Pangolin.Newt.Tests.Infrastructure;

namespace Pangolin.Newt.Tests.Proxy;

/// <summary>
/// TCP relaying end to end: the server's stack connects to the site's tunnel IP, newt's stack accepts, and the relay
/// reaches a real OS listener on loopback.
/// </summary>
public sealed class TcpRelayTests
{
    private const int InternalPort = 40001;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static ProxyTarget Tcp(int internalPort, int targetPort) => new(ProxyProtocol.Tcp, internalPort, "127.0.0.1", targetPort);

    private static async Task<string> ReceiveToEndAsync(Socket socket)
    {
        var text = new StringBuilder();
        var buffer = new byte[4096];
        int read;
        while ((read = await socket.ReceiveAsync(buffer)) > 0)
        {
            text.Append(Encoding.ASCII.GetString(buffer, 0, read));
        }
        return text.ToString();
    }

    private static async Task AssertRefusedAsync(TunnelPair pair, int internalPort)
    {
        var error = await Record.ExceptionAsync(() => pair.ConnectAsync(internalPort));
        Assert.True(error is SocketException or IOException, $"Expected the connection to be refused, got {error?.GetType().Name ?? "a connection"}.");
    }

    private static async Task<string> GreetingAsync(TunnelPair pair, int internalPort)
    {
        await using var client = await pair.ConnectAsync(internalPort);
        var greeting = await client.ReadTextAsync(4);
        client.ShutdownSend();
        await client.ReadToEndAsync();
        return greeting.TrimEnd('\n');
    }

    [Fact]
    public async Task Sixty_four_MiB_cross_the_relay_both_ways_intact()
    {
        using var pair = new TunnelPair();
        await using var target = LoopbackTcpServer.Echo();
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress);
        manager.Add(Tcp(InternalPort, target.Port));
        await using var client = await pair.ConnectAsync(InternalPort);
        const long Total = 64L << 20;
        using var sentHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        using var receivedHash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        var sending = Task.Run(async () =>
        {
            var random = new Random(5);
            var chunk = new byte[64 * 1024];
            for (long sent = 0; sent < Total; sent += chunk.Length)
            {
                random.NextBytes(chunk);
                sentHash.AppendData(chunk);
                await client.WriteAsync(chunk, Ct);
            }
            client.ShutdownSend();
        }, Ct);
        var receiving = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            long received = 0;
            int read;
            while ((read = await client.ReadAsync(buffer, Ct)) > 0)
            {
                receivedHash.AppendData(buffer, 0, read);
                received += read;
            }
            return received;
        }, Ct);
        await Task.WhenAll(sending, receiving).WaitAsync(Bounds.Bulk, Ct);

        Assert.Equal(Total, await receiving);
        Assert.Equal(sentHash.GetHashAndReset(), receivedHash.GetHashAndReset());
        // Counted before each side's end of stream is passed on, so complete once the client has read its end.
        Assert.Equal(Total, manager.Counters.TcpBytesIn);
        Assert.Equal(Total, manager.Counters.TcpBytesOut);
        Assert.Equal(1, manager.Counters.TcpAccepted);
    }

    [Fact]
    public async Task When_the_client_ends_its_side_the_target_sees_the_end_and_can_still_answer()
    {
        using var pair = new TunnelPair();
        var targetRead = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var target = new LoopbackTcpServer(async socket =>
        {
            targetRead.SetResult(await ReceiveToEndAsync(socket));
            await socket.SendAsync(Encoding.ASCII.GetBytes("answer after your end"));
            socket.Shutdown(SocketShutdown.Send);
        });
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress);
        manager.Add(Tcp(InternalPort, target.Port));
        await using var client = await pair.ConnectAsync(InternalPort);

        await client.WriteAsync("the whole request");
        client.ShutdownSend();

        Assert.Equal("the whole request", await targetRead.Task.WaitAsync(Bounds.Step, Ct));
        Assert.Equal("answer after your end", Encoding.ASCII.GetString(await client.ReadToEndAsync()));
    }

    [Fact]
    public async Task When_the_target_ends_its_side_the_client_sees_the_end_and_can_still_send()
    {
        using var pair = new TunnelPair();
        var targetRead = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var target = new LoopbackTcpServer(async socket =>
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes("all I have to say"));
            socket.Shutdown(SocketShutdown.Send);
            targetRead.SetResult(await ReceiveToEndAsync(socket));
        });
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress);
        manager.Add(Tcp(InternalPort, target.Port));
        await using var client = await pair.ConnectAsync(InternalPort);

        Assert.Equal("all I have to say", Encoding.ASCII.GetString(await client.ReadToEndAsync()));
        await client.WriteAsync("a reply after your end");
        client.ShutdownSend();

        Assert.Equal("a reply after your end", await targetRead.Task.WaitAsync(Bounds.Step, Ct));
    }

    [Fact]
    public async Task A_refused_target_resets_the_tunnel_connection_at_once_and_counts_a_failure()
    {
        using var pair = new TunnelPair();
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress);
        manager.Add(Tcp(InternalPort, LoopbackTcpServer.ClosedPort()));
        await using var client = await pair.ConnectAsync(InternalPort);

        var error = await Record.ExceptionAsync(() => client.ReadAsync(new byte[1], Ct).AsTask().WaitAsync(Bounds.Step, Ct));

        var reset = Assert.IsType<IOException>(error);
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(reset.InnerException).SocketErrorCode);
        Assert.Equal(1, manager.Counters.TcpAccepted);
        Assert.Equal(1, manager.Counters.TcpFailed);
    }

    [Fact]
    public async Task Two_hundred_concurrent_connections_each_get_their_own_bytes_back()
    {
        using var pair = new TunnelPair();
        await using var target = LoopbackTcpServer.Echo();
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress);
        manager.Add(Tcp(InternalPort, target.Port));

        var connections = Enumerable.Range(0, 200).Select(async i =>
        {
            await using var client = await pair.ConnectAsync(InternalPort);
            var message = $"connection {i:D3} " + new string((char)('a' + (i % 26)), 2000);
            await client.WriteAsync(message);
            client.ShutdownSend();
            return (Sent: message, Received: Encoding.ASCII.GetString(await client.ReadToEndAsync()));
        }).ToList();
        var results = await Task.WhenAll(connections).WaitAsync(Bounds.Bulk, Ct);

        Assert.All(results, r => Assert.Equal(r.Sent, r.Received));
        Assert.Equal(200, target.Accepted);
        Assert.Equal(200, manager.Counters.TcpAccepted);
        Assert.Equal(0, manager.Counters.TcpFailed);
    }

    [Fact]
    public async Task Remove_refuses_new_connections_while_one_already_open_goes_on()
    {
        using var pair = new TunnelPair();
        await using var target = LoopbackTcpServer.Echo();
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress);
        manager.Add(Tcp(InternalPort, target.Port));
        await using var open = await pair.ConnectAsync(InternalPort);
        await open.WriteAsync("ping");
        Assert.Equal("ping", await open.ReadTextAsync(4));

        Assert.True(manager.Remove(ProxyProtocol.Tcp, InternalPort));

        Assert.Empty(manager.Targets);
        await AssertRefusedAsync(pair, InternalPort);
        await open.WriteAsync("still relayed");
        Assert.Equal("still relayed", await open.ReadTextAsync(13));
        Assert.False(manager.Remove(ProxyProtocol.Tcp, InternalPort));
        Assert.False(manager.Remove(ProxyProtocol.Udp, InternalPort));
    }

    [Fact]
    public async Task Adding_a_target_on_a_port_in_use_replaces_it()
    {
        using var pair = new TunnelPair();
        await using var one = LoopbackTcpServer.Named("one");
        await using var two = LoopbackTcpServer.Named("two");
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress);
        manager.Add(Tcp(InternalPort, one.Port));
        Assert.Equal("one", await GreetingAsync(pair, InternalPort));

        manager.Add(Tcp(InternalPort, two.Port));

        Assert.Equal("two", await GreetingAsync(pair, InternalPort));
        Assert.Equal([Tcp(InternalPort, two.Port)], manager.Targets);
    }

    [Fact]
    public async Task Sync_removes_what_is_not_wanted_replaces_what_changed_and_adds_what_is_missing()
    {
        using var pair = new TunnelPair();
        await using var one = LoopbackTcpServer.Named("one");
        await using var two = LoopbackTcpServer.Named("two");
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress);
        manager.Add(Tcp(40001, one.Port));
        manager.Add(Tcp(40002, one.Port));
        manager.Add(Tcp(40003, one.Port));
        await using var unchanged = await pair.ConnectAsync(40003);
        Assert.Equal("one\n", await unchanged.ReadTextAsync(4));

        manager.Sync([Tcp(40001, two.Port), Tcp(40003, one.Port), Tcp(40004, two.Port)]);

        Assert.Equal([Tcp(40001, two.Port), Tcp(40003, one.Port), Tcp(40004, two.Port)], manager.Targets);
        Assert.Equal("two", await GreetingAsync(pair, 40001));
        await AssertRefusedAsync(pair, 40002);
        Assert.Equal("one", await GreetingAsync(pair, 40003));
        Assert.Equal("two", await GreetingAsync(pair, 40004));
        // An unchanged target keeps its listener, so the connection opened before the sync was never touched.
        await unchanged.WriteAsync("same relay");
        Assert.Equal("same relay", await unchanged.ReadTextAsync(10));
    }

    [Fact]
    public async Task Sync_for_one_protocol_leaves_the_other_alone()
    {
        using var pair = new TunnelPair();
        await using var one = LoopbackTcpServer.Named("one");
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress);
        var udp = new ProxyTarget(ProxyProtocol.Udp, 40001, "127.0.0.1", 5353);
        manager.Add(Tcp(40001, one.Port));
        manager.Add(udp);

        manager.Sync([], ProxyProtocol.Udp);

        Assert.Equal([Tcp(40001, one.Port)], manager.Targets);
        Assert.Throws<ArgumentException>(() => manager.Sync([udp], ProxyProtocol.Tcp));
        manager.Sync([udp]);
        Assert.Equal([udp], manager.Targets);
    }

    [Fact]
    public async Task The_updown_hook_sees_each_add_and_remove_and_its_answer_replaces_the_target()
    {
        using var pair = new TunnelPair();
        await using var one = LoopbackTcpServer.Named("one");
        await using var two = LoopbackTcpServer.Named("two");
        var calls = new List<string>();
        var options = new ProxyOptions
        {
            UpDown = (action, protocol, target) =>
            {
                calls.Add($"{action} {protocol} {target}");
                return action == "add" ? $" 127.0.0.1:{two.Port}\n" : "ignored on remove";
            },
        };
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress, options);

        manager.Add(Tcp(InternalPort, one.Port));

        Assert.Equal("two", await GreetingAsync(pair, InternalPort));
        Assert.Equal([Tcp(InternalPort, one.Port)], manager.Targets); // as the server sent it, so sync compares right
        Assert.Equal($"127.0.0.1:{two.Port}", manager.DialAddress(ProxyProtocol.Tcp, InternalPort));
        Assert.True(manager.Remove(ProxyProtocol.Tcp, InternalPort));
        Assert.Equal([$"add tcp 127.0.0.1:{one.Port}", $"remove tcp 127.0.0.1:{one.Port}"], calls);
    }

    [Fact]
    public async Task An_updown_answer_that_is_not_host_and_port_keeps_the_target()
    {
        using var pair = new TunnelPair();
        await using var one = LoopbackTcpServer.Named("one");
        var options = new ProxyOptions { UpDown = (_, _, _) => "not an address" };
        await using var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress, options);

        manager.Add(Tcp(InternalPort, one.Port));

        Assert.Equal("one", await GreetingAsync(pair, InternalPort));
    }

    [Fact]
    public async Task Dispose_refuses_new_connections_lets_open_ones_run_for_the_grace_period_then_resets_them()
    {
        using var pair = new TunnelPair();
        await using var target = LoopbackTcpServer.Echo();
        var time = new FakeTimeProvider();
        var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress, new ProxyOptions { Time = time, ShutdownGrace = TimeSpan.FromSeconds(5) });
        manager.Add(Tcp(InternalPort, target.Port));
        await using var open = await pair.ConnectAsync(InternalPort);
        await open.WriteAsync("before");
        Assert.Equal("before", await open.ReadTextAsync(6));

        var disposing = manager.DisposeAsync().AsTask();

        await AssertRefusedAsync(pair, InternalPort);
        await open.WriteAsync("during grace");
        Assert.Equal("during grace", await open.ReadTextAsync(12));
        Assert.False(disposing.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(5));
        var error = await Record.ExceptionAsync(() => open.ReadAsync(new byte[1], Ct).AsTask().WaitAsync(Bounds.Step, Ct));
        Assert.IsType<IOException>(error);
        await disposing.WaitAsync(Bounds.Step, Ct);
        Assert.Equal(0, manager.Counters.TcpActiveConnections);
    }

    [Fact]
    public async Task Dispose_finishes_without_waiting_out_the_grace_period_once_open_connections_end()
    {
        using var pair = new TunnelPair();
        await using var target = LoopbackTcpServer.Echo();
        var time = new FakeTimeProvider();
        var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress, new ProxyOptions { Time = time });
        manager.Add(Tcp(InternalPort, target.Port));
        await using var open = await pair.ConnectAsync(InternalPort);
        // A round trip first: a connection still in the accept queue when the listener closes is reset, as by a kernel.
        await open.WriteAsync("relayed");
        Assert.Equal("relayed", await open.ReadTextAsync(7));
        await open.WriteAsync("last words");

        var disposing = manager.DisposeAsync().AsTask();
        open.ShutdownSend();

        Assert.Equal("last words", Encoding.ASCII.GetString(await open.ReadToEndAsync()));
        await disposing.WaitAsync(Bounds.Step, Ct); // the fake clock never moved
        Assert.Equal(0, manager.Counters.TcpActiveConnections);
    }
}
