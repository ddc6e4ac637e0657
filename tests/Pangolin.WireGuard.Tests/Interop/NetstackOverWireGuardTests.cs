using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Pangolin.Netstack;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;

namespace Pangolin.WireGuard.Tests.Interop;

/// <summary>
/// The unprivileged data path of Newt and the single-node server: our device on the in-memory packet interface,
/// our userspace stack behind it — no TUN device on our side — and Debian's wireguard-go with the Linux kernel on
/// the other. The kernel pings the stack's tunnel address, the stack pings the kernel, datagrams go both ways.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "Interop")]
public sealed class NetstackOverWireGuardTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task The_kernel_behind_wireguard_go_and_our_userspace_stack_ping_and_exchange_datagrams()
    {
        await using var network = await InteropNetwork.CreateAsync(withOurDevice: false);
        NetworkStack? stack = null;
        using var memory = new MemoryPacketInterface("pns0", InteropNetwork.Mtu, onWrite: packet => stack?.Receive(packet));
        stack = new NetworkStack(new MemoryLink(memory));
        stack.AddAddress(InteropNetwork.OurTunnel);
        var ns = network.Ours.Name;
        await using var device = new WireGuardDevice(memory, port => LinuxUdpTransport.BindInNamespace(ns, new LinuxUdpTransportOptions { Port = port }));
        device.Start();
        var update = new DeviceUpdate { PrivateKey = network.OurPrivate, ListenPort = InteropNetwork.OurPort };
        var peer = new PeerUpdate(network.GoPublic) { Endpoint = new IPEndPoint(InteropNetwork.GoUnderlay, InteropNetwork.GoPort), ReplaceAllowedIps = true };
        peer.AllowedIps.Add(new IPNetwork(InteropNetwork.GoTunnel, 32));
        update.Peers.Add(peer);
        device.Configure(update);
        await network.ConfigureGoAsync();

        // The kernel (in wireguard-go's namespace) pings the userspace stack through both WireGuards.
        Assert.True(await InteropNetwork.PingEventuallyAsync(network.Go, InteropNetwork.OurTunnel, Deadline), "the kernel's ping reached the stack");

        // The stack pings the kernel.
        var rtt = await stack.PingAsync(InteropNetwork.GoTunnel, 64, TimeSpan.FromSeconds(5), TestContext.Current.CancellationToken);
        Assert.NotNull(rtt);

        // A datagram from a kernel socket to a stack socket, and the answer back.
        using var server = stack.BindUdp(new IPEndPoint(IPAddress.Any, 7777));
        using var client = NetNamespace.Run(network.Go.Name, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(InteropNetwork.GoTunnel, 0));
            return socket;
        });
        var question = "who is there?"u8.ToArray();
        await client.SendToAsync(question, new IPEndPoint(InteropNetwork.OurTunnel, 7777), TestContext.Current.CancellationToken);
        var buffer = new byte[1500];
        var received = await server.ReceiveFromAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal(question, buffer.AsSpan(0, received.Length).ToArray());
        Assert.Equal(InteropNetwork.GoTunnel, received.RemoteEndPoint.Address);

        var answer = "the userspace stack"u8.ToArray();
        server.SendTo(answer, received.RemoteEndPoint);
        var back = new byte[1500];
        var length = await client.ReceiveAsync(back, TestContext.Current.CancellationToken).AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal(answer, back.AsSpan(0, length).ToArray());
        stack.Dispose();
    }

    /// <summary>The stack's packets go to the device through the interface's queue towards it.</summary>
    private sealed class MemoryLink(MemoryPacketInterface memory) : INetworkLink
    {
        public int Mtu => memory.Mtu;

        public void Send(ReadOnlySpan<byte> packet) => memory.TryEnqueue(packet);
    }
}
