using System.Net;
using Microsoft.Extensions.Logging;
using Pangolin.Netstack;
using Pangolin.Netstack.Udp;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Tunnel;

/// <summary>
/// An exit node in userspace: the WireGuard endpoint that sites dial, with the node address (100.89.137.1 in
/// 100.89.137.0/24, say) on its own stack, from which the host opens connections to the sites' tunnel IPs.
/// </summary>
/// <remarks>
/// Peers are sites. They are given only their key and allowed IPs, never an endpoint: a site dials the node, and the
/// device learns (and follows) the site's address from its handshakes, as WireGuard does for roaming peers. So the
/// node cannot reach a site until that site has sent a handshake. The peer methods are safe to call from any
/// thread; each one is applied to the device as one atomic change.
/// </remarks>
public sealed class ExitNodeRuntime : IAsyncDisposable
{
    private readonly UserspaceTunnel _tunnel;
    private readonly SitePeers _peers;

    /// <param name="address">The node address; the stack also keeps any addresses <paramref name="options"/> names.</param>
    /// <param name="options">The tunnel's key, port, socket, clock and logging.</param>
    public ExitNodeRuntime(IPAddress address, UserspaceTunnelOptions options)
    {
        ArgumentNullException.ThrowIfNull(address);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(options.Addresses);
        Address = address;
        _tunnel = new UserspaceTunnel(options with { Addresses = [address, .. options.Addresses.Where(a => !a.Equals(address))] });
        _peers = new SitePeers(_tunnel, options.LoggerFactory.CreateLogger<ExitNodeRuntime>());
    }

    public IPAddress Address { get; }

    public WgKey PublicKey => _tunnel.PublicKey;

    /// <summary>The UDP port sites dial: after <see cref="Start"/>, the one actually bound.</summary>
    public int ListenPort => _tunnel.ListenPort;

    /// <summary>The node's userspace stack, on <see cref="Address"/>.</summary>
    public NetworkStack Stack => _tunnel.Stack;

    /// <summary>Packets the stack sent that were dropped on their way to the device (see <see cref="UserspaceTunnel.DroppedToDevice"/>).</summary>
    public long DroppedToDevice => _tunnel.DroppedToDevice;

    /// <summary>Opens the UDP socket; calling it again does nothing.</summary>
    public void Start() => _tunnel.Start();

    /// <summary>
    /// Adds a site, or replaces the allowed IPs of one already there. An existing peer keeps its endpoint and its
    /// session, so a site's traffic is not interrupted when its allowed IPs are re-sent (upstream's `POST /peer`
    /// upserts the same way).
    /// </summary>
    public void AddPeer(WgKey publicKey, IReadOnlyList<IPNetwork> allowedIps)
    {
        CheckKey(publicKey);
        _peers.Add(publicKey, allowedIps);
    }

    /// <summary>Removes a site; false when the node did not know it.</summary>
    public bool RemovePeer(WgKey publicKey) => _peers.Remove(publicKey);

    /// <summary>
    /// Makes the node's peers exactly <paramref name="peers"/>: those not named are removed, the others are added or
    /// get these allowed IPs. Peers that stay keep their endpoints and sessions. A key named twice takes the last
    /// allowed IPs given for it.
    /// </summary>
    public void SyncPeers(IReadOnlyCollection<(WgKey PublicKey, IReadOnlyList<IPNetwork> AllowedIps)> peers)
    {
        ArgumentNullException.ThrowIfNull(peers);
        foreach (var (publicKey, _) in peers)
        {
            CheckKey(publicKey);
        }
        _peers.Sync(peers);
    }

    /// <summary>The device's state (`wg show`): each site's endpoint, last handshake and byte counters. The private
    /// key is left out, so that a snapshot can be logged or serialised safely.</summary>
    public DeviceSnapshot Snapshot() => _tunnel.GetConfiguration() with { PrivateKey = null };

    /// <summary>Opens a TCP connection from the node address to a site's tunnel IP.</summary>
    public Task<Stream> ConnectTcpAsync(IPEndPoint remote, CancellationToken cancellationToken = default) =>
        _tunnel.Stack.ConnectTcpAsync(remote, cancellationToken);

    /// <summary>Binds a UDP socket on the node's stack (port 0: an ephemeral one).</summary>
    public UdpSocket BindUdp(IPEndPoint local) => _tunnel.Stack.BindUdp(local);

    public ValueTask DisposeAsync() => _tunnel.DisposeAsync();

    private void CheckKey(WgKey publicKey)
    {
        if (publicKey.IsZero)
        {
            throw new ArgumentException("A peer needs a public key.", nameof(publicKey));
        }
        if (publicKey == PublicKey)
        {
            // The device would silently ignore it (as wireguard-go does); a caller doing this has a bug.
            throw new ArgumentException("A peer cannot have the exit node's own public key.", nameof(publicKey));
        }
    }
}
