namespace Pangolin.WireGuard.Net;

/// <summary>
/// The device's UDP socket: one socket for IPv4 and IPv6, receiving and sending in batches (recvmmsg/sendmmsg on
/// Linux). Receive is called from one thread; Send may be called from several.
/// </summary>
public interface IUdpTransport : IDisposable
{
    /// <summary>The bound port (the chosen one when 0 was asked for).</summary>
    int Port { get; }

    /// <summary>The most datagrams one call moves.</summary>
    int BatchSize { get; }

    /// <summary>
    /// Blocks until at least one datagram arrives, then receives up to <c>buffers.Length</c>: datagram i into
    /// <c>buffers[i]</c> from index 0, its length in <c>sizes[i]</c>, its source in <c>sources[i]</c>. Returns the count.
    /// Throws <see cref="ObjectDisposedException"/> once disposed (Dispose unblocks a pending Receive).
    /// </summary>
    int Receive(byte[][] buffers, int[] sizes, UdpEndpoint[] sources);

    /// <summary>Sends datagrams i &lt; count, <c>buffers[i][offsets[i] .. offsets[i] + sizes[i]]</c>, to one destination.</summary>
    void Send(byte[][] buffers, int[] offsets, int[] sizes, int count, UdpEndpoint destination);

    /// <summary>Sets SO_MARK on the socket (0 clears it); needs CAP_NET_ADMIN.</summary>
    void SetFwMark(int mark);
}
