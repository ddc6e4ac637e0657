using Pangolin.WireGuard.Configuration;

namespace Pangolin.Tunnel;

/// <summary>
/// Bytes a peer moved since the previous sample, from the exit node's point of view: <see cref="BytesIn"/> is what
/// the node received from the peer (its RxBytes), <see cref="BytesOut"/> what it sent to the peer (its TxBytes).
/// Upstream gerbil reports the same way, and the server swaps the two to get the site's point of view.
/// </summary>
public sealed record PeerBandwidth(WgKey PublicKey, long BytesIn, long BytesOut);

/// <summary>
/// Turns the device's running byte counters into per-interval deltas, as upstream gerbil's bandwidth report does
/// (fosrl/gerbil main.go, calculatePeerBandwidth), in bytes rather than megabytes. Synchronous and without I/O; one
/// caller at a time.
/// </summary>
/// <remarks>
/// A peer seen for the first time contributes its whole counters (they started at zero when it was added). A counter
/// lower than last time means the peer was removed and added again in between, so it counts from zero. Peers absent
/// from a sample are forgotten, and peers that moved nothing are left out of the result.
/// </remarks>
public sealed class BandwidthSampler
{
    private Dictionary<WgKey, Counters> _previous = [];

    public IReadOnlyList<PeerBandwidth> Sample(IReadOnlyList<PeerSnapshot> peers)
    {
        ArgumentNullException.ThrowIfNull(peers);
        var current = new Dictionary<WgKey, Counters>(peers.Count);
        var result = new List<PeerBandwidth>();
        foreach (var peer in peers)
        {
            var before = _previous.GetValueOrDefault(peer.PublicKey);
            var bytesIn = Delta(before.Rx, peer.RxBytes);
            var bytesOut = Delta(before.Tx, peer.TxBytes);
            current[peer.PublicKey] = new Counters(peer.RxBytes, peer.TxBytes);
            if (bytesIn != 0 || bytesOut != 0)
            {
                result.Add(new PeerBandwidth(peer.PublicKey, bytesIn, bytesOut));
            }
        }
        _previous = current;
        return result;
    }

    private static long Delta(long before, long now) => now >= before ? now - before : now;

    private readonly record struct Counters(long Rx, long Tx);
}
