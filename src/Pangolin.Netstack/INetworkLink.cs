namespace Pangolin.Netstack;

/// <summary>
/// Where the stack's outgoing IP packets go: the WireGuard device's in-memory channel, or a TUN device in tests. The
/// host hands received packets to <c>NetworkStack.Receive</c>; the two sides meet only here, so the stack
/// knows neither WireGuard nor the host.
/// </summary>
public interface INetworkLink
{
    /// <summary>The largest IP packet the link carries (1280 on tunnels is typical, 1420 on WireGuard's default).</summary>
    int Mtu { get; }

    /// <summary>
    /// Sends one IP packet. The span is only valid during the call: copy it if it must outlive it. Called from several
    /// threads, sometimes with a connection's lock held: it must not call back into the stack on the same thread.
    /// </summary>
    void Send(ReadOnlySpan<byte> packet);
}

/// <summary>
/// A link that cuts TCP super-packets into segments itself, as a NIC with TCP segmentation offload (TSO) does: the
/// stack hands over one packet holding several MSS-sized segments' worth of payload behind one IP and TCP header,
/// and the link writes each segment out with its own IP length and identification, sequence number and checksums
/// (FIN and PSH on the last segment only). One header, one hand-over and one queue entry then serve tens of
/// segments, which is most of a bulk sender's per-packet cost.
/// </summary>
public interface ISegmentationOffloadLink : INetworkLink
{
    /// <summary>The largest super-packet (IP header included) the link takes; below two segments' worth, none are sent.</summary>
    int MaxSegmentationSize { get; }

    /// <summary>
    /// Takes a TCP super-packet: <paramref name="buffer"/>[..<paramref name="length"/>], an IPv4 or IPv6 packet whose TCP
    /// payload is to be cut every <paramref name="segmentSize"/> bytes. The buffer comes from
    /// <see cref="System.Buffers.ArrayPool{T}.Shared"/> and now belongs to the link, which returns it there when done
    /// (also when it drops the packet). The TCP checksum field need not be set. Called as <see cref="INetworkLink.Send"/> is.
    /// </summary>
    void SendSegmented(byte[] buffer, int length, int segmentSize);
}
