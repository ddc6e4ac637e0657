using System.Net;
using System.Net.Sockets;
using Pangolin.Netstack.Tcp;
using Pangolin.Netstack.Tests.Infrastructure;

namespace Pangolin.Netstack.Tests.Tcp;

/// <summary>
/// The TCP state machine (RFC 9293 §3.10) driven segment by segment on fake time: opening (passive and active), the
/// handshake's retransmissions, and the CLOSED state's resets. The other TcpStateMachine*Tests files cover the data,
/// sending and closing paths.
/// </summary>
public sealed class TcpStateMachineTests
{
    private static readonly TimeSpan Epsilon = TimeSpan.FromMilliseconds(1);

    // ------------------------------------------------------------------ passive open

    [Fact]
    public void A_SYN_with_Linux_options_gets_a_SYN_ACK_with_MSS_window_scale_SACK_permitted_and_timestamps()
    {
        using var h = new TcpHarness();
        var synAck = h.SendSyn(SynOffer.Linux with { Iss = 0xFFFFFFF0 });

        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, synAck.Flags);
        Assert.Equal(0xFFFFFFF1u, synAck.Acknowledgment); // wraps cleanly past 2^32
        Assert.Equal(TcpHarness.ServerPort, synAck.SourcePort);
        Assert.Equal(TcpHarness.DefaultPeerPort, synAck.DestinationPort);
        Assert.Empty(synAck.Payload);
        var options = synAck.Options;
        Assert.True(options.HasMss);
        Assert.Equal(1420 - 40, options.Mss); // the link MTU less the IPv4 and TCP headers
        Assert.True(options.HasWindowScale);
        Assert.Equal(5, options.WindowScale);
        Assert.True(options.SackPermitted);
        Assert.True(options.HasTimestamps);
        Assert.Equal(5001u, options.TimestampEcho); // the SYN's TSval (RFC 7323 §3.2)
        Assert.Equal(65535, synAck.Window); // a SYN's window is never scaled (RFC 7323 §2.2)
        Assert.Equal(TcpState.SynReceived, h.State);
        Assert.Equal(1, h.Stack.TcpConnectionCount);
    }

    [Fact]
    public void A_SYN_without_options_gets_a_SYN_ACK_with_only_the_MSS()
    {
        using var h = new TcpHarness();
        var synAck = h.SendSyn(SynOffer.Bare);

        var options = synAck.Options;
        Assert.True(options.HasMss);
        Assert.False(options.HasWindowScale); // RFC 7323 §2.2: only when the SYN had it
        Assert.False(options.SackPermitted); // RFC 2018 §2
        Assert.False(options.HasTimestamps); // RFC 7323 §3.2
        Assert.Equal(0, options.SackBlockCount);
    }

    [Fact]
    public async Task The_final_ACK_completes_the_handshake_and_AcceptAsync()
    {
        using var h = new TcpHarness();
        h.SendSyn();
        var accept = h.Listener.AcceptAsync(TestContext.Current.CancellationToken).AsTask();
        Assert.False(accept.IsCompleted);

        h.SendAck();

        var stream = await accept.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
        Assert.Equal(TcpState.Established, h.State);
        h.AssertNothingSent(); // an ACK needs no answer
        var tcp = Assert.IsType<TcpStream>(stream);
        Assert.Equal(new IPEndPoint(TcpHarness.PeerAddress, TcpHarness.DefaultPeerPort), tcp.RemoteEndPoint);
    }

    [Fact]
    public void An_ACK_for_something_other_than_the_SYN_ACK_is_answered_with_a_reset_and_the_handshake_stays_open()
    {
        using var h = new TcpHarness();
        h.SendSyn();

        h.SendAck(acknowledgment: h.StackIss + 100);

        // RFC 9293 §3.10.7.4, SYN-RECEIVED, fifth check: <SEQ=SEG.ACK><CTL=RST>.
        var reset = h.TakeOne();
        Assert.Equal(TcpFlags.Rst, reset.Flags);
        Assert.Equal(h.StackIss + 100, reset.Sequence);
        Assert.Equal(TcpState.SynReceived, h.State);
    }

    [Fact]
    public void A_retransmitted_SYN_gets_the_same_SYN_ACK_again()
    {
        using var h = new TcpHarness();
        var first = h.SendSyn();

        h.Send(h.PeerIss, 0, TcpFlags.Syn, options: SynOffer.Linux.ToOptions(1, 0));

        var second = h.TakeOne();
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, second.Flags);
        Assert.Equal(first.Sequence, second.Sequence);
        Assert.Equal(first.Acknowledgment, second.Acknowledgment);
        Assert.Equal(1, h.Stack.TcpConnectionCount);
    }

    [Fact]
    public void An_unanswered_SYN_ACK_is_retransmitted_with_doubling_intervals_and_the_half_open_connection_dropped()
    {
        using var h = new TcpHarness();
        var synAck = h.SendSyn();

        var interval = TimeSpan.FromSeconds(1); // RFC 6298 §2.1's initial RTO, doubled on each expiry (§5.5)
        for (var retry = 1; retry <= 6; retry++)
        {
            h.Advance(interval - Epsilon);
            h.AssertNothingSent();
            h.Advance(Epsilon);
            var again = h.TakeOne();
            Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, again.Flags);
            Assert.Equal(synAck.Sequence, again.Sequence);
            Assert.Equal(synAck.Acknowledgment, again.Acknowledgment);
            interval *= 2;
        }
        Assert.Equal(1, h.Stack.TcpConnectionCount);

        h.Advance(interval);

        h.AssertNothingSent();
        Assert.Equal(0, h.Stack.TcpConnectionCount);
        Assert.Equal(TcpState.Closed, h.State);
        // The listener forgot it: a new SYN from the same port starts afresh.
        h.SendSyn();
        Assert.Equal(1, h.Stack.TcpConnectionCount);
    }

    // ------------------------------------------------------------------ active open

    [Fact]
    public void An_active_open_sends_a_SYN_with_Linux_options()
    {
        using var h = new TcpHarness();
        var (connect, syn) = h.StartConnect();

        Assert.Equal(TcpFlags.Syn, syn.Flags);
        Assert.Equal(0u, syn.Acknowledgment);
        Assert.Equal(80, syn.DestinationPort);
        Assert.True(syn.SourcePort >= 32768);
        Assert.True(syn.Options.HasMss);
        Assert.Equal(1380, syn.Options.Mss);
        Assert.True(syn.Options.HasWindowScale);
        Assert.True(syn.Options.SackPermitted);
        Assert.True(syn.Options.HasTimestamps);
        Assert.Equal(0u, syn.Options.TimestampEcho);
        Assert.False(connect.IsCompleted);
        Assert.Equal(TcpState.SynSent, h.State);
    }

    [Fact]
    public void An_unanswered_SYN_is_retransmitted_after_1_2_4_seconds_and_so_on_then_the_connect_times_out()
    {
        using var h = new TcpHarness();
        var (connect, syn) = h.StartConnect();

        var interval = TimeSpan.FromSeconds(1);
        for (var retry = 1; retry <= 6; retry++)
        {
            h.Advance(interval - Epsilon);
            h.AssertNothingSent();
            h.Advance(Epsilon);
            var again = h.TakeOne();
            Assert.Equal(TcpFlags.Syn, again.Flags);
            Assert.Equal(syn.Sequence, again.Sequence);
            interval *= 2;
        }
        Assert.False(connect.IsCompleted);

        h.Advance(interval);

        var error = Assert.Throws<SocketException>(() => connect.GetAwaiter().GetResult());
        Assert.Equal(SocketError.TimedOut, error.SocketErrorCode);
        Assert.Equal(0, h.Stack.TcpConnectionCount);
        h.AssertNothingSent();
    }

    [Fact]
    public async Task A_SYN_ACK_completes_the_active_open_with_an_ACK()
    {
        using var h = new TcpHarness();
        var stream = await h.ActiveOpenAsync();

        Assert.Equal(TcpState.Established, h.State);
        Assert.Equal(new IPEndPoint(TcpHarness.PeerAddress, 80), ((TcpStream)stream).RemoteEndPoint);
        // No more SYNs: the retransmission timer stopped.
        h.Advance(TimeSpan.FromSeconds(10));
        h.AssertNothingSent();
    }

    [Fact]
    public async Task A_reset_with_an_acceptable_ACK_refuses_the_connection()
    {
        using var h = new TcpHarness();
        var (connect, syn) = h.StartConnect();

        h.Send(0, syn.Sequence + 1, TcpFlags.Rst | TcpFlags.Ack, window: 0, options: default);

        var error = await Assert.ThrowsAsync<SocketException>(() => connect.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
        Assert.Equal(0, h.Stack.TcpConnectionCount);
        h.AssertNothingSent(); // a reset is never answered
    }

    [Fact]
    public void A_reset_with_a_wrong_ACK_or_without_ACK_is_ignored_in_SYN_SENT()
    {
        using var h = new TcpHarness();
        var (connect, syn) = h.StartConnect();

        // RFC 9293 §3.10.7.3: an unacceptable ACK drops a reset (it could be blind); no ACK means drop.
        h.Send(0, syn.Sequence + 7, TcpFlags.Rst | TcpFlags.Ack, window: 0, options: default);
        h.Send(0, 0, TcpFlags.Rst, window: 0, options: default);

        h.AssertNothingSent();
        Assert.False(connect.IsCompleted);
        Assert.Equal(TcpState.SynSent, h.State);
    }

    [Fact]
    public void A_SYN_ACK_with_a_wrong_ACK_is_answered_with_a_reset_and_the_SYN_retransmitted_later()
    {
        using var h = new TcpHarness();
        var (connect, syn) = h.StartConnect();

        h.Send(0x20000000, syn.Sequence + 1000, TcpFlags.Syn | TcpFlags.Ack, options: SynOffer.Linux.ToOptions(1, syn.Options.TimestampValue));

        // RFC 9293 §3.10.7.3: <SEQ=SEG.ACK><CTL=RST>, and the connection stays in SYN-SENT.
        var reset = h.TakeOne();
        Assert.Equal(TcpFlags.Rst, reset.Flags);
        Assert.Equal(syn.Sequence + 1000, reset.Sequence);
        Assert.Equal(TcpState.SynSent, h.State);
        Assert.False(connect.IsCompleted);
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TcpFlags.Syn, h.TakeOne().Flags);
    }

    [Fact]
    public async Task Options_from_the_SYN_ACK_govern_the_active_connection()
    {
        using var h = new TcpHarness();
        var stream = await h.ActiveOpenAsync(SynOffer.Bare with { Mss = 500 });

        await stream.WriteAsync(TcpHarness.Bytes(1200), TestContext.Current.CancellationToken);

        // MSS 500 from the SYN-ACK; no timestamps since the SYN-ACK had none (RFC 7323 §3.2).
        var sent = h.TakeSent();
        Assert.Equal([500, 500], sent.Select(s => s.Payload.Length));
        Assert.All(sent, s => Assert.False(s.Options.HasTimestamps));
    }

    // ------------------------------------------------------------------ CLOSED

    [Fact]
    public void A_segment_with_ACK_to_no_connection_gets_a_reset_with_its_ACK_as_sequence()
    {
        using var h = new TcpHarness();
        h.PeerPort = 45000;

        h.Send(1234, 0xABCDEF01, TcpFlags.Ack | TcpFlags.Psh, payload: TcpHarness.Bytes(10), options: default);

        // RFC 9293 §3.10.7.1: <SEQ=SEG.ACK><CTL=RST>.
        var reset = h.TakeOne();
        Assert.Equal(TcpFlags.Rst, reset.Flags);
        Assert.Equal(0xABCDEF01u, reset.Sequence);
        Assert.Equal(TcpHarness.ServerPort, reset.SourcePort);
        Assert.Equal(45000, reset.DestinationPort);
        Assert.Empty(reset.Payload);
        Assert.Equal(1, h.Stack.ResetsSent);
    }

    [Fact]
    public void A_segment_without_ACK_to_no_connection_gets_a_reset_ACKing_its_sequence_plus_length()
    {
        using var h = new TcpHarness();

        h.Send(0xFFFFFFFE, 0, TcpFlags.Syn | TcpFlags.Fin, payload: TcpHarness.Bytes(3), options: default);

        // <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>, SEG.LEN counting SYN and FIN, modulo 2^32.
        var reset = h.TakeOne();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, reset.Flags);
        Assert.Equal(0u, reset.Sequence);
        Assert.Equal(3u, reset.Acknowledgment);
    }

    [Fact]
    public void A_SYN_to_a_port_without_listener_is_refused_with_RST_ACK()
    {
        using var h = new TcpHarness();
        h.StackPort = 9;

        h.Send(777, 0, TcpFlags.Syn, options: SynOffer.Linux.ToOptions(1, 0));

        var reset = h.TakeOne();
        Assert.Equal(TcpFlags.Rst | TcpFlags.Ack, reset.Flags);
        Assert.Equal(778u, reset.Acknowledgment);
        Assert.Equal(0, h.Stack.TcpConnectionCount);
    }

    [Fact]
    public void A_reset_to_no_connection_is_not_answered()
    {
        using var h = new TcpHarness();

        h.Send(1, 2, TcpFlags.Rst | TcpFlags.Ack, options: default);
        h.Send(1, 0, TcpFlags.Rst, options: default);

        h.AssertNothingSent();
        Assert.Equal(0, h.Stack.ResetsSent);
    }

    [Fact]
    public void A_segment_with_a_bad_checksum_is_dropped_silently()
    {
        using var h = new TcpHarness();
        var packet = new TestSegment
        {
            Source = TcpHarness.PeerAddress,
            Destination = TcpHarness.StackAddress,
            SourcePort = 1,
            DestinationPort = 2,
            Sequence = 3,
            Flags = TcpFlags.Syn,
        }.ToIpv4Packet();
        packet[^1] ^= 0x01;

        h.Stack.Receive(packet);

        h.AssertNothingSent();
        Assert.Equal(1, h.Stack.DroppedPackets);
    }
}
