using System.Net;
using System.Net.Sockets;
using Pangolin.Netstack.Tcp;
using Pangolin.Netstack.Tests.Infrastructure;

namespace Pangolin.Netstack.Tests.Tcp;

/// <summary>
/// Loss recovery and the timers beyond the RTO, segment by segment against the TcpHarness peer on fake time: SACK
/// recovery (RFC 6675), go-back-N after a timeout, zero-window probing, keepalive, and the half-open limit.
/// </summary>
public sealed class TcpRecoveryAndTimerTests
{
    private const int Mss = 1000; // offered below; no timestamps, so segments carry exactly that

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static async Task<TcpStream> OpenAsync(TcpHarness h, bool sack, ushort window = 65535)
    {
        h.PeerWindow = window;
        var offer = new SynOffer { Mss = Mss, WindowScale = 2, SackPermitted = sack, Timestamps = false };
        return (TcpStream)await h.PassiveOpenAsync(offer);
    }

    private static List<uint> DataSequences(IEnumerable<TestSegment> segments) =>
        [.. segments.Where(s => s.Payload.Length > 0).Select(s => s.Sequence)];

    [Fact]
    public async Task With_SACK_a_second_hole_is_retransmitted_as_soon_as_the_scoreboard_shows_it_lost_without_waiting_for_a_partial_ACK()
    {
        using var peer = new TcpHarness();
        await using var stream = await OpenAsync(peer, sack: true);
        var s = peer.StackIss + 1;
                await stream.WriteAsync(new byte[20 * Mss], Ct);
        // The initial window: ten segments.
        Assert.Equal(Enumerable.Range(0, 10).Select(i => s + (uint)(i * Mss)), DataSequences(peer.TakeSent()));

        // Segments 0 and 4 are lost. Three duplicate ACKs with growing SACK blocks: fast retransmit of segment 0 only.
        peer.SendAck(s, null, (s + 1000, s + 2000));
        peer.SendAck(s, null, (s + 1000, s + 3000));
        Assert.Empty(DataSequences(peer.TakeSent()));
        peer.SendAck(s, null, (s + 1000, s + 4000));
        Assert.Equal([s], DataSequences(peer.TakeSent()));

        // Segment 5 arrives: one SACKed range above the second hole is not yet proof of loss (RFC 6675 IsLost); the
        // pipe has room for one new segment (cwnd = ssthresh = 7 segments, pipe = 6).
        peer.SendAck(s, null, (s + 5000, s + 6000), (s + 1000, s + 4000));
        Assert.Equal([s + 10_000], DataSequences(peer.TakeSent()));
        peer.SendAck(s, null, (s + 5000, s + 7000), (s + 1000, s + 4000));
        Assert.DoesNotContain(s + 4000, DataSequences(peer.TakeSent()));

        // Three segments SACKed above it: segment 4 is lost and goes at once, with SND.UNA still at segment 0.
        peer.SendAck(s, null, (s + 5000, s + 8000), (s + 1000, s + 4000));
        var resent = DataSequences(peer.TakeSent());
        Assert.Equal(s + 4000, resent[0]);
        Assert.DoesNotContain(s + 1000, resent);

        // Everything up to the recovery point acknowledged: recovery ends and the rest of the data flows.
        peer.SendAck(s + 11_000);
        Assert.NotEmpty(DataSequences(peer.TakeSent()));
    }

    [Fact]
    public async Task After_a_timeout_the_whole_flight_is_resent_as_the_window_grows_not_one_segment_per_timeout()
    {
        using var peer = new TcpHarness();
        await using var stream = await OpenAsync(peer, sack: false);
        var s = peer.StackIss + 1;
                await stream.WriteAsync(new byte[5 * Mss], Ct);
        Assert.Equal(5, DataSequences(peer.TakeSent()).Count);

        // Every segment lost: the timeout (1 s, RFC 6298 before any RTT sample) resends the first.
        peer.Time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal([s], DataSequences(peer.TakeSent()));

        // Its ACK opens the window to two segments: the next two go at once (go-back-N in slow start).
        peer.SendAck(s + 1000);
        Assert.Equal([s + 1000, s + 2000], DataSequences(peer.TakeSent()));
        peer.SendAck(s + 3000);
        Assert.Equal([s + 3000, s + 4000], DataSequences(peer.TakeSent()));
    }

