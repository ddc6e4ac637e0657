using Pangolin.Netstack.Tcp;
using Pangolin.Netstack.Tests.Infrastructure;

namespace Pangolin.Netstack.Tests.Tcp;

/// <summary>
/// Segmentation offload: over a link that cuts TCP super-packets itself, the stack hands over runs of full segments
/// whole, and what reaches the wire is what it would have sent one segment at a time — the same sequence numbers,
/// lengths, flags and bytes, within the same windows.
/// </summary>
public sealed class TcpSegmentationOffloadTests
{
    private const int Offload = 65535;

    private static Task WriteAsync(Stream stream, byte[] data) =>
        stream.WriteAsync(data, TestContext.Current.CancellationToken).AsTask().WaitAsync(TimeSpan.FromSeconds(10), TestContext.Current.CancellationToken);

    /// <summary>Writes <paramref name="data"/>, ACKs all that comes until it is all out, and returns what the wire saw.</summary>
    private static async Task<List<TestSegment>> TransferAsync(TcpHarness h, byte[] data)
    {
        var stream = await h.PassiveOpenAsync();
        var write = WriteAsync(stream, data);
        var segments = new List<TestSegment>();
        var end = h.StackIss + 1 + (uint)data.Length;
        for (var round = 0; round < 1000 && (segments.Count == 0 || segments[^1].Sequence + (uint)segments[^1].Payload.Length != end); round++)
        {
            var sent = h.TakeSent();
            segments.AddRange(sent);
            if (sent.Count > 0)
            {
                h.SendAck(sent[^1].Sequence + (uint)sent[^1].Payload.Length);
            }
        }
        await write;
        return segments;
    }

    /// <summary>Each segment as offset+length and flags (offsets from the first byte: each stack picks its own ISS).</summary>
    private static string Shape(TcpHarness h, IEnumerable<TestSegment> segments) =>
        string.Join(" ", segments.Select(s => $"{s.Sequence - h.StackIss - 1}+{s.Payload.Length}{(s.Has(TcpFlags.Psh) ? "P" : "")}{(s.Has(TcpFlags.Fin) ? "F" : "")}"));

    [Theory]
    [InlineData(0)]
    [InlineData(Offload)]
    public async Task Aligned_segments_make_whole_packets_a_multiple_of_the_alignment(int segmentationSize)
    {
        var data = TcpHarness.Bytes(200_000 + 33);
        using var h = new TcpHarness(noDelay: true, segmentationSize: segmentationSize, segmentAlignment: 64);

        var segments = await TransferAsync(h, data);

        // MTU 1420 with timestamps: 1,368 bytes of payload unaligned; 1,408-byte packets (22 ChaCha20 blocks) aligned.
        Assert.Equal(1408 - 52, h.StackMss);
        Assert.All(segments[..^1], s => Assert.Equal(1408, 20 + 20 + 12 + s.Payload.Length));
        Assert.All(h.Link.SegmentSizes, size => Assert.Equal(h.StackMss, size));
        Assert.Equal(data, segments.SelectMany(s => s.Payload).ToArray());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(257)]
    public void An_alignment_outside_1_to_256_is_refused(int alignment) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new NetworkStackOptions { TcpSegmentAlignment = alignment });

    [Fact]
    public async Task Without_alignment_segments_use_the_full_mss()
    {
        using var h = new TcpHarness(noDelay: true);

        var segments = await TransferAsync(h, TcpHarness.Bytes(20_000));

        Assert.Equal(1420 - 52, segments[0].Payload.Length);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task A_bulk_write_reaches_the_wire_exactly_as_without_offload_in_fewer_hand_overs(bool noDelay)
    {
        var data = TcpHarness.Bytes(300_000 + 77);
        using var plain = new TcpHarness(noDelay);
        using var offloaded = new TcpHarness(noDelay, segmentationSize: Offload);

        var expected = await TransferAsync(plain, data);
        var actual = await TransferAsync(offloaded, data);

        Assert.Equal(Shape(plain, expected), Shape(offloaded, actual));
        Assert.Equal(data, actual.SelectMany(s => s.Payload).ToArray());
        Assert.Equal(0, plain.Link.SuperPackets);
        Assert.InRange(offloaded.Link.SuperPackets, 1, actual.Count / 2);
        Assert.All(offloaded.Link.SegmentSizes, size => Assert.Equal(offloaded.StackMss, size));
        Assert.True(actual[^1].Has(TcpFlags.Psh));
    }

    [Fact]
    public async Task A_super_packet_stays_within_the_peers_window_and_the_congestion_window()
    {
        using var h = new TcpHarness(segmentationSize: Offload);
        h.PeerWindow = 40; // << 7 = 5,120 bytes: three segments of 1,368 and not a fourth
        var stream = await h.PassiveOpenAsync();
        await WriteAsync(stream, TcpHarness.Bytes(100_000));

        var sent = h.TakeSent();
        Assert.Equal([h.StackMss, h.StackMss, h.StackMss], sent.Select(s => s.Payload.Length));
        Assert.Equal(1, h.Link.SuperPackets);

        // A wide window: the initial congestion window (10 segments) bounds the first flight, not the 64 KB offered.
        h.PeerWindow = 65535;
        h.SendAck(h.StackIss + 1 + (uint)(3 * h.StackMss));
        var flight = h.TakeSent();
        Assert.InRange(flight.Sum(s => s.Payload.Length), 2 * h.StackMss, 13 * h.StackMss);
        Assert.All(flight, s => Assert.Equal(h.StackMss, s.Payload.Length));
    }

    [Fact]
    public async Task Retransmissions_go_one_segment_at_a_time_and_a_super_packet_carries_no_FIN()
    {
        using var h = new TcpHarness(segmentationSize: Offload);
        var stream = await h.PassiveOpenAsync();
        await WriteAsync(stream, TcpHarness.Bytes(5 * h.StackMss));
        stream.Close();
        var first = h.TakeSent();
        Assert.Equal(1, h.Link.SuperPackets);
        Assert.Equal(5, first.Count(s => s.Payload.Length > 0));
        Assert.DoesNotContain(first.Where(s => s.Payload.Length > 0), s => s.Has(TcpFlags.Fin));

        // Nothing ACKed: the timeout resends the first segment alone, by the ordinary path.
        h.Advance(TimeSpan.FromSeconds(1.1));
        var resent = h.TakeSent();
        Assert.Equal(h.StackIss + 1, Assert.Single(resent).Sequence);
        Assert.Equal(1, h.Link.SuperPackets);
    }
}
