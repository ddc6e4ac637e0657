using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Netstack.Tests.Infrastructure;
using Pangolin.WireGuard.Net;

namespace Pangolin.Netstack.Tests.Kernel;

/// <summary>
/// Delay, the fourth impairment beside loss, duplication and reordering: the test link's seeded delay line itself,
/// then transfers with the kernel across a path of 20 ± 5 ms each way that also loses 1% of the packets.
/// </summary>
[Trait("Category", "Kernel")]
public sealed class TcpDelayKernelTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(90);

    [Fact]
    public void The_delay_line_holds_each_packet_for_its_delay_and_keeps_the_order_without_reordering()
    {
        var time = new FakeTimeProvider();
        using var impairment = new Impairment(seed: 7, loss: 0, duplication: 0, reordering: 0) { DelayMilliseconds = 20, JitterMilliseconds = 5, Time = time };
        var delivered = new List<byte>();
        void Deliver(ReadOnlySpan<byte> packet)
        {
            lock (delivered)
            {
                delivered.Add(packet[0]);
            }
        }

        for (byte i = 0; i < 50; i++)
        {
            impairment.Apply([i], Deliver, outgoing: false);
            time.Advance(TimeSpan.FromMilliseconds(1));
        }
        // 50 ms have passed: the first packet waited 20 ± 5 ms, the last was sent 1 ms ago.
        Assert.DoesNotContain((byte)49, delivered);
        var early = delivered.Count;
        Assert.InRange(early, 20, 35);

        time.Advance(TimeSpan.FromMilliseconds(30));
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (byte)i), delivered);
        Assert.Equal(50, impairment.Delayed);
    }

    [Fact]
    public void With_reordering_on_jitter_may_let_a_packet_overtake_the_one_before_it()
    {
        var time = new FakeTimeProvider();
        using var impairment = new Impairment(seed: 7, loss: 0, duplication: 0, reordering: 0.0001) { DelayMilliseconds = 20, JitterMilliseconds = 5, Time = time };
        var delivered = new List<byte>();
        for (byte i = 0; i < 50; i++)
        {
            impairment.Apply([i], packet => delivered.Add(packet[0]), outgoing: true);
            time.Advance(TimeSpan.FromMilliseconds(1));
        }
        time.Advance(TimeSpan.FromMilliseconds(30));

        Assert.Equal(Enumerable.Range(0, 50).Select(i => (byte)i), delivered.Order());
        Assert.NotEqual(Enumerable.Range(0, 50).Select(i => (byte)i), delivered);
    }

    [Theory]
    [InlineData(11, false)]
    [InlineData(12, true)]
    public async Task Transfers_both_ways_survive_twenty_milliseconds_of_jittered_delay_and_one_percent_loss(int seed, bool ipv6)
    {
        using var peer = KernelPeer.Create();
        var impairment = new Impairment(seed, loss: 0.01, duplication: 0, reordering: 0) { DelayMilliseconds = 20, JitterMilliseconds = 5 };
        var ct = TestContext.Current.CancellationToken;
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(IPAddress.IPv6Any, 8082));
        using var client = NetNamespace.Run(peer.Namespace.Name, () =>
            new Socket(ipv6 ? AddressFamily.InterNetworkV6 : AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        // Impaired from the handshake on: the SYN and SYN-ACK are delayed (or lost and retransmitted) too.
        peer.Link.Impair = impairment;
        var connect = client.ConnectAsync(new IPEndPoint(ipv6 ? KernelPeer.StackV6 : KernelPeer.StackV4, 8082), ct).AsTask();
        await using var server = await listener.AcceptAsync(ct).AsTask().WaitAsync(Deadline, ct);
        await connect.WaitAsync(Deadline, ct);

        const long Size = 4 << 20;
        var started = TimeProvider.System.GetTimestamp();
        var kernelSending = Task.Run(async () =>
        {
            var sent = await Transfer.SendAsync(client, Size, (ulong)seed, ct);
            client.Shutdown(SocketShutdown.Send);
            return sent;
        }, ct);
        var kernelReceiving = Task.Run(() => Transfer.ReceiveAsync(client, ct), ct);
        var stackSending = Task.Run(async () =>
        {
            var sent = await Transfer.SendAsync(server, Size, (ulong)seed + 1, ct);
            ((Pangolin.Netstack.Tcp.TcpStream)server).ShutdownSend();
            return sent;
        }, ct);
        var stackReceiving = Task.Run(() => Transfer.ReceiveAsync(server, ct), ct);
        var finished = await Task.WhenAll(
            stackReceiving.ContinueWith(_ => TimeProvider.System.GetElapsedTime(started), ct, TaskContinuationOptions.None, TaskScheduler.Default),
            kernelReceiving.ContinueWith(_ => TimeProvider.System.GetElapsedTime(started), ct, TaskContinuationOptions.None, TaskScheduler.Default)).WaitAsync(Deadline, ct);
        var stackReceived = await stackReceiving;
        var kernelReceived = await kernelReceiving;
        var kernelSent = await kernelSending.WaitAsync(Deadline, ct);
        var stackSent = await stackSending.WaitAsync(Deadline, ct);
        TestContext.Current.TestOutputHelper?.WriteLine(
            $"4 MiB each way, 20 ± 5 ms, 1% loss: kernel → stack done in {finished[0].TotalSeconds:F1} s, stack → kernel in {finished[1].TotalSeconds:F1} s; dropped {impairment.Dropped}, delayed {impairment.Delayed}");

        Assert.Equal(Size, stackReceived.Length);
        Assert.Equal(kernelSent.Hash, stackReceived.Hash);
        Assert.Equal(Size, kernelReceived.Length);
        Assert.Equal(stackSent.Hash, kernelReceived.Hash);
        Assert.True(impairment.Dropped > 10, $"the link lost packets ({impairment.Dropped})");
        Assert.True(impairment.Delayed > 1000, $"the link delayed packets ({impairment.Delayed})");
    }
}
