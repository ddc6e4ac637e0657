using System.Net.Sockets;
using Pangolin.Netstack.Tcp;
using Pangolin.Netstack.Tests.Infrastructure;

namespace Pangolin.Netstack.Tests.Tcp;

/// <summary>
/// An established connection receiving (RFC 9293 §3.10.7.4): delayed and immediate ACKs, out-of-order data with SACK,
/// the receive window and its scaling, resets and SYNs in the window, and segments outside it.
/// </summary>
public sealed class TcpStateMachineReceiveTests
{
    private static readonly TimeSpan Epsilon = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan DelayedAck = TimeSpan.FromMilliseconds(40);

    private static async Task<byte[]> ReadAvailableAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        var total = 0;
        while (total < count)
        {
            var read = await stream.ReadAsync(buffer.AsMemory(total), TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);
            Assert.NotEqual(0, read);
            total += read;
        }
        return buffer;
    }

    [Fact]
    public async Task One_segment_in_order_is_ACKed_when_the_40_ms_delayed_ACK_timer_fires()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();

        h.SendData(TcpHarness.Bytes(100));

        h.AssertNothingSent();
        h.Advance(DelayedAck - Epsilon);
        h.AssertNothingSent();
        h.Advance(Epsilon);
        var ack = h.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(h.StackIss + 1, ack.Sequence);
        Assert.Equal(h.PeerNext, ack.Acknowledgment);
        Assert.Empty(ack.Payload);
        Assert.Equal(TcpHarness.Bytes(100), await ReadAvailableAsync(stream, 100));
        h.Advance(TimeSpan.FromSeconds(5));
        h.AssertNothingSent();
    }

    [Fact]
    public async Task Every_second_full_segment_is_ACKed_at_once()
    {
        using var h = new TcpHarness();
        await h.PassiveOpenAsync();

        h.SendData(TcpHarness.Bytes(h.StackMss));
        h.AssertNothingSent();
        h.SendData(TcpHarness.Bytes(h.StackMss, 7));

        // RFC 9293 §3.8.6.3 / RFC 5681 §4.2: an ACK for at least every second full-sized segment.
        var ack = h.TakeOne();
        Assert.Equal(h.PeerNext, ack.Acknowledgment);
        h.Advance(DelayedAck);
        h.AssertNothingSent(); // the delayed ACK was cancelled by the immediate one

        h.SendData(TcpHarness.Bytes(h.StackMss));
        h.AssertNothingSent(); // the count starts again
        h.SendData(TcpHarness.Bytes(h.StackMss));
        Assert.Equal(h.PeerNext, h.TakeOne().Acknowledgment);
    }

    [Fact]
    public async Task In_a_receive_batch_in_order_segments_get_one_ACK_at_its_end()
    {
        using var h = new TcpHarness();
        await h.PassiveOpenAsync();

        h.Stack.BeginReceiveBatch();
        for (var i = 0; i < 6; i++)
        {
            h.SendData(TcpHarness.Bytes(h.StackMss, i));
        }
        h.AssertNothingSent(); // outside a batch the second and fourth would have been ACKed at once
        h.Stack.EndReceiveBatch();

        var ack = h.TakeOne();
        Assert.Equal(h.PeerNext, ack.Acknowledgment);
        h.Advance(DelayedAck);
        h.AssertNothingSent();

        // After the batch, every second segment is ACKed at once again.
        h.SendData(TcpHarness.Bytes(h.StackMss));
        h.AssertNothingSent();
        h.SendData(TcpHarness.Bytes(h.StackMss));
        Assert.Equal(h.PeerNext, h.TakeOne().Acknowledgment);
    }

    [Fact]
    public async Task In_a_receive_batch_out_of_order_data_is_still_ACKed_at_once()
    {
        using var h = new TcpHarness();
        await h.PassiveOpenAsync();
        var start = h.PeerNext;

        h.Stack.BeginReceiveBatch();
        h.SendData(TcpHarness.Bytes(h.StackMss));
        h.SendData(TcpHarness.Bytes(100), start + (uint)h.StackMss + 500);
        var duplicate = h.TakeOne();
        Assert.Equal(start + (uint)h.StackMss, duplicate.Acknowledgment);
        Assert.Single(duplicate.SackBlocks);
        h.Stack.EndReceiveBatch();
        h.AssertNothingSent(); // nothing left to acknowledge
    }

    [Fact]
    public async Task A_reader_that_keeps_up_sends_no_window_updates()
    {
        using var h = new TcpHarness(receiveBufferSize: 64 * 1024);
        var stream = await h.PassiveOpenAsync();

        for (var i = 0; i < 8; i++)
        {
            h.SendData(TcpHarness.Bytes(h.StackMss, i));
            h.SendData(TcpHarness.Bytes(h.StackMss, i + 1));
            Assert.Equal(h.PeerNext, h.TakeOne().Acknowledgment); // every second segment
            _ = await ReadAvailableAsync(stream, 2 * h.StackMss);
            h.AssertNothingSent(); // the peer may still send most of the buffer: an update would be a wasted segment
        }
    }

    [Fact]
    public async Task Out_of_order_data_gets_an_immediate_duplicate_ACK_with_SACK_blocks_most_recent_first()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var start = h.PeerNext;
        var data = TcpHarness.Bytes(400);

        h.SendData(data[100..200], start + 100);
        var first = h.TakeOne();
        Assert.Equal(start, first.Acknowledgment); // a duplicate ACK: RCV.NXT has not moved
        Assert.Equal([(start + 100, start + 200)], first.SackBlocks); // RFC 2018 §4
        Assert.True(first.Options.HasTimestamps);

        h.SendData(data[300..400], start + 300);
        var second = h.TakeOne();
        Assert.Equal(start, second.Acknowledgment);
        Assert.Equal([(start + 300, start + 400), (start + 100, start + 200)], second.SackBlocks);

        h.SendData(data[..100], start);
        var third = h.TakeOne(); // filling a hole is ACKed at once too (RFC 5681 §4.2)
        Assert.Equal(start + 200, third.Acknowledgment);
        Assert.Equal([(start + 300, start + 400)], third.SackBlocks);

        h.SendData(data[200..300], start + 200);
        h.Advance(DelayedAck); // at once would be better: see the next test
        var last = h.TakeOne();
        Assert.Equal(start + 400, last.Acknowledgment);
        Assert.Empty(last.SackBlocks);
        Assert.Equal(data, await ReadAvailableAsync(stream, 400));
    }

    [Fact]
    public async Task A_segment_that_fills_the_last_hole_is_ACKed_at_once()
    {
        using var h = new TcpHarness();
        await h.PassiveOpenAsync();
        var start = h.PeerNext;
        h.SendData(TcpHarness.Bytes(100, 100), start + 100);
        Assert.Equal(start, h.TakeOne().Acknowledgment);

        h.SendData(TcpHarness.Bytes(100), start);

        var ack = h.TakeOne();
        Assert.Equal(start + 200, ack.Acknowledgment);
        Assert.Empty(ack.SackBlocks);
    }

    [Fact]
    public async Task Without_SACK_permitted_a_duplicate_ACK_carries_no_SACK_blocks()
    {
        using var h = new TcpHarness();
        await h.PassiveOpenAsync(SynOffer.Linux with { SackPermitted = false });

        h.SendData(TcpHarness.Bytes(100), h.PeerNext + 100);

        var ack = h.TakeOne();
        Assert.Equal(h.PeerNext, ack.Acknowledgment);
        Assert.Empty(ack.SackBlocks); // RFC 2018 §2: only when the SYN said SACK-permitted
    }

    [Fact]
    public async Task A_retransmission_overlapping_RCV_NXT_delivers_only_its_new_bytes()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var start = h.PeerNext;
        var data = TcpHarness.Bytes(300);
        h.SendData(data[..100]);

        h.SendData(data[50..300], start + 50);
        h.PeerNext = start + 300;

        h.Advance(DelayedAck);
        Assert.Equal(start + 300, h.TakeSent()[^1].Acknowledgment);
        Assert.Equal(data, await ReadAvailableAsync(stream, 300));
    }

    [Fact]
    public async Task Our_window_is_advertised_scaled_by_our_shift_after_the_handshake()
    {
        using var h = new TcpHarness();
        await h.PassiveOpenAsync();

        h.SendData(TcpHarness.Bytes(1000));
        h.Advance(DelayedAck);

        // RFC 7323 §2.3: the field is the window shifted right by the scale we offered (5); 1 MiB less 1000 unread.
        var ack = h.TakeOne();
        Assert.Equal(((1 << 20) - 1000) >> 5, ack.Window);
    }

    [Fact]
    public async Task Without_window_scaling_the_window_field_is_the_unscaled_window_capped_at_65535()
    {
        using var h = new TcpHarness();
        await h.PassiveOpenAsync(SynOffer.Linux with { WindowScale = null });

        h.SendData(TcpHarness.Bytes(1000));
        h.Advance(DelayedAck);

        Assert.Equal(65535, h.TakeOne().Window);
    }

    [Fact]
    public async Task A_full_receive_buffer_offers_a_zero_window_and_reading_reopens_it()
    {
        using var h = new TcpHarness(receiveBufferSize: 8192);
        var stream = await h.PassiveOpenAsync(SynOffer.Linux with { Timestamps = false, Mss = 1024 });
        for (var i = 0; i < 8; i++)
        {
            h.SendData(TcpHarness.Bytes(1024, i));
        }
        var acks = h.TakeSent();
        Assert.Equal(h.PeerNext, acks[^1].Acknowledgment);
        Assert.Equal(0, acks[^1].Window);

        // A byte beyond a zero window is not accepted (RFC 9293 §3.10.7.4): just an ACK.
        var before = h.PeerNext;
        h.SendData([42]);
        h.PeerNext = before;
        var refused = h.TakeOne();
        Assert.Equal(before, refused.Acknowledgment);
        Assert.Equal(0, refused.Window);

        Assert.Equal(8192, (await ReadAvailableAsync(stream, 8192)).Length);

        // The window opened by the whole buffer: a window update, without waiting for the peer's probe.
        var update = h.TakeOne();
        Assert.Equal(TcpFlags.Ack, update.Flags);
        Assert.Equal(before, update.Acknowledgment);
        Assert.Equal(8192 >> 5, update.Window);
    }

    [Fact]
    public async Task A_reset_in_the_window_but_not_at_RCV_NXT_gets_a_challenge_ACK_and_changes_nothing()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();

        h.Send(h.PeerNext + 10, 0, TcpFlags.Rst, options: default);

        // RFC 5961 §3.2 (RFC 9293 §3.10.7.4): <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>.
        var challenge = h.TakeOne();
        Assert.Equal(TcpFlags.Ack, challenge.Flags);
        Assert.Equal(h.StackIss + 1, challenge.Sequence);
        Assert.Equal(h.PeerNext, challenge.Acknowledgment);
        Assert.Equal(TcpState.Established, h.State);
        h.SendData(TcpHarness.Bytes(5));
        Assert.Equal(TcpHarness.Bytes(5), await ReadAvailableAsync(stream, 5));
    }

    [Fact]
    public async Task A_reset_outside_the_window_is_dropped_without_an_answer()
    {
        using var h = new TcpHarness();
        await h.PassiveOpenAsync();

        h.Send(h.PeerNext - 10, 0, TcpFlags.Rst, options: default);
        h.Send(h.PeerNext + (2u << 20), 0, TcpFlags.Rst, options: default);

        h.AssertNothingSent();
        Assert.Equal(TcpState.Established, h.State);
    }

    [Fact]
    public async Task A_reset_exactly_at_RCV_NXT_resets_the_connection_and_a_pending_read_throws()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var read = stream.ReadAsync(new byte[10], TestContext.Current.CancellationToken).AsTask();
        Assert.False(read.IsCompleted);

        h.Send(h.PeerNext, 0, TcpFlags.Rst, options: default);

        var error = await Assert.ThrowsAsync<IOException>(() => read.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.Equal(SocketError.ConnectionReset, Assert.IsType<SocketException>(error.InnerException).SocketErrorCode);
        Assert.Equal(0, h.Stack.TcpConnectionCount);
        h.AssertNothingSent();
        await Assert.ThrowsAsync<IOException>(async () => await stream.WriteAsync(new byte[1], TestContext.Current.CancellationToken));
        // The 4-tuple is now CLOSED: the next segment is answered by a reset.
        h.SendAck();
        Assert.Equal(TcpFlags.Rst, h.TakeOne().Flags);
    }

    [Fact]
    public async Task A_zero_byte_read_waits_for_data_and_consumes_none_of_it()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var wait = stream.ReadAsync(Memory<byte>.Empty, TestContext.Current.CancellationToken).AsTask();
        Assert.False(wait.IsCompleted);

        h.SendData(TcpHarness.Bytes(100));

        Assert.Equal(0, await wait.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.Equal(0, await stream.ReadAsync(Memory<byte>.Empty, TestContext.Current.CancellationToken));
        Assert.Equal(TcpHarness.Bytes(100), await ReadAvailableAsync(stream, 100));
    }

    [Fact]
    public async Task A_zero_byte_read_completes_at_the_peers_FIN_and_the_next_read_sees_the_end()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var wait = stream.ReadAsync(Memory<byte>.Empty, TestContext.Current.CancellationToken).AsTask();
        Assert.False(wait.IsCompleted);

        h.SendFin();

        Assert.Equal(0, await wait.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        Assert.Equal(0, await stream.ReadAsync(new byte[10], TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Received_bytes_lent_in_place_reopen_a_full_window_only_when_consumed()
    {
        using var h = new TcpHarness(receiveBufferSize: 8192);
        var stream = (TcpStream)await h.PassiveOpenAsync(SynOffer.Linux with { Timestamps = false, Mss = 1024 });
        for (var i = 0; i < 8; i++)
        {
            h.SendData(TcpHarness.Bytes(1024, i * 1024));
        }
        Assert.Equal(0, h.TakeSent()[^1].Window);

        var lent = stream.PeekReceived(out var first, out var second);
        Assert.Equal(8192, lent);
        Assert.Equal(TcpHarness.Bytes(8192), first.ToArray().Concat(second.ToArray()).ToArray());
        h.AssertNothingSent(); // lending frees nothing: the window stays shut

        stream.ConsumeReceived(lent);

        var update = h.TakeOne();
        Assert.Equal(TcpFlags.Ack, update.Flags);
        Assert.Equal(8192 >> 5, update.Window);
        Assert.Equal(0, stream.PeekReceived(out _, out _));
    }

    [Fact]
    public async Task Lending_after_the_peers_FIN_with_nothing_left_lends_nothing_and_a_pending_read_forbids_it()
    {
        using var h = new TcpHarness();
        var stream = (TcpStream)await h.PassiveOpenAsync();
        var pending = stream.ReadAsync(new byte[10], TestContext.Current.CancellationToken).AsTask();
        Assert.Throws<InvalidOperationException>(() => stream.PeekReceived(out _, out _));

        h.SendData(TcpHarness.Bytes(5));
        Assert.Equal(5, await pending.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        h.SendFin();

        Assert.Equal(0, await stream.ReadAsync(Memory<byte>.Empty, TestContext.Current.CancellationToken));
        Assert.Equal(0, stream.PeekReceived(out var first, out var second));
        Assert.True(first.IsEmpty && second.IsEmpty);
    }

    [Fact]
    public async Task A_zero_byte_read_throws_when_the_connection_is_reset()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var wait = stream.ReadAsync(Memory<byte>.Empty, TestContext.Current.CancellationToken).AsTask();

        h.Send(h.PeerNext, 0, TcpFlags.Rst, options: default);

        await Assert.ThrowsAsync<IOException>(() => wait.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_SYN_on_an_established_connection_gets_a_challenge_ACK()
    {
        using var h = new TcpHarness();
        await h.PassiveOpenAsync();

        h.Send(h.PeerNext + 5000, 0, TcpFlags.Syn, options: SynOffer.Linux.ToOptions(1, 0));

        // RFC 5961 §4.2: no reset of the connection, a challenge ACK instead.
        var challenge = h.TakeOne();
        Assert.Equal(TcpFlags.Ack, challenge.Flags);
        Assert.Equal(h.PeerNext, challenge.Acknowledgment);
        Assert.Equal(TcpState.Established, h.State);
    }

    [Fact]
    public async Task An_old_duplicate_segment_is_ACKed_and_not_delivered_twice()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var start = h.PeerNext;
        h.SendData(TcpHarness.Bytes(100));
        h.Advance(DelayedAck);
        h.TakeSent();

        h.SendData(TcpHarness.Bytes(100), start);

        // RFC 9293 §3.10.7.4: an unacceptable segment gets <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and is dropped.
        var ack = h.TakeOne();
        Assert.Equal(h.PeerNext, ack.Acknowledgment);
        Assert.Equal(TcpHarness.Bytes(100), await ReadAvailableAsync(stream, 100));
        var more = stream.ReadAsync(new byte[10], TestContext.Current.CancellationToken).AsTask();
        Assert.False(more.IsCompleted);
        Assert.Equal(TcpState.Established, h.State);
    }

    [Fact]
    public async Task A_segment_beyond_the_window_is_ACKed_and_dropped()
    {
        using var h = new TcpHarness(receiveBufferSize: 65536);
        var stream = await h.PassiveOpenAsync();

        h.SendData(TcpHarness.Bytes(100), h.PeerNext + 65536);

        var ack = h.TakeOne();
        Assert.Equal(h.PeerNext, ack.Acknowledgment);
        Assert.Empty(ack.SackBlocks); // nothing was kept
        Assert.Equal(TcpState.Established, h.State);
    }

    [Fact]
    public async Task An_ACK_of_data_never_sent_is_answered_with_an_ACK_and_its_data_dropped()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var start = h.PeerNext;

        h.Send(start, h.StackIss + 1 + 1000, TcpFlags.Ack | TcpFlags.Psh, payload: TcpHarness.Bytes(10));

        // RFC 9293 §3.10.7.4, fifth check: SEG.ACK > SND.NXT: send an ACK, drop the segment.
        var ack = h.TakeOne();
        Assert.Equal(start, ack.Acknowledgment);
        var read = stream.ReadAsync(new byte[10], TestContext.Current.CancellationToken).AsTask();
        Assert.False(read.IsCompleted);
    }
}
