using System.Net;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Netstack.Ip;
using Pangolin.Netstack.Tcp;
using Pangolin.Packets;

namespace Pangolin.Netstack.Tests.Infrastructure;

/// <summary>
/// A remote TCP played by the test, segment by segment, against one stack on fake time: it sends hand-made segments
/// into the stack and reads back what the stack sent, for tests of exact TCP behaviour (what is retransmitted when,
/// what is probed) that a kernel peer cannot pin down.
/// </summary>
internal sealed class ScriptedPeer : IDisposable
{
    public static readonly IPAddress StackAddress = IPAddress.Parse("10.9.0.2");
    public static readonly IPAddress PeerAddress = IPAddress.Parse("10.9.0.1");
    public const ushort StackPort = 80;
    public const ushort PeerPort = 40000;
    public const uint PeerIss = 100_000;

    private int _taken;

    public ScriptedPeer(int mtu = 1420, Func<FakeTimeProvider, NetworkStackOptions>? options = null)
    {
        Time = new FakeTimeProvider(new DateTimeOffset(2026, 1, 1, 0, 0, 0, TimeSpan.Zero));
        Link = new CapturingLink(mtu);
        Stack = new NetworkStack(Link, options?.Invoke(Time) ?? new NetworkStackOptions { Time = Time });
        Stack.AddAddress(StackAddress);
    }

    public FakeTimeProvider Time { get; }

    public CapturingLink Link { get; }

    public NetworkStack Stack { get; }

    /// <summary>The stack's initial sequence number, once a handshake has shown it.</summary>
    public uint StackIss { get; private set; }

    public readonly record struct Segment(TcpFlags Flags, uint Sequence, uint Acknowledgment, ushort Window, TcpOptions Options, byte[] Payload)
    {
        public SackBlock[] SackBlocks => Options.SackBlocks.ToArray();
    }

    /// <summary>Sends one segment from the peer's port to the stack's.</summary>
    public void Send(TcpFlags flags, uint sequence, uint acknowledgment, ushort window = 65535, TcpOptions options = default, ReadOnlySpan<byte> payload = default, ushort fromPort = PeerPort)
    {
        var tcpLength = TcpHeader.HeaderLength(options) + payload.Length;
        var packet = new byte[20 + tcpLength];
        var segment = packet.AsSpan(20);
        var header = TcpHeader.Write(segment, fromPort, StackPort, new SequenceNumber(sequence), new SequenceNumber(acknowledgment), flags, window, options);
        payload.CopyTo(segment[header..]);
        var source = PeerAddress.GetAddressBytes();
        var destination = StackAddress.GetAddressBytes();
        TcpHeader.WriteChecksum(segment, InternetChecksum.PseudoHeader(source, destination, IpProtocol.Tcp, tcpLength));
        IpWriter.WriteHeader(packet, source, destination, IpProtocol.Tcp, tcpLength, 64, 1);
        Stack.Receive(packet);
    }

    /// <summary>The TCP segments the stack sent since the last call, checksums verified.</summary>
    public List<Segment> TakeSent()
    {
        var sent = Link.Sent;
        var result = new List<Segment>();
        for (; _taken < sent.Count; _taken++)
        {
            var packet = sent[_taken];
            Assert.True(IpPacket.TryParse(packet, out var ip), "the stack sent a malformed IP packet");
            if (ip.Protocol != IpProtocol.Tcp)
            {
                continue;
            }
            var tcp = ip.Payload;
            Assert.True(TcpHeader.IsChecksumValid(tcp, ip.PseudoHeaderSum(tcp.Length)), "bad TCP checksum");
            Assert.True(TcpSegmentView.TryParse(tcp, out var view), "unparsable TCP segment");
            result.Add(new Segment(view.Flags, view.Sequence.Value, view.Acknowledgment.Value, view.Window, view.Options, view.Payload.ToArray()));
        }
        return result;
    }

    /// <summary>
    /// A passive open at the stack: the peer's SYN (MSS 1000; window scale 2; SACK-permitted unless told otherwise;
    /// no timestamps, so that segment lengths are plain), the stack's SYN-ACK, the peer's ACK; returns the accepted
    /// stream. The peer's next sequence number is then PeerIss + 1 and the stack's StackIss + 1.
    /// </summary>
    public async Task<TcpStream> AcceptAsync(bool sack = true, ushort window = 65535)
    {
        using var listener = Stack.ListenTcp(new IPEndPoint(StackAddress, StackPort));
        var syn = default(TcpOptions);
        syn.HasMss = true;
        syn.Mss = 1000;
        syn.HasWindowScale = true;
        syn.WindowScale = 2;
        syn.SackPermitted = sack;
        Send(TcpFlags.Syn, PeerIss, 0, 65535, syn);
        var synAck = Assert.Single(TakeSent());
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        StackIss = synAck.Sequence;
        Send(TcpFlags.Ack, PeerIss + 1, StackIss + 1, window);
        var stream = await listener.AcceptAsync(TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        return (TcpStream)stream;
    }

    public void Dispose() => Stack.Dispose();
}
