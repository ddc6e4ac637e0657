using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Pangolin.Packets;

namespace Pangolin.WireGuard.Tun;

/// <summary>
/// TCP segmentation and coalescing for a TUN device opened with IFF_VNET_HDR and TSO (linux/virtio_net.h): the
/// kernel hands over TCP super-packets of up to 64 KiB that we cut into MTU-sized segments before encryption, and
/// we hand it runs of received segments glued back into one super-packet. One read and one write then carry tens
/// of packets, and the kernel's TCP handles one large packet instead of each small one — wireguard-go's tun
/// offload, in our terms.
/// </summary>
internal static class TunOffload
{
    /// <summary>struct virtio_net_hdr without the num_buffers field: what TUN reads and writes in front of each packet.</summary>
    public const int HeaderSize = 10;

    /// <summary>The largest packet the kernel hands over or takes with the header.</summary>
    public const int MaxPacket = 65535;

    public const byte NeedsChecksum = 1;
    public const byte GsoNone = 0;
    public const byte GsoTcpV4 = 1;
    public const byte GsoTcpV6 = 4;
    public const byte GsoEcn = 0x80;

    public const byte TcpFin = 0x01;
    public const byte TcpSyn = 0x02;
    public const byte TcpRst = 0x04;
    public const byte TcpPsh = 0x08;
    public const byte TcpAck = 0x10;
    public const byte TcpUrg = 0x20;
    public const byte TcpEce = 0x40;
    public const byte TcpCwr = 0x80;

    private const byte ProtocolTcp = 6;

    /// <summary>The fields of a virtio_net_hdr (host byte order, which is little-endian on every machine we run on).</summary>
    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    public struct VirtioHeader
    {
        public byte Flags;
        public byte GsoType;
        public ushort HeaderLength;
        public ushort GsoSize;
        public ushort ChecksumStart;
        public ushort ChecksumOffset;

        public static VirtioHeader Read(ReadOnlySpan<byte> data) => MemoryMarshal.Read<VirtioHeader>(data);

        public readonly void Write(Span<byte> data) => MemoryMarshal.Write(data, in this);
    }

    /// <summary>
    /// A packet read from the TUN, being cut into segments. <see cref="Begin"/> checks it; <see cref="Next"/> writes
    /// one segment at a time, so that a super-packet can span several calls to Read.
    /// </summary>
    public sealed class Segmenter
    {
        private byte[] _packet = [];
        private int _start;
        private int _length;
        private int _headerLength;
        private int _transportOffset;
        private int _gsoSize;
        private int _segments;
        private int _next;
        private bool _ipv4;

        public bool HasNext => _next < _segments;

        /// <summary>
        /// Takes the packet at <paramref name="packet"/>[<paramref name="start"/>..+<paramref name="length"/>] with
        /// its virtio header in front. Finishes a partial checksum of a single packet in place. False when the
        /// kernel handed over something we cannot cut (it is then dropped).
        /// </summary>
        public bool Begin(byte[] packet, int start, int length)
        {
            _segments = _next = 0;
            if (length < HeaderSize)
            {
                return false;
            }
            var header = VirtioHeader.Read(packet.AsSpan(start));
            _packet = packet;
            _start = start + HeaderSize;
            _length = length - HeaderSize;
            var data = packet.AsSpan(_start, _length);
            if (data.IsEmpty)
            {
                return false;
            }
            var gso = header.GsoType & ~GsoEcn;
            if (gso == GsoNone)
            {
                if ((header.Flags & NeedsChecksum) != 0)
                {
                    int checksumStart = header.ChecksumStart, field = header.ChecksumStart + header.ChecksumOffset;
                    if (checksumStart >= data.Length || field + 2 > data.Length)
                    {
                        return false;
                    }
                    // The field holds the pseudo-header sum; the sum over the rest completes it.
                    InternetChecksum.Write(data.Slice(field, 2), InternetChecksum.Add(data[checksumStart..]));
                }
                _gsoSize = _length;
                _headerLength = 0;
                _segments = 1;
                return true;
            }
            if (gso != GsoTcpV4 && gso != GsoTcpV6 || header.GsoSize == 0)
            {
                return false;
            }
            _ipv4 = gso == GsoTcpV4;
            var version = data[0] >> 4;
            _transportOffset = header.ChecksumStart;
            if (_ipv4 ? version != 4 || data.Length < 20 || (data[0] & 0xF) * 4 != _transportOffset || data[9] != ProtocolTcp
                : version != 6 || _transportOffset < 40)
            {
                return false;
            }
            if (_transportOffset + 20 > data.Length)
            {
                return false;
            }
            var tcpHeaderLength = (data[_transportOffset + 12] >> 4) * 4;
            _headerLength = _transportOffset + tcpHeaderLength;
            if (tcpHeaderLength < 20 || _headerLength > data.Length)
            {
                return false;
            }
            _gsoSize = header.GsoSize;
            var payload = data.Length - _headerLength;
            _segments = Math.Max(1, (payload + _gsoSize - 1) / _gsoSize);
            return true;
        }

