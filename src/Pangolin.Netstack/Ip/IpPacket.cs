using System.Buffers.Binary;
using System.Net;
using Pangolin.Packets;

namespace Pangolin.Netstack.Ip;

/// <summary>
/// A received IPv4 or IPv6 packet, checked (RFC 791, RFC 8200) and reduced to what the transports need: the
/// addresses, the transport protocol and its payload. IPv6 extension headers are walked; a fragment (either
/// version) is reported as such for reassembly.
/// </summary>
internal readonly ref struct IpPacket
{
    public const int Ipv4HeaderSize = 20;
    public const int Ipv6HeaderSize = 40;

    private IpPacket(ReadOnlySpan<byte> packet, bool isIPv6, int headerLength, byte protocol, ReadOnlySpan<byte> payload, bool isFragment)
    {
        Packet = packet;
        IsIPv6 = isIPv6;
        HeaderLength = headerLength;
        Protocol = protocol;
        Payload = payload;
        IsFragment = isFragment;
    }

    /// <summary>The whole packet, trimmed to the length its header declares.</summary>
    public ReadOnlySpan<byte> Packet { get; }

    public bool IsIPv6 { get; }

    /// <summary>IPv4 header, or IPv6 fixed header plus the extension headers before the transport.</summary>
    public int HeaderLength { get; }

    public byte Protocol { get; }

    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>An IPv4 packet with MF or an offset, or an IPv6 packet with a Fragment header.</summary>
    public bool IsFragment { get; }

    public ReadOnlySpan<byte> Source => IsIPv6 ? Packet.Slice(8, 16) : Packet.Slice(12, 4);

    public ReadOnlySpan<byte> Destination => IsIPv6 ? Packet.Slice(24, 16) : Packet.Slice(16, 4);

    /// <summary>IPv4 TTL or IPv6 hop limit.</summary>
    public byte HopLimit => IsIPv6 ? Packet[7] : Packet[8];

    public IPAddress SourceAddress => new(Source);

    public IPAddress DestinationAddress => new(Destination);

    /// <summary>Checks a packet as it came from the link; false for anything malformed (it is then dropped).</summary>
    public static bool TryParse(ReadOnlySpan<byte> data, out IpPacket packet)
    {
        packet = default;
        if (data.IsEmpty)
        {
            return false;
        }
        return (data[0] >> 4) switch
        {
            4 => TryParseV4(data, out packet),
            6 => TryParseV6(data, out packet),
            _ => false,
        };
    }

    private static bool TryParseV4(ReadOnlySpan<byte> data, out IpPacket packet)
    {
        packet = default;
        if (data.Length < Ipv4HeaderSize)
        {
            return false;
        }
        var headerLength = (data[0] & 0xF) * 4;
        var totalLength = BinaryPrimitives.ReadUInt16BigEndian(data[2..]);
        if (headerLength < Ipv4HeaderSize || totalLength < headerLength || totalLength > data.Length)
        {
            return false;
        }
        if (!InternetChecksum.IsValid(InternetChecksum.Add(data[..headerLength])))
        {
            return false;
        }
        data = data[..totalLength];
        var flagsAndOffset = BinaryPrimitives.ReadUInt16BigEndian(data[6..]);
        var isFragment = (flagsAndOffset & 0x3FFF) != 0; // MF or a fragment offset
        packet = new IpPacket(data, isIPv6: false, headerLength, data[9], data[headerLength..], isFragment);
        return true;
    }

    private static bool TryParseV6(ReadOnlySpan<byte> data, out IpPacket packet)
    {
        packet = default;
        if (data.Length < Ipv6HeaderSize)
        {
            return false;
        }
        var totalLength = Ipv6HeaderSize + BinaryPrimitives.ReadUInt16BigEndian(data[4..]);
        if (totalLength > data.Length)
        {
            return false;
        }
        data = data[..totalLength];
        var next = data[6];
        var offset = Ipv6HeaderSize;
        var isFragment = false;
        // Walk the extension headers (RFC 8200 §4); at most a handful, each at least 8 bytes, so the loop ends.
        while (true)
        {
            switch (next)
            {
                case IpProtocol.HopByHop:
                case IpProtocol.Routing:
                case IpProtocol.DestinationOptions:
                    if (offset + 8 > data.Length)
                    {
                        return false;
                    }
                    var length = (data[offset + 1] + 1) * 8;
                    if (offset + length > data.Length)
                    {
                        return false;
                    }
                    next = data[offset];
                    offset += length;
                    continue;
                case IpProtocol.Fragment:
                    if (offset + 8 > data.Length)
                    {
                        return false;
                    }
                    isFragment = true;
                    // Reassembly needs the fragment header itself: stop here, with it as the "payload".
                    packet = new IpPacket(data, isIPv6: true, offset, IpProtocol.Fragment, data[offset..], isFragment);
                    return true;
                default:
                    packet = new IpPacket(data, isIPv6: true, offset, next, data[offset..], isFragment);
                    return true;
            }
        }
    }

    /// <summary>The pseudo-header sum for this packet's transport (RFC 9293 §3.1, RFC 768, RFC 8200 §8.1).</summary>
    public ulong PseudoHeaderSum(int transportLength) =>
        InternetChecksum.PseudoHeader(Source, Destination, Protocol, transportLength);
}
