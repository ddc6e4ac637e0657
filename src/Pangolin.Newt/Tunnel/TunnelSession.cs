using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Pangolin.Newt.Proxy;
using Pangolin.Protocol.Messages;
using Pangolin.Tunnel;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Net;

namespace Pangolin.Newt.Tunnel;

/// <summary>
/// The tunnel that <c>newt/wg/connect</c> describes: a WireGuard device at the site's tunnel IP, on a userspace
/// TCP/IP stack or (<c>--native</c>) a kernel TUN, dialling the exit node (persistent keepalive 5 s, only the node's
/// address routed in), the relays listening on the tunnel IP, and a liveness check that pings the node through the
/// tunnel.
/// </summary>
internal sealed partial class TunnelSession : IAsyncDisposable
{
    /// <summary>Consecutive failed liveness pings after which the tunnel counts as lost (upstream: 4).</summary>
    public const int FailuresBeforeLost = 4;

    private readonly ISiteTunnel _tunnel;
    private readonly CancellationTokenSource _stop = new();
    private readonly ILogger _logger;
    private Task? _liveness;

    private TunnelSession(ISiteTunnel tunnel, ProxyManager proxies, IPAddress tunnelIp, IPAddress serverIp, ILogger logger)
    {
        _tunnel = tunnel;
        Proxies = proxies;
        TunnelIp = tunnelIp;
        ServerIp = serverIp;
        _logger = logger;
    }

    public ProxyManager Proxies { get; }

    public IPAddress TunnelIp { get; }

    public IPAddress ServerIp { get; }

    /// <summary>Each answered liveness ping's round trip (the metrics' tunnel latency).</summary>
    public event Action<TimeSpan>? PingAnswered;

    /// <remarks>
    /// With <c>--native</c>, <c>networkNamespace</c> is the `ip netns` name the interface, its routes, listeners and
    /// pings live in; null (always, outside tests): newt's own.
    /// </remarks>
    /// <exception cref="FormatException">The connect message has a bad address or endpoint.</exception>
    /// <exception cref="IOException">With <c>--native</c>: the TUN or `ip` failed.</exception>
    public static async Task<TunnelSession> StartAsync(
        WgKey privateKey, WgConnectData connect, NewtOptions options, ILoggerFactory loggers, TimeProvider time, Func<int, IUdpTransport>? bind,
        string? networkNamespace, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(connect);
        ArgumentNullException.ThrowIfNull(options);
        if (!TryParseTunnelAddress(connect.TunnelIp, out var tunnelIp, out var prefixLength) || !IPAddress.TryParse(connect.ServerIp, out var serverIp))
        {
            throw new FormatException($"newt/wg/connect has a bad tunnelIP or serverIP ({connect.TunnelIp}, {connect.ServerIp})");
        }
        var endpoint = await ResolveAsync(connect.Endpoint, ct);
        // Only the node's address (and the remote subnets) go into the tunnel.
        var routed = new List<IPNetwork> { new(serverIp, serverIp.AddressFamily == AddressFamily.InterNetwork ? 32 : 128) };
        foreach (var subnet in connect.RemoteExitNodeSubnets)
        {
            if (IPNetwork.TryParse(subnet, out var network))
            {
                routed.Add(network);
            }
        }
        var udp = bind ?? (port => LinuxUdpTransport.Bind(port));
        ISiteTunnel tunnel;
        if (options.Native)
        {
            tunnel = await NativeTunnel.StartAsync(options.InterfaceName, options.Mtu, privateKey, tunnelIp, prefixLength, routed, udp, networkNamespace, time, loggers);
        }
        else
        {
            var userspace = new UserspaceTunnel(new UserspaceTunnelOptions
            {
                PrivateKey = privateKey,
                InterfaceName = options.InterfaceName,
                Mtu = options.Mtu,
                Addresses = [tunnelIp],
                Bind = udp,
                Time = time,
                LoggerFactory = loggers,
            });
            tunnel = new UserspaceSiteTunnel(userspace);
            try
            {
                userspace.Start();
            }
            catch
            {
                await tunnel.DisposeAsync();
                throw;
            }
        }
        try
        {
            var peer = new PeerUpdate(WgKey.FromBase64(connect.PublicKey)) { Endpoint = endpoint, PersistentKeepaliveInterval = 5, ReplaceAllowedIps = true };
            foreach (var network in routed)
            {
                peer.AllowedIps.Add(network);
            }
            var update = new DeviceUpdate();
            update.Peers.Add(peer);
            tunnel.Configure(update);
        }
        catch
        {
            await tunnel.DisposeAsync();
            throw;
        }
        var proxies = new ProxyManager(tunnel.Relays, tunnelIp, ProxyOptions.From(options, loggers, time));
        return new TunnelSession(tunnel, proxies, tunnelIp, serverIp, loggers.CreateLogger<TunnelSession>());
    }

