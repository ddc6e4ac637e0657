using System.Globalization;
using System.Net;
using System.Net.NetworkInformation;
using Microsoft.Extensions.Logging;
using Pangolin.Newt.Proxy;
using Pangolin.Tunnel.Native;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Device;
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tun;

namespace Pangolin.Newt.Tunnel;

/// <summary>
/// The site tunnel on a kernel TUN interface (<c>--native</c>, root or CAP_NET_ADMIN), as upstream newt's native
/// mode: the interface gets the tunnel IP and routes to the exit node (and the remote subnets) with `ip`, the relays
/// listen on kernel sockets bound to the tunnel IP, and liveness pings go through the kernel. The interface is not
/// persistent: it goes when the device closes, or with the process however it ends.
/// </summary>
internal sealed partial class NativeTunnel : ISiteTunnel
{
    // What upstream newt's pings carry, padded to the usual 56 bytes.
    private static readonly byte[] PingPayload = [.. "newtping"u8, .. new byte[48]];

    private readonly WireGuardDevice _device;
    private readonly string? _networkNamespace;

    private NativeTunnel(WireGuardDevice device, string interfaceName, string? networkNamespace)
    {
        _device = device;
        InterfaceName = interfaceName;
        _networkNamespace = networkNamespace;
        Relays = new KernelRelayNetwork(networkNamespace);
    }

    public string InterfaceName { get; }

    /// <summary>Why <c>--native</c> cannot work in this process (one line), or null when it can.</summary>
    public static string? Unavailable()
    {
        if (!HasNetAdmin())
        {
            return "--native needs root or CAP_NET_ADMIN; run without --native for the userspace tunnel";
        }
        return IpCommand.IsInstalled() ? null : "--native needs iproute2 (the ip command) on the PATH; run without --native for the userspace tunnel";
    }

    /// <summary>CAP_NET_ADMIN (bit 12) in the effective set, which root has unless it was dropped.</summary>
    private static bool HasNetAdmin()
    {
        const int CapNetAdmin = 12;
        try
        {
            var line = File.ReadLines("/proc/self/status").FirstOrDefault(l => l.StartsWith("CapEff:", StringComparison.Ordinal));
            return line is not null
                && ulong.TryParse(line.AsSpan("CapEff:".Length).Trim(), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var effective)
                && (effective & (1UL << CapNetAdmin)) != 0;
        }
        catch (IOException)
        {
            return false; // no /proc: not Linux, where TUN is not available either
        }
    }

    public IRelayNetwork Relays { get; }

    /// <summary>
    /// Creates the interface (replacing one of the same name left behind), gives it the address, brings it up and routes
    /// <paramref name="routes"/> through it.
    /// </summary>
    /// <remarks><c>networkNamespace</c>: the `ip netns` name to make it all in; null: newt's own (tests use one).</remarks>
    /// <exception cref="IOException">The TUN or `ip` failed.</exception>
    public static async Task<NativeTunnel> StartAsync(
        string interfaceName, int mtu, WgKey privateKey, IPAddress address, int prefixLength, IReadOnlyList<IPNetwork> routes, Func<int, IUdpTransport> bind,
        string? networkNamespace, TimeProvider time, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger<NativeTunnel>();
        if (await IpCommand.TryRunAsync(Ip(networkNamespace, "link", "show", "dev", interfaceName)) is (0, _))
        {
            LogReplacingStale(logger, interfaceName);
            await IpCommand.RunAsync(Ip(networkNamespace, "link", "delete", "dev", interfaceName));
        }
        var tun = networkNamespace is null ? LinuxTun.Create(interfaceName, mtu) : LinuxTun.CreateInNamespace(networkNamespace, interfaceName, mtu);
        var device = new WireGuardDevice(tun, bind, new DeviceOptions { Time = time, LoggerFactory = loggers });
        try
        {
            device.Configure(new DeviceUpdate { PrivateKey = privateKey });
            device.Start();
            var name = tun.Name;
            await IpCommand.RunAsync(Ip(networkNamespace, "addr", "add", $"{address}/{prefixLength}", "dev", name));
            await IpCommand.RunAsync(Ip(networkNamespace, "link", "set", "dev", name, "up"));
            foreach (var route in routes)
            {
                await IpCommand.RunAsync(Ip(networkNamespace, "route", "replace", route.ToString(), "dev", name));
            }
            LogStarted(logger, name, address, prefixLength, mtu);
            return new NativeTunnel(device, name, networkNamespace);
        }
        catch
        {
            await device.DisposeAsync();
            throw;
        }
    }

    public void Configure(DeviceUpdate update) => _device.Configure(update);

    /// <summary>An ICMP echo through the kernel (raw sockets: root or CAP_NET_RAW; else .NET falls back to `ping`).</summary>
    public async Task<TimeSpan?> PingAsync(IPAddress server, TimeSpan timeout, CancellationToken ct)
    {
        using var ping = new Ping();
        try
        {
            var reply = _networkNamespace is null
                ? await ping.SendPingAsync(server, timeout, PingPayload, null, ct)
                // Ping opens its socket per call, on the calling thread: make that thread one inside the namespace.
                : await Task.Run(() => NetNamespace.Run(_networkNamespace, () => ping.Send(server, (int)timeout.TotalMilliseconds, PingPayload)), ct);
            return reply.Status == IPStatus.Success ? TimeSpan.FromMilliseconds(reply.RoundtripTime) : null;
        }
        catch (PingException)
        {
            return null; // no route, no socket: a miss like a timeout
        }
    }

    /// <summary>Closes the device and with it the TUN, which removes the interface and its routes.</summary>
    public ValueTask DisposeAsync() => _device.DisposeAsync();

    /// <summary>`ip` arguments, with `-n` when the tunnel lives in another namespace.</summary>
    private static string[] Ip(string? networkNamespace, params string[] arguments) =>
        networkNamespace is null ? arguments : ["-n", networkNamespace, .. arguments];

    [LoggerMessage(Level = LogLevel.Warning, Message = "Interface {Name} already exists (left by an earlier run?); replacing it")]
    private static partial void LogReplacingStale(ILogger logger, string name);

    [LoggerMessage(Level = LogLevel.Information, Message = "Interface {Name} up with {Address}/{PrefixLength}, MTU {Mtu}")]
    private static partial void LogStarted(ILogger logger, string name, IPAddress address, int prefixLength, int mtu);
}
