namespace Pangolin.WireGuard.Net;

/// <summary>How <see cref="LinuxUdpTransport.Bind(LinuxUdpTransportOptions)"/> sets up its socket.</summary>
public sealed class LinuxUdpTransportOptions
{
    /// <summary>The port to bind (0: the kernel picks one; <see cref="LinuxUdpTransport.Port"/> reports it).</summary>
    public int Port { get; init; }

    /// <summary>
    /// SO_RCVBUF, forced past net.core.rmem_max when we have CAP_NET_ADMIN. A burst of traffic arrives faster than one
    /// receive thread drains it; a small buffer loses datagrams (Debian's wireguard-go loses hundreds of thousands).
    /// </summary>
    public int ReceiveBufferBytes { get; init; } = 8 << 20;

    /// <summary>SO_SNDBUF, forced past net.core.wmem_max when we have CAP_NET_ADMIN.</summary>
    public int SendBufferBytes { get; init; } = 8 << 20;

    /// <summary>Use an AF_INET socket even where IPv6 is available (the transport then cannot reach IPv6 peers).</summary>
    public bool IPv4Only { get; init; }

    /// <summary>
    /// UDP generic segmentation offload (UDP_SEGMENT, Linux 4.18): a run of same-size datagrams to one destination
    /// goes down the stack as one buffer that the kernel (or the NIC) cuts into datagrams. Turned off by itself if the
    /// kernel refuses it (EIO from a device without checksum offload).
    /// </summary>
    public bool SegmentationOffload { get; init; } = true;

    /// <summary>
    /// UDP generic receive offload (UDP_GRO, Linux 5.0): the kernel hands over runs of same-flow datagrams as one
    /// buffer (from a sender that segments, or from the NIC's GRO), which the transport cuts back into datagrams, a
    /// copy each. Costs 4 MiB of staging (64 messages of 64 KiB). On loopback with 1,452-byte datagrams it measured
    /// the same as without when the sender does not segment, and 2.5 to 4 times the rate when it does.
    /// </summary>
    public bool ReceiveOffload { get; init; } = true;
}
