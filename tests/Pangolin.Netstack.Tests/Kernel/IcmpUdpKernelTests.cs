using System.Net;
using System.Net.Sockets;
using System.Text;
using Pangolin.Netstack.Tests.Infrastructure;
using Pangolin.WireGuard.Net;

namespace Pangolin.Netstack.Tests.Kernel;

/// <summary>
/// The stack against the Linux kernel's own IP, ICMP and UDP, through a TUN device in a namespace the test makes:
/// the kernel pings the stack and the stack pings the kernel; datagrams go both ways between kernel sockets and
/// stack sockets; a datagram for a closed port is refused the way the kernel understands.
/// </summary>
[Trait("Category", "Kernel")]
public sealed class IcmpUdpKernelTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void The_kernel_pings_the_stack_and_gets_every_reply(bool ipv6)
    {
        using var peer = KernelPeer.Create();
        var target = ipv6 ? KernelPeer.StackV6 : KernelPeer.StackV4;
        var (code, output) = peer.Run("ping", "-n", "-c", "3", "-i", "0.2", "-W", "2", "-s", "1000", target.ToString());
        Assert.True(code == 0, output);
        Assert.Contains("3 received", output, StringComparison.Ordinal);
        // ping reads replies from a raw socket, ahead of the kernel's checksum check, and only flags bad ones.
        Assert.DoesNotContain("BAD CHECKSUM", output, StringComparison.OrdinalIgnoreCase);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task The_stack_pings_the_kernel(bool ipv6)
    {
        using var peer = KernelPeer.Create();
        var rtt = await peer.Stack.PingAsync(ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4, 100, Deadline, TestContext.Current.CancellationToken);
        Assert.NotNull(rtt);
        Assert.True(rtt.Value < Deadline);
    }

    [Fact]
    public async Task A_ping_nobody_answers_times_out_with_null()
    {
        using var peer = KernelPeer.Create();
        // An address on the kernel's subnet that nothing holds: the kernel has no neighbour there on a TUN, so no reply.
        var rtt = await peer.Stack.PingAsync(IPAddress.Parse("10.9.9.9"), 8, TimeSpan.FromMilliseconds(300), TestContext.Current.CancellationToken);
        Assert.Null(rtt);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Datagrams_go_from_a_kernel_socket_to_a_stack_socket_and_back(bool ipv6)
    {
        using var peer = KernelPeer.Create();
        var stackAddress = ipv6 ? KernelPeer.StackV6 : KernelPeer.StackV4;
        using var listener = peer.Stack.BindUdp(new IPEndPoint(ipv6 ? IPAddress.IPv6Any : IPAddress.Any, 5353));
        using var kernel = NetNamespace.Run(peer.Namespace.Name, () =>
        {
            var socket = new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4, 0));
            return socket;
        });
        var kernelEndPoint = (IPEndPoint)kernel.LocalEndPoint!;

        for (var size = 0; size <= 1300; size += 325)
        {
            var payload = Enumerable.Range(0, size).Select(i => (byte)(i * 7 + size)).ToArray();
            await kernel.SendToAsync(payload, new IPEndPoint(stackAddress, 5353), TestContext.Current.CancellationToken);
            var buffer = new byte[2000];
            var received = await listener.ReceiveFromAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
            Assert.Equal(payload, buffer.AsSpan(0, received.Length).ToArray());
            Assert.Equal(kernelEndPoint, received.RemoteEndPoint);

            // The reply is the payload reversed, sent back to where the datagram came from.
            var reply = payload.Reverse().ToArray();
            listener.SendTo(reply, received.RemoteEndPoint);
            var back = new byte[2000];
            var got = await kernel.ReceiveAsync(back, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
            Assert.Equal(reply, back.AsSpan(0, got).ToArray());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Datagrams_the_kernel_fragments_arrive_whole(bool ipv6)
    {
        using var peer = KernelPeer.Create(mtu: 1280);
        using var listener = peer.Stack.BindUdp(new IPEndPoint(IPAddress.IPv6Any, 6000));
        using var kernel = NetNamespace.Run(peer.Namespace.Name, () =>
            new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        foreach (var size in new[] { 1500, 4000, 65000 - 48 })
        {
            var payload = new byte[size];
            new Random(size).NextBytes(payload);
            await kernel.SendToAsync(payload, new IPEndPoint(ipv6 ? KernelPeer.StackV6 : KernelPeer.StackV4, 6000), TestContext.Current.CancellationToken);
            var buffer = new byte[70000];
            var received = await listener.ReceiveFromAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
            Assert.Equal(size, received.Length);
            Assert.Equal(payload, buffer.AsSpan(0, received.Length).ToArray());
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Datagrams_longer_than_the_MTU_leave_in_fragments_the_kernel_puts_together(bool ipv6)
    {
        using var peer = KernelPeer.Create(mtu: 1280);
        using var sender = peer.Stack.BindUdp(new IPEndPoint(IPAddress.IPv6Any, 0));
        using var kernel = NetNamespace.Run(peer.Namespace.Name, () =>
        {
            var socket = new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4, 6001));
            return socket;
        });
        foreach (var size in new[] { 1300, 4000, ipv6 ? 65527 : 65507 })
        {
            var payload = new byte[size];
            new Random(size).NextBytes(payload);
            sender.SendTo(payload, new IPEndPoint(ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4, 6001));
            var buffer = new byte[70000];
            var length = await kernel.ReceiveAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
            Assert.Equal(size, length);
            Assert.Equal(payload, buffer.AsSpan(0, length).ToArray());
        }
        Assert.Equal(SocketError.MessageSize, Assert.Throws<SocketException>(() =>
            sender.SendTo(new byte[ipv6 ? 65528 : 65508], new IPEndPoint(ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4, 6001))).SocketErrorCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_ping_larger_than_the_MTU_is_reassembled_and_answered_in_fragments(bool ipv6)
    {
        using var peer = KernelPeer.Create(mtu: 1280);
        var target = ipv6 ? KernelPeer.StackV6 : KernelPeer.StackV4;
        var (code, output) = peer.Run("ping", "-n", "-c", "2", "-i", "0.2", "-W", "2", "-s", "5000", target.ToString());
        Assert.True(code == 0, output);
        Assert.Contains("2 received", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_datagram_for_a_closed_port_is_refused_and_the_kernel_socket_learns_it()
    {
        using var peer = KernelPeer.Create();
        using var kernel = NetNamespace.Run(peer.Namespace.Name, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(new IPEndPoint(KernelPeer.StackV4, 9));
            return socket;
        });
        await kernel.SendAsync(Encoding.ASCII.GetBytes("anyone?"), TestContext.Current.CancellationToken);
        // A connected UDP socket reports the ICMP port unreachable on its next receive (ECONNREFUSED).
        var error = await Assert.ThrowsAsync<SocketException>(async () =>
            await kernel.ReceiveAsync(new byte[100], TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Connecting_to_a_port_nothing_listens_on_is_refused_by_a_reset(bool ipv6)
    {
        using var peer = KernelPeer.Create();
        using var client = NetNamespace.Run(peer.Namespace.Name, () =>
            new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        var error = await Assert.ThrowsAsync<SocketException>(async () =>
            await client.ConnectAsync(new IPEndPoint(ipv6 ? KernelPeer.StackV6 : KernelPeer.StackV4, 8080), TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.True(peer.Stack.ResetsSent >= 1);
    }

    [Fact]
    public void Binding_a_port_twice_or_an_address_the_stack_does_not_have_fails_like_a_socket()
    {
        using var peer = KernelPeer.Create();
        using var first = peer.Stack.BindUdp(new IPEndPoint(IPAddress.Any, 7000));
        Assert.Equal(SocketError.AddressAlreadyInUse, Assert.Throws<SocketException>(() => peer.Stack.BindUdp(new IPEndPoint(IPAddress.Any, 7000))).SocketErrorCode);
        Assert.Equal(SocketError.AddressNotAvailable, Assert.Throws<SocketException>(() => peer.Stack.BindUdp(new IPEndPoint(IPAddress.Parse("10.99.0.1"), 7001))).SocketErrorCode);
        using var ephemeral = peer.Stack.BindUdp(new IPEndPoint(IPAddress.Any, 0));
        Assert.InRange(ephemeral.LocalEndPoint.Port, 49152, 65535);
    }
}
