using System.Buffers.Binary;
using System.Net;
using Pangolin.Packets;

namespace Pangolin.Netstack.Fuzz;

/// <summary>
/// What the fuzzer feeds: whole IP packets as the link delivers them, through the stack's receive path (IPv4 and
/// IPv6 headers and extension headers, ICMP and ICMPv6, UDP, and the replies they cause). Every target must return
/// normally for any input; an exception is a finding.
/// </summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        ["packet"] = Packet,
        ["tcp"] = TcpFuzzTarget.Run,
    };

    internal static readonly IPAddress StackV4 = IPAddress.Parse("10.8.0.2");
    internal static readonly IPAddress PeerV4 = IPAddress.Parse("10.8.0.1");
    internal static readonly IPAddress StackV6 = IPAddress.Parse("fd00:8::2");
    internal static readonly IPAddress PeerV6 = IPAddress.Parse("fd00:8::1");

    // Created on first use: instrumented library code must not run before the fuzzer's shared memory exists.
    private static readonly Lazy<NetworkStack> Stack = new(() =>
    {
        var stack = new NetworkStack(new NullLink());
        stack.AddAddress(StackV4);
        stack.AddAddress(StackV6);
        stack.BindUdp(new IPEndPoint(IPAddress.IPv6Any, 5353));
        return stack;
    });

    public static void Packet(byte[] data) => Stack.Value.Receive(data);

    /// <summary>Valid packets of each kind, the fuzzer's starting points (written by `seed`).</summary>
    public static IEnumerable<(string Target, string Name, byte[] Data)> Seeds()
    {
        yield return ("packet", "icmp-echo-v4", Ipv4(1, Icmp(8, "ping"u8, null)));
        yield return ("packet", "icmp-echo-v6", Ipv6(58, Icmp(128, "ping"u8, (PeerV6, StackV6))));
        yield return ("packet", "udp-v4", Ipv4(17, Udp(PeerV4, StackV4, 5353, "datagram"u8)));
        yield return ("packet", "udp-v6", Ipv6(17, Udp(PeerV6, StackV6, 5353, "datagram"u8)));
        yield return ("packet", "udp-closed-port-v4", Ipv4(17, Udp(PeerV4, StackV4, 9, "knock"u8)));
        yield return ("packet", "tcp-syn-v4", Ipv4(6, TcpSyn(PeerV4, StackV4)));
        yield return ("packet", "tcp-syn-v6", Ipv6(6, TcpSyn(PeerV6, StackV6)));
        foreach (var (name, data) in TcpFuzzSeeds.All())
        {
            yield return ("tcp", name, data);
        }
    }

    /// <summary>A SYN with Linux's options (MSS, SACK-permitted, timestamps, window scale).</summary>
    private static byte[] TcpSyn(IPAddress source, IPAddress destination)
    {
        var segment = new byte[40];
        BinaryPrimitives.WriteUInt16BigEndian(segment, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(2), 8080);
        BinaryPrimitives.WriteUInt32BigEndian(segment.AsSpan(4), 0x01020304);
        segment[12] = 10 << 4;
        segment[13] = 0x02;
        BinaryPrimitives.WriteUInt16BigEndian(segment.AsSpan(14), 64240);
        byte[] options = [2, 4, 0x05, 0x8C, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
        options.CopyTo(segment, 20);
        InternetChecksum.Write(segment.AsSpan(16, 2), InternetChecksum.Add(segment, InternetChecksum.PseudoHeader(source.GetAddressBytes(), destination.GetAddressBytes(), 6, segment.Length)));
        return segment;
    }

    private static byte[] Icmp(byte type, ReadOnlySpan<byte> data, (IPAddress Source, IPAddress Destination)? v6)
    {
        var message = new byte[8 + data.Length];
        message[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), 0x4242);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(6), 1);
        data.CopyTo(message.AsSpan(8));
        var sum = v6 is { } a ? InternetChecksum.PseudoHeader(a.Source.GetAddressBytes(), a.Destination.GetAddressBytes(), 58, message.Length) : 0UL;
        InternetChecksum.Write(message.AsSpan(2, 2), InternetChecksum.Add(message, sum));
        return message;
    }

    private static byte[] Udp(IPAddress source, IPAddress destination, ushort port, ReadOnlySpan<byte> data)
    {
        var datagram = new byte[8 + data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(datagram, 40000);
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(2), port);
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(4), (ushort)datagram.Length);
        data.CopyTo(datagram.AsSpan(8));
        InternetChecksum.Write(datagram.AsSpan(6, 2), InternetChecksum.Add(datagram, InternetChecksum.PseudoHeader(source.GetAddressBytes(), destination.GetAddressBytes(), 17, datagram.Length)));
        return datagram;
    }

    private static byte[] Ipv4(byte protocol, byte[] payload)
    {
        var packet = new byte[20 + payload.Length];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        packet[8] = 64;
        packet[9] = protocol;
        PeerV4.GetAddressBytes().CopyTo(packet, 12);
        StackV4.GetAddressBytes().CopyTo(packet, 16);
        InternetChecksum.Write(packet.AsSpan(10, 2), InternetChecksum.Add(packet.AsSpan(0, 20)));
        payload.CopyTo(packet, 20);
        return packet;
    }

    private static byte[] Ipv6(byte nextHeader, byte[] payload)
    {
        var packet = new byte[40 + payload.Length];
        packet[0] = 0x60;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(4), (ushort)payload.Length);
        packet[6] = nextHeader;
        packet[7] = 64;
        PeerV6.GetAddressBytes().CopyTo(packet, 8);
        StackV6.GetAddressBytes().CopyTo(packet, 24);
        payload.CopyTo(packet, 40);
        return packet;
    }

    private sealed class NullLink : INetworkLink
    {
        public int Mtu => 1420;

        public void Send(ReadOnlySpan<byte> packet)
        {
        }
    }
}
