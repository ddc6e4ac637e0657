namespace Pangolin.Newt.Proxy;

/// <summary>
/// Totals across a manager's relays, read by the metrics exporter (the <c>newt_proxy_*</c> and
/// <c>newt_tunnel_bytes_total</c> names of upstream). "In" is tunnel to target, "out" target to tunnel.
/// </summary>
internal sealed class ProxyCounters
{
    private long _tcpActive;
    private long _tcpAccepted;
    private long _tcpFailed;
    private long _tcpClosed;
    private long _tcpBytesIn;
    private long _tcpBytesOut;
    private long _udpActive;
    private long _udpSessions;
    private long _udpFailed;
    private long _udpClosed;
    private long _udpExpired;
    private long _udpEvicted;
    private long _udpDropped;
    private long _udpBytesIn;
    private long _udpBytesOut;

    /// <summary>TCP connections being relayed now.</summary>
    public long TcpActiveConnections => Interlocked.Read(ref _tcpActive);

    /// <summary>TCP connections accepted in the tunnel.</summary>
    public long TcpAccepted => Interlocked.Read(ref _tcpAccepted);

    /// <summary>Accepted TCP connections dropped because the target could not be reached.</summary>
    public long TcpFailed => Interlocked.Read(ref _tcpFailed);

    /// <summary>TCP connections that ended, relayed or not.</summary>
    public long TcpConnectionsClosed => Interlocked.Read(ref _tcpClosed);

    public long TcpBytesIn => Interlocked.Read(ref _tcpBytesIn);

    public long TcpBytesOut => Interlocked.Read(ref _tcpBytesOut);

    /// <summary>UDP sessions (one per client address and port) open now.</summary>
    public long UdpActiveSessions => Interlocked.Read(ref _udpActive);

    /// <summary>UDP sessions opened.</summary>
    public long UdpSessions => Interlocked.Read(ref _udpSessions);

    /// <summary>UDP sessions that could not be opened (the target did not resolve, or no socket).</summary>
    public long UdpFailed => Interlocked.Read(ref _udpFailed);

    /// <summary>UDP sessions closed, for any reason.</summary>
    public long UdpSessionsClosed => Interlocked.Read(ref _udpClosed);

    /// <summary>UDP sessions closed after the idle timeout.</summary>
    public long UdpExpired => Interlocked.Read(ref _udpExpired);

    /// <summary>UDP sessions closed to make room for a new client (the oldest idle first).</summary>
    public long UdpEvicted => Interlocked.Read(ref _udpEvicted);

    /// <summary>UDP datagrams that could not be passed on.</summary>
    public long UdpDropped => Interlocked.Read(ref _udpDropped);

    public long UdpBytesIn => Interlocked.Read(ref _udpBytesIn);

    public long UdpBytesOut => Interlocked.Read(ref _udpBytesOut);

    /// <summary>Called with each TCP connection's lifetime as it ends (the metrics' duration histogram).</summary>
    public Action<TimeSpan>? TcpConnectionEnded { get; set; }

    internal void TcpOpened()
    {
        Interlocked.Increment(ref _tcpAccepted);
        Interlocked.Increment(ref _tcpActive);
    }

    internal void TcpClosed(TimeSpan lifetime)
    {
        Interlocked.Decrement(ref _tcpActive);
        Interlocked.Increment(ref _tcpClosed);
        TcpConnectionEnded?.Invoke(lifetime);
    }

    internal void TcpConnectFailed() => Interlocked.Increment(ref _tcpFailed);

    internal void TcpIn(int bytes) => Interlocked.Add(ref _tcpBytesIn, bytes);

    internal void TcpOut(int bytes) => Interlocked.Add(ref _tcpBytesOut, bytes);

    internal void UdpOpened()
    {
        Interlocked.Increment(ref _udpSessions);
        Interlocked.Increment(ref _udpActive);
    }

    internal void UdpClosed()
    {
        Interlocked.Decrement(ref _udpActive);
        Interlocked.Increment(ref _udpClosed);
    }

    internal void UdpOpenFailed() => Interlocked.Increment(ref _udpFailed);

    internal void UdpSessionExpired() => Interlocked.Increment(ref _udpExpired);

    internal void UdpSessionEvicted() => Interlocked.Increment(ref _udpEvicted);

    internal void UdpDrop() => Interlocked.Increment(ref _udpDropped);

    internal void UdpIn(int bytes) => Interlocked.Add(ref _udpBytesIn, bytes);

    internal void UdpOut(int bytes) => Interlocked.Add(ref _udpBytesOut, bytes);
}
