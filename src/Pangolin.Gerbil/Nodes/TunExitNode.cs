using System.Net;
using Microsoft.Extensions.Logging;
using Pangolin.Tunnel;
using Pangolin.Tunnel.Native;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tun;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.Gerbil.Nodes;

/// <summary>
/// The exit node on a kernel TUN interface (<c>--mode tun</c>, root or CAP_NET_ADMIN): the interface gets
/// get-config's address with `ip addr add` and is brought up with `ip link set up`, so the host routes to the
/// sites' subnets; the UAPI socket stays open for `wg show`. Upstream's MSS clamping and wg0 firewall (iptables) are
/// not applied.
/// </summary>
internal sealed class TunExitNode : IExitNode
{
    private readonly WireGuardDevice _device;
    private readonly UapiServer _uapi;
    private readonly SitePeers _peers;

    private TunExitNode(WireGuardDevice device, UapiServer uapi, string interfaceName, WgKey publicKey, NodeAddress address, ILogger logger)
    {
        _device = device;
        _uapi = uapi;
        InterfaceName = interfaceName;
        PublicKey = publicKey;
        Address = address;
        _peers = new SitePeers(device, logger);
    }

    public ExitNodeMode Mode => ExitNodeMode.Tun;

    public string InterfaceName { get; }

    public WgKey PublicKey { get; }

    public NodeAddress Address { get; }

    public int ListenPort => _device.ListenPort;

    /// <summary>Creates the interface, opens its UAPI socket and UDP port, and addresses it and brings it up.</summary>
    /// <exception cref="IOException">The TUN, the UAPI socket or `ip` failed.</exception>
    /// <exception cref="ConfigurationException">The UDP port cannot be bound.</exception>
    public static async Task<TunExitNode> StartAsync(string interfaceName, WgKey privateKey, NodeAddress address, int listenPort, int mtu, ILoggerFactory loggerFactory)
    {
        var tun = LinuxTun.Create(interfaceName, mtu);
        var device = new WireGuardDevice(tun, port => LinuxUdpTransport.Bind(port), new DeviceOptions { LoggerFactory = loggerFactory });
        UapiServer? uapi = null;
        try
        {
            device.Configure(new DeviceUpdate { PrivateKey = privateKey, ListenPort = listenPort });
            uapi = UapiServer.Start(tun.Name, device, logger: loggerFactory.CreateLogger("uapi"));
            device.Start();
            await IpCommand.RunAsync("addr", "add", address.ToString(), "dev", tun.Name);
            await IpCommand.RunAsync("link", "set", "dev", tun.Name, "up");
            return new TunExitNode(device, uapi, tun.Name, privateKey.PublicKey(), address, loggerFactory.CreateLogger<TunExitNode>());
        }
        catch
        {
            if (uapi is not null)
            {
                await uapi.DisposeAsync();
            }
            await device.DisposeAsync();
            throw;
        }
    }

    public void AddPeer(WgKey publicKey, IReadOnlyList<IPNetwork> allowedIps) => _peers.Add(publicKey, allowedIps);

    /// <remarks>The device is the record: `wg` may have added or removed peers through the UAPI socket.</remarks>
    public bool RemovePeer(WgKey publicKey) => _peers.Remove(publicKey);

    public void SyncPeers(IReadOnlyCollection<(WgKey PublicKey, IReadOnlyList<IPNetwork> AllowedIps)> peers) => _peers.Sync(peers);

    public IReadOnlyList<PeerSnapshot> Peers() => _device.GetConfiguration().Peers;

    public async ValueTask DisposeAsync()
    {
        await _uapi.DisposeAsync();
        await _device.DisposeAsync();
    }
}
