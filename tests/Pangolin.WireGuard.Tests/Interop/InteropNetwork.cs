using System.Globalization;
using System.Net;
using System.Runtime.Versioning;
using System.Security.Cryptography;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Infrastructure;
using Pangolin.WireGuard.Tun;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.WireGuard.Tests.Interop;

/// <summary>
/// Two network namespaces joined by a veth pair (10.211.0.1 ours, 10.211.0.2 theirs). In "ours", our
/// <see cref="WireGuardDevice"/> runs in-process on a TUN made there, with its UDP socket opened there and its UAPI
/// socket in /var/run/wireguard; in "go", Debian's wireguard-go runs as a process. The tunnel is 100.90.0.0/24
/// (.1 ours, .2 theirs). Interface names are unique per test (the UAPI sockets share one directory); everything is
/// removed on dispose, even after a failure.
/// </summary>
[SupportedOSPlatform("linux")]
internal sealed class InteropNetwork : IAsyncDisposable
{
    public const string OurVeth = "pwi-a";
    public const string GoVeth = "pwi-b";
    public const int OurPort = 51821;
    public const int GoPort = 51820;
    public const int Mtu = 1420;
    public static readonly IPAddress OurUnderlay = IPAddress.Parse("10.211.0.1");
    public static readonly IPAddress GoUnderlay = IPAddress.Parse("10.211.0.2");
    public static readonly IPAddress OurTunnel = IPAddress.Parse("100.90.0.1");
    public static readonly IPAddress GoTunnel = IPAddress.Parse("100.90.0.2");

    private readonly List<Func<ValueTask>> _cleanup = [];

