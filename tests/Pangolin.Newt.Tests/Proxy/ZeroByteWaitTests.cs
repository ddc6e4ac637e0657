using System.Net;
using System.Net.Sockets;
using Pangolin.Newt.Tests.Infrastructure;

namespace Pangolin.Newt.Tests.Proxy;

/// <summary>
/// The relays wait for data with zero-byte reads so that idle connections and sessions hold no buffer. These pin
/// down the OS-socket behaviour that relies on: the wait completes only when data arrives, and consumes none of it.
/// </summary>
public sealed class ZeroByteWaitTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_zero_byte_read_on_a_TCP_socket_stream_waits_for_data_and_leaves_it_to_read()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(listener.LocalEndPoint!, Ct).AsTask().WaitAsync(Bounds.Step, Ct);
        using var server = await listener.AcceptAsync(Ct).AsTask().WaitAsync(Bounds.Step, Ct);
        await using var stream = new NetworkStream(server);

        var wait = stream.ReadAsync(Memory<byte>.Empty, Ct).AsTask();
        Assert.False(wait.IsCompleted);
        await client.SendAsync(new byte[] { 1, 2, 3 }, Ct);

        Assert.Equal(0, await wait.WaitAsync(Bounds.Step, Ct));
        Assert.Equal(new byte[] { 1, 2, 3 }, await stream.ReadExactlyAsync(3));
    }

    [Fact]
    public async Task A_zero_byte_peek_on_a_UDP_socket_waits_for_a_datagram_and_leaves_it_whole()
    {
        using var receiver = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        receiver.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        using var sender = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);

        var wait = receiver.ReceiveAsync(Memory<byte>.Empty, SocketFlags.Peek, Ct).AsTask();
        Assert.False(wait.IsCompleted);
        await sender.SendToAsync(new byte[] { 4, 5, 6, 7 }, receiver.LocalEndPoint!, Ct);

        Assert.Equal(0, await wait.WaitAsync(Bounds.Step, Ct));
        var buffer = new byte[16];
        var length = await receiver.ReceiveAsync(buffer, SocketFlags.None, Ct).AsTask().WaitAsync(Bounds.Step, Ct);
        Assert.Equal(new byte[] { 4, 5, 6, 7 }, buffer[..length]);
    }
}
