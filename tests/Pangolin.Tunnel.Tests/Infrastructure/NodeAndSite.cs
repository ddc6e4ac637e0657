using System.Diagnostics;
using System.Net;
using Pangolin.Netstack;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Tunnel.Tests.Infrastructure;

/// <summary>
/// An exit node (100.89.137.1) and a site (100.89.137.4) on loopback, each on an ephemeral UDP port, set up as the
/// server sets them up: the node knows the site's key and its /30 but no endpoint; the site dials the node at
/// 127.0.0.1 with a persistent keepalive of 5 s and routes only the node address into the tunnel (as newt does).
/// </summary>
internal sealed class NodeAndSite : IAsyncDisposable
{
    public static readonly IPAddress NodeAddress = IPAddress.Parse("100.89.137.1");
    public static readonly IPAddress SiteAddress = IPAddress.Parse("100.89.137.4");
    public static readonly IPNetwork SiteBlock = IPNetwork.Parse("100.89.137.4/30");
    public static readonly TimeSpan Within = TimeSpan.FromSeconds(20);

    private NodeAndSite(ExitNodeRuntime node, UserspaceTunnel site)
    {
        Node = node;
        Site = site;
    }

    public ExitNodeRuntime Node { get; }

    public UserspaceTunnel Site { get; private set; }

    /// <remarks>The node learns the site's key before the site dials, as the server adds the peer before it answers
    /// newt's register: an initiation the node cannot place is dropped, and the site retries only after 5 s.</remarks>
    public static NodeAndSite Start()
    {
        var node = new ExitNodeRuntime(NodeAddress, new UserspaceTunnelOptions { PrivateKey = WgKey.GeneratePrivate(), InterfaceName = "node" });
        node.Start();
        var sitePrivate = WgKey.GeneratePrivate();
        node.AddPeer(sitePrivate.PublicKey(), [SiteBlock]);
        return new NodeAndSite(node, StartSite(node, sitePrivate));
    }

    /// <summary>A site tunnel dialling <paramref name="node"/> (which is not told about it).</summary>
    public static UserspaceTunnel StartSite(ExitNodeRuntime node, WgKey privateKey)
    {
        var site = new UserspaceTunnel(new UserspaceTunnelOptions { PrivateKey = privateKey, InterfaceName = "site", Addresses = [SiteAddress] });
        site.Start();
        var peer = new PeerUpdate(node.PublicKey)
        {
            Endpoint = new IPEndPoint(IPAddress.Loopback, node.ListenPort),
            PersistentKeepaliveInterval = 5,
            ReplaceAllowedIps = true,
        };
        peer.AllowedIps.Add(new IPNetwork(NodeAddress, 32));
        var update = new DeviceUpdate();
        update.Peers.Add(peer);
        site.Configure(update);
        return site;
    }

    /// <summary>Replaces the site by one with another key (a newt re-registering); the node is not told.</summary>
    public async Task<UserspaceTunnel> ReplaceSiteAsync(WgKey privateKey)
    {
        await Site.DisposeAsync();
        Site = StartSite(Node, privateKey);
        return Site;
    }

    /// <summary>Pings until a reply comes (the first ping may wait for the handshake) or <see cref="Within"/> has passed.</summary>
    public static async Task<TimeSpan?> PingUntilAnsweredAsync(NetworkStack from, IPAddress to)
    {
        var elapsed = Stopwatch.StartNew();
        while (elapsed.Elapsed < Within)
        {
            if (await from.PingAsync(to, 56, TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken) is { } rtt)
            {
                return rtt;
            }
        }
        return null;
    }

    /// <summary>The site pings the node until answered, so that the node has learned the site's endpoint.</summary>
    public async Task SitePingsNodeAsync() =>
        Assert.NotNull(await PingUntilAnsweredAsync(Site.Stack, NodeAddress));

    public async ValueTask DisposeAsync()
    {
        await Site.DisposeAsync();
        await Node.DisposeAsync();
    }
}
