using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.Versioning;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Device;

namespace Pangolin.WireGuard.Tests.Interop;

/// <summary>
/// The whole data path of our device on real parts — TUN with offload, UDP batching, encryption, decryption — moving
/// packets both ways to and from wireguard-go allocates nothing per packet. Measured for the whole process (the
/// device's threads are not the test's), alone (no other test allocates beside it), with room for the runtime's
/// own background noise but less than one smallest object (24 bytes) per four packets.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "Interop")]
[Collection(nameof(ProcessWideAllocations))]
public sealed class SteadyStateAllocationTests
{
    private const int Port = 40_000;
    private const int PacketSize = 1000;

    [Fact]
    public async Task Sending_and_receiving_through_the_tunnel_allocates_nothing_per_packet()
    {
        await using var network = await InteropNetwork.CreateAsync();
        network.ConfigureOursTyped();
        await network.ConfigureGoAsync();
        Assert.True(await InteropNetwork.PingEventuallyAsync(network.Ours, InteropNetwork.GoTunnel, TimeSpan.FromSeconds(20)), "the tunnel is up");

        using var outbound = Pair(network.Ours.Name, network.Go.Name, InteropNetwork.GoTunnel);
        using var inbound = Pair(network.Go.Name, network.Ours.Name, InteropNetwork.OurTunnel);

        // Warm-up: JIT tiers, pools and socket buffers reach their steady state.
        Pump(outbound, inbound, 3000);
        const int Packets = 20_000;
        var before = GC.GetTotalAllocatedBytes(precise: true);
        var (sent, delivered) = Pump(outbound, inbound, Packets);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        Assert.True(delivered > sent * 9 / 10, $"{delivered} of {sent} packets came through: the path was not exercised.");
        Assert.True(allocated < sent * 24 / 4, $"{allocated} bytes allocated for {sent} packets through the device.");
    }

    /// <summary>Sends the same number of packets each way, at most 256 ahead of the receiver; returns (sent, received).</summary>
    private static (int Sent, int Received) Pump(UdpPair outbound, UdpPair inbound, int packetsEachWay)
    {
        var receivedOut = 0;
        var receivedIn = 0;
        var stop = new StrongBox<bool>();
        var readers = new[]
        {
            StartReader(outbound.Receiver, stop, () => Interlocked.Increment(ref receivedOut)),
            StartReader(inbound.Receiver, stop, () => Interlocked.Increment(ref receivedIn)),
        };
        var payload = new byte[PacketSize];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        for (var i = 0; i < packetsEachWay && DateTime.UtcNow < deadline; i++)
        {
            outbound.Sender.Send(payload);
            inbound.Sender.Send(payload);
            // Stay within the socket buffers; a lost packet must not stall the loop for long.
            var waitUntil = Environment.TickCount64 + 50;
            while ((i - Volatile.Read(ref receivedOut) > 256 || i - Volatile.Read(ref receivedIn) > 256) && Environment.TickCount64 < waitUntil)
            {
                Thread.Yield();
            }
        }
        var settle = Environment.TickCount64 + 2000;
        while ((Volatile.Read(ref receivedOut) < packetsEachWay || Volatile.Read(ref receivedIn) < packetsEachWay) && Environment.TickCount64 < settle)
        {
            Thread.Sleep(10);
        }
        Volatile.Write(ref stop.Value, true);
        foreach (var reader in readers)
        {
            reader.Join(TimeSpan.FromSeconds(5));
        }
        return (2 * packetsEachWay, receivedOut + receivedIn);
    }

    private static Thread StartReader(Socket socket, StrongBox<bool> stop, Action received)
    {
        var thread = new Thread(() =>
        {
            var buffer = new byte[2048];
            while (!Volatile.Read(ref stop.Value))
            {
                try
                {
                    if (socket.Receive(buffer) == PacketSize)
                    {
                        received();
                    }
                }
                catch (SocketException e) when (e.SocketErrorCode == SocketError.TimedOut)
                {
                    // idle: look at the stop flag again
                }
            }
        })
        {
            IsBackground = true,
        };
        thread.Start();
        return thread;
    }

    private static UdpPair Pair(string senderNamespace, string receiverNamespace, IPAddress receiverAddress)
    {
        var receiver = NetNamespace.Run(receiverNamespace, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp) { ReceiveBufferSize = 4 << 20, ReceiveTimeout = 200 };
            socket.Bind(new IPEndPoint(receiverAddress, Port));
            return socket;
        });
        var sender = NetNamespace.Run(senderNamespace, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Connect(new IPEndPoint(receiverAddress, Port));
            return socket;
        });
        return new UdpPair(sender, receiver);
    }

    private sealed class UdpPair(Socket sender, Socket receiver) : IDisposable
    {
        public Socket Sender { get; } = sender;

        public Socket Receiver { get; } = receiver;

        public void Dispose()
        {
            Sender.Dispose();
            Receiver.Dispose();
        }
    }
}
