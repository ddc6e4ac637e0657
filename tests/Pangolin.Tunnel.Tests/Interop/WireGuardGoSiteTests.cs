using System.Net;
using System.Net.Sockets;
using System.Runtime.Versioning;
using Pangolin.Tunnel.Tests.Infrastructure;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Interop;

namespace Pangolin.Tunnel.Tests.Interop;

/// <summary>
/// The exit node against the reference implementation upstream newt embeds: Debian's wireguard-go with the kernel's
/// TCP in one namespace plays the site and dials the node, whose socket is bound in the other namespace.
/// </summary>
[SupportedOSPlatform("linux")]
[Trait("Category", "Interop")]
public sealed class WireGuardGoSiteTests
{
    private const int TargetPort = 40001;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task The_exit_node_reaches_a_kernel_listener_behind_wireguard_go_that_dialled_it()
    {
        await using var network = await InteropNetwork.CreateAsync(withOurDevice: false);
        var ns = network.Ours.Name;
        await using var node = new ExitNodeRuntime(InteropNetwork.OurTunnel, new UserspaceTunnelOptions
        {
            PrivateKey = network.OurPrivate,
            ListenPort = InteropNetwork.OurPort,
            Bind = port => LinuxUdpTransport.BindInNamespace(ns, new LinuxUdpTransportOptions { Port = port }),
            LoggerFactory = network.Logs,
        });
        node.Start();
        node.AddPeer(network.GoPublic, [new IPNetwork(InteropNetwork.GoTunnel, 32)]);
        // The site knows the node's endpoint; the node learns the site's from its handshake.
        await network.ConfigureGoAsync(peerPublic: node.PublicKey, keepalive: 5);

        Assert.True(await InteropNetwork.PingEventuallyAsync(network.Go, InteropNetwork.OurTunnel, Deadline), "the site's ping reached the node\n" + network.Diagnostics());
        Assert.Equal(new IPEndPoint(InteropNetwork.GoUnderlay, InteropNetwork.GoPort), Assert.Single(node.Snapshot().Peers).Endpoint);

        using var listener = NetNamespace.Run(network.Go.Name, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(InteropNetwork.GoTunnel, TargetPort));
            socket.Listen(1);
            return socket;
        });
        var accepting = listener.AcceptAsync(TestContext.Current.CancellationToken).AsTask();
        await using var nodeSide = await node.ConnectTcpAsync(new IPEndPoint(InteropNetwork.GoTunnel, TargetPort), TestContext.Current.CancellationToken)
            .WaitAsync(Deadline, TestContext.Current.CancellationToken);
        using var accepted = await accepting.WaitAsync(Deadline, TestContext.Current.CancellationToken);
        await using var siteSide = new NetworkStream(accepted, ownsSocket: false);

        await StreamTransfer.ExchangeAsync(nodeSide, siteSide, 4L * 1024 * 1024);
    }
}
