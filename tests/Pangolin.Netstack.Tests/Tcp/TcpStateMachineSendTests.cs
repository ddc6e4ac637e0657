using System.Net.Sockets;
using Pangolin.Netstack.Tcp;
using Pangolin.Netstack.Tests.Infrastructure;

namespace Pangolin.Netstack.Tests.Tcp;

/// <summary>
/// An established connection sending: segmentation at the MSS, the peer's window and its scaling, retransmission on
/// timeout with backoff (RFC 6298), fast retransmit (RFC 5681 §3.2), zero windows and probes (RFC 9293 §3.8.6.1),
/// and Nagle's algorithm (RFC 896, RFC 9293 §3.7.4).
/// </summary>
public sealed class TcpStateMachineSendTests
{
    private static readonly TimeSpan Epsilon = TimeSpan.FromMilliseconds(1);

    private static Task WriteAsync(Stream stream, byte[] data) =>
        stream.WriteAsync(data, TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

    [Fact]
    public async Task Written_data_goes_out_in_MSS_sized_segments_with_the_current_ACK()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var data = TcpHarness.Bytes(3 * h.StackMss);

        await WriteAsync(stream, data);

        var sent = h.TakeSent();
        Assert.Equal(3, sent.Count);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(h.StackIss + 1 + (uint)(i * h.StackMss), sent[i].Sequence);
            Assert.Equal(h.PeerNext, sent[i].Acknowledgment);
            Assert.True(sent[i].Has(TcpFlags.Ack));
            Assert.True(sent[i].Options.HasTimestamps);
            Assert.Equal(data.AsSpan(i * h.StackMss, h.StackMss).ToArray(), sent[i].Payload);
        }
        Assert.True(sent[^1].Has(TcpFlags.Psh)); // the last segment of what was written
    }

    [Fact]
    public async Task The_peers_window_is_scaled_by_the_shift_it_offered()
    {
        using var h = new TcpHarness();
        h.PeerWindow = 33; // << 7 = 4224 bytes: three segments of 1368 and not a fourth
        var stream = await h.PassiveOpenAsync();

        await WriteAsync(stream, TcpHarness.Bytes(5000));

        var sent = h.TakeSent();
        Assert.Equal([h.StackMss, h.StackMss, h.StackMss], sent.Select(s => s.Payload.Length));
        h.SendAck(h.StackIss + 1 + (uint)(3 * h.StackMss));
        Assert.Equal(5000 - (3 * h.StackMss), h.TakeOne().Payload.Length); // the window moved on
    }

    [Fact]
    public async Task Without_window_scaling_the_peers_window_is_taken_as_is()
    {
        using var h = new TcpHarness();
        h.PeerWindow = 3000;
        var stream = await h.PassiveOpenAsync(SynOffer.Linux with { WindowScale = null });

        await WriteAsync(stream, TcpHarness.Bytes(5000));

        Assert.Equal([h.StackMss, h.StackMss], h.TakeSent().Select(s => s.Payload.Length));
    }

    [Fact]
    public async Task A_peer_window_smaller_than_one_MSS_still_gets_data()
    {
        using var h = new TcpHarness();
        h.PeerWindow = 500;
        var stream = await h.PassiveOpenAsync(SynOffer.Linux with { WindowScale = null });

        await WriteAsync(stream, TcpHarness.Bytes(1000));
        h.Advance(TimeSpan.FromSeconds(5));

        var sent = h.TakeSent();
        Assert.NotEmpty(sent);
        Assert.Equal(500, sent[0].Payload.Length);
    }

    [Fact]
    public async Task Unacknowledged_data_is_retransmitted_with_exponential_backoff_and_the_connection_times_out()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var read = stream.ReadAsync(new byte[10], TestContext.Current.CancellationToken).AsTask();
        await WriteAsync(stream, TcpHarness.Bytes(100));
        var original = h.TakeOne();

        // RFC 6298: 1 s initially (§2.1), doubled on each expiry (§5.5) up to the 120 s maximum (§2.5).
        var interval = TimeSpan.FromSeconds(1);
        for (var retry = 1; retry <= 15; retry++)
        {
            h.Advance(interval - Epsilon);
            h.AssertNothingSent();
            h.Advance(Epsilon);
            var again = h.TakeOne();
            Assert.Equal(original.Sequence, again.Sequence);
            Assert.Equal(original.Payload, again.Payload);
            interval = interval * 2 > TimeSpan.FromSeconds(120) ? TimeSpan.FromSeconds(120) : interval * 2;
        }
        Assert.Equal(TcpState.Established, h.State);

        h.Advance(interval);

        Assert.Equal(0, h.Stack.TcpConnectionCount);
        var error = await Assert.ThrowsAsync<IOException>(() => read.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.Equal(SocketError.TimedOut, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
    }

    [Fact]
    public async Task An_ACK_of_new_data_resets_the_backoff_and_stops_the_timer_when_all_is_acknowledged()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync(SynOffer.Linux with { Timestamps = false });
        await WriteAsync(stream, TcpHarness.Bytes(100));
        h.TakeOne();
        h.Advance(TimeSpan.FromSeconds(1));
        h.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal(2, h.TakeSent().Count); // RTO now 4 s

        h.SendAck(h.StackIss + 101);
        h.Advance(TimeSpan.FromSeconds(300));
        h.AssertNothingSent();

        await WriteAsync(stream, TcpHarness.Bytes(10));
        h.TakeOne();
        h.Advance(TimeSpan.FromSeconds(1)); // back to the initial RTO (no RTT sample without timestamps)
        Assert.Equal(h.StackIss + 101, h.TakeOne().Sequence);
    }

    [Fact]
    public async Task A_timeout_resends_only_the_first_unacknowledged_segment()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        await WriteAsync(stream, TcpHarness.Bytes(3 * h.StackMss));
        Assert.Equal(3, h.TakeSent().Count);

        h.Advance(TimeSpan.FromSeconds(1));

        // RFC 6298 §5.4 and RFC 5681 §3.1: retransmit the earliest segment; the window collapses to one segment.
        var again = h.TakeOne();
        Assert.Equal(h.StackIss + 1, again.Sequence);
        Assert.Equal(h.StackMss, again.Payload.Length);
    }

    [Fact]
    public async Task After_a_timeout_the_ACK_of_the_retransmission_sends_the_next_lost_segment_at_once()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        await WriteAsync(stream, TcpHarness.Bytes(3 * h.StackMss));
        h.TakeSent();
        h.Advance(TimeSpan.FromSeconds(1));
        h.TakeOne();

        h.SendAck(h.StackIss + 1 + (uint)h.StackMss);

        var next = h.TakeSent();
        Assert.NotEmpty(next);
        Assert.Equal(h.StackIss + 1 + (uint)h.StackMss, next[0].Sequence);
    }

    [Fact]
    public async Task The_third_duplicate_ACK_triggers_a_fast_retransmit_of_the_first_segment()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var mss = (uint)h.StackMss;
        await WriteAsync(stream, TcpHarness.Bytes(5 * h.StackMss));
        Assert.Equal(5, h.TakeSent().Count);
        var una = h.StackIss + 1;

        h.SendAck(una, sackBlocks: (una + mss, una + (2 * mss)));
        h.SendAck(una, sackBlocks: (una + mss, una + (3 * mss)));
        h.AssertNothingSent();
        h.SendAck(una, sackBlocks: (una + mss, una + (4 * mss)));

        // RFC 5681 §3.2: the third duplicate ACK retransmits what appears lost, before any timeout.
        var again = h.TakeOne();
        Assert.Equal(una, again.Sequence);
        Assert.Equal(h.StackMss, again.Payload.Length);

        // The ACK of everything ends recovery; nothing more is resent, and the timer is off.
        h.SendAck(una + (5 * mss));
        h.Advance(TimeSpan.FromSeconds(10));
        h.AssertNothingSent();
    }

    [Fact]
    public async Task A_window_update_or_data_is_not_a_duplicate_ACK()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        await WriteAsync(stream, TcpHarness.Bytes(5 * h.StackMss));
        h.TakeSent();
        var una = h.StackIss + 1;

        // RFC 5681 §2: a duplicate ACK carries no data and leaves the window unchanged.
        h.SendAck(una, window: 60000);
        h.SendAck(una, window: 60001);
        h.SendData(TcpHarness.Bytes(10));
        h.SendAck(una, window: 60002);

        Assert.All(h.TakeSent(), s => Assert.Empty(s.Payload));
    }

    [Fact]
    public async Task A_zero_window_holds_the_data_and_the_stack_probes_it_with_backoff()
    {
        using var h = new TcpHarness();
        h.PeerWindow = 0;
        var stream = await h.PassiveOpenAsync();
        var una = h.StackIss + 1;

        await WriteAsync(stream, TcpHarness.Bytes(100));
        h.AssertNothingSent();

        // RFC 9293 §3.8.6.1: probe after an RTO, then at exponentially growing intervals.
        var interval = TimeSpan.FromSeconds(1);
        for (var probe = 0; probe < 3; probe++)
        {
            h.Advance(interval - Epsilon);
            h.AssertNothingSent();
            h.Advance(Epsilon);
            var sent = h.TakeOne();
            // Linux's probe: an ACK with an old sequence number, which the peer must answer, and no data.
            Assert.Equal(una - 1, sent.Sequence);
            Assert.Empty(sent.Payload);
            if (probe < 2)
            {
                h.SendAck(una, window: 0); // the third answer would be a third duplicate ACK: see the next test
                h.AssertNothingSent();
            }
            interval *= 2;
        }
        Assert.Equal(TcpState.Established, h.State);
    }

    [Fact]
    public async Task Answers_to_zero_window_probes_do_not_trigger_a_fast_retransmit()
    {
        using var h = new TcpHarness();
        h.PeerWindow = 0;
        var stream = await h.PassiveOpenAsync();
        await WriteAsync(stream, TcpHarness.Bytes(100));
        var una = h.StackIss + 1;

        var interval = TimeSpan.FromSeconds(1);
        for (var probe = 0; probe < 3; probe++)
        {
            h.Advance(interval);
            Assert.Single(h.TakeSent());
            h.SendAck(una, window: 0);
            h.AssertNothingSent();
            interval *= 2;
        }
    }

    [Fact]
    public async Task A_window_update_resumes_sending_the_held_data()
    {
        using var h = new TcpHarness();
        h.PeerWindow = 0;
        var stream = await h.PassiveOpenAsync();
        await WriteAsync(stream, TcpHarness.Bytes(100));
        h.AssertNothingSent();

        h.SendAck(window: 100);

        var sent = h.TakeOne();
        Assert.Equal(h.StackIss + 1, sent.Sequence);
        Assert.Equal(TcpHarness.Bytes(100), sent.Payload);
    }

    [Fact]
    public async Task A_window_update_after_a_probe_resumes_sending_from_SND_UNA()
    {
        using var h = new TcpHarness();
        h.PeerWindow = 0;
        var stream = await h.PassiveOpenAsync();
        await WriteAsync(stream, TcpHarness.Bytes(100));
        h.Advance(TimeSpan.FromSeconds(1));
        h.TakeOne();
        h.SendAck(window: 0);

        h.SendAck(window: 1000);

        var sent = h.TakeSent();
        Assert.NotEmpty(sent);
        Assert.Equal(h.StackIss + 1, sent[0].Sequence);
    }

    [Fact]
    public async Task A_peer_that_keeps_answering_probes_with_a_zero_window_keeps_the_connection()
    {
        using var h = new TcpHarness();
        h.PeerWindow = 0;
        var stream = await h.PassiveOpenAsync();
        await WriteAsync(stream, TcpHarness.Bytes(100));

        for (var probe = 0; probe < 30; probe++)
        {
            h.Advance(TimeSpan.FromSeconds(120));
            Assert.NotEmpty(h.TakeSent());
            h.SendAck(h.StackIss + 1, window: 0);
        }

        Assert.Equal(TcpState.Established, h.State);
    }

    [Fact]
    public async Task Nagle_holds_a_small_second_segment_until_the_first_is_acknowledged()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();

        await WriteAsync(stream, TcpHarness.Bytes(100));
        Assert.Equal(100, h.TakeOne().Payload.Length); // nothing in flight: a small segment may go
        await WriteAsync(stream, TcpHarness.Bytes(50, 100));
        h.AssertNothingSent(); // RFC 896: one small segment in flight at a time

        h.SendAck(h.StackIss + 101);

        var second = h.TakeOne();
        Assert.Equal(h.StackIss + 101, second.Sequence);
        Assert.Equal(TcpHarness.Bytes(50, 100), second.Payload);
    }

    [Fact]
    public async Task Nagle_lets_full_segments_through_and_holds_only_the_small_tail()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();

        await WriteAsync(stream, TcpHarness.Bytes(100));
        h.TakeOne();
        await WriteAsync(stream, TcpHarness.Bytes((2 * h.StackMss) + 10));

        Assert.Equal([h.StackMss, h.StackMss], h.TakeSent().Select(s => s.Payload.Length));
    }

    [Fact]
    public async Task TcpNoDelay_sends_the_small_second_segment_at_once()
    {
        using var h = new TcpHarness(noDelay: true);
        var stream = await h.PassiveOpenAsync();

        await WriteAsync(stream, TcpHarness.Bytes(100));
        await WriteAsync(stream, TcpHarness.Bytes(50, 100));

        var sent = h.TakeSent();
        Assert.Equal([100, 50], sent.Select(s => s.Payload.Length));
        Assert.Equal(h.StackIss + 101, sent[1].Sequence);
    }
}
