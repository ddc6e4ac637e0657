using System.Diagnostics;
using System.Net;
using Pangolin.Tunnel;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Net;

namespace Pangolin.Gerbil.Tests.Infrastructure;

/// <summary>
/// A site as newt sets it up, in userspace: its own tunnel address, dialling the exit node at 127.0.0.1 and routing
/// only the node address into the tunnel. Real device, real UDP socket, real stack.
/// </summary>
internal sealed class Site : IAsyncDisposable
{
    public static readonly TimeSpan Within = TimeSpan.FromSeconds(20);

    /// <summary>How long a site that should not get through keeps trying before the test accepts that it did not.</summary>
    public static readonly TimeSpan RefusedWithin = TimeSpan.FromSeconds(3);

    private Site(UserspaceTunnel tunnel, IPAddress address, IPAddress nodeAddress)
    {
        Tunnel = tunnel;
        Address = address;
        NodeAddress = nodeAddress;
    }

    public UserspaceTunnel Tunnel { get; }

    public WgKey PublicKey => Tunnel.PublicKey;

    public IPAddress Address { get; }

    public IPAddress NodeAddress { get; }

    /// <summary>The site's block as the server hands it to the node: its address in a /30.</summary>
    public string Block => $"{Address}/30";

    /// <param name="nodePublicKey">The exit node's key.</param>
    /// <param name="nodePort">The node's UDP port on 127.0.0.1.</param>
    /// <param name="nodeAddress">The node's tunnel address.</param>
    /// <param name="address">The site's tunnel address.</param>
    /// <param name="privateKey">The site's key; null for a new one.</param>
    /// <param name="netns">A network namespace to open the site's UDP socket in; null for the test's own.</param>
    public static Site Dial(WgKey nodePublicKey, int nodePort, IPAddress nodeAddress, IPAddress address, WgKey? privateKey = null, string? netns = null)
    {
        var options = new UserspaceTunnelOptions { PrivateKey = privateKey ?? WgKey.GeneratePrivate(), InterfaceName = "site", Addresses = [address] };
        if (netns is not null)
        {
            options = options with { Bind = port => LinuxUdpTransport.BindInNamespace(netns, new LinuxUdpTransportOptions { Port = port }) };
        }
        var tunnel = new UserspaceTunnel(options);
        tunnel.Start();
        var peer = new PeerUpdate(nodePublicKey) { Endpoint = new IPEndPoint(IPAddress.Loopback, nodePort), ReplaceAllowedIps = true };
        peer.AllowedIps.Add(new IPNetwork(nodeAddress, 32));
        var update = new DeviceUpdate();
        update.Peers.Add(peer);
        tunnel.Configure(update);
        return new Site(tunnel, address, nodeAddress);
    }

    /// <summary>Pings the node until it answers (the first ping waits for a handshake) or <paramref name="within"/> passes.</summary>
    public async Task<bool> ReachesNodeAsync(TimeSpan within)
    {
        var elapsed = Stopwatch.StartNew();
        while (elapsed.Elapsed < within)
        {
            if (await Tunnel.Stack.PingAsync(NodeAddress, 56, TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken) is not null)
            {
                return true;
            }
        }
        return false;
    }

    public ValueTask DisposeAsync() => Tunnel.DisposeAsync();
}
