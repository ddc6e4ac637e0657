using System.ComponentModel.DataAnnotations;

namespace Pangolin.Edge.L4;

/// <summary>How raw TCP/UDP resources are served (configuration section <c>Edge:RawResources</c>).</summary>
public sealed class RawResourceOptions
{
    public const string SectionName = "Edge:RawResources";

    /// <summary>The address every resource port listens on: <c>0.0.0.0</c>, <c>::</c> (dual-mode) or one address.</summary>
    [Required]
    public string BindAddress { get; set; } = "0.0.0.0";

    /// <summary>A TCP connection with no data either way for this long is closed.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "30.00:00:00")]
    public TimeSpan TcpIdleTimeout { get; set; } = TimeSpan.FromHours(1);

    /// <summary>How long one target may take to accept a connection or flow before the next is tried.</summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "00:10:00")]
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>TCP connections open at once, over all resources; more are refused.</summary>
    [Range(1, 1_000_000)]
    public int MaxTcpConnections { get; set; } = 10_000;

    /// <summary>
    /// A UDP session with no datagram either way for this long ends (upstream newt's UDP proxy uses a similar idle
    /// timeout, and NAT mappings expire on a comparable scale).
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00.010", "1.00:00:00")]
    public TimeSpan UdpSessionIdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>UDP sessions (client addresses) at once, over all resources; datagrams from more are dropped.</summary>
    [Range(1, 1_000_000)]
    public int MaxUdpSessions { get; set; } = 4096;

    /// <summary>The listen backlog of every TCP port.</summary>
    [Range(1, 65535)]
    public int Backlog { get; set; } = 512;
}
