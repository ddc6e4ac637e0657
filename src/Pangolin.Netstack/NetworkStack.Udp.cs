using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using Pangolin.Netstack.Ip;
using Pangolin.Netstack.Udp;
using Pangolin.Packets;

namespace Pangolin.Netstack;

/// <summary>UDP (RFC 768, RFC 8200 §8.1): sockets bound to a port, datagrams in and out.</summary>
public sealed partial class NetworkStack
{
    /// <summary>The ephemeral range Linux uses by default (net.ipv4.ip_local_port_range is 32768–60999; IANA's is 49152–65535).</summary>
    private const int FirstEphemeralPort = 49152;

    private readonly ConcurrentDictionary<int, UdpSocket> _udpSockets = new();
    private int _nextEphemeralUdpPort = FirstEphemeralPort;

    /// <summary>
    /// Binds a UDP socket. Port 0 takes a free ephemeral port. <see cref="IPAddress.Any"/> receives IPv4,
    /// <see cref="IPAddress.IPv6Any"/> both IPv4 and IPv6 (dual-stack, as Linux's default); a specific address only
    /// datagrams sent to it. One socket per port.
    /// </summary>
    public UdpSocket BindUdp(IPEndPoint local)
    {
        ArgumentNullException.ThrowIfNull(local);
        var address = IpAddressBytes.From(local.Address);
        if (!address.IsUnspecified && !IsLocal(address))
        {
            throw new SocketException((int)SocketError.AddressNotAvailable);
        }
        if (local.Port != 0)
        {
            var socket = new UdpSocket(this, local, Options.UdpReceiveQueueLength);
            if (!_udpSockets.TryAdd(local.Port, socket))
            {
                throw new SocketException((int)SocketError.AddressAlreadyInUse);
            }
            return socket;
        }
        for (var attempt = 0; attempt < 65536 - FirstEphemeralPort; attempt++)
        {
            var port = FirstEphemeralPort + (int)((uint)Interlocked.Increment(ref _nextEphemeralUdpPort) % (65536 - FirstEphemeralPort));
            var socket = new UdpSocket(this, new IPEndPoint(local.Address, port), Options.UdpReceiveQueueLength);
            if (_udpSockets.TryAdd(port, socket))
            {
                return socket;
            }
        }
        throw new SocketException((int)SocketError.AddressAlreadyInUse);
    }

    private bool ReceiveUdp(in IpPacket ip)
    {
        var datagram = ip.Payload;
        if (datagram.Length < 8)
        {
            return false;
        }
        var length = BinaryPrimitives.ReadUInt16BigEndian(datagram[4..]);
        if (length < 8 || length > datagram.Length)
        {
            return false;
        }
        datagram = datagram[..length];
        var checksum = BinaryPrimitives.ReadUInt16BigEndian(datagram[6..]);
        // IPv4 may omit the checksum (zero); IPv6 may not (RFC 8200 §8.1).
        if ((checksum != 0 || ip.IsIPv6) && !Options.LinkAuthenticatesPackets && !InternetChecksum.IsValid(InternetChecksum.Add(datagram, ip.PseudoHeaderSum(datagram.Length))))
        {
            return false;
        }
        var port = BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        if (!_udpSockets.TryGetValue(port, out var socket) || !socket.Accepts(ip))
        {
            SendPortUnreachable(ip);
            return false;
        }
        socket.Deliver(IpAddressBytes.From(ip.Source), BinaryPrimitives.ReadUInt16BigEndian(datagram), datagram[8..]);
        return true;
    }

    /// <summary>Writes the UDP header and checksum in front of a payload and sends the datagram (fragmented when longer than the MTU).</summary>
    internal void SendUdp(IpAddressBytes source, int sourcePort, IpAddressBytes destination, int destinationPort, ReadOnlySpan<byte> payload)
    {
        var headerSize = IpWriter.HeaderSize(!destination.IsIPv4);
        var length = 8 + payload.Length;
        if (length > MaxPayload(!destination.IsIPv4))
        {
            throw new SocketException((int)SocketError.MessageSize);
        }
        var buffer = RentPacket(headerSize + length);
        try
        {
            var datagram = buffer.AsSpan(headerSize, length);
            BinaryPrimitives.WriteUInt16BigEndian(datagram, (ushort)sourcePort);
            BinaryPrimitives.WriteUInt16BigEndian(datagram[2..], (ushort)destinationPort);
            BinaryPrimitives.WriteUInt16BigEndian(datagram[4..], (ushort)length);
            datagram[6] = datagram[7] = 0;
            payload.CopyTo(datagram[8..]);
            Span<byte> src = stackalloc byte[16];
            Span<byte> dst = stackalloc byte[16];
            source.CopyTo(src);
            destination.CopyTo(dst);
            var sum = InternetChecksum.Add(datagram, InternetChecksum.PseudoHeader(src[..source.Length], dst[..destination.Length], IpProtocol.Udp, length));
            var folded = (ushort)~InternetChecksum.Fold(sum);
            // RFC 768: a computed zero is sent as all ones (zero means "no checksum").
            InternetChecksum.Write(datagram.Slice(6, 2), sum);
            if (folded == 0)
            {
                datagram[6] = datagram[7] = 0xFF;
            }
            SendIp(buffer, source, destination, IpProtocol.Udp, length);
        }
        finally
        {
            ReturnPacket(buffer);
        }
    }

    private void UnbindUdp(UdpSocket socket) => _udpSockets.TryRemove(new KeyValuePair<int, UdpSocket>(socket.LocalEndPoint.Port, socket));

    private void CloseUdpSockets()
    {
        foreach (var socket in _udpSockets.Values)
        {
            socket.Dispose();
        }
    }
}
