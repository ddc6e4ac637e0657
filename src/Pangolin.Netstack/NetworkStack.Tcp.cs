using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Pangolin.Netstack.Ip;
using Pangolin.Netstack.Tcp;
using Pangolin.Packets;

namespace Pangolin.Netstack;

/// <summary>TCP (RFC 9293): segments checked on receipt and handed to their connection, or reset.</summary>
public sealed partial class NetworkStack
{
    private readonly ConcurrentDictionary<ConnectionKey, TcpConnection> _connections = new();
    private readonly ConcurrentDictionary<int, Tcp.TcpListener> _listeners = new();
    private readonly List<TcpConnection> _batched = [];
    private bool _inReceiveBatch;
    private int _nextEphemeralTcpPort = FirstEphemeralPort;
    private long _resetsSent;

    /// <summary>
    /// Marks the packets given to <see cref="Receive"/> until <see cref="EndReceiveBatch"/> as one batch of the link
    /// (one read of many datagrams), as GRO lets a kernel see them: a connection acknowledges the batch's in-order
    /// segments once at its end rather than every second one. Out-of-order data, FINs and window updates are still
    /// acknowledged at once. Called on the receiving thread.
    /// </summary>
    public void BeginReceiveBatch() => _inReceiveBatch = true;

    /// <summary>Ends the batch <see cref="BeginReceiveBatch"/> began: sends the ACKs it held back.</summary>
    public void EndReceiveBatch()
    {
        FlushCoalesced();
        _inReceiveBatch = false;
        foreach (var connection in _batched)
        {
            connection.EndReceiveBatch();
        }
        _batched.Clear();
    }

    /// <summary>Inside a receive batch (receiving thread only): an ACK due waits for its end.</summary>
    internal bool InReceiveBatch => _inReceiveBatch;

    internal void AddToReceiveBatch(TcpConnection connection) => _batched.Add(connection);

    /// <summary>Connections in the table (every state but CLOSED), for diagnostics and tests.</summary>
    public int TcpConnectionCount => _connections.Count;

