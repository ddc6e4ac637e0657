using System.Net;
using System.Net.Sockets;
using Pangolin.Netstack.Tests.Infrastructure;
using Pangolin.WireGuard.Net;

namespace Pangolin.Netstack.Tests.Kernel;

/// <summary>
/// Resets between the stack and the Linux kernel (RFC 9293 §3.5.2, §3.10.7): a connection to a closed kernel port is
/// refused; a kernel socket closed with SO_LINGER 0 resets the stack's connection; the stack's own abort (closing with
/// unread data, RFC 2525 §2.17, or disposing the stack) resets the kernel's. (The kernel connecting to a closed stack
/// port is in IcmpUdpKernelTests.)
/// </summary>
[Trait("Category", "Kernel")]
public sealed class TcpResetKernelTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_stack_connecting_to_a_kernel_port_nothing_listens_on_is_refused_at_once(bool ipv6)
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        var started = TimeProvider.System.GetTimestamp();

        var error = await Assert.ThrowsAnyAsync<Exception>(() =>
            peer.Stack.ConnectTcpAsync(new IPEndPoint(ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4, 9), ct).WaitAsync(Deadline, ct));

        // The kernel's RST answers the first SYN: no retransmission (the first would come after a second).
        Assert.True(TimeProvider.System.GetElapsedTime(started) < TimeSpan.FromSeconds(1), "refused by the first reset");
        Assert.Equal(SocketError.ConnectionRefused, Assert.IsType<SocketException>(error).SocketErrorCode);
        Assert.Equal(0, peer.Stack.TcpConnectionCount);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_kernel_socket_closed_with_linger_zero_resets_the_stack_connection_and_its_pending_read_fails(bool ipv6)
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        var (client, server) = await ConnectFromKernelAsync(peer, ipv6, ct);
        await using var _ = server;
        using (client)
        {
            // Data first, so the reset comes on a connection that carried some.
            await client.SendAsync("before the reset"u8.ToArray(), ct);
            var buffer = new byte[100];
            Assert.Equal(16, await ReadAtLeastAsync(server, buffer, 16, ct));
            var pending = server.ReadAsync(buffer, ct).AsTask();
            Assert.False(pending.IsCompleted);

            client.LingerState = new LingerOption(true, 0);
            client.Close(); // SO_LINGER 0: close sends RST instead of FIN

            var error = await Assert.ThrowsAsync<IOException>(() => pending.WaitAsync(Deadline, ct));
            Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        }
        // The connection is gone: reads and writes keep failing, and it left the table.
        await Assert.ThrowsAsync<IOException>(() => server.ReadAsync(new byte[10], ct).AsTask());
        await Assert.ThrowsAsync<IOException>(async () => await server.WriteAsync(new byte[10], ct));
        Assert.Equal(0, peer.Stack.TcpConnectionCount);
    }

    [Fact]
    public async Task The_stack_closing_with_unread_data_resets_the_kernel_connection()
    {
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        var (client, server) = await ConnectFromKernelAsync(peer, ipv6: false, ct);
        using (client)
        {
            await client.SendAsync("nobody will read this"u8.ToArray(), ct);
            var pending = client.ReceiveAsync(new byte[100], ct).AsTask();
            await WaitUntilAsync(() => AllAcknowledged(client, "nobody will read this".Length), ct);

            // RFC 2525 §2.17: closing with unread data aborts with a reset rather than a FIN, as the kernel does.
            await server.DisposeAsync();

            var error = await Assert.ThrowsAsync<SocketException>(() => pending.WaitAsync(Deadline, ct));
            Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
            Assert.Equal(0, peer.Stack.TcpConnectionCount);
        }
    }

    [Fact]
    public async Task Disposing_the_stack_resets_the_kernel_connections()
    {
        var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        Socket? client = null;
        try
        {
            (client, var server) = await ConnectFromKernelAsync(peer, ipv6: true, ct);
            var pending = client.ReceiveAsync(new byte[100], ct).AsTask();
            Assert.False(pending.IsCompleted);

            peer.Stack.Dispose();

            var error = await Assert.ThrowsAsync<SocketException>(() => pending.WaitAsync(Deadline, ct));
            Assert.Equal(SocketError.ConnectionReset, error.SocketErrorCode);
            await Assert.ThrowsAnyAsync<IOException>(() => server.ReadAsync(new byte[10], ct).AsTask());
        }
        finally
        {
            client?.Dispose();
            peer.Dispose();
        }
    }

    private static async Task<(Socket Client, Stream Server)> ConnectFromKernelAsync(KernelPeer peer, bool ipv6, CancellationToken ct)
    {
        var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.IPv6Any, 8083));
        var client = NetNamespace.Run(peer.Namespace.Name, () =>
            new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        var connect = client.ConnectAsync(new IPEndPoint(ipv6 ? KernelPeer.StackV6 : KernelPeer.StackV4, 8083), ct).AsTask();
        var server = await listener.AcceptAsync(ct).AsTask().WaitAsync(Deadline, ct);
        await connect.WaitAsync(Deadline, ct);
        return (client, server);
    }

    private static async Task<int> ReadAtLeastAsync(Stream stream, byte[] buffer, int count, CancellationToken ct)
    {
        var total = 0;
        while (total < count)
        {
            var n = await stream.ReadAsync(buffer.AsMemory(total), ct).AsTask().WaitAsync(Deadline, ct);
            Assert.NotEqual(0, n);
            total += n;
        }
        return total;
    }

    /// <summary>
    /// The stack has acknowledged everything the kernel sent (the kernel's TCP_INFO), so it holds it unread; the
    /// kernel's tcpi_bytes_acked counts the SYN too.
    /// </summary>
    private static bool AllAcknowledged(Socket client, long sent) => KernelTcpInfo.Of(client).BytesAcked >= sent + 1;

    private static async Task WaitUntilAsync(Func<bool> condition, CancellationToken ct)
    {
        var started = TimeProvider.System.GetTimestamp();
        while (!condition())
        {
            Assert.True(TimeProvider.System.GetElapsedTime(started) < Deadline, "the condition came true in time");
            await Task.Delay(10, ct);
        }
    }
}
