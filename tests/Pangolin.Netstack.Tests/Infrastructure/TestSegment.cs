using System.Buffers.Binary;
using System.Net;
using Pangolin.Netstack.Tcp;
using Pangolin.Packets;

namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>
/// One TCP segment as the test sees it: built into an IPv4 packet for <see cref="NetworkStack.Receive"/>, or parsed
/// (and checked: IPv4 header checksum, TCP checksum over the pseudo-header, options) from what the stack sent.
/// </summary>
internal sealed class TestSegment
{
    public required IPAddress Source { get; init; }

    public required IPAddress Destination { get; init; }

    public required ushort SourcePort { get; init; }

    public required ushort DestinationPort { get; init; }

    public required uint Sequence { get; init; }

    public uint Acknowledgment { get; init; }

    public required TcpFlags Flags { get; init; }

    public ushort Window { get; init; }

    public TcpOptions Options { get; init; }

    public byte[] Payload { get; init; } = [];

    /// <summary>SEG.LEN: the payload plus one each for SYN and FIN (RFC 9293 §3.4).</summary>
    public int Length => Payload.Length + (Has(TcpFlags.Syn) ? 1 : 0) + (Has(TcpFlags.Fin) ? 1 : 0);

    public bool Has(TcpFlags flag) => (Flags & flag) == flag;

    public IReadOnlyList<(uint Left, uint Right)> SackBlocks =>
        [.. Options.SackBlocks.ToArray().Select(b => (b.Left.Value, b.Right.Value))];

    /// <summary>An IPv4 packet carrying this segment, every checksum right.</summary>
    public byte[] ToIpv4Packet()
    {
        var tcpLength = TcpHeader.HeaderLength(Options) + Payload.Length;
        var packet = new byte[20 + tcpLength];
        packet[0] = 0x45;
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(2), (ushort)packet.Length);
        BinaryPrimitives.WriteUInt16BigEndian(packet.AsSpan(6), 0x4000); // DF, as Linux sends TCP
        packet[8] = 64;
        packet[9] = 6;
        Source.GetAddressBytes().CopyTo(packet, 12);
        Destination.GetAddressBytes().CopyTo(packet, 16);
        InternetChecksum.Write(packet.AsSpan(10, 2), InternetChecksum.Add(packet.AsSpan(0, 20)));
        var segment = packet.AsSpan(20);
        var headerLength = TcpHeader.Write(segment, SourcePort, DestinationPort, new SequenceNumber(Sequence), new SequenceNumber(Acknowledgment), Flags, Window, Options);
        Payload.CopyTo(segment[headerLength..]);
        var pseudo = InternetChecksum.PseudoHeader(Source.GetAddressBytes(), Destination.GetAddressBytes(), 6, tcpLength);
        InternetChecksum.Write(segment.Slice(16, 2), InternetChecksum.Add(segment, pseudo));
        return packet;
    }

    /// <summary>
    /// Parses an IPv4 packet the stack sent; null (with the reason) when it is not a well-formed TCP segment with
    /// correct checksums.
    /// </summary>
    public static TestSegment? TryParseIpv4(ReadOnlySpan<byte> packet, out string? problem)
    {
        problem = null;
        if (packet.Length < 20 || packet[0] != 0x45)
        {
            problem = "not an IPv4 packet with a 20-byte header";
            return null;
        }
        if (BinaryPrimitives.ReadUInt16BigEndian(packet[2..]) != packet.Length)
        {
            problem = "IPv4 total length differs from the packet's";
            return null;
        }
        if (!InternetChecksum.IsValid(InternetChecksum.Add(packet[..20])))
        {
            problem = "bad IPv4 header checksum";
            return null;
        }
        if (packet[9] != 6)
        {
            problem = $"protocol {packet[9]}, not TCP";
            return null;
        }
        var source = packet.Slice(12, 4);
        var destination = packet.Slice(16, 4);
        var segment = packet[20..];
        if (segment.Length < 20)
        {
            problem = "TCP segment shorter than its header";
            return null;
        }
        var pseudo = InternetChecksum.PseudoHeader(source, destination, 6, segment.Length);
        if (!InternetChecksum.IsValid(InternetChecksum.Add(segment, pseudo)))
        {
            problem = "bad TCP checksum";
            return null;
        }
        if (!TcpSegmentView.TryParse(segment, out var view))
        {
            problem = "malformed TCP header or options";
            return null;
        }
        return new TestSegment
        {
            Source = new IPAddress(source),
            Destination = new IPAddress(destination),
            SourcePort = view.SourcePort,
            DestinationPort = view.DestinationPort,
            Sequence = view.Sequence.Value,
            Acknowledgment = view.Acknowledgment.Value,
            Flags = view.Flags,
            Window = view.Window,
            Options = view.Options,
            Payload = view.Payload.ToArray(),
        };
    }

    public static TestSegment ParseIpv4(ReadOnlySpan<byte> packet) =>
        TryParseIpv4(packet, out var problem) ?? throw new InvalidDataException("The stack sent a bad segment: " + problem);

    public override string ToString() =>
        $"{SourcePort}->{DestinationPort} [{Flags}] seq={Sequence} ack={Acknowledgment} win={Window} len={Payload.Length}"
        + (Options.SackBlockCount > 0 ? " sack=" + string.Join(',', SackBlocks.Select(b => $"{b.Left}-{b.Right}")) : "");
}