        /// <summary>
        /// Takes a TCP super-packet with no virtio header — <paramref name="packet"/>[<paramref name="start"/>..+
        /// <paramref name="length"/>], an IPv4 (no options) or IPv6 packet with TCP right after the IP header — to be
        /// cut every <paramref name="gsoSize"/> payload bytes (a userspace stack's segmentation offload). False when
        /// it is not such a packet.
        /// </summary>
        public bool BeginTcp(byte[] packet, int start, int length, int gsoSize)
        {
            _segments = _next = 0;
            var data = packet.AsSpan(start, length);
            if (gsoSize <= 0 || data.Length < 40)
            {
                return false;
            }
            var version = data[0] >> 4;
            _ipv4 = version == 4;
            if (_ipv4 ? data[0] != 0x45 || data[9] != ProtocolTcp : version != 6 || data[6] != ProtocolTcp || data.Length < 60)
            {
                return false;
            }
            _transportOffset = _ipv4 ? 20 : 40;
            var tcpHeaderLength = (data[_transportOffset + 12] >> 4) * 4;
            _headerLength = _transportOffset + tcpHeaderLength;
            if (tcpHeaderLength < 20 || _headerLength > data.Length)
            {
                return false;
            }
            _packet = packet;
            _start = start;
            _length = length;
            _gsoSize = gsoSize;
            _segments = Math.Max(1, (data.Length - _headerLength + gsoSize - 1) / gsoSize);
            return true;
        }

        /// <summary>
        /// Writes the current packet's next segments into <paramref name="buffers"/>[<paramref name="count"/>..
        /// <paramref name="capacity"/>) at <paramref name="offset"/>, their lengths into <paramref name="sizes"/>, until
        /// either runs out; a segment that does not fit its buffer is dropped and counted. Returns the new count.
        /// </summary>
        public int WriteInto(byte[][] buffers, int[] sizes, int offset, int count, int capacity, ref long dropped)
        {
            while (count < capacity && HasNext)
            {
                var buffer = buffers[count];
                ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, buffer.Length, nameof(offset));
                var length = Next(buffer.AsSpan(offset));
                if (length < 0)
                {
                    Interlocked.Increment(ref dropped);
                    continue;
                }
                sizes[count++] = length;
            }
            return count;
        }