    [Fact]
    public async Task An_ACK_that_restarts_the_retransmission_timer_moves_the_timeout_later_and_it_fires_once_there()
    {
        using var peer = new TcpHarness();
        await using var stream = await OpenAsync(peer, sack: false);
        var s = peer.StackIss + 1;
        await stream.WriteAsync(new byte[2 * Mss], Ct);
        Assert.Equal(2, DataSequences(peer.TakeSent()).Count);

        // 600 ms in, the first segment is ACKed: its RTT sample makes the RTO 600 + 4 x 300 = 1,800 ms (RFC 6298 2.2),
        // and the timer restarts for the second segment (5.3), due at 2.4 s.
        peer.Time.Advance(TimeSpan.FromMilliseconds(600));
        peer.SendAck(s + 1000);
        peer.TakeSent();
        // The old deadline (1 s) comes and goes without a retransmission...
        peer.Time.Advance(TimeSpan.FromMilliseconds(500));
        peer.AssertNothingSent();
        peer.Time.Advance(TimeSpan.FromMilliseconds(1250));
        peer.AssertNothingSent();
        // ...and the new one resends the second segment, once.
        peer.Time.Advance(TimeSpan.FromMilliseconds(60));
        Assert.Equal([s + 1000], DataSequences(peer.TakeSent()));
        peer.Time.Advance(TimeSpan.FromMilliseconds(1700));
        peer.AssertNothingSent();
    }

    [Fact]
    public async Task A_zero_window_is_probed_with_backoff_for_as_long_as_the_peer_answers_and_data_flows_when_it_opens()
    {
        using var peer = new TcpHarness();
        await using var stream = await OpenAsync(peer, sack: false, window: 0);
        var s = peer.StackIss + 1;
                await stream.WriteAsync(new byte[3000], Ct);
        Assert.Empty(peer.TakeSent());

        var probes = 0;
        var lastProbe = peer.Time.GetUtcNow();
        var intervals = new List<TimeSpan>();
        // Thirty probes, more than the retransmission limit: an answering peer keeps the connection alive.
        // Bounded: half an hour of fake time is far more than thirty probes need (at most a minute apart).
        for (var step = 0; probes < 30 && step < 18_000; step++)
        {
            peer.Time.Advance(TimeSpan.FromMilliseconds(100));
            foreach (var segment in peer.TakeSent())
            {
                Assert.Empty(segment.Payload);
                Assert.Equal(s - 1, segment.Sequence); // an old sequence number: the peer must answer with an ACK
                probes++;
                intervals.Add(peer.Time.GetUtcNow() - lastProbe);
                lastProbe = peer.Time.GetUtcNow();
                peer.SendAck(s, 0);
            }
        }
        Assert.Equal(30, probes);
        Assert.Equal(1, peer.Stack.TcpConnectionCount);
        Assert.InRange(intervals[1].TotalSeconds, 1.9, 2.2);
        Assert.InRange(intervals[2].TotalSeconds, 3.9, 4.2);
        Assert.InRange(intervals[^1].TotalSeconds, 59.9, 60.2);

        peer.SendAck(s, 8000);
        Assert.Equal([s, s + 1000, s + 2000], DataSequences(peer.TakeSent()));
    }

