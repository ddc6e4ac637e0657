using System.Diagnostics;
using System.Net;
using Microsoft.Extensions.Logging;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tun;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.Gerbil.Nodes;

/// <summary>
/// The exit node on a kernel TUN interface (<c>--mode tun</c>, root or CAP_NET_ADMIN): the interface gets
/// get-config's address with `ip addr add` and is brought up with `ip link set up`, so the host routes to the
/// sites' subnets; the UAPI socket stays open for `wg show`. Upstream's MSS clamping and wg0 firewall (iptables) are
/// not applied.
/// </summary>
internal sealed partial class TunExitNode : IExitNode
{
    private static readonly TimeSpan IpTimeout = TimeSpan.FromSeconds(10);
    private readonly WireGuardDevice _device;
    private readonly UapiServer _uapi;
    private readonly ILogger _logger;
    private readonly Lock _peersLock = new();

    private TunExitNode(WireGuardDevice device, UapiServer uapi, string interfaceName, WgKey publicKey, NodeAddress address, ILogger logger)
    {
        _device = device;
        _uapi = uapi;
        InterfaceName = interfaceName;
        PublicKey = publicKey;
        Address = address;
        _logger = logger;
    }

    public ExitNodeMode Mode => ExitNodeMode.Tun;

    public string InterfaceName { get; }

    public WgKey PublicKey { get; }

    public NodeAddress Address { get; }

    public int ListenPort => _device.ListenPort;

    /// <summary>Creates the interface, opens its UAPI socket and UDP port, and addresses it and brings it up.</summary>
    /// <exception cref="IOException">The TUN, the UAPI socket or `ip` failed.</exception>
    /// <exception cref="ConfigurationException">The UDP port cannot be bound.</exception>
    public static async Task<TunExitNode> StartAsync(string interfaceName, WgKey privateKey, NodeAddress address, int listenPort, int mtu, ILoggerFactory loggerFactory)
    {
        var tun = LinuxTun.Create(interfaceName, mtu);
        var device = new WireGuardDevice(tun, port => LinuxUdpTransport.Bind(port), new DeviceOptions { LoggerFactory = loggerFactory });
        UapiServer? uapi = null;
        try
        {
            device.Configure(new DeviceUpdate { PrivateKey = privateKey, ListenPort = listenPort });
            uapi = UapiServer.Start(tun.Name, device, logger: loggerFactory.CreateLogger("uapi"));
            device.Start();
            await IpAsync("addr", "add", address.ToString(), "dev", tun.Name);
            await IpAsync("link", "set", "dev", tun.Name, "up");
            return new TunExitNode(device, uapi, tun.Name, privateKey.PublicKey(), address, loggerFactory.CreateLogger<TunExitNode>());
        }
        catch
        {
            if (uapi is not null)
            {
                await uapi.DisposeAsync();
            }
            await device.DisposeAsync();
            throw;
        }
    }

    public void AddPeer(WgKey publicKey, IReadOnlyList<IPNetwork> allowedIps)
    {
        var update = new DeviceUpdate();
        update.Peers.Add(PeerWith(publicKey, allowedIps));
        lock (_peersLock)
        {
            _device.Configure(update);
        }
        LogPeerAdded(_logger, publicKey, allowedIps.Count);
    }

    public bool RemovePeer(WgKey publicKey)
    {
        lock (_peersLock)
        {
            // The device is the record: `wg` may have added or removed peers through the UAPI socket.
            if (!_device.GetConfiguration().Peers.Any(p => p.PublicKey == publicKey))
            {
                return false;
            }
            var update = new DeviceUpdate();
            update.Peers.Add(new PeerUpdate(publicKey) { Remove = true });
            _device.Configure(update);
        }
        LogPeerRemoved(_logger, publicKey);
        return true;
    }

    public void SyncPeers(IReadOnlyCollection<(WgKey PublicKey, IReadOnlyList<IPNetwork> AllowedIps)> peers)
    {
        ArgumentNullException.ThrowIfNull(peers);
        var wanted = new Dictionary<WgKey, PeerUpdate>(peers.Count);
        foreach (var (publicKey, allowedIps) in peers)
        {
            wanted[publicKey] = PeerWith(publicKey, allowedIps);
        }
        int removed;
        lock (_peersLock)
        {
            // Not ReplacePeers: that would drop the sessions of the peers that stay.
            var update = new DeviceUpdate();
            var gone = _device.GetConfiguration().Peers.Select(p => p.PublicKey).Where(key => !wanted.ContainsKey(key)).ToList();
            update.Peers.AddRange(gone.Select(key => new PeerUpdate(key) { Remove = true }));
            update.Peers.AddRange(wanted.Values);
            _device.Configure(update);
            removed = gone.Count;
        }
        LogPeersSynced(_logger, wanted.Count, removed);
    }

    public IReadOnlyList<PeerSnapshot> Peers() => _device.GetConfiguration().Peers;

    public async ValueTask DisposeAsync()
    {
        await _uapi.DisposeAsync();
        await _device.DisposeAsync();
    }

    private static PeerUpdate PeerWith(WgKey publicKey, IReadOnlyList<IPNetwork> allowedIps)
    {
        ArgumentNullException.ThrowIfNull(allowedIps);
        var update = new PeerUpdate(publicKey) { ReplaceAllowedIps = true };
        update.AllowedIps.AddRange(allowedIps);
        return update;
    }

    /// <summary>Runs iproute2's `ip`, in gerbil's network namespace; a failure carries ip's own message.</summary>
    private static async Task IpAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new IOException("ip did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new IOException($"cannot run ip (iproute2 is needed in tun mode): {e.Message}", e);
        }
        using (process)
        {
            var error = process.StandardError.ReadToEndAsync();
            var output = process.StandardOutput.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(IpTimeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill();
                throw new IOException($"ip {string.Join(' ', arguments)} did not finish within {IpTimeout.TotalSeconds:0} s");
            }
            await output;
            if (process.ExitCode != 0)
            {
                throw new IOException($"ip {string.Join(' ', arguments)} failed: {(await error).Trim()}");
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Exit node peer {PublicKey} set with {Count} allowed IP ranges")]
    private static partial void LogPeerAdded(ILogger logger, WgKey publicKey, int count);

    [LoggerMessage(Level = LogLevel.Information, Message = "Exit node peer {PublicKey} removed")]
    private static partial void LogPeerRemoved(ILogger logger, WgKey publicKey);

    [LoggerMessage(Level = LogLevel.Information, Message = "Exit node peers synced: {Count} kept or added, {Removed} removed")]
    private static partial void LogPeersSynced(ILogger logger, int count, int removed);
}
