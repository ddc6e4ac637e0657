using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Pangolin.Gerbil.Tests.Infrastructure;
using Pangolin.Protocol.Gerbil;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Gerbil.Tests;

/// <summary>
/// gerbil in tun mode with a remote config, as root inside a throwaway network namespace: the fake server listens
/// in the namespace too (a socket made there and handed to Kestrel), and the site's UDP socket is opened there.
/// </summary>
[Trait("Category", "Interop")]
public sealed class TunModeTests
{
    [Fact]
    public async Task A_tun_node_gets_its_address_from_get_config_and_the_kernel_answers_a_sites_ping_through_it()
    {
        using var ns = NetworkNamespace.Create();
        var interfaceName = "pgt" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        var socketPath = Path.Combine("/var/run/wireguard", interfaceName + ".sock");
        using var listening = NetNamespace.Run(ns.Name, () =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            socket.Listen();
            return socket;
        });
        await using var control = await FakeControlServer.StartAsync(listenSocket: listening);
        var sitePrivate = WgKey.GeneratePrivate();
        control.Config = new GetConfigResponse
        {
            // A fresh namespace: every port is free.
            ListenPort = 51820,
            IpAddress = "100.89.139.1/24",
            Peers = [new GerbilPeer { PublicKey = sitePrivate.PublicKey().ToBase64(), AllowedIps = ["100.89.139.4/30"] }],
        };

        await using var gerbil = ChildProcess.StartGerbilInNamespace(ns.Name, "--remote-config", control.BaseUrl.ToString(), "--mode", "tun",
            "--interface", interfaceName, "--reachable-at", "http://127.0.0.1:3004");
        try
        {
            await gerbil.WaitForOutputAsync("Exit node up");
            var link = ns.Ip("addr", "show", "dev", interfaceName);
            Assert.Contains("inet 100.89.139.1/24", link, StringComparison.Ordinal);
            Assert.Contains(",UP", link, StringComparison.Ordinal);
            Assert.True(File.Exists(socketPath), "tun mode keeps the UAPI socket for wg");

            var nodeKey = WgKey.FromBase64(Assert.Single(control.GetConfigCalls).Body.PublicKey);
            await using var site = Site.Dial(nodeKey, 51820, IPAddress.Parse("100.89.139.1"), IPAddress.Parse("100.89.139.4"), sitePrivate, ns.Name);
            Assert.True(await site.ReachesNodeAsync(Site.Within), "the kernel did not answer through gerbil's TUN\n" + gerbil.Output());

            gerbil.Terminate();
            Assert.Equal(0, await gerbil.WaitForExitAsync());
            Assert.Null(ns.TryShowLink(interfaceName));
            Assert.False(File.Exists(socketPath), "gerbil left its UAPI socket behind");
        }
        finally
        {
            // Killed after a failure, it cannot remove its socket itself.
            if (File.Exists(socketPath))
            {
                File.Delete(socketPath);
            }
        }
    }
}
