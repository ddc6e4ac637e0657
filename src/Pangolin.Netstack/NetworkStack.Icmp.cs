using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using Pangolin.Netstack.Ip;
using Pangolin.Packets;

namespace Pangolin.Netstack;

/// <summary>ICMP (RFC 792) and ICMPv6 (RFC 4443): echo both ways, and the errors a host sends.</summary>
public sealed partial class NetworkStack
{
    private const byte EchoReplyV4 = 0;
    private const byte DestinationUnreachableV4 = 3;
    private const byte EchoRequestV4 = 8;
    private const byte DestinationUnreachableV6 = 1;
    private const byte EchoRequestV6 = 128;
    private const byte EchoReplyV6 = 129;

    /// <summary>RFC 4443 §2.4(c): an ICMPv6 error carries as much of the offending packet as fits in 1280 bytes.</summary>
    private const int MinimumIPv6Mtu = 1280;

    private readonly ushort _pingIdentifier;
    private readonly ConcurrentDictionary<ushort, PendingPing> _pings = new();
    private int _pingSequence;

    private bool ReceiveIcmpV4(in IpPacket ip)
    {
        var message = ip.Payload;
        if (message.Length < 8 || !InternetChecksum.IsValid(InternetChecksum.Add(message)))
        {
            return false;
        }
        switch (message[0])
        {
            case EchoRequestV4 when message[1] == 0:
                SendEchoReply(ip, EchoReplyV4);
                return true;
            case EchoReplyV4 when message[1] == 0:
                return CompletePing(message);
            default:
                return true; // errors and other types are taken and ignored (no transport reacts to them yet)
        }
    }

    private bool ReceiveIcmpV6(in IpPacket ip)
    {
        var message = ip.Payload;
        if (message.Length < 8 || !InternetChecksum.IsValid(InternetChecksum.Add(message, ip.PseudoHeaderSum(message.Length))))
        {
            return false;
        }
        switch (message[0])
        {
            case EchoRequestV6 when message[1] == 0:
                SendEchoReply(ip, EchoReplyV6);
                return true;
            case EchoReplyV6 when message[1] == 0:
                return CompletePing(message);
            default:
                return true; // neighbour discovery has no use on a point-to-point tunnel; errors are ignored
        }
    }

    /// <summary>RFC 792 / RFC 4443 §4.2: the reply carries the request's identifier, sequence number and data.</summary>
    private void SendEchoReply(in IpPacket ip, byte replyType)
    {
        var message = ip.Payload;
        var headerSize = IpWriter.HeaderSize(ip.IsIPv6);
        var buffer = RentPacket(headerSize + message.Length);
        try
        {
            var reply = buffer.AsSpan(headerSize, message.Length);
            message.CopyTo(reply);
            reply[0] = replyType;
            reply[2] = reply[3] = 0;
            var source = IpAddressBytes.From(ip.Destination);
            var destination = IpAddressBytes.From(ip.Source);
            WriteIcmpChecksum(reply, ip.IsIPv6, ip.Destination, ip.Source);
            SendIp(buffer, source, destination, ip.IsIPv6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp, message.Length);
        }
        finally
        {
            ReturnPacket(buffer);
        }
    }

    /// <summary>
    /// Port unreachable (RFC 1122 §3.2.2.1 / RFC 4443 §3.1 code 4) for a datagram nothing listens for.
    /// </summary>
    internal void SendPortUnreachable(in IpPacket ip) =>
        SendIcmpError(ip, ip.IsIPv6 ? DestinationUnreachableV6 : DestinationUnreachableV4, (byte)(ip.IsIPv6 ? 4 : 3));

    /// <summary>
    /// Time exceeded, fragment reassembly (RFC 792 type 11 code 1 / RFC 4443 §3.3 code 1), for a datagram whose first
    /// fragment came but not the rest.
    /// </summary>
    private void SendReassemblyTimeExceeded(ReadOnlySpan<byte> firstFragment)
    {
        if (IpPacket.TryParse(firstFragment, out var ip))
        {
            SendIcmpError(ip, (byte)(ip.IsIPv6 ? 3 : 11), 1);
        }
    }

