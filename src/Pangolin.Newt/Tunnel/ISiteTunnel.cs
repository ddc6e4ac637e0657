using System.Net;
using Pangolin.Newt.Proxy;
using Pangolin.Tunnel;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Newt.Tunnel;

/// <summary>What a <see cref="TunnelSession"/> runs on: the userspace tunnel (default) or a kernel TUN (<c>--native</c>).</summary>
internal interface ISiteTunnel : IAsyncDisposable
{
    /// <summary>Where the relays listen on the tunnel IP.</summary>
    IRelayNetwork Relays { get; }

    /// <exception cref="ConfigurationException">The device refuses the update.</exception>
    void Configure(DeviceUpdate update);

    /// <summary>One ICMP echo to the exit node through the tunnel: its round trip, or null when not answered in time.</summary>
    Task<TimeSpan?> PingAsync(IPAddress server, TimeSpan timeout, CancellationToken ct);
}

/// <summary>The userspace WireGuard device and netstack: no root, no interface.</summary>
internal sealed class UserspaceSiteTunnel(UserspaceTunnel tunnel) : ISiteTunnel
{
    public IRelayNetwork Relays { get; } = new NetstackRelayNetwork(tunnel.Stack);

    public void Configure(DeviceUpdate update) => tunnel.Configure(update);

    public Task<TimeSpan?> PingAsync(IPAddress server, TimeSpan timeout, CancellationToken ct) =>
        tunnel.Stack.PingAsync(server, 56, timeout, ct);

    public ValueTask DisposeAsync() => tunnel.DisposeAsync();
}