    [Fact]
    public async Task A_peer_that_stops_answering_zero_window_probes_times_the_connection_out()
    {
        using var peer = new TcpHarness();
        await using var stream = await OpenAsync(peer, sack: false, window: 0);
        await stream.WriteAsync(new byte[100], Ct);
        var reading = stream.ReadAsync(new byte[10], Ct).AsTask();
        for (var i = 0; i < 40 && !reading.IsCompleted; i++)
        {
            peer.Time.Advance(TimeSpan.FromSeconds(60));
        }
        var error = await Assert.ThrowsAsync<IOException>(() => reading.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        Assert.Equal(0, peer.Stack.TcpConnectionCount);
    }

    [Fact]
    public async Task Keepalive_probes_an_idle_connection_and_ends_it_after_the_configured_unanswered_probes()
    {
        using var peer = new TcpHarness();
        await using var stream = await OpenAsync(peer, sack: true);
        var s = peer.StackIss + 1;
                stream.KeepAlive = new TcpKeepAlive(TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(2), 3);

        peer.Time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.Empty(peer.TakeSent());
        peer.Time.Advance(TimeSpan.FromSeconds(0.1));
        var probe = Assert.Single(peer.TakeSent());
        Assert.Equal((TcpFlags.Ack, s - 1, peer.PeerNext, 0), (probe.Flags, probe.Sequence, probe.Acknowledgment, probe.Payload.Length));

        // Answered: the idle time starts over.
        peer.SendAck(s);
        peer.Time.Advance(TimeSpan.FromSeconds(9.9));
        Assert.Empty(peer.TakeSent());
        var reading = stream.ReadAsync(new byte[10], Ct).AsTask();
        peer.Time.Advance(TimeSpan.FromSeconds(0.1));
        Assert.Single(peer.TakeSent());

        // Unanswered: two more probes two seconds apart, then the connection is dead.
        peer.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Single(peer.TakeSent());
        peer.Time.Advance(TimeSpan.FromSeconds(2));
        Assert.Single(peer.TakeSent());
        Assert.False(reading.IsCompleted);
        peer.Time.Advance(TimeSpan.FromSeconds(2));
        var error = await Assert.ThrowsAsync<IOException>(() => reading.WaitAsync(TimeSpan.FromSeconds(10), Ct));
        Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task Without_keepalive_an_idle_connection_sends_nothing_for_hours()
    {
        using var peer = new TcpHarness();
        await using var stream = await OpenAsync(peer, sack: true);
        for (var i = 0; i < 30; i++)
        {
            peer.Time.Advance(TimeSpan.FromMinutes(10));
        }
        Assert.Empty(peer.TakeSent());
        Assert.Equal(1, peer.Stack.TcpConnectionCount);
    }

    private static void SynFrom(TcpHarness peer, ushort port, TcpOptions options)
    {
        peer.PeerPort = port;
        peer.Send(7, 0, TcpFlags.Syn, options: options);
    }

    [Fact]
    public void A_SYN_flood_fills_only_the_half_open_queue_costs_little_memory_and_ages_out()
    {
        using var peer = new TcpHarness();
        using var listener = peer.Stack.ListenTcp(new IPEndPoint(TcpHarness.StackAddress, TcpHarness.ServerPort), backlog: 16);
        var syn = default(TcpOptions);
        syn.HasMss = true;
        syn.Mss = 1000;
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var port = 0; port < 16; port++)
        {
            SynFrom(peer, (ushort)(20000 + port), syn);
        }
        var perHalfOpen = (GC.GetAllocatedBytesForCurrentThread() - before) / 16;
        for (var port = 16; port < 2000; port++)
        {
            SynFrom(peer, (ushort)(20000 + port), syn);
        }
        Assert.Equal(16, peer.TakeSent().Count(s => s.Flags == (TcpFlags.Syn | TcpFlags.Ack)));
        Assert.Equal(16, peer.Stack.TcpConnectionCount);
        // Each half-open connection holds small rings, not the megabyte buffers of an established one.
        Assert.InRange(perHalfOpen, 1, 64 * 1024);

        // The SYN-ACK retries run out (1 + 2 + 4 + ... + 64 s) and the queue empties; a new client gets in.
        for (var i = 0; i < 30; i++)
        {
            peer.Time.Advance(TimeSpan.FromSeconds(10));
        }
        Assert.Equal(0, peer.Stack.TcpConnectionCount);
        peer.TakeSent();
        SynFrom(peer, 30000, syn);
        Assert.Equal(TcpFlags.Syn | TcpFlags.Ack, Assert.Single(peer.TakeSent()).Flags);
    }

    [Fact]
    public async Task A_synchronous_read_or_write_times_out_as_on_a_socket_and_the_connection_stays_usable()
    {
        using var peer = new TcpHarness(sendBufferSize: 4096);
        await using var stream = await OpenAsync(peer, sack: false, window: 0);
        Assert.True(stream.CanTimeout);
        stream.ReadTimeout = 100;
        var error = Assert.Throws<IOException>(() => stream.Read(new byte[10], 0, 10));
        Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);

        // A zero window and a full send buffer: the write cannot finish.
        stream.WriteTimeout = 100;
        error = Assert.Throws<IOException>(() => stream.Write(new byte[8192], 0, 8192));
        Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);

        // Data still arrives and is read after the timeouts.
        peer.SendData("hi"u8.ToArray());
        var buffer = new byte[10];
        Assert.Equal(2, stream.Read(buffer, 0, 10));
        Assert.Throws<ArgumentOutOfRangeException>(() => stream.ReadTimeout = 0);
    }
}
