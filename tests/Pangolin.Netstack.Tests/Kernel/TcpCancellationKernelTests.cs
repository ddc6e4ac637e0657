using System.Net;
using System.Net.Sockets;
using Pangolin.Netstack.Tests.Infrastructure;
using Pangolin.WireGuard.Net;

namespace Pangolin.Netstack.Tests.Kernel;

/// <summary>
/// Cancellation against the Linux kernel: a connect nobody answers gives up when its token is cancelled and leaves
/// nothing behind; a cancelled read or accept ends with OperationCanceledException and the connection or listener
/// goes on working.
/// </summary>
[Trait("Category", "Kernel")]
public sealed class TcpCancellationKernelTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData("10.8.0.77")]
    [InlineData("fd00:8::77")]
    public async Task A_connect_nobody_answers_is_cancelled_promptly_and_leaves_no_connection(string address)
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        // An address on the kernel's subnet that nothing holds: the kernel does not forward, so the SYN just vanishes.
        using var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cancel.CancelAfter(TimeSpan.FromMilliseconds(300));
        var started = TimeProvider.System.GetTimestamp();

        var connecting = peer.Stack.ConnectTcpAsync(new IPEndPoint(IPAddress.Parse(address), 80), cancel.Token);
        Assert.Equal(1, peer.Stack.TcpConnectionCount);
        var error = await Assert.ThrowsAnyAsync<OperationCanceledException>(() => connecting.WaitAsync(Deadline, ct));

        var elapsed = TimeProvider.System.GetElapsedTime(started);
        Assert.Equal(cancel.Token, error.CancellationToken);
        Assert.InRange(elapsed, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(2));
        Assert.Equal(0, peer.Stack.TcpConnectionCount);
        Assert.Equal(0, peer.Stack.ResetsSent);
    }

    [Fact]
    public async Task A_read_with_a_cancelled_token_throws_and_the_connection_still_works()
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.Any, 8084));
        using var client = NetNamespace.Run(peer.Namespace.Name, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        var connect = client.ConnectAsync(new IPEndPoint(KernelPeer.StackV4, 8084), ct).AsTask();
        await using var server = await listener.AcceptAsync(ct).AsTask().WaitAsync(Deadline, ct);
        await connect.WaitAsync(Deadline, ct);
        var buffer = new byte[100];

        // Cancelled before the call.
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => server.ReadAsync(buffer, new CancellationToken(canceled: true)).AsTask());

        // Cancelled while waiting for data.
        using (var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            var pending = server.ReadAsync(buffer, cancel.Token).AsTask();
            Assert.False(pending.IsCompleted);
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.WaitAsync(Deadline, ct));
        }

        // The cancelled reads took nothing: the next data arrives whole, both ways.
        await client.SendAsync("after the cancellations"u8.ToArray(), ct);
        var n = await server.ReadAsync(buffer, ct).AsTask().WaitAsync(Deadline, ct);
        Assert.Equal("after the cancellations", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        await server.WriteAsync("still here"u8.ToArray(), ct).AsTask().WaitAsync(Deadline, ct);
        n = await client.ReceiveAsync(buffer, ct).AsTask().WaitAsync(Deadline, ct);
        Assert.Equal("still here", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
        Assert.Equal(1, peer.Stack.TcpConnectionCount);
    }

    [Fact]
    public async Task A_cancelled_accept_throws_and_the_listener_still_accepts()
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.Any, 8085));
        using (var cancel = CancellationTokenSource.CreateLinkedTokenSource(ct))
        {
            var accepting = listener.AcceptAsync(cancel.Token).AsTask();
            await cancel.CancelAsync();
            await Assert.ThrowsAnyAsync<OperationCanceledException>(() => accepting.WaitAsync(Deadline, ct));
        }

        using var client = NetNamespace.Run(peer.Namespace.Name, () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        var connect = client.ConnectAsync(new IPEndPoint(KernelPeer.StackV4, 8085), ct).AsTask();
        await using var server = await listener.AcceptAsync(ct).AsTask().WaitAsync(Deadline, ct);
        await connect.WaitAsync(Deadline, ct);
        await client.SendAsync("accepted"u8.ToArray(), ct);
        var buffer = new byte[100];
        var n = await server.ReadAsync(buffer, ct).AsTask().WaitAsync(Deadline, ct);
        Assert.Equal("accepted", System.Text.Encoding.ASCII.GetString(buffer, 0, n));
    }
}