    /// <summary>The server sends the tunnel IP bare (a host address); one with a prefix keeps it.</summary>
    private static bool TryParseTunnelAddress(string text, [NotNullWhen(true)] out IPAddress? address, out int prefixLength)
    {
        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var host = slash < 0 ? text.AsSpan() : text.AsSpan(0, slash);
        prefixLength = 0;
        if (!IPAddress.TryParse(host, out address))
        {
            return false;
        }
        var maximum = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        prefixLength = maximum;
        return slash < 0
            || (int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefixLength) && prefixLength <= maximum);
    }

    /// <summary>Pings the node up to <paramref name="attempts"/> times; true at the first answer (the tunnel works).</summary>
    public async Task<bool> PingAsync(int attempts, TimeSpan timeout, CancellationToken ct)
    {
        for (var i = 0; i < attempts; i++)
        {
            if (await _tunnel.PingAsync(ServerIp, timeout, ct) is not null)
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>Pings the node every <paramref name="interval"/>; after <see cref="FailuresBeforeLost"/> misses in a row calls <paramref name="lost"/> once.</summary>
    public void StartLiveness(TimeSpan interval, TimeSpan timeout, TimeProvider time, Action lost)
    {
        var ct = _stop.Token;
        _liveness = Task.Run(async () =>
        {
            var failures = 0;
            try
            {
                while (!ct.IsCancellationRequested)
                {
                    await Task.Delay(interval, time, ct);
                    var rtt = await _tunnel.PingAsync(ServerIp, timeout, ct);
                    if (rtt is { } answered)
                    {
                        PingAnswered?.Invoke(answered);
                    }
                    failures = rtt is null ? failures + 1 : 0;
                    if (failures > 0)
                    {
                        LogPingMissed(_logger, ServerIp, failures);
                    }
                    if (failures >= FailuresBeforeLost)
                    {
                        lost();
                        return;
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
            }
        }, CancellationToken.None);
    }

    private static async Task<IPEndPoint> ResolveAsync(string hostPort, CancellationToken ct)
    {
        var colon = hostPort.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(hostPort.AsSpan(colon + 1), CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new FormatException($"newt/wg/connect has a bad endpoint '{hostPort}' (expected host:port)");
        }
        var host = hostPort[..colon].Trim('[', ']');
        if (IPAddress.TryParse(host, out var literal))
        {
            return new IPEndPoint(literal, port);
        }
        var addresses = await Dns.GetHostAddressesAsync(host, ct);
        var chosen = addresses.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? addresses.FirstOrDefault()
            ?? throw new SocketException((int)SocketError.HostNotFound);
        return new IPEndPoint(chosen, port);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        if (_liveness is not null)
        {
            await _liveness.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
        }
        await Proxies.DisposeAsync();
        await _tunnel.DisposeAsync();
        _stop.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "No answer from the exit node {ServerIp} through the tunnel ({Failures} in a row)")]
    private static partial void LogPingMissed(ILogger logger, IPAddress serverIp, int failures);
}
