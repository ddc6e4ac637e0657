using System.Net;
using System.Net.Sockets;
using Pangolin.Netstack.Tests.Infrastructure;
using Pangolin.WireGuard.Net;

namespace Pangolin.Netstack.Tests.Kernel;

/// <summary>
/// A gibibyte each way between the stack and the Linux kernel, generated from a seed as it is sent and hashed with
/// SHA-256 on both sides as it goes: long enough for sequence numbers, windows and the send ring to wrap many times.
/// </summary>
[Trait("Category", "Kernel")]
public sealed class Tcp1GbKernelTests
{
    private const long OneGiB = 1L << 30;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(180);

    // One family each way: a gibibyte takes about 20 s here, and both families already carry 20 MB in TcpKernelTests.
    [Fact]
    public async Task A_gibibyte_goes_from_the_kernel_to_the_stack_over_IPv4_intact()
    {
        const bool ipv6 = false;
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.IPv6Any, 8080));
        using var client = NetNamespace.Run(peer.Namespace.Name, () =>
            new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        var connect = client.ConnectAsync(new IPEndPoint(ipv6 ? KernelPeer.StackV6 : KernelPeer.StackV4, 8080), ct).AsTask();
        await using var server = await listener.AcceptAsync(ct).AsTask().WaitAsync(Deadline, ct);
        await connect.WaitAsync(Deadline, ct);

        var started = TimeProvider.System.GetTimestamp();
        var sending = Task.Run(async () =>
        {
            var sent = await Transfer.SendAsync(client, OneGiB, seed: 0x1_6B, ct);
            client.Shutdown(SocketShutdown.Send);
            return sent;
        }, ct);
        var received = await Transfer.ReceiveAsync(server, ct).WaitAsync(Deadline, ct);
        var sent = await sending.WaitAsync(Deadline, ct);
        Report("kernel → stack", ipv6, started);

        Assert.Equal(OneGiB, received.Length);
        Assert.Equal(sent.Hash, received.Hash);
    }

    [Fact]
    public async Task A_gibibyte_goes_from_the_stack_to_the_kernel_over_IPv6_intact()
    {
        const bool ipv6 = true;
        using var peer = KernelPeer.Create();
        var ct = TestContext.Current.CancellationToken;
        using var kernelListener = NetNamespace.Run(peer.Namespace.Name, () =>
        {
            var socket = new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4, 9090));
            socket.Listen();
            return socket;
        });
        var accepting = kernelListener.AcceptAsync(ct).AsTask();
        await using var stream = await peer.Stack.ConnectTcpAsync(new IPEndPoint(ipv6 ? KernelPeer.KernelV6 : KernelPeer.KernelV4, 9090), ct).WaitAsync(Deadline, ct);
        using var kernel = await accepting.WaitAsync(Deadline, ct);

        var started = TimeProvider.System.GetTimestamp();
        var receiving = Task.Run(() => Transfer.ReceiveAsync(kernel, ct), ct);
        var sent = await Transfer.SendAsync(stream, OneGiB, seed: 0x2_6B, ct).WaitAsync(Deadline, ct);
        ((Pangolin.Netstack.Tcp.TcpStream)stream).ShutdownSend();
        var received = await receiving.WaitAsync(Deadline, ct);
        Report("stack → kernel", ipv6, started);

        Assert.Equal(OneGiB, received.Length);
        Assert.Equal(sent.Hash, received.Hash);
    }

    private static void Report(string direction, bool ipv6, long started)
    {
        var elapsed = TimeProvider.System.GetElapsedTime(started);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"1 GiB {direction} over IPv{(ipv6 ? 6 : 4)}: {elapsed.TotalSeconds:F1} s, {OneGiB / elapsed.TotalSeconds / (1 << 20):F0} MiB/s");
    }
}
