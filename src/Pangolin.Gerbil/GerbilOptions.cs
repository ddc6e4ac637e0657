using System.Net;
using Microsoft.Extensions.Logging;

namespace Pangolin.Gerbil;

/// <summary>Where a managed exit node's WireGuard device lives.</summary>
internal enum ExitNodeMode
{
    /// <summary>A kernel TUN interface (root or CAP_NET_ADMIN), addressed with iproute2 and open to `wg` through UAPI.</summary>
    Tun,

    /// <summary>A userspace device and stack: no TUN, no root; the node address answers only inside the process.</summary>
    Userspace,
}

/// <summary>gerbil's merged settings: flags, then environment variables, then defaults (see <see cref="CommandLine"/>).</summary>
internal sealed record GerbilOptions
{
    /// <summary>Upstream gerbil's MTU for a managed node.</summary>
    public const int DefaultManagedMtu = 1280;

    /// <summary>The interface-only mode's MTU, as wireguard-go's.</summary>
    public const int DefaultInterfaceMtu = 1420;

    public const int DefaultListenPort = 51820;

    /// <summary>Upstream gerbil's API port when REACHABLE_AT is not set.</summary>
    public const int DefaultApiPort = 3003;

    /// <summary>The TUN interface: named on the command line, or INTERFACE (wg0) for a managed node.</summary>
    public string InterfaceName { get; init; } = "wg0";

    public int Mtu { get; init; } = DefaultManagedMtu;

    public LogLevel MinimumLogLevel { get; init; } = LogLevel.Information;

    /// <summary>The server's internal API base (…/api/v1, upstream's suffixes stripped); null: interface-only mode.</summary>
    public ControlEndpoints? RemoteConfig { get; init; }

    /// <summary>Our peer API's URL as the server should call it; null when not set (it is then not sent).</summary>
    public Uri? ReachableAt { get; init; }

    /// <summary>Where the peer API listens: REACHABLE_AT's address (any address for a host name) and port.</summary>
    public IPEndPoint ApiListen { get; init; } = new(IPAddress.IPv6Any, DefaultApiPort);

    public string? KeyFile { get; init; }

    public ExitNodeMode Mode { get; init; } = ExitNodeMode.Userspace;

    /// <summary>The host sites dial, sent to the server with get-config (ours; upstream reads it on another route).</summary>
    public string? Endpoint { get; init; }

    /// <summary>The UDP port sent to the server; the node listens on the port the server answers with.</summary>
    public int ListenPort { get; init; } = DefaultListenPort;

    /// <summary>CONTROL_API_TOKEN: the bearer token the peer API's changing routes require; null leaves them open.</summary>
    public string? ControlApiToken { get; init; }

    /// <summary>REMOTE_CONFIG_SIGNING_KEY: the server's Ed25519 key that must sign get-config; null takes unsigned answers.</summary>
    public NSec.Cryptography.PublicKey? ConfigSigningKey { get; init; }
}

/// <summary>
/// The server's internal exit-node API: <c>{base}/gerbil/get-config</c> and <c>{base}/gerbil/receive-bandwidth</c>.
/// </summary>
internal sealed record ControlEndpoints(Uri Base)
{
    public Uri GetConfig { get; } = new(Base.AbsoluteUri.TrimEnd('/') + "/gerbil/get-config");

    public Uri ReceiveBandwidth { get; } = new(Base.AbsoluteUri.TrimEnd('/') + "/gerbil/receive-bandwidth");

    /// <summary>
    /// Takes REMOTE_CONFIG as upstream does (fosrl/gerbil main.go): a trailing slash and a legacy
    /// <c>/gerbil/get-config</c>, <c>/gerbil/receive-bandwidth</c> or <c>/gerbil</c> suffix are dropped, so both
    /// <c>http://pangolin:3001/api/v1</c> and <c>http://pangolin:3001/api/v1/gerbil/get-config</c> work.
    /// </summary>
    public static bool TryParse(string text, out ControlEndpoints? endpoints)
    {
        endpoints = null;
        if (!Uri.TryCreate(text, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.Host.Length == 0 || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            return false;
        }
        var trimmed = uri.AbsoluteUri.TrimEnd('/');
        foreach (var suffix in new[] { "/gerbil/get-config", "/gerbil/receive-bandwidth", "/gerbil" })
        {
            if (trimmed.EndsWith(suffix, StringComparison.Ordinal))
            {
                trimmed = trimmed[..^suffix.Length];
                break;
            }
        }
        endpoints = new ControlEndpoints(new Uri(trimmed.TrimEnd('/'), UriKind.Absolute));
        return true;
    }
}
