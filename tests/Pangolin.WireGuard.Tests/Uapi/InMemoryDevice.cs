using System.Net;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.WireGuard.Tests.Uapi;

/// <summary>
/// A configurable device that only stores: DeviceUpdate applied as wireguard-go applies a set (zero keys clear,
/// replace_peers, remove, update_only, replace_allowed_ips, an allowed IP belongs to one peer at a time and moves to
/// the last peer given it), peers in creation order, statistics set by the test.
/// </summary>
internal sealed class InMemoryDevice : IConfigurableDevice
{
    private readonly Lock _lock = new();
    private readonly List<PeerState> _peers = [];
    private WgKey? _privateKey;
    private int _listenPort;
    private int _fwMark;
    private int _configureCount;

    /// <summary>Returns an exception to refuse an update with (before anything changes), or null to apply it.</summary>
    public Func<DeviceUpdate, ConfigurationException?>? Refuse { get; set; }

    public int ConfigureCount => Volatile.Read(ref _configureCount);

    public DeviceSnapshot GetConfiguration()
    {
        lock (_lock)
        {
            return new DeviceSnapshot(
                _privateKey,
                _listenPort,
                _fwMark,
                [.. _peers.Select(p => new PeerSnapshot(
                    p.PublicKey, p.PresharedKey, p.Endpoint, p.PersistentKeepaliveInterval, [.. p.AllowedIps],
                    p.LastHandshake, p.RxBytes, p.TxBytes))]);
        }
    }

    public void Configure(DeviceUpdate update)
    {
        lock (_lock)
        {
            if (Refuse?.Invoke(update) is { } refusal)
            {
                throw refusal;
            }
            Interlocked.Increment(ref _configureCount);
            if (update.PrivateKey is { } privateKey)
            {
                _privateKey = privateKey.IsZero ? null : privateKey;
            }
            if (update.ListenPort is { } port)
            {
                _listenPort = port;
            }
            if (update.FwMark is { } mark)
            {
                _fwMark = mark;
            }
            if (update.ReplacePeers)
            {
                _peers.Clear();
            }
            foreach (var change in update.Peers)
            {
                Apply(change);
            }
        }
    }

    public void SetStatistics(WgKey publicKey, DateTimeOffset? lastHandshake, long rxBytes, long txBytes)
    {
        lock (_lock)
        {
            var peer = _peers.Single(p => p.PublicKey == publicKey);
            peer.LastHandshake = lastHandshake;
            peer.RxBytes = rxBytes;
            peer.TxBytes = txBytes;
        }
    }

    private void Apply(PeerUpdate change)
    {
        var peer = _peers.Find(p => p.PublicKey == change.PublicKey);
        if (change.Remove)
        {
            if (peer is not null)
            {
                _peers.Remove(peer);
            }
            return;
        }
        if (peer is null)
        {
            if (change.UpdateOnly)
            {
                return;
            }
            peer = new PeerState(change.PublicKey);
            _peers.Add(peer);
        }
        if (change.PresharedKey is { } psk)
        {
            peer.PresharedKey = psk.IsZero ? null : psk;
        }
        if (change.Endpoint is { } endpoint)
        {
            peer.Endpoint = endpoint;
        }
        if (change.PersistentKeepaliveInterval is { } interval)
        {
            peer.PersistentKeepaliveInterval = interval;
        }
        if (change.ReplaceAllowedIps)
        {
            peer.AllowedIps.Clear();
        }
        foreach (var prefix in change.AllowedIps)
        {
            // As wireguard-go's trie: a prefix maps to one peer, so giving it to this peer takes it from any other.
            foreach (var other in _peers)
            {
                other.AllowedIps.Remove(prefix);
            }
            peer.AllowedIps.Add(prefix);
        }
    }

    private sealed class PeerState(WgKey publicKey)
    {
        public WgKey PublicKey { get; } = publicKey;

        public WgKey? PresharedKey { get; set; }

        public IPEndPoint? Endpoint { get; set; }

        public int PersistentKeepaliveInterval { get; set; }

        public List<IPNetwork> AllowedIps { get; } = [];

        public DateTimeOffset? LastHandshake { get; set; }

        public long RxBytes { get; set; }

        public long TxBytes { get; set; }
    }
}