    /// <summary>
    /// An ICMP error to the offending packet's source, quoting it as the rules allow: the IP header and 8 bytes of
    /// payload for IPv4 (RFC 792), as much as fits in the minimum IPv6 MTU for IPv6 (RFC 4443 §2.4(c)).
    /// </summary>
    private void SendIcmpError(in IpPacket ip, byte type, byte code)
    {
        var headerSize = IpWriter.HeaderSize(ip.IsIPv6);
        var quoted = ip.IsIPv6
            ? Math.Min(ip.Packet.Length, MinimumIPv6Mtu - headerSize - 8)
            : Math.Min(ip.Packet.Length, ip.HeaderLength + 8);
        var buffer = RentPacket(headerSize + 8 + quoted);
        try
        {
            var message = buffer.AsSpan(headerSize, 8 + quoted);
            message[0] = type;
            message[1] = code;
            message[2..8].Clear();
            ip.Packet[..quoted].CopyTo(message[8..]);
            WriteIcmpChecksum(message, ip.IsIPv6, ip.Destination, ip.Source);
            SendIp(buffer, IpAddressBytes.From(ip.Destination), IpAddressBytes.From(ip.Source), ip.IsIPv6 ? IpProtocol.IcmpV6 : IpProtocol.Icmp, message.Length);
        }
        finally
        {
            ReturnPacket(buffer);
        }
    }

    private static void WriteIcmpChecksum(Span<byte> message, bool isIPv6, ReadOnlySpan<byte> source, ReadOnlySpan<byte> destination)
    {
        message[2] = message[3] = 0;
        var sum = isIPv6 ? InternetChecksum.PseudoHeader(source, destination, IpProtocol.IcmpV6, message.Length) : 0UL;
        InternetChecksum.Write(message.Slice(2, 2), InternetChecksum.Add(message, sum));
    }

    /// <summary>
    /// Sends an echo request to <paramref name="destination"/> and waits for its reply: the round-trip time, or null
    /// when none came within <paramref name="timeout"/> (default 5 s). Tunnels use it to check that the far end lives.
    /// </summary>
    public async Task<TimeSpan?> PingAsync(IPAddress destination, int payloadSize = 56, TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(destination);
        ArgumentOutOfRangeException.ThrowIfNegative(payloadSize);
        var target = IpAddressBytes.From(destination);
        if (!TryChooseSource(target, out var source))
        {
            throw new InvalidOperationException($"The stack has no {(target.IsIPv4 ? "IPv4" : "IPv6")} address to ping {destination} from.");
        }
        var headerSize = IpWriter.HeaderSize(!target.IsIPv4);
        if (8 + payloadSize > MaxPayload(!target.IsIPv4))
        {
            throw new ArgumentOutOfRangeException(nameof(payloadSize), $"A {payloadSize}-byte ping does not fit in one IP datagram.");
        }
        var sequence = (ushort)Interlocked.Increment(ref _pingSequence);
        var pending = new PendingPing(Time.GetTimestamp());
        _pings[sequence] = pending;
        var buffer = RentPacket(headerSize + 8 + payloadSize);
        try
        {
            var message = buffer.AsSpan(headerSize, 8 + payloadSize);
            message[0] = target.IsIPv4 ? EchoRequestV4 : EchoRequestV6;
            message[1] = 0;
            BinaryPrimitives.WriteUInt16BigEndian(message[4..], _pingIdentifier);
            BinaryPrimitives.WriteUInt16BigEndian(message[6..], sequence);
            for (var i = 0; i < payloadSize; i++)
            {
                message[8 + i] = (byte)i;
            }
            Span<byte> src = stackalloc byte[16];
            Span<byte> dst = stackalloc byte[16];
            source.CopyTo(src);
            target.CopyTo(dst);
            WriteIcmpChecksum(message, !target.IsIPv4, src[..source.Length], dst[..target.Length]);
            SendIp(buffer, source, target, target.IsIPv4 ? IpProtocol.Icmp : IpProtocol.IcmpV6, message.Length);
        }
        finally
        {
            ReturnPacket(buffer);
        }
        try
        {
            return await pending.Reply.Task.WaitAsync(timeout ?? TimeSpan.FromSeconds(5), Time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            return null;
        }
        finally
        {
            _pings.TryRemove(sequence, out _);
        }
    }

    private bool CompletePing(ReadOnlySpan<byte> reply)
    {
        if (BinaryPrimitives.ReadUInt16BigEndian(reply[4..]) != _pingIdentifier
            || !_pings.TryGetValue(BinaryPrimitives.ReadUInt16BigEndian(reply[6..]), out var pending))
        {
            return false;
        }
        pending.Reply.TrySetResult(Time.GetElapsedTime(pending.SentAt));
        return true;
    }

    private void FailPendingPings()
    {
        foreach (var pending in _pings.Values)
        {
            pending.Reply.TrySetException(new ObjectDisposedException(nameof(NetworkStack)));
        }
    }

    private sealed class PendingPing(long sentAt)
    {
        public long SentAt { get; } = sentAt;

        public TaskCompletionSource<TimeSpan> Reply { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
