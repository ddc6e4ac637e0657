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
internal readonly record struct ConnectionKey(Ip.IpAddressBytes LocalAddress, ushort LocalPort, Ip.IpAddressBytes RemoteAddress, ushort RemotePort);
