namespace Pangolin.Netstack.Tcp;

/// <summary>The connection states of RFC 9293 §3.3.2 (LISTEN is the listener's; CLOSED is a connection no longer in the table).</summary>
internal enum TcpState
{
    SynSent,
    SynReceived,
    Established,
    FinWait1,
    FinWait2,
    CloseWait,
    Closing,
    LastAck,
    TimeWait,
    Closed,
}

/// <summary>A connection's key: its two ends.</summary>
internal readonly record struct ConnectionKey(Ip.IpAddressBytes LocalAddress, ushort LocalPort, Ip.IpAddressBytes RemoteAddress, ushort RemotePort)
{
    /// <summary>The pseudo-header sum of a segment of <paramref name="tcpLength"/> bytes this end sends (RFC 9293 §3.1).</summary>
    public ulong PseudoHeader(int tcpLength)
    {
        Span<byte> source = stackalloc byte[16];
        Span<byte> destination = stackalloc byte[16];
        LocalAddress.CopyTo(source);
        RemoteAddress.CopyTo(destination);
        return Pangolin.Packets.InternetChecksum.PseudoHeader(source[..LocalAddress.Length], destination[..RemoteAddress.Length], Ip.IpProtocol.Tcp, tcpLength);
    }
}
