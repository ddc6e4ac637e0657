using System.Buffers.Binary;
using System.Net;

namespace Pangolin.WireGuard.Tests.Tun;

/// <summary>Builds and recognises ICMP and ICMPv6 echo packets, checksums included (RFC 791, 792, 1071, 4443, 8200).</summary>
internal static class IcmpPackets
{
    public const int IPv4HeaderLength = 20;
    public const int IPv6HeaderLength = 40;
    private const int EchoHeaderLength = 8;

    /// <summary>Writes an IPv4 ICMP echo request into <paramref name="packet"/>; returns its length.</summary>
    public static int WriteIPv4EchoRequest(Span<byte> packet, IPAddress source, IPAddress destination, ushort identifier, ushort sequence, ReadOnlySpan<byte> payload)
    {
        var length = IPv4HeaderLength + EchoHeaderLength + payload.Length;
        var header = packet[..IPv4HeaderLength];
        header.Clear();
        header[0] = 0x45; // version 4, 5 words of header
        BinaryPrimitives.WriteUInt16BigEndian(header[2..], (ushort)length);
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], sequence); // identification
        header[8] = 64; // TTL
        header[9] = 1; // ICMP
        source.TryWriteBytes(header[12..16], out _);
        destination.TryWriteBytes(header[16..20], out _);
        BinaryPrimitives.WriteUInt16BigEndian(header[10..], Checksum(header, 0));

        var icmp = packet[IPv4HeaderLength..length];
        WriteEcho(icmp, 8, identifier, sequence, payload);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], Checksum(icmp, 0));
        return length;
    }

    /// <summary>Writes an ICMPv6 echo request; its checksum covers the IPv6 pseudo-header (RFC 8200 section 8.1).</summary>
    public static int WriteIPv6EchoRequest(Span<byte> packet, IPAddress source, IPAddress destination, ushort identifier, ushort sequence, ReadOnlySpan<byte> payload)
    {
        var icmpLength = EchoHeaderLength + payload.Length;
        var length = IPv6HeaderLength + icmpLength;
        var header = packet[..IPv6HeaderLength];
        header.Clear();
        header[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(header[4..], (ushort)icmpLength);
        header[6] = 58; // ICMPv6
        header[7] = 64; // hop limit
        source.TryWriteBytes(header[8..24], out _);
        destination.TryWriteBytes(header[24..40], out _);

        var icmp = packet[IPv6HeaderLength..length];
        WriteEcho(icmp, 128, identifier, sequence, payload);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[2..], IPv6Checksum(header, icmp));
        return length;
    }

    /// <summary>True if <paramref name="packet"/> is a valid IPv4 echo reply with these fields and checksums.</summary>
    public static bool IsIPv4EchoReply(ReadOnlySpan<byte> packet, IPAddress source, IPAddress destination, ushort identifier, ushort sequence, ReadOnlySpan<byte> payload)
    {
        if (packet.Length < IPv4HeaderLength + EchoHeaderLength || packet[0] != 0x45 || packet[9] != 1)
        {
            return false;
        }
        var header = packet[..IPv4HeaderLength];
        var icmp = packet[IPv4HeaderLength..];
        return BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) == packet.Length
            && Checksum(header, 0) == 0
            && Checksum(icmp, 0) == 0
            && new IPAddress(header[12..16]).Equals(source)
            && new IPAddress(header[16..20]).Equals(destination)
            && IsEcho(icmp, 0, identifier, sequence, payload);
    }

    public static bool IsIPv6EchoReply(ReadOnlySpan<byte> packet, IPAddress source, IPAddress destination, ushort identifier, ushort sequence, ReadOnlySpan<byte> payload)
    {
        if (packet.Length < IPv6HeaderLength + EchoHeaderLength || packet[0] >> 4 != 6 || packet[6] != 58)
        {
            return false;
        }
        var header = packet[..IPv6HeaderLength];
        var icmp = packet[IPv6HeaderLength..];
        return BinaryPrimitives.ReadUInt16BigEndian(packet[4..]) == icmp.Length
            && IPv6Checksum(header, icmp) == 0
            && new IPAddress(header[8..24]).Equals(source)
            && new IPAddress(header[24..40]).Equals(destination)
            && IsEcho(icmp, 129, identifier, sequence, payload);
    }

    /// <summary>The Internet checksum (RFC 1071): the ones' complement of the ones' complement sum of 16-bit words.</summary>
    public static ushort Checksum(ReadOnlySpan<byte> data, uint initial)
    {
        var sum = initial;
        var i = 0;
        for (; i + 1 < data.Length; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(data[i..]);
        }
        if (i < data.Length)
        {
            sum += (uint)data[i] << 8;
        }
        while (sum >> 16 != 0)
        {
            sum = (sum & 0xFFFF) + (sum >> 16);
        }
        return (ushort)~sum;
    }

    private static ushort IPv6Checksum(ReadOnlySpan<byte> header, ReadOnlySpan<byte> icmp)
    {
        // Pseudo-header: source, destination, upper-layer length (32 bits), 3 zero bytes, next header.
        uint sum = 0;
        for (var i = 8; i < 40; i += 2)
        {
            sum += BinaryPrimitives.ReadUInt16BigEndian(header[i..]);
        }
        sum += (uint)icmp.Length >> 16;
        sum += (uint)icmp.Length & 0xFFFF;
        sum += 58;
        return Checksum(icmp, sum);
    }

    private static void WriteEcho(Span<byte> icmp, byte type, ushort identifier, ushort sequence, ReadOnlySpan<byte> payload)
    {
        icmp[0] = type;
        icmp[1] = 0;
        icmp[2] = 0;
        icmp[3] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(icmp[4..], identifier);
        BinaryPrimitives.WriteUInt16BigEndian(icmp[6..], sequence);
        payload.CopyTo(icmp[EchoHeaderLength..]);
    }

    private static bool IsEcho(ReadOnlySpan<byte> icmp, byte type, ushort identifier, ushort sequence, ReadOnlySpan<byte> payload) =>
        icmp[0] == type
        && icmp[1] == 0
        && BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]) == identifier
        && BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]) == sequence
        && icmp[EchoHeaderLength..].SequenceEqual(payload);
}
