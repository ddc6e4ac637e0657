using System.Net;

namespace Pangolin.WireGuard.Configuration;

/// <summary>What `wg show` reports: the device's settings and each peer's settings and statistics.</summary>
public sealed record DeviceSnapshot(
    WgKey? PrivateKey,
    int ListenPort,
    int FwMark,
    IReadOnlyList<PeerSnapshot> Peers);

public sealed record PeerSnapshot(
    WgKey PublicKey,
    WgKey? PresharedKey,
    IPEndPoint? Endpoint,
    int PersistentKeepaliveInterval,
    IReadOnlyList<IPNetwork> AllowedIps,
    DateTimeOffset? LastHandshake,
    long RxBytes,
    long TxBytes);

/// <summary>
/// A change to a device, with the semantics of wireguard-go's UAPI `set=1`: absent values stay as they are,
/// a zero key clears a key, <see cref="ReplacePeers"/> removes peers not named, and peers are applied in order.
/// </summary>
public sealed class DeviceUpdate
{
    /// <summary>Null: unchanged. An all-zero key: remove the private key.</summary>
    public WgKey? PrivateKey { get; set; }

    /// <summary>Null: unchanged. 0 picks a random port.</summary>
    public int? ListenPort { get; set; }

    /// <summary>Null: unchanged. 0 removes the mark.</summary>
    public int? FwMark { get; set; }

    public bool ReplacePeers { get; set; }

    public List<PeerUpdate> Peers { get; } = [];
}

public sealed class PeerUpdate(WgKey publicKey)
{
    public WgKey PublicKey { get; } = publicKey;

    public bool Remove { get; set; }

    /// <summary>Only change an existing peer; do not create it.</summary>
    public bool UpdateOnly { get; set; }

    /// <summary>Null: unchanged. An all-zero key: no preshared key.</summary>
    public WgKey? PresharedKey { get; set; }

    public IPEndPoint? Endpoint { get; set; }

    /// <summary>Null: unchanged. 0 turns persistent keepalive off.</summary>
    public int? PersistentKeepaliveInterval { get; set; }

    public bool ReplaceAllowedIps { get; set; }

    public List<IPNetwork> AllowedIps { get; } = [];
}

/// <summary>Something `wg` can configure: implemented by the device, served by the UAPI.</summary>
public interface IConfigurableDevice
{
    DeviceSnapshot GetConfiguration();

    /// <summary>Applies an update; throws <see cref="ConfigurationException"/> (with a UAPI errno) when it cannot.</summary>
    void Configure(DeviceUpdate update);
}

/// <summary>A configuration the device refuses; <see cref="Errno"/> is what the UAPI reports (wireguard-go's values).</summary>
public sealed class ConfigurationException(string message, int errno = ConfigurationException.InvalidArgument) : Exception(message)
{
    /// <summary>EINVAL.</summary>
    public const int InvalidArgument = 22;

    /// <summary>EADDRINUSE: the listen port is taken.</summary>
    public const int AddressInUse = 98;

    /// <summary>EIO.</summary>
    public const int IoError = 5;

    public int Errno { get; } = errno;
}
