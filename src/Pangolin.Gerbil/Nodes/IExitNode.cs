using System.Net;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Nodes;

/// <summary>
/// The WireGuard side of a managed exit node, in either mode: the peers the server names (sites, by key and
/// allowed IPs) and the counters the bandwidth report reads. The peer methods may be called from any thread.
/// </summary>
internal interface IExitNode : IAsyncDisposable
{
    ExitNodeMode Mode { get; }

    WgKey PublicKey { get; }

    /// <summary>The node's tunnel address with its prefix, as get-config gave it.</summary>
    NodeAddress Address { get; }

    /// <summary>The UDP port sites dial: the one actually bound.</summary>
    int ListenPort { get; }

    /// <summary>Adds a peer, or replaces its allowed IPs; an existing peer keeps its endpoint and session.</summary>
    void AddPeer(WgKey publicKey, IReadOnlyList<IPNetwork> allowedIps);

    /// <summary>Removes a peer; false when there was none with that key.</summary>
    bool RemovePeer(WgKey publicKey);

    /// <summary>Makes the peers exactly these; peers that stay keep their endpoints and sessions.</summary>
    void SyncPeers(IReadOnlyCollection<(WgKey PublicKey, IReadOnlyList<IPNetwork> AllowedIps)> peers);

    /// <summary>Each peer with its running byte counters (`wg show`).</summary>
    IReadOnlyList<PeerSnapshot> Peers();
}