    private InteropNetwork(string scratch)
    {
        var id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4));
        OurInterface = "pio" + id;
        GoInterface = "pig" + id;
        Scratch = scratch;
    }

    public NetworkNamespace Ours { get; private set; } = null!;

    public NetworkNamespace Go { get; private set; } = null!;

    public string OurInterface { get; }

    public string GoInterface { get; }

    /// <summary>A private directory for key files.</summary>
    public string Scratch { get; }

    public ShiftedTimeProvider Time { get; } = new();

    public CapturingLoggerFactory Logs { get; } = new();

    public WireGuardDevice Device { get; private set; } = null!;

    public UapiServer Uapi { get; private set; } = null!;

    public WireGuardGoProcess WireGuardGo { get; private set; } = null!;

    public WgKey OurPrivate { get; } = WgKey.GeneratePrivate();

    public WgKey GoPrivate { get; } = WgKey.GeneratePrivate();

    public WgKey OurPublic { get; private set; }

    public WgKey GoPublic { get; private set; }

    /// <summary>Makes the namespaces, the veth pair, our device (started, not configured) and wireguard-go (not configured).</summary>
    public static async Task<InteropNetwork> CreateAsync(bool withOurDevice = true)
    {
        var network = new InteropNetwork(Directory.CreateTempSubdirectory("pwg-interop-").FullName);
        network._cleanup.Add(() =>
        {
            Directory.Delete(network.Scratch, recursive: true);
            return ValueTask.CompletedTask;
        });
        try
        {
            await network.BuildAsync(withOurDevice);
            return network;
        }
        catch
        {
            await network.DisposeAsync();
            throw;
        }
    }

    private async Task BuildAsync(bool withOurDevice)
    {
        OurPublic = WgKey.FromBase64(await Wg.PublicKeyAsync(OurPrivate.ToBase64()));
        GoPublic = WgKey.FromBase64(await Wg.PublicKeyAsync(GoPrivate.ToBase64()));

        Ours = NetworkNamespace.Create();
        _cleanup.Add(() => Dispose(Ours));
        Go = NetworkNamespace.Create();
        _cleanup.Add(() => Dispose(Go));
        // No IPv6 router solicitations or MLD reports through the tunnel: the byte counters stay ours to predict.
        Ours.DisableIPv6();
        Go.DisableIPv6();
        Ours.AddVethPair(OurVeth, Go, GoVeth);
        Ours.AddAddress(OurVeth, OurUnderlay + "/24");
        Go.AddAddress(GoVeth, GoUnderlay + "/24");
        Ours.SetUp(OurVeth);
        Go.SetUp(GoVeth);

        WireGuardGo = await WireGuardGoProcess.StartAsync(Go.Name, GoInterface);
        _cleanup.Add(() => WireGuardGo.DisposeAsync());
        AddressAndUp(Go, GoInterface, GoTunnel);

        if (withOurDevice)
        {
            var tun = LinuxTun.CreateInNamespace(Ours.Name, OurInterface, Mtu);
            var ns = Ours.Name;
            Device = new WireGuardDevice(tun, port => LinuxUdpTransport.BindInNamespace(ns, new LinuxUdpTransportOptions { Port = port }),
                new DeviceOptions { Time = Time, LoggerFactory = Logs, Workers = 2 });
            _cleanup.Add(() => Device.DisposeAsync());
            Uapi = UapiServer.Start(OurInterface, Device, logger: Logs.CreateLogger("uapi"));
            _cleanup.Add(() => Uapi.DisposeAsync());
            Device.Start();
            AddressAndUp(Ours, OurInterface, OurTunnel);
        }
    }

    /// <summary>Gives a tunnel interface its /24 address, the MTU, and brings it up.</summary>
    public static void AddressAndUp(NetworkNamespace ns, string interfaceName, IPAddress address)
    {
        ArgumentNullException.ThrowIfNull(ns);
        ns.AddAddress(interfaceName, address + "/24");
        ns.Ip("link", "set", interfaceName, "mtu", Mtu.ToString(CultureInfo.InvariantCulture), "up");
    }

    private static ValueTask Dispose(NetworkNamespace disposable)
    {
        disposable.Dispose();
        return ValueTask.CompletedTask;
    }

    /// <summary>Writes a key to a 0600 file for `wg set ... private-key FILE`.</summary>
    public string KeyFile(WgKey key)
    {
        var path = Path.Combine(Scratch, Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)) + ".key");
        File.WriteAllText(path, key.ToBase64() + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    /// <summary>`wg set OURS ...`, run inside our namespace, answered by our UAPI server.</summary>
    public Task SetOursAsync(params string[] args) => Wg.OkInAsync(Ours.Name, ["set", OurInterface, .. args]);

    /// <summary>`wg set GO ...`, run inside wireguard-go's namespace.</summary>
    public Task SetGoAsync(params string[] args) => Wg.OkInAsync(Go.Name, ["set", GoInterface, .. args]);

    /// <summary>Our device through the typed API: key, port, one peer (wireguard-go) with endpoint and allowed IP.</summary>
    public void ConfigureOursTyped(WgKey? peerPublic = null, WgKey? presharedKey = null, int keepalive = 0)
    {
        var update = new DeviceUpdate { PrivateKey = OurPrivate, ListenPort = OurPort };
        var peer = new PeerUpdate(peerPublic ?? GoPublic)
        {
            Endpoint = new IPEndPoint(GoUnderlay, GoPort),
            PresharedKey = presharedKey,
            PersistentKeepaliveInterval = keepalive,
            ReplaceAllowedIps = true,
        };
        peer.AllowedIps.Add(new IPNetwork(GoTunnel, 32));
        update.Peers.Add(peer);
        Device.Configure(update);
    }

    /// <summary>Our device through `wg set` (in our namespace), the same settings as <see cref="ConfigureOursTyped"/>.</summary>
    public Task ConfigureOursWithWgAsync(WgKey? peerPublic = null, WgKey? presharedKey = null, int keepalive = 0, bool withEndpoint = true) =>
        SetOursAsync([
            "listen-port", OurPort.ToString(CultureInfo.InvariantCulture), "private-key", KeyFile(OurPrivate),
            "peer", (peerPublic ?? GoPublic).ToBase64(), "allowed-ips", GoTunnel + "/32",
            "persistent-keepalive", keepalive.ToString(CultureInfo.InvariantCulture),
            .. withEndpoint ? new[] { "endpoint", $"{GoUnderlay}:{GoPort}" } : [],
            .. presharedKey is { } psk ? new[] { "preshared-key", KeyFile(psk) } : [],
        ]);

    /// <summary>wireguard-go through `wg set`: key, port, one peer (our device) with endpoint and allowed IP.</summary>
    public Task ConfigureGoAsync(WgKey? peerPublic = null, WgKey? presharedKey = null, int keepalive = 0, bool withEndpoint = true) =>
        SetGoAsync([
            "listen-port", GoPort.ToString(CultureInfo.InvariantCulture), "private-key", KeyFile(GoPrivate),
            "peer", (peerPublic ?? OurPublic).ToBase64(), "allowed-ips", OurTunnel + "/32",
            "persistent-keepalive", keepalive.ToString(CultureInfo.InvariantCulture),
            .. withEndpoint ? new[] { "endpoint", $"{OurUnderlay}:{OurPort}" } : [],
            .. presharedKey is { } psk ? new[] { "preshared-key", KeyFile(psk) } : [],
        ]);

    /// <summary>`ping -c 3 -i 0.2 -W 2` from a namespace; true when at least one reply came back.</summary>
    public static Task<bool> PingAsync(NetworkNamespace from, IPAddress to) => Task.Run(() =>
        NetworkNamespace.TryRun("ip", ["netns", "exec", from.Name, "ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "2", to.ToString()]).ExitCode == 0);

    /// <summary>Pings until one gets through (handshake retries may be due) or <paramref name="within"/> has passed.</summary>
    public static Task<bool> PingEventuallyAsync(NetworkNamespace from, IPAddress to, TimeSpan within) =>
        Eventually.TrueAsync(() => PingAsync(from, to), within, TimeSpan.FromMilliseconds(100));

    public Task<WgDump> OurDumpAsync() => WgDump.ReadAsync(Ours.Name, OurInterface);

    public Task<WgDump> GoDumpAsync() => WgDump.ReadAsync(Go.Name, GoInterface);

    /// <summary>What went on, for a failure message: our device's log and wireguard-go's.</summary>
    public string Diagnostics() =>
        "ours:\n  " + string.Join("\n  ", Logs.Logger.Lines) + "\nwireguard-go:\n  " + string.Join("\n  ", WireGuardGo?.Log ?? []);

    public async ValueTask DisposeAsync()
    {
        List<Exception>? failures = null;
        for (var i = _cleanup.Count - 1; i >= 0; i--)
        {
            try
            {
                await _cleanup[i]();
            }
            catch (Exception e)
            {
                (failures ??= []).Add(e);
            }
        }
        _cleanup.Clear();
        if (failures is not null)
        {
            throw new AggregateException("interop clean-up failed", failures);
        }
    }
}

/// <summary>`wg show IF dump`: the interface line and one line per peer, parsed.</summary>
internal sealed record WgDump(string PrivateKey, string PublicKey, int ListenPort, string FwMark, IReadOnlyList<WgDumpPeer> Peers)
{
    public static async Task<WgDump> ReadAsync(string netns, string interfaceName)
    {
        var lines = (await Wg.OkInAsync(netns, "show", interfaceName, "dump")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        var device = lines[0].Split('\t');
        var peers = lines[1..].Select(line =>
        {
            var f = line.Split('\t');
            return new WgDumpPeer(f[0], f[1], f[2], f[3], long.Parse(f[4], CultureInfo.InvariantCulture),
                long.Parse(f[5], CultureInfo.InvariantCulture), long.Parse(f[6], CultureInfo.InvariantCulture), f[7]);
        }).ToList();
        return new WgDump(device[0], device[1], int.Parse(device[2], CultureInfo.InvariantCulture), device[3], peers);
    }

    public WgDumpPeer Peer => Assert.Single(Peers);
}

/// <summary>One peer line of `wg show dump`: latest handshake in Unix seconds (0: never), transfer in bytes.</summary>
internal sealed record WgDumpPeer(string PublicKey, string PresharedKey, string Endpoint, string AllowedIps, long LatestHandshake,
    long TransferRx, long TransferTx, string PersistentKeepalive);
