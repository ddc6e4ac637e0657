using System.Net;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pangolin.Netstack;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Net;

namespace Pangolin.Tunnel;

/// <summary>What a <see cref="UserspaceTunnel"/> is made of: its key, its UDP port, its addresses and its clock.</summary>
public sealed record UserspaceTunnelOptions
{
    /// <summary>The device's private key; the tunnel refuses an all-zero one.</summary>
    public required WgKey PrivateKey { get; init; }

    /// <summary>The name the device's threads and logs carry (no kernel interface is made).</summary>
    public string InterfaceName { get; init; } = "pangolin";

    /// <summary>The largest IP packet inside the tunnel; 1280 fits every path and is upstream newt's default.</summary>
    public int Mtu { get; init; } = 1280;

    /// <summary>The tunnel IPs the userspace stack answers for.</summary>
    public IReadOnlyList<IPAddress> Addresses { get; init; } = [];

    /// <summary>The UDP port to listen on; 0 lets the kernel choose (see <see cref="UserspaceTunnel.ListenPort"/>).</summary>
    public int ListenPort { get; init; }

    /// <summary>Opens the device's UDP socket on a port; by default a <see cref="LinuxUdpTransport"/> on all addresses.</summary>
    public Func<int, IUdpTransport> Bind { get; init; } = static port => LinuxUdpTransport.Bind(port);

    /// <summary>The clock of the device's timers (and of the stack's, unless <see cref="StackOptions"/> brings its own).</summary>
    public TimeProvider Time { get; init; } = TimeProvider.System;

    public ILoggerFactory LoggerFactory { get; init; } = NullLoggerFactory.Instance;

    /// <summary>The stack's tuning; null takes the defaults on <see cref="Time"/>.</summary>
    public NetworkStackOptions? StackOptions { get; init; }

    /// <summary>The device's crypto helper threads; null keeps the device's default (cores beyond two).</summary>
    public int? Workers { get; init; }

    /// <summary>Packets the queue from the stack to the device holds; beyond that the stack's packets are dropped and counted.</summary>
    public int QueueCapacity { get; init; } = 1024;
}
