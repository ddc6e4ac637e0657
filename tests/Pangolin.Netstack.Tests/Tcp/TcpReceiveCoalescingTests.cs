using Pangolin.Netstack.Tcp;
using Pangolin.Netstack.Tests.Infrastructure;

namespace Pangolin.Netstack.Tests.Tcp;

/// <summary>
/// Receive coalescing (GRO): inside a receive batch, in-order data segments of one flow with the same headers are glued
/// before TCP sees them — the data arrives whole and in order whatever the batch holds, and the ACKs follow the
/// segments' bytes, not the number of glued packets.
/// </summary>
public sealed class TcpReceiveCoalescingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    /// <summary>Options as a TSO burst carries them: the same timestamps on every segment of the burst.</summary>
    private static TcpOptions Burst(TcpHarness h) => h.PeerOptions();

    private static void SendSegment(TcpHarness h, byte[] data, TcpOptions options, TcpFlags extra = 0, uint? sequence = null)
    {
        var at = sequence ?? h.PeerNext;
        h.Send(at, h.PeerAck, TcpFlags.Ack | extra, payload: data, options: options);
        if (at == h.PeerNext)
        {
            h.PeerNext += (uint)data.Length + ((extra & TcpFlags.Fin) != 0 ? 1u : 0u);
        }
    }

    private static async Task<byte[]> ReadAsync(Stream stream, int count)
    {
        var buffer = new byte[count];
        await stream.ReadExactlyAsync(buffer, Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Ct);
        return buffer;
    }

    [Fact]
    public async Task A_batch_of_in_order_segments_is_glued_into_one_and_ACKed_once_at_its_end()
    {
        using var h = new TcpHarness(coalesce: true);
        var stream = await h.PassiveOpenAsync();
        var options = Burst(h);
        var data = TcpHarness.Bytes(10 * h.StackMss);

        h.Stack.BeginReceiveBatch();
        for (var i = 0; i < 10; i++)
        {
            SendSegment(h, data[(i * h.StackMss)..((i + 1) * h.StackMss)], options);
        }
        h.AssertNothingSent();
        h.Stack.EndReceiveBatch();

        Assert.Equal(9, h.Stack.CoalescedSegments);
        Assert.Equal(h.PeerNext, h.TakeOne().Acknowledgment);
        Assert.Equal(data, await ReadAsync(stream, data.Length));
    }

    [Fact]
    public async Task PSH_ends_a_run_other_timestamps_or_a_gap_start_another_and_the_bytes_arrive_in_order()
    {
        using var h = new TcpHarness(coalesce: true);
        var stream = await h.PassiveOpenAsync();
        var options = Burst(h);
        var mss = h.StackMss;
        var data = TcpHarness.Bytes(9 * mss);
        var start = h.PeerNext;

        h.Stack.BeginReceiveBatch();
        SendSegment(h, data[..mss], options);
        SendSegment(h, data[mss..(2 * mss)], options);
        SendSegment(h, data[(2 * mss)..(3 * mss)], options, TcpFlags.Psh); // ends the first run: 3 glued
        SendSegment(h, data[(3 * mss)..(4 * mss)], options);
        var later = Burst(h); // the next burst: new timestamps
        SendSegment(h, data[(4 * mss)..(5 * mss)], later); // cannot join: a second run
        SendSegment(h, data[(5 * mss)..(6 * mss)], later);
        // A gap: 7 before 6 (out of order), then 6 and 8.
        SendSegment(h, data[(7 * mss)..(8 * mss)], later, sequence: start + (uint)(7 * mss));
        SendSegment(h, data[(6 * mss)..(7 * mss)], later, sequence: start + (uint)(6 * mss));
        SendSegment(h, data[(8 * mss)..], later, sequence: start + (uint)(8 * mss));
        h.Stack.EndReceiveBatch();
        h.PeerNext = start + (uint)data.Length;

        Assert.Equal(data, await ReadAsync(stream, data.Length));
        // Glued: 1 and 2 onto 0 (the PSH ends that run), 5 onto 4; 3, 7, 6 and 8 each went alone.
        Assert.Equal(2 + 1, h.Stack.CoalescedSegments);
        Assert.Equal(h.PeerNext, h.TakeSent()[^1].Acknowledgment);
    }

    [Fact]
    public async Task A_FIN_or_another_flows_segment_flushes_the_run_first()
    {
        using var h = new TcpHarness(coalesce: true);
        var stream = await h.PassiveOpenAsync();
        var options = Burst(h);
        var data = TcpHarness.Bytes(3 * h.StackMss);

        h.Stack.BeginReceiveBatch();
        SendSegment(h, data[..h.StackMss], options);
        SendSegment(h, data[h.StackMss..(2 * h.StackMss)], options);
        SendSegment(h, data[(2 * h.StackMss)..], options, TcpFlags.Fin);
        h.Stack.EndReceiveBatch();

        Assert.Equal(data, await ReadAsync(stream, data.Length));
        Assert.Equal(0, await stream.ReadAsync(new byte[1], Ct)); // the FIN, after all the data
        Assert.Equal(TcpState.CloseWait, h.State);
        Assert.Equal(1, h.Stack.CoalescedSegments);
    }

    [Fact]
    public async Task Outside_a_batch_nothing_is_glued_and_a_stack_without_the_option_glues_nothing()
    {
        using var glued = new TcpHarness(coalesce: true);
        using var plain = new TcpHarness();
        foreach (var h in new[] { glued, plain })
        {
            var stream = await h.PassiveOpenAsync();
            var options = Burst(h);
            if (h == plain)
            {
                h.Stack.BeginReceiveBatch();
            }
            for (var i = 0; i < 4; i++)
            {
                SendSegment(h, TcpHarness.Bytes(h.StackMss, i), options);
            }
            if (h == plain)
            {
                h.Stack.EndReceiveBatch();
            }
            await ReadAsync(stream, 4 * h.StackMss);
            Assert.Equal(0, h.Stack.CoalescedSegments);
        }
    }

    [Fact]
    public void Coalescing_without_an_authenticating_link_is_refused()
    {
        var e = Assert.Throws<ArgumentException>(() => new NetworkStack(new CapturingLink(), new NetworkStackOptions { CoalesceReceivedSegments = true }));
        Assert.Contains("LinkAuthenticatesPackets", e.Message, StringComparison.Ordinal);
    }
}
