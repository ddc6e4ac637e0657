using Pangolin.Netstack.Ip;
using Pangolin.Netstack.Tcp;
using Pangolin.Packets;

namespace Pangolin.Netstack;

/// <summary>TCP (RFC 9293): segments checked on receipt and handed to their connection, or reset.</summary>
public sealed partial class NetworkStack
{
    private long _resetsSent;

    /// <summary>Resets sent for segments that belonged to no connection.</summary>
    public long ResetsSent => Interlocked.Read(ref _resetsSent);

    private bool ReceiveTcp(in IpPacket ip)
    {
        var segment = ip.Payload;
        if (!TcpSegmentView.TryParse(segment, out var tcp) || !TcpHeader.IsChecksumValid(segment, ip.PseudoHeaderSum(segment.Length)))
        {
            return false;
        }
        // No connection and no listener here yet: the CLOSED state's answer.
        SendResetFor(ip, tcp);
        return true;
    }

    /// <summary>
    /// RFC 9293 §3.10.7.1: a segment for no connection is answered with a reset the sender will accept — unless it
    /// is itself a reset. With ACK: &lt;SEQ=SEG.ACK&gt;&lt;CTL=RST&gt;; without: &lt;SEQ=0&gt;&lt;ACK=SEG.SEQ+SEG.LEN&gt;&lt;CTL=RST,ACK&gt;.
    /// </summary>
    private void SendResetFor(in IpPacket ip, in TcpSegmentView tcp)
    {
        if ((tcp.Flags & TcpFlags.Rst) != 0)
        {
            return;
        }
        var hasAck = (tcp.Flags & TcpFlags.Ack) != 0;
        var sequence = hasAck ? tcp.Acknowledgment : new SequenceNumber(0);
        var acknowledgment = hasAck ? new SequenceNumber(0) : tcp.Sequence + tcp.SegmentLength;
        var flags = hasAck ? TcpFlags.Rst : TcpFlags.Rst | TcpFlags.Ack;
        var headerSize = IpWriter.HeaderSize(ip.IsIPv6);
        var buffer = RentPacket(headerSize + TcpHeader.MinLength);
        try
        {
            var reset = buffer.AsSpan(headerSize, TcpHeader.MinLength);
            TcpOptions none = default;
            var length = TcpHeader.Write(reset, tcp.DestinationPort, tcp.SourcePort, sequence, acknowledgment, flags, 0, none);
            reset = reset[..length];
            TcpHeader.WriteChecksum(reset, InternetChecksum.PseudoHeader(ip.Destination, ip.Source, IpProtocol.Tcp, length));
            // Counted first: the peer may act on the reset before Send returns.
            Interlocked.Increment(ref _resetsSent);
            SendIp(buffer, IpAddressBytes.From(ip.Destination), IpAddressBytes.From(ip.Source), IpProtocol.Tcp, length);
        }
        finally
        {
            ReturnPacket(buffer);
        }
    }
}
