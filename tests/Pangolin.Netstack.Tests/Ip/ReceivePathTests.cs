using System.Buffers.Binary;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Netstack.Tests.Infrastructure;
using Pangolin.Packets;

namespace Pangolin.Netstack.Tests.Ip;

/// <summary>What the stack does with packets from the link, byte for byte: checks, echo replies, refusals.</summary>
public sealed class ReceivePathTests
{
    private static readonly IPAddress Stack = IPAddress.Parse("10.8.0.2");
    private static readonly IPAddress Peer = IPAddress.Parse("10.8.0.1");

    [Fact]
    public void An_echo_request_gets_a_reply_with_valid_checksums_and_the_same_identifier_sequence_and_data()
    {
        var (stack, link) = Create();
        stack.Receive(EchoRequest(Peer, Stack, 0x1234, 7, "hello"u8));
        var reply = Assert.Single(link.Sent);
        Assert.Equal(0x45, reply[0]);
        Assert.True(InternetChecksum.IsValid(InternetChecksum.Add(reply.AsSpan(0, 20))), "IPv4 header checksum");
        Assert.Equal(Stack.GetAddressBytes(), reply.AsSpan(12, 4).ToArray());
        Assert.Equal(Peer.GetAddressBytes(), reply.AsSpan(16, 4).ToArray());
        var icmp = reply.AsSpan(20);
        Assert.Equal(0, icmp[0]);
        Assert.True(InternetChecksum.IsValid(InternetChecksum.Add(icmp)), "ICMP checksum");
        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16BigEndian(icmp[4..]));
        Assert.Equal(7, BinaryPrimitives.ReadUInt16BigEndian(icmp[6..]));
        Assert.Equal("hello"u8.ToArray(), icmp[8..].ToArray());
    }

    [Fact]
    public void Damaged_truncated_or_misaddressed_packets_are_dropped_without_a_word()
    {
        var (stack, link) = Create();
        var good = EchoRequest(Peer, Stack, 1, 1, "x"u8);

        var badIpChecksum = good.ToArray();
        badIpChecksum[10] ^= 1;
        var badIcmpChecksum = good.ToArray();
        badIcmpChecksum[28] ^= 1;
        var truncated = good.AsSpan(0, good.Length - 1).ToArray();
        var notOurs = EchoRequest(Peer, IPAddress.Parse("10.8.0.3"), 1, 1, "x"u8);
        var notIp = new byte[40];
        notIp[0] = 0x50;

        foreach (var packet in new[] { badIpChecksum, badIcmpChecksum, truncated, notOurs, notIp, [] })
        {
            stack.Receive(packet);
        }
        Assert.Empty(link.Sent);
        Assert.Equal(6, stack.DroppedPackets);
        stack.Receive(good);
        Assert.Single(link.Sent);
    }

    [Fact]
    public void A_datagram_for_a_closed_port_gets_port_unreachable_quoting_its_header()
    {
        var (stack, link) = Create();
        var datagram = Udp(Peer, Stack, 40000, 9, "knock"u8);
        stack.Receive(datagram);
        var error = Assert.Single(link.Sent);
        var icmp = error.AsSpan(20);
        Assert.Equal(3, icmp[0]);
        Assert.Equal(3, icmp[1]);
        Assert.True(InternetChecksum.IsValid(InternetChecksum.Add(icmp)));
        Assert.Equal(datagram.AsSpan(0, 28).ToArray(), icmp[8..].ToArray());
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Bad_TCP_and_UDP_checksums_are_dropped_unless_the_link_authenticates_its_packets(bool linkAuthenticates)
    {
        var (stack, link) = Create(linkAuthenticates);
        var datagram = Udp(Peer, Stack, 40000, 9, "knock"u8);
        datagram[27] ^= 1; // the UDP checksum
        var syn = new TestSegment
        {
            Source = Peer,
            Destination = Stack,
            SourcePort = 40001,
            DestinationPort = 9,
            Sequence = 1000,
            Flags = Netstack.Tcp.TcpFlags.Syn,
            Window = 65535,
        }.ToIpv4Packet();
        syn[37] ^= 1; // the TCP checksum

        stack.Receive(datagram);
        stack.Receive(syn);

        // A closed port's answers (port unreachable, a reset) show each packet got past the checks.
        Assert.Equal(linkAuthenticates ? 2 : 0, link.Sent.Count);
        if (!linkAuthenticates)
        {
            Assert.Equal(2, stack.DroppedPackets);
        }
    }

    [Fact]
    public void The_fragment_timer_runs_only_while_a_datagram_waits_for_fragments_and_a_lost_one_gets_time_exceeded()
    {
        var time = new FakeTimeProvider();
        var link = new CapturingLink();
        using var stack = new NetworkStack(link, new NetworkStackOptions { Time = time });
        stack.AddAddress(Stack);
        Assert.False(stack.FragmentExpiryArmed);

        // An idle stack: a clock that jumps a day replays no timer tick and sends nothing.
        time.Advance(TimeSpan.FromDays(1));
        Assert.False(stack.FragmentExpiryArmed);

        // The first of two fragments arrives and the second never does.
        var datagram = Udp(Peer, Stack, 40000, 9, new byte[40]);
        var first = datagram.AsSpan(0, 20 + 24).ToArray();
        BinaryPrimitives.WriteUInt16BigEndian(first.AsSpan(2), (ushort)first.Length);
        first[6] = 0x20; // more fragments, offset 0
        first[10] = first[11] = 0;
        InternetChecksum.Write(first.AsSpan(10, 2), InternetChecksum.Add(first.AsSpan(0, 20)));
        stack.Receive(first);
        Assert.True(stack.FragmentExpiryArmed);
        Assert.Empty(link.Sent);

        // RFC 792: once the reassembly time is up, Time Exceeded (type 11, code 1) quoting the first fragment; then
        // nothing is pending and the timer stops again.
        time.Advance(TimeSpan.FromSeconds(61));
        var error = Assert.Single(link.Sent);
        Assert.Equal(11, error[20]);
        Assert.Equal(1, error[21]);
        Assert.False(stack.FragmentExpiryArmed);

        // The next lost datagram arms it again.
        stack.Receive(first);
        Assert.True(stack.FragmentExpiryArmed);
        time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(2, link.Sent.Count);
        Assert.False(stack.FragmentExpiryArmed);
    }

    private static (NetworkStack Stack, CapturingLink Link) Create(bool linkAuthenticates = false)
    {
        var link = new CapturingLink();
        var stack = new NetworkStack(link, new NetworkStackOptions { LinkAuthenticatesPackets = linkAuthenticates });
        stack.AddAddress(Stack);
        return (stack, link);
    }

    private static byte[] EchoRequest(IPAddress source, IPAddress destination, ushort id, ushort sequence, ReadOnlySpan<byte> data)
    {
        var icmp = new byte[8 + data.Length];
        icmp[0] = 8;
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(4), id);
        BinaryPrimitives.WriteUInt16BigEndian(icmp.AsSpan(6), sequence);
        data.CopyTo(icmp.AsSpan(8));
        InternetChecksum.Write(icmp.AsSpan(2, 2), InternetChecksum.Add(icmp));
        return Ipv4(source, destination, 1, icmp);
    }

    private static byte[] Udp(IPAddress source, IPAddress destination, ushort sourcePort, ushort destinationPort, ReadOnlySpan<byte> data)
    {
        var udp = new byte[8 + data.Length];
        BinaryPrimitives.WriteUInt16BigEndian(udp, sourcePort);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(2), destinationPort);
        BinaryPrimitives.WriteUInt16BigEndian(udp.AsSpan(4), (ushort)udp.Length);
        data.CopyTo(udp.AsSpan(8));
        InternetChecksum.Write(udp.AsSpan(6, 2), InternetChecksum.Add(udp, InternetChecksum.PseudoHeader(source.GetAddressBytes(), destination.GetAddressBytes(), 17, udp.Length)));
        return Ipv4(source, destination, 17, udp);
    }

    private static byte[] Ipv4(IPAddress source, IPAddress destination, byte protocol, byte[] payload)
    {
        var packet = new byte[20 + payload.Length];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        packet[8] = 64;
        packet[9] = protocol;
        source.GetAddressBytes().CopyTo(packet, 12);
        destination.GetAddressBytes().CopyTo(packet, 16);
        InternetChecksum.Write(packet.AsSpan(10, 2), InternetChecksum.Add(packet.AsSpan(0, 20)));
        payload.CopyTo(packet, 20);
        return packet;
    }
}
