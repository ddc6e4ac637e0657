using System.Buffers.Binary;
using Pangolin.Netstack.Ip;
using Pangolin.Packets;

namespace Pangolin.Netstack;

/// <summary>
/// Receive coalescing (what GRO does in a kernel): inside a receive batch, consecutive in-order data segments of one
/// TCP flow — same addresses, ports, acknowledgment, window and options, ACK with nothing but PSH — are glued into
/// one segment before TCP sees them, so that a batch of tens of segments costs one pass through the connection (one
/// lock, one ACK decision, one wake-up of the reader) instead of one each. A PSH ends a run, and anything else that
/// arrives flushes the run first, so the order of everything the stack sees is kept. The glued segment's TCP checksum
/// is not recomputed: coalescing is only for links that authenticate packets (<see cref="NetworkStackOptions.LinkAuthenticatesPackets"/>).
/// </summary>
public sealed partial class NetworkStack
{
    private const byte TcpAck = 0x10;
    private const byte TcpPsh = 0x08;

    private byte[]? _run;          // the run's first packet, then its payloads appended
    private int _runLength;        // bytes of _run in use (0: no run)
    private int _runSegments;
    private int _runIpHeader;      // 20 (IPv4 without options) or 40 (IPv6)
    private int _runHeaders;       // IP and TCP headers together
    private uint _runNextSequence; // the sequence number the next segment must start at

    /// <summary>Segments glued into others since the stack started (for tests and diagnostics).</summary>
    public long CoalescedSegments { get; private set; }

    private bool CoalescesReceive => _inReceiveBatch && Options.CoalesceReceivedSegments;

    /// <summary>Takes <paramref name="packet"/> into the current run or starts one with it; false when it is not for a run.</summary>
    private bool TryCoalesce(ReadOnlySpan<byte> packet)
    {
        if (!IsCoalescable(packet, out var ipHeader, out var headers, out var flags))
        {
            return false;
        }
        var tcp = packet[ipHeader..];
        var sequence = BinaryPrimitives.ReadUInt32BigEndian(tcp[4..]);
        var payload = packet.Length - headers;
        if (_runLength > 0)
        {
            if (!Continues(packet, ipHeader, headers, sequence) || _runLength + payload > MaxPayload(ipHeader == IpPacket.Ipv6HeaderSize) + ipHeader)
            {
                return false;
            }
            packet[headers..].CopyTo(_run.AsSpan(_runLength));
            _runLength += payload;
            _runSegments++;
            _runNextSequence = sequence + (uint)payload;
            if ((flags & TcpPsh) != 0)
            {
                _run![ipHeader + 13] |= TcpPsh;
                FlushCoalesced(); // PSH: the sender has no more for now; deliver at once
            }
            return true;
        }
        if ((flags & TcpPsh) != 0)
        {
            return false; // alone it is a run of one: nothing to gain from copying it
        }
        _run ??= new byte[ushort.MaxValue + IpPacket.Ipv6HeaderSize];
        packet.CopyTo(_run);
        _runLength = packet.Length;
        _runSegments = 1;
        _runIpHeader = ipHeader;
        _runHeaders = headers;
        _runNextSequence = sequence + (uint)payload;
        return true;
    }

    /// <summary>Hands the current run (if any) to TCP: as it came when it is one segment, glued otherwise.</summary>
    private void FlushCoalesced()
    {
        if (_runLength == 0)
        {
            return;
        }
        var run = _run.AsSpan(0, _runLength);
        _runLength = 0;
        if (_runSegments > 1)
        {
            CoalescedSegments += _runSegments - 1;
            if (_runIpHeader == IpPacket.Ipv4HeaderSize)
            {
                BinaryPrimitives.WriteUInt16BigEndian(run[2..], (ushort)run.Length);
                run[10] = run[11] = 0;
                InternetChecksum.Write(run.Slice(10, 2), InternetChecksum.Add(run[..IpPacket.Ipv4HeaderSize]));
            }
            else
            {
                BinaryPrimitives.WriteUInt16BigEndian(run[4..], (ushort)(run.Length - IpPacket.Ipv6HeaderSize));
            }
        }
        ReceiveOne(run);
    }

    /// <summary>
    /// A TCP data segment that may join a run: IPv4 without options or fragmentation, or IPv6 with TCP as the next
    /// header; ACK set and nothing but PSH besides; some payload; lengths that agree with the packet.
    /// </summary>
    private static bool IsCoalescable(ReadOnlySpan<byte> packet, out int ipHeader, out int headers, out byte flags)
    {
        ipHeader = headers = 0;
        flags = 0;
        if (packet.Length < IpPacket.Ipv4HeaderSize + 20)
        {
            return false;
        }
        if (packet[0] == 0x45)
        {
            if (packet[9] != IpProtocol.Tcp || BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) != packet.Length
                || (BinaryPrimitives.ReadUInt16BigEndian(packet[6..]) & 0x3FFF) != 0)
            {
                return false;
            }
            ipHeader = IpPacket.Ipv4HeaderSize;
        }
        else if (packet[0] >> 4 == 6)
        {
            if (packet.Length < IpPacket.Ipv6HeaderSize + 20 || packet[6] != IpProtocol.Tcp
                || BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) + IpPacket.Ipv6HeaderSize != packet.Length)
            {
                return false;
            }
            ipHeader = IpPacket.Ipv6HeaderSize;
        }
        else
        {
            return false;
        }
        var tcpHeader = (packet[ipHeader + 12] >> 4) * 4;
        headers = ipHeader + tcpHeader;
        flags = packet[ipHeader + 13];
        return tcpHeader >= 20 && headers < packet.Length && (flags & ~TcpPsh) == TcpAck;
    }

    /// <summary>Whether a segment continues the run: the next sequence number, and every header field the same but
    /// those that gluing rewrites (IP length, identification and checksum; TCP sequence, PSH and checksum).</summary>
    private bool Continues(ReadOnlySpan<byte> packet, int ipHeader, int headers, uint sequence)
    {
        if (ipHeader != _runIpHeader || headers != _runHeaders || sequence != _runNextSequence)
        {
            return false;
        }
        var run = _run.AsSpan(0, headers);
        if (ipHeader == IpPacket.Ipv4HeaderSize)
        {
            // TOS; flags; TTL and protocol; both addresses.
            if (run[1] != packet[1] || run[6] != packet[6] || run[8] != packet[8] || run[9] != packet[9] || !run.Slice(12, 8).SequenceEqual(packet.Slice(12, 8)))
            {
                return false;
            }
        }
        else if (!run[..4].SequenceEqual(packet[..4]) || !run.Slice(6, 34).SequenceEqual(packet.Slice(6, 34)))
        {
            return false;
        }
        var a = run[ipHeader..];
        var b = packet[ipHeader..headers];
        // Ports; acknowledgment number and data offset; window; urgent pointer and options.
        return a[..4].SequenceEqual(b[..4]) && a.Slice(8, 5).SequenceEqual(b.Slice(8, 5)) && a.Slice(14, 2).SequenceEqual(b.Slice(14, 2))
            && a[18..].SequenceEqual(b[18..]);
    }
}
