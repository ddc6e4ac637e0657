using Pangolin.Netstack.Tcp;
using Pangolin.Netstack.Tests.Infrastructure;

namespace Pangolin.Netstack.Tests.Tcp;

/// <summary>
/// Every way a connection closes (RFC 9293 §3.6, the state diagram of §3.3.2): active close through FIN-WAIT-1,
/// FIN-WAIT-2 and TIME-WAIT, simultaneous close through CLOSING, passive close through CLOSE-WAIT and LAST-ACK.
/// </summary>
public sealed class TcpStateMachineCloseTests
{
    private static readonly TimeSpan Epsilon = TimeSpan.FromMilliseconds(1);
    private static readonly TimeSpan TimeWait = TimeSpan.FromSeconds(60);

    private static Task<int> ReadAsync(Stream stream, byte[] buffer) =>
        stream.ReadAsync(buffer, TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

    private static TestSegment AssertFin(TcpHarness h, uint sequence)
    {
        var fin = h.TakeOne();
        Assert.Equal(TcpFlags.Fin | TcpFlags.Ack, fin.Flags);
        Assert.Equal(sequence, fin.Sequence);
        Assert.Equal(h.PeerNext, fin.Acknowledgment);
        Assert.Empty(fin.Payload);
        return fin;
    }

    [Fact]
    public async Task Active_close_goes_through_FIN_WAIT_1_FIN_WAIT_2_and_TIME_WAIT_to_CLOSED_after_60_seconds()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();

        await stream.DisposeAsync();
        AssertFin(h, h.StackIss + 1);
        Assert.Equal(TcpState.FinWait1, h.State);

        h.SendAck(h.StackIss + 2);
        h.AssertNothingSent();
        Assert.Equal(TcpState.FinWait2, h.State);

        h.SendFin();
        var ack = h.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(h.StackIss + 2, ack.Sequence);
        Assert.Equal(h.PeerNext, ack.Acknowledgment); // the FIN counts one (RFC 9293 §3.4)
        Assert.Equal(TcpState.TimeWait, h.State);

        h.Advance(TimeWait - Epsilon);
        Assert.Equal(TcpState.TimeWait, h.State);
        Assert.Equal(1, h.Stack.TcpConnectionCount);
        h.Advance(Epsilon);
        Assert.Equal(TcpState.Closed, h.State);
        Assert.Equal(0, h.Stack.TcpConnectionCount);
        h.AssertNothingSent();
    }

    [Fact]
    public async Task An_unacknowledged_FIN_is_retransmitted_on_timeout()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        await stream.DisposeAsync();
        AssertFin(h, h.StackIss + 1);

        h.Advance(TimeSpan.FromSeconds(1));

