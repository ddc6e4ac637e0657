using System.Net;
using Microsoft.Extensions.Logging;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Tunnel;

/// <summary>
/// An exit node's sites as WireGuard peers on any device (userspace or TUN): add or replace one, remove one, or make
/// the set exactly a list. Each change is one atomic update, and peers that stay keep their endpoints and sessions.
/// The device itself is the record, so peers changed through its UAPI socket (`wg`) are seen too.
/// </summary>
public sealed partial class SitePeers(IConfigurableDevice device, ILogger logger)
{
    private readonly Lock _lock = new();

    /// <summary>Adds a site, or replaces the allowed IPs of one already there (upstream's `POST /peer` upserts alike).</summary>
    public void Add(WgKey publicKey, IReadOnlyList<IPNetwork> allowedIps)
    {
        var update = new DeviceUpdate();
        update.Peers.Add(PeerWith(publicKey, allowedIps));
        lock (_lock)
        {
            device.Configure(update);
        }
        LogPeerAdded(logger, publicKey, allowedIps.Count);
    }

    /// <summary>Removes a site; false when the device did not have it.</summary>
    public bool Remove(WgKey publicKey)
    {
        lock (_lock)
        {
            if (!device.GetConfiguration().Peers.Any(p => p.PublicKey == publicKey))
            {
                return false;
            }
            var update = new DeviceUpdate();
            update.Peers.Add(new PeerUpdate(publicKey) { Remove = true });
            device.Configure(update);
        }
        LogPeerRemoved(logger, publicKey);
        return true;
    }

    /// <summary>Makes the peers exactly <paramref name="peers"/>; a key named twice takes the last allowed IPs given for it.</summary>
    public void Sync(IReadOnlyCollection<(WgKey PublicKey, IReadOnlyList<IPNetwork> AllowedIps)> peers)
    {
        ArgumentNullException.ThrowIfNull(peers);
        var wanted = new Dictionary<WgKey, PeerUpdate>(peers.Count);
        foreach (var (publicKey, allowedIps) in peers)
        {
            wanted[publicKey] = PeerWith(publicKey, allowedIps);
        }
        int removed;
        lock (_lock)
        {
            // Not ReplacePeers: that would drop the sessions of the peers that stay.
            var update = new DeviceUpdate();
            var gone = device.GetConfiguration().Peers.Select(p => p.PublicKey).Where(key => !wanted.ContainsKey(key)).ToList();
            update.Peers.AddRange(gone.Select(key => new PeerUpdate(key) { Remove = true }));
            update.Peers.AddRange(wanted.Values);
            device.Configure(update);
            removed = gone.Count;
        }
        LogPeersSynced(logger, wanted.Count, removed);
    }

    private static PeerUpdate PeerWith(WgKey publicKey, IReadOnlyList<IPNetwork> allowedIps)
    {
        ArgumentNullException.ThrowIfNull(allowedIps);
        var update = new PeerUpdate(publicKey) { ReplaceAllowedIps = true };
        update.AllowedIps.AddRange(allowedIps);
        return update;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Exit node peer {PublicKey} set with {Count} allowed IP ranges")]
    private static partial void LogPeerAdded(ILogger logger, WgKey publicKey, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Exit node peer {PublicKey} removed")]
    private static partial void LogPeerRemoved(ILogger logger, WgKey publicKey);

    [LoggerMessage(Level = LogLevel.Information, Message = "Exit node peers synced: {Count} kept or added, {Removed} removed")]
    private static partial void LogPeersSynced(ILogger logger, int count, int removed);
}