        /// <summary>Writes the next segment at <paramref name="destination"/>; returns its length, or -1 when it does not fit.</summary>
        public int Next(Span<byte> destination)
        {
            var index = _next++;
            var data = _packet.AsSpan(_start, _length);
            if (_headerLength == 0)
            {
                if (data.Length > destination.Length)
                {
                    return -1;
                }
                data.CopyTo(destination);
                return data.Length;
            }
            var payloadStart = _headerLength + index * _gsoSize;
            var chunk = Math.Min(_gsoSize, data.Length - payloadStart);
            var length = _headerLength + chunk;
            if (length > destination.Length)
            {
                return -1;
            }
            data[.._headerLength].CopyTo(destination);
            // The TCP header's length is a multiple of four, so the payload starts on an even offset of the summed range.
            var payloadSum = InternetChecksum.CopyAndAdd(data.Slice(payloadStart, chunk), destination[_headerLength..]);
            var segment = destination[..length];
            var last = index == _segments - 1;
            if (_ipv4)
            {
                BinaryPrimitives.WriteUInt16BigEndian(segment[2..], (ushort)length);
                var id = BinaryPrimitives.ReadUInt16BigEndian(segment[4..]);
                BinaryPrimitives.WriteUInt16BigEndian(segment[4..], (ushort)(id + index));
                segment.Slice(10, 2).Clear();
                InternetChecksum.Write(segment.Slice(10, 2), InternetChecksum.Add(segment[.._transportOffset]));
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(segment[4..], (ushort)(length - 40));
            }
            var tcp = segment[_transportOffset..];
            var sequence = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
            BinaryPrimitives.WriteUInt32BigEndian(tcp[4..], sequence + (uint)(index * _gsoSize));
            // FIN and PSH belong to the last segment, CWR to the first (as the kernel's tcp_gso_segment does).
            if (!last)
            {
                tcp[13] &= unchecked((byte)~(TcpFin | TcpPsh));
            }
            if (index > 0)
            {
                tcp[13] &= unchecked((byte)~TcpCwr);
            }
            tcp.Slice(16, 2).Clear();
            var headerSum = InternetChecksum.Add(tcp[..(_headerLength - _transportOffset)], TcpPseudoHeader(segment, _ipv4, tcp.Length));
            InternetChecksum.Write(tcp.Slice(16, 2), InternetChecksum.Combine(headerSum, payloadSum));
            return length;
        }
    }

    /// <summary>What coalescing needs to know of one TCP segment: where its parts are and what must match.</summary>
    public readonly ref struct TcpSegment
    {
        public TcpSegment(ReadOnlySpan<byte> packet, bool ipv4, int transportOffset, int headerLength)
        {
            Packet = packet;
            IsIPv4 = ipv4;
            TransportOffset = transportOffset;
            HeaderLength = headerLength;
        }

        public ReadOnlySpan<byte> Packet { get; }

        public bool IsIPv4 { get; }

        public int TransportOffset { get; }

        public int HeaderLength { get; }

        public int PayloadLength => Packet.Length - HeaderLength;

        public uint Sequence => BinaryPrimitives.ReadUInt32BigEndian(Packet[(TransportOffset + 4)..]);

        public byte Flags => Packet[TransportOffset + 13];

        /// <summary>
        /// A segment that may be glued to others: IPv4 without options and not fragmented, or IPv6 with TCP as the
        /// next header; ACK set and nothing but PSH besides; some payload.
        /// </summary>
        public static bool TryParse(ReadOnlySpan<byte> packet, out TcpSegment segment)
        {
            segment = default;
            if (packet.Length < 40)
            {
                return false;
            }
            int transportOffset;
            bool ipv4;
            if (packet[0] == 0x45)
            {
                // Total length must match what we were given, and neither MF nor a fragment offset may be set.
                if (packet[9] != ProtocolTcp || BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) != packet.Length
                    || (BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x3FFF) != 0)
                {
                    return false;
                }
                transportOffset = 20;
                ipv4 = true;
            }
            else if (packet[0] >> 4 == 6)
            {
                if (packet.Length < 60 || packet[6] != ProtocolTcp || BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) + 40 != packet.Length)
                {
                    return false;
                }
                transportOffset = 40;
                ipv4 = false;
            }
            else
            {
                return false;
            }
            var tcpHeaderLength = (packet[transportOffset + 12] >> 4) * 4;
            var headerLength = transportOffset + tcpHeaderLength;
            if (tcpHeaderLength < 20 || headerLength >= packet.Length)
            {
                return false;
            }
            var flags = packet[transportOffset + 13];
            if ((flags & ~(TcpAck | TcpPsh)) != 0 || (flags & TcpAck) == 0)
            {
                return false;
            }
            segment = new TcpSegment(packet, ipv4, transportOffset, headerLength);
            return true;
        }

        /// <summary>
        /// True when <paramref name="next"/> continues this flow right where <paramref name="end"/> (this segment's
        /// sequence plus the payload gathered so far) points, with the same headers but for what coalescing rewrites.
        /// </summary>
        public bool Continues(in TcpSegment next, uint end)
        {
            if (next.IsIPv4 != IsIPv4 || next.HeaderLength != HeaderLength || next.Sequence != end)
            {
                return false;
            }
            var a = Packet;
            var b = next.Packet;
            if (IsIPv4)
            {
                // Version/IHL and TOS; flags (DF), TTL and protocol; both addresses.
                if (a[0] != b[0] || a[1] != b[1] || a[6] != b[6] || a[8] != b[8] || a[9] != b[9] || !a.Slice(12, 8).SequenceEqual(b.Slice(12, 8)))
                {
                    return false;
                }
            }
            else if (!a[..4].SequenceEqual(b[..4]) || a[6] != b[6] || a[7] != b[7] || !a.Slice(8, 32).SequenceEqual(b.Slice(8, 32)))
            {
                return false;
            }
            var ta = a[TransportOffset..HeaderLength];
            var tb = b[TransportOffset..HeaderLength];
            // Ports; acknowledgment number and data offset; window; urgent pointer and options. Not the sequence
            // number, the flags (PSH may end a run) or the checksum.
            return ta[..4].SequenceEqual(tb[..4]) && ta.Slice(8, 5).SequenceEqual(tb.Slice(8, 5)) && ta.Slice(14, 2).SequenceEqual(tb.Slice(14, 2))
                && ta[18..].SequenceEqual(tb[18..]);
        }

        /// <summary>Whether the TCP checksum verifies (coalescing must not bless a segment the kernel would drop).</summary>
        public bool HasValidChecksum()
        {
            var tcp = Packet[TransportOffset..];
            return InternetChecksum.IsValid(InternetChecksum.Add(tcp, TcpPseudoHeader(Packet, IsIPv4, tcp.Length)));
        }
    }

    /// <summary>The TCP pseudo-header sum of an IPv4 or IPv6 packet (RFC 9293 §3.1, RFC 8200 §8.1).</summary>
    private static ulong TcpPseudoHeader(ReadOnlySpan<byte> packet, bool ipv4, int tcpLength) => ipv4
        ? InternetChecksum.PseudoHeader(packet.Slice(12, 4), packet.Slice(16, 4), ProtocolTcp, tcpLength)
        : InternetChecksum.PseudoHeader(packet.Slice(8, 16), packet.Slice(24, 16), ProtocolTcp, tcpLength);

    /// <summary>
    /// The run of packets from <paramref name="first"/> that can be written as one super-packet: consecutive
    /// segments of one TCP flow, each as long as the first but the last, PSH only on the last, within 64 KiB, every
    /// checksum valid. Returns the index after the run (first + 1 when nothing joins it).
    /// </summary>
    public static int FindRun(byte[][] buffers, int[] sizes, int offset, int first, int count, out int total, out bool push)
    {
        var packet = buffers[first].AsSpan(offset, sizes[first]);
        total = packet.Length;
        push = false;
        var end = first + 1;
        if (end >= count || !TcpSegment.TryParse(packet, out var head) || (head.Flags & TcpPsh) != 0)
        {
            return end;
        }
        var gsoSize = head.PayloadLength;
        var next = head.Sequence + (uint)gsoSize;
        while (end < count)
        {
            var candidate = buffers[end].AsSpan(offset, sizes[end]);
            if (!TcpSegment.TryParse(candidate, out var segment) || !head.Continues(segment, next)
                || segment.PayloadLength > gsoSize || total + segment.PayloadLength > MaxPacket
                || (end == first + 1 && !head.HasValidChecksum()) || !segment.HasValidChecksum())
            {
                break;
            }
            total += segment.PayloadLength;
            next += (uint)segment.PayloadLength;
            end++;
            push = (segment.Flags & TcpPsh) != 0;
            if (push || segment.PayloadLength < gsoSize)
            {
                break;
            }
        }
        if (end == first + 1)
        {
            total = packet.Length;
            push = false;
        }
        return end;
    }

    /// <summary>
    /// Glues the run [<paramref name="first"/>, <paramref name="end"/>) found by <see cref="FindRun"/> into
    /// <paramref name="destination"/>: the virtio header, then the super-packet. Returns the bytes to write.
    /// </summary>
    public static int Coalesce(byte[][] buffers, int[] sizes, int offset, int first, int end, int total, bool push, Span<byte> destination)
    {
        var firstPacket = buffers[first].AsSpan(offset, sizes[first]);
        if (!TcpSegment.TryParse(firstPacket, out var head))
        {
            throw new ArgumentException("The run does not start with a TCP segment that FindRun accepted.", nameof(first));
        }
        var packet = destination.Slice(HeaderSize, total);
        firstPacket.CopyTo(packet);
        var at = firstPacket.Length;
        for (var k = first + 1; k < end; k++)
        {
            var payload = buffers[k].AsSpan(offset + head.HeaderLength, sizes[k] - head.HeaderLength);
            payload.CopyTo(packet[at..]);
            at += payload.Length;
        }
        FinishCoalesced(destination, packet, head.IsIPv4, head.TransportOffset, head.HeaderLength, head.PayloadLength, push);
        return HeaderSize + total;
    }

    /// <summary>
    /// Finishes a coalesced super-packet at <paramref name="packet"/> (headers of its first segment, all payloads
    /// after them) and writes its virtio header in front: IP lengths and header checksum, PSH from the last
    /// segment, and a partial TCP checksum for the kernel to complete.
    /// </summary>
    private static void FinishCoalesced(Span<byte> header, Span<byte> packet, bool ipv4, int transportOffset, int headerLength, int gsoSize, bool push)
    {
        if (ipv4)
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet[2..], (ushort)packet.Length);
            packet.Slice(10, 2).Clear();
            InternetChecksum.Write(packet.Slice(10, 2), InternetChecksum.Add(packet[..transportOffset]));
        }
        else
        {
            BinaryPrimitives.WriteUInt16BigEndian(packet[4..], (ushort)(packet.Length - 40));
        }
        var tcp = packet[transportOffset..];
        if (push)
        {
            tcp[13] |= TcpPsh;
        }
        InternetChecksum.WritePartial(tcp.Slice(16, 2), TcpPseudoHeader(packet, ipv4, tcp.Length));
        new VirtioHeader
        {
            Flags = NeedsChecksum,
            GsoType = ipv4 ? GsoTcpV4 : GsoTcpV6,
            HeaderLength = (ushort)headerLength,
            GsoSize = (ushort)gsoSize,
            ChecksumStart = (ushort)transportOffset,
            ChecksumOffset = 16,
        }.Write(header);
    }
}