        AssertFin(h, h.StackIss + 1);
        Assert.Equal(TcpState.FinWait1, h.State);
    }

    [Fact]
    public async Task After_a_half_close_the_peers_data_is_still_delivered_in_FIN_WAIT_2()
    {
        using var h = new TcpHarness();
        var stream = (TcpStream)await h.PassiveOpenAsync();
        await stream.WriteAsync(TcpHarness.Bytes(10), TestContext.Current.CancellationToken);
        h.TakeOne();

        stream.ShutdownSend();
        AssertFin(h, h.StackIss + 11);
        h.SendAck(h.StackIss + 12);
        Assert.Equal(TcpState.FinWait2, h.State);
        h.SendData(TcpHarness.Bytes(20));
        h.SendFin();

        var buffer = new byte[100];
        Assert.Equal(20, await ReadAsync(stream, buffer));
        Assert.Equal(TcpHarness.Bytes(20), buffer[..20]);
        Assert.Equal(0, await ReadAsync(stream, buffer)); // end of stream after the FIN
        Assert.Equal(TcpState.TimeWait, h.State);
    }

    [Fact]
    public async Task A_FIN_that_also_ACKs_our_FIN_goes_from_FIN_WAIT_1_straight_to_TIME_WAIT()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        await stream.DisposeAsync();
        AssertFin(h, h.StackIss + 1);

        h.PeerAck = h.StackIss + 2;
        h.SendFin();

        Assert.Equal(h.PeerNext, h.TakeOne().Acknowledgment);
        Assert.Equal(TcpState.TimeWait, h.State);
        h.Advance(TimeWait);
        Assert.Equal(0, h.Stack.TcpConnectionCount);
    }

    [Fact]
    public async Task Simultaneous_close_goes_through_CLOSING_to_TIME_WAIT()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        await stream.DisposeAsync();
        AssertFin(h, h.StackIss + 1);

        // The peer's FIN crossed ours: it does not acknowledge it yet.
        h.SendFin();
        var ack = h.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(h.PeerNext, ack.Acknowledgment);
        Assert.Equal(TcpState.Closing, h.State);

        h.SendAck(h.StackIss + 2);
        h.AssertNothingSent();
        Assert.Equal(TcpState.TimeWait, h.State);
        h.Advance(TimeWait - Epsilon);
        Assert.Equal(1, h.Stack.TcpConnectionCount);
        h.Advance(Epsilon);
        Assert.Equal(0, h.Stack.TcpConnectionCount);
    }

    [Fact]
    public async Task Passive_close_goes_through_CLOSE_WAIT_and_LAST_ACK_to_CLOSED()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();

        h.SendFin();

        var ack = h.TakeOne(); // a FIN is ACKed at once
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(h.PeerNext, ack.Acknowledgment);
        Assert.Equal(TcpState.CloseWait, h.State);
        Assert.Equal(0, await ReadAsync(stream, new byte[10]));

        // CLOSE-WAIT may still send (RFC 9293 §3.6: the other direction stays open).
        await stream.WriteAsync(TcpHarness.Bytes(10), TestContext.Current.CancellationToken);
        Assert.Equal(10, h.TakeOne().Payload.Length);
        h.SendAck(h.StackIss + 11);

        await stream.DisposeAsync();
        AssertFin(h, h.StackIss + 11);
        Assert.Equal(TcpState.LastAck, h.State);

        h.SendAck(h.StackIss + 12);
        Assert.Equal(TcpState.Closed, h.State); // no TIME-WAIT for the side that closed second
        Assert.Equal(0, h.Stack.TcpConnectionCount);
        h.AssertNothingSent();
    }

    [Fact]
    public async Task Data_and_FIN_in_one_segment_are_delivered_and_ACKed_at_once()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();

        h.SendData(TcpHarness.Bytes(30), extra: TcpFlags.Psh | TcpFlags.Fin);

        Assert.Equal(h.PeerNext, h.TakeOne().Acknowledgment);
        var buffer = new byte[100];
        Assert.Equal(30, await ReadAsync(stream, buffer));
        Assert.Equal(0, await ReadAsync(stream, buffer));
        Assert.Equal(TcpState.CloseWait, h.State);
    }

    [Fact]
    public async Task A_FIN_after_a_hole_is_not_taken_until_the_data_before_it_has_arrived()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        var start = h.PeerNext;

        h.Send(start + 10, h.PeerAck, TcpFlags.Ack | TcpFlags.Fin, payload: TcpHarness.Bytes(10, 10));

        Assert.Equal(start, h.TakeOne().Acknowledgment);
        Assert.Equal(TcpState.Established, h.State);
        var read = stream.ReadAsync(new byte[100], TestContext.Current.CancellationToken).AsTask();
        Assert.False(read.IsCompleted);
    }

    [Fact]
    public async Task Closing_with_unread_data_resets_the_connection()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        h.SendData(TcpHarness.Bytes(10));

        await stream.DisposeAsync();

        // RFC 2525 §2.17 (and RFC 9293 §3.10.4's ABORT): data would be lost, so the peer learns it at once.
        var reset = h.TakeOne();
        Assert.Equal(TcpFlags.Rst, reset.Flags);
        Assert.Equal(h.StackIss + 1, reset.Sequence);
        Assert.Equal(0, h.Stack.TcpConnectionCount);
    }

    [Fact]
    public async Task Abort_sends_a_reset_at_once_and_fails_a_pending_read()
    {
        using var h = new TcpHarness();
        var stream = (TcpStream)await h.PassiveOpenAsync();
        var read = stream.ReadAsync(new byte[10], TestContext.Current.CancellationToken).AsTask();

        stream.Abort();

        var reset = h.TakeOne();
        Assert.Equal(TcpFlags.Rst, reset.Flags);
        Assert.Equal(h.StackIss + 1, reset.Sequence);
        Assert.Equal(0, h.Stack.TcpConnectionCount);
        await Assert.ThrowsAsync<IOException>(() => read.WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken));
        await stream.DisposeAsync();
        h.AssertNothingSent();
    }

    [Fact]
    public async Task A_retransmitted_FIN_in_TIME_WAIT_is_ACKed_again()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        await stream.DisposeAsync();
        h.TakeOne();
        h.PeerAck = h.StackIss + 2;
        h.SendFin();
        h.TakeOne();
        Assert.Equal(TcpState.TimeWait, h.State);
        h.Advance(TimeSpan.FromSeconds(30));

        // Our ACK of its FIN was lost: the peer (in LAST-ACK) sends the FIN again.
        h.Send(h.PeerNext - 1, h.PeerAck, TcpFlags.Fin | TcpFlags.Ack);

        var ack = h.TakeOne();
        Assert.Equal(TcpFlags.Ack, ack.Flags);
        Assert.Equal(h.StackIss + 2, ack.Sequence);
        Assert.Equal(h.PeerNext, ack.Acknowledgment);
        Assert.Equal(TcpState.TimeWait, h.State);
    }

    [Fact]
    public async Task A_retransmitted_FIN_in_TIME_WAIT_restarts_the_60_second_timeout()
    {
        using var h = new TcpHarness();
        var stream = await h.PassiveOpenAsync();
        await stream.DisposeAsync();
        h.TakeOne();
        h.PeerAck = h.StackIss + 2;
        h.SendFin();
        h.TakeOne();
        h.Advance(TimeSpan.FromSeconds(30));

        h.Send(h.PeerNext - 1, h.PeerAck, TcpFlags.Fin | TcpFlags.Ack);
        h.TakeOne();
        h.Advance(TimeSpan.FromSeconds(59));

        Assert.Equal(TcpState.TimeWait, h.State);
        h.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(TcpState.Closed, h.State);
    }
}