    /// <summary>Listens for connections on a port (address as for <see cref="BindUdp"/>).</summary>
    public Tcp.TcpListener ListenTcp(IPEndPoint local, int backlog = 128)
    {
        ArgumentNullException.ThrowIfNull(local);
        ArgumentOutOfRangeException.ThrowIfLessThan(local.Port, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(backlog, 1);
        var address = IpAddressBytes.From(local.Address);
        if (!address.IsUnspecified && !IsLocal(address))
        {
            throw new SocketException((int)SocketError.AddressNotAvailable);
        }
        var listener = new Tcp.TcpListener(this, local, backlog);
        if (!_listeners.TryAdd(local.Port, listener))
        {
            throw new SocketException((int)SocketError.AddressAlreadyInUse);
        }
        return listener;
    }

    /// <summary>Opens a connection (an ephemeral local port, the stack's address of the remote's family).</summary>
    public async Task<Stream> ConnectTcpAsync(IPEndPoint remote, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(remote);
        var destination = IpAddressBytes.From(remote.Address.IsIPv4MappedToIPv6 ? remote.Address.MapToIPv4() : remote.Address);
        if (!TryChooseSource(destination, out var source))
        {
            throw new SocketException((int)SocketError.NetworkUnreachable);
        }
        for (var attempt = 0; attempt < 64; attempt++)
        {
            var port = (ushort)(FirstEphemeralPort + (int)((uint)Interlocked.Increment(ref _nextEphemeralTcpPort) % (65536 - FirstEphemeralPort)));
            if (_listeners.ContainsKey(port))
            {
                continue;
            }
            var key = new ConnectionKey(source, port, destination, (ushort)remote.Port);
            if (_connections.ContainsKey(key))
            {
                continue;
            }
            var connection = await TcpConnection.ConnectAsync(this, key, cancellationToken).ConfigureAwait(false);
            return new TcpStream(connection);
        }
        throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }

    internal TcpConnection? FindConnection(ConnectionKey key) => _connections.TryGetValue(key, out var connection) ? connection : null;

    internal bool AddConnection(TcpConnection connection) => _connections.TryAdd(connection.Key, connection);

    internal void RemoveConnection(TcpConnection connection) =>
        _connections.TryRemove(new KeyValuePair<ConnectionKey, TcpConnection>(connection.Key, connection));

    internal void Unlisten(Tcp.TcpListener listener) =>
        _listeners.TryRemove(new KeyValuePair<int, Tcp.TcpListener>(listener.LocalEndPoint.Port, listener));

    /// <summary>Writes one segment (header, options, payload in up to two pieces from a ring) and sends it.</summary>
    internal void SendTcp(ConnectionKey key, SequenceNumber sequence, SequenceNumber acknowledgment, TcpFlags flags, ushort window, in TcpOptions options, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payloadRest)
    {
        var (buffer, length) = WriteTcp(key, sequence, acknowledgment, flags, window, options, payload, payloadRest);
        try
        {
            var segment = buffer.AsSpan(IpWriter.HeaderSize(!key.LocalAddress.IsIPv4), length);
            TcpHeader.WriteChecksum(segment, key.PseudoHeader(length));
            SendIp(buffer, key.LocalAddress, key.RemoteAddress, IpProtocol.Tcp, length);
        }
        finally
        {
            ReturnPacket(buffer);
        }
    }

    /// <summary>A rented buffer holding a TCP header and payload after room for the IP header; returns the TCP length.</summary>
    private static (byte[] Buffer, int Length) WriteTcp(ConnectionKey key, SequenceNumber sequence, SequenceNumber acknowledgment, TcpFlags flags, ushort window, in TcpOptions options, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payloadRest)
    {
        var headerSize = IpWriter.HeaderSize(!key.LocalAddress.IsIPv4);
        var tcpHeader = TcpHeader.HeaderLength(options);
        var length = tcpHeader + payload.Length + payloadRest.Length;
        var buffer = RentPacket(headerSize + length);
        var segment = buffer.AsSpan(headerSize, length);
        TcpHeader.Write(segment, key.LocalPort, key.RemotePort, sequence, acknowledgment, flags, window, options);
        payload.CopyTo(segment[tcpHeader..]);
        payloadRest.CopyTo(segment[(tcpHeader + payload.Length)..]);
        return (buffer, length);
    }

    /// <summary>
    /// The most TCP payload one super-packet may carry for a connection with these headers, or 0 when the link does not
    /// segment (see <see cref="ISegmentationOffloadLink"/>).
    /// </summary>
    internal int MaxSegmentationPayload(bool isIPv6, int tcpHeaderLength)
    {
        if (_link is not ISegmentationOffloadLink offload)
        {
            return 0;
        }
        var ipHeader = IpWriter.HeaderSize(isIPv6);
        return Math.Max(0, Math.Min(offload.MaxSegmentationSize, MaxPayload(isIPv6) + ipHeader) - ipHeader - tcpHeaderLength);
    }

    /// <summary>
    /// Writes one TCP super-packet — a header and <paramref name="segmentSize"/>-byte segments' worth of payload, the
    /// last possibly shorter — and hands it to the link to cut (see <see cref="MaxSegmentationPayload"/>).
    /// </summary>
    internal void SendTcpSegmented(ConnectionKey key, SequenceNumber sequence, SequenceNumber acknowledgment, TcpFlags flags, ushort window, in TcpOptions options, ReadOnlySpan<byte> payload, ReadOnlySpan<byte> payloadRest, int segmentSize)
    {
        var offload = (ISegmentationOffloadLink)_link;
        var (buffer, length) = WriteTcp(key, sequence, acknowledgment, flags, window, options, payload, payloadRest);
        var headerSize = IpWriter.HeaderSize(!key.LocalAddress.IsIPv4);
        Span<byte> src = stackalloc byte[16];
        Span<byte> dst = stackalloc byte[16];
        key.LocalAddress.CopyTo(src);
        key.RemoteAddress.CopyTo(dst);
        // The link gives each segment the next identification: reserve them all.
        var segments = (payload.Length + payloadRest.Length + segmentSize - 1) / segmentSize;
        var identification = (ushort)(Interlocked.Add(ref _identification, segments) - segments + 1);
        IpWriter.WriteHeader(buffer, src[..key.LocalAddress.Length], dst[..key.RemoteAddress.Length], IpProtocol.Tcp, length, Options.HopLimit, identification);
        offload.SendSegmented(buffer, headerSize + length, segmentSize);
    }

    private void CloseTcp()
    {
        foreach (var listener in _listeners.Values)
        {
            listener.Dispose();
        }
        foreach (var connection in _connections.Values)
        {
            connection.Abort(new ObjectDisposedException(nameof(NetworkStack)), sendReset: true);
        }
    }

    /// <summary>Resets sent for segments that belonged to no connection.</summary>
    public long ResetsSent => Interlocked.Read(ref _resetsSent);

    private bool ReceiveTcp(in IpPacket ip)
    {
        var segment = ip.Payload;
        if (!TcpSegmentView.TryParse(segment, out var tcp)
            || !Options.LinkAuthenticatesPackets && !TcpHeader.IsChecksumValid(segment, ip.PseudoHeaderSum(segment.Length)))
        {
            return false;
        }
        var key = new ConnectionKey(IpAddressBytes.From(ip.Destination), tcp.DestinationPort, IpAddressBytes.From(ip.Source), tcp.SourcePort);
        if (_connections.TryGetValue(key, out var connection))
        {
            connection.OnSegment(tcp);
            return true;
        }
        if ((tcp.Flags & (TcpFlags.Syn | TcpFlags.Ack | TcpFlags.Rst)) == TcpFlags.Syn
            && _listeners.TryGetValue(tcp.DestinationPort, out var listener) && listener.Accepts(ip.IsIPv6, key.LocalAddress))
        {
            listener.OnSyn(key, tcp);
            return true;
        }
        // No connection and no listener: the CLOSED state's answer.
        SendResetFor(ip, tcp);
        return true;
    }

    /// <summary>
    /// RFC 9293 §3.10.7.1: a segment for no connection is answered with a reset the sender will accept — unless it
    /// is itself a reset. With ACK: &lt;SEQ=SEG.ACK&gt;&lt;CTL=RST&gt;; without: &lt;SEQ=0&gt;&lt;ACK=SEG.SEQ+SEG.LEN&gt;&lt;CTL=RST,ACK&gt;.
    /// </summary>
    private void SendResetFor(in IpPacket ip, in TcpSegmentView tcp)
    {
        if ((tcp.Flags & TcpFlags.Rst) != 0)
        {
            return;
        }
        var hasAck = (tcp.Flags & TcpFlags.Ack) != 0;
        var sequence = hasAck ? tcp.Acknowledgment : new SequenceNumber(0);
        var acknowledgment = hasAck ? new SequenceNumber(0) : tcp.Sequence + tcp.SegmentLength;
        var flags = hasAck ? TcpFlags.Rst : TcpFlags.Rst | TcpFlags.Ack;
        var headerSize = IpWriter.HeaderSize(ip.IsIPv6);
        var buffer = RentPacket(headerSize + TcpHeader.MinLength);
        try
        {
            var reset = buffer.AsSpan(headerSize, TcpHeader.MinLength);
            TcpOptions none = default;
            var length = TcpHeader.Write(reset, tcp.DestinationPort, tcp.SourcePort, sequence, acknowledgment, flags, 0, none);
            reset = reset[..length];
            TcpHeader.WriteChecksum(reset, InternetChecksum.PseudoHeader(ip.Destination, ip.Source, IpProtocol.Tcp, length));
            // Counted first: the peer may act on the reset before Send returns.
            Interlocked.Increment(ref _resetsSent);
            SendIp(buffer, IpAddressBytes.From(ip.Destination), IpAddressBytes.From(ip.Source), IpProtocol.Tcp, length);
        }
        finally
        {
            ReturnPacket(buffer);
        }
    }
}
