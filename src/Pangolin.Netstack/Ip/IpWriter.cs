using System.Buffers.Binary;
using Pangolin.Packets;

namespace Pangolin.Netstack.Ip;

/// <summary>Writes the IP header in front of a transport payload the caller has already put in place.</summary>
internal static class IpWriter
{
    /// <summary>Room to leave in front of a payload for the header of <paramref name="isIPv6"/>'s version.</summary>
    public static int HeaderSize(bool isIPv6) => isIPv6 ? IpPacket.Ipv6HeaderSize : IpPacket.Ipv4HeaderSize;

    /// <summary>
    /// Writes an IPv4 (RFC 791; DF set, as Linux does with path MTU discovery) or IPv6 (RFC 8200) header at the start
    /// of <paramref name="packet"/>, whose payload of <paramref name="payloadLength"/> bytes follows it.
    /// </summary>
    public static void WriteHeader(Span<byte> packet, ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination, byte protocol, int payloadLength, byte hopLimit, ushort identification)
    {
        if (source.Length == 4)
        {
            packet[0] = 0x45;
            packet[1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(packet[2..], (ushort)(IpPacket.Ipv4HeaderSize + payloadLength));
            BinaryPrimitives.WriteUInt16BigEndian(packet[4..], identification);
            BinaryPrimitives.WriteUInt16BigEndian(packet[6..], 0x4000);
            packet[8] = hopLimit;
            packet[9] = protocol;
            packet[10] = packet[11] = 0;
            source.CopyTo(packet[12..]);
            destination.CopyTo(packet[16..]);
            InternetChecksum.Write(packet.Slice(10, 2), InternetChecksum.Add(packet[..IpPacket.Ipv4HeaderSize]));
        }
        else
        {
            packet[0] = 0x60;
            packet[1] = packet[2] = packet[3] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(packet[4..], (ushort)payloadLength);
            packet[6] = protocol;
            packet[7] = hopLimit;
            source.CopyTo(packet[8..]);
            destination.CopyTo(packet[24..]);
        }
    }
}
