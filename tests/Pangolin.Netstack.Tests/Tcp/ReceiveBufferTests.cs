using Pangolin.Netstack.Tcp;

namespace Pangolin.Netstack.Tests.Tcp;

public sealed class ReceiveBufferTests
{
    private static SequenceNumber S(uint value) => new(value);

    private static SackBlock Block(uint left, uint right) => new(new(left), new(right));

    // The sender's stream: byte i is a function of i, so a misplaced byte shows.
    private static byte[] Stream(int length, int seed = 1)
    {
        var data = new byte[length];
        new Random(seed).NextBytes(data);
        return data;
    }

    private static byte[] ReadAll(ReceiveBuffer buffer)
    {
        var destination = new byte[buffer.Readable];
        Assert.Equal(destination.Length, buffer.Read(destination));
        return destination;
    }

    private static SackBlock[] Sacks(ReceiveBuffer buffer, int max = 32)
    {
        var blocks = new SackBlock[max];
        return blocks.AsSpan(0, buffer.GetSackBlocks(blocks)).ToArray();
    }

    [Fact]
    public void In_order_segments_become_readable_and_advance_RCV_NXT()
    {
        var data = Stream(300);
        var buffer = new ReceiveBuffer(1000, S(5000));
        Assert.Equal(1000, buffer.Window);
        Assert.Equal(100, buffer.Accept(S(5000), data.AsSpan(0, 100)));
        Assert.Equal(200, buffer.Accept(S(5100), data.AsSpan(100, 200)));
        Assert.Equal(S(5300), buffer.ReceiveNext);
        Assert.Equal(300, buffer.Readable);
        Assert.Equal(700, buffer.Window);
        Assert.Equal(0, buffer.OutOfOrderRangeCount);

        var first = new byte[120];
        Assert.Equal(120, buffer.Read(first));
        Assert.Equal(data.AsSpan(0, 120).ToArray(), first);
        Assert.Equal(820, buffer.Window);
        Assert.Equal(data.AsSpan(120).ToArray(), ReadAll(buffer));
        Assert.Equal(1000, buffer.Window);
        Assert.Equal(0, buffer.Read(new byte[10]));
    }

    [Fact]
    public void An_empty_payload_changes_nothing()
    {
        var buffer = new ReceiveBuffer(100, S(10));
        Assert.Equal(0, buffer.Accept(S(10), []));
        Assert.Equal(0, buffer.Accept(S(50), []));
        Assert.Equal(S(10), buffer.ReceiveNext);
        Assert.Equal(0, buffer.OutOfOrderRangeCount);
    }

    [Fact]
    public void Out_of_order_data_waits_until_the_hole_is_filled()
    {
        var data = Stream(400);
        var buffer = new ReceiveBuffer(1000, S(0));
        Assert.Equal(0, buffer.Accept(S(200), data.AsSpan(200, 100)));
        Assert.Equal(0, buffer.Accept(S(300), data.AsSpan(300, 100)));
        Assert.Equal(S(0), buffer.ReceiveNext);
        Assert.Equal(0, buffer.Readable);
        Assert.Equal([Block(200, 400)], buffer.OutOfOrderRanges.ToArray());

        Assert.Equal(100, buffer.Accept(S(0), data.AsSpan(0, 100)));
        Assert.Equal(S(100), buffer.ReceiveNext);
        Assert.Equal(1, buffer.OutOfOrderRangeCount);

        // Filling the hole delivers the hole and everything contiguous after it.
        Assert.Equal(300, buffer.Accept(S(100), data.AsSpan(100, 100)));
        Assert.Equal(S(400), buffer.ReceiveNext);
        Assert.Equal(0, buffer.OutOfOrderRangeCount);
        Assert.Equal(data, ReadAll(buffer));
    }

    [Fact]
    public void Out_of_order_bytes_do_not_shrink_the_window()
    {
        var data = Stream(1000);
        var buffer = new ReceiveBuffer(1000, S(0));
        buffer.Accept(S(100), data.AsSpan(100, 500));
        Assert.Equal(1000, buffer.Window);
        buffer.Accept(S(0), data.AsSpan(0, 50));
        Assert.Equal(950, buffer.Window);
    }

    [Fact]
    public void Overlapping_and_duplicate_segments_are_stored_once()
    {
        var data = Stream(1000);
        var buffer = new ReceiveBuffer(1000, S(0));
        Assert.Equal(0, buffer.Accept(S(300), data.AsSpan(300, 100)));
        Assert.Equal(0, buffer.Accept(S(300), data.AsSpan(300, 100))); // exact duplicate
        Assert.Equal(0, buffer.Accept(S(350), data.AsSpan(350, 100))); // overlaps the end
        Assert.Equal(0, buffer.Accept(S(250), data.AsSpan(250, 100))); // overlaps the start
        Assert.Equal(0, buffer.Accept(S(320), data.AsSpan(320, 10))); // inside
        Assert.Equal([Block(250, 450)], buffer.OutOfOrderRanges.ToArray());
        Assert.Equal(0, buffer.Accept(S(600), data.AsSpan(600, 50)));
        Assert.Equal(0, buffer.Accept(S(700), data.AsSpan(700, 50)));
        Assert.Equal([Block(250, 450), Block(600, 650), Block(700, 750)], buffer.OutOfOrderRanges.ToArray());
        Assert.Equal(0, buffer.Accept(S(440), data.AsSpan(440, 300))); // bridges two holes, covers a range
        Assert.Equal([Block(250, 750)], buffer.OutOfOrderRanges.ToArray());
        Assert.Equal(0, buffer.Accept(S(750), data.AsSpan(750, 10))); // adjacent: merges too
        Assert.Equal([Block(250, 760)], buffer.OutOfOrderRanges.ToArray());

        // In-order data overlapping the range, then old data entirely before RCV.NXT.
        Assert.Equal(760, buffer.Accept(S(0), data.AsSpan(0, 260)));
        Assert.Equal(0, buffer.Accept(S(100), data.AsSpan(100, 100)));
        Assert.Equal(0, buffer.Accept(S(0), data.AsSpan(0, 760)));
        Assert.Equal(S(760), buffer.ReceiveNext);
        Assert.Equal(data.AsSpan(0, 760).ToArray(), ReadAll(buffer));
    }

    [Fact]
    public void A_segment_starting_before_RCV_NXT_is_trimmed_not_dropped()
    {
        var data = Stream(300);
        var buffer = new ReceiveBuffer(1000, S(0));
        buffer.Accept(S(0), data.AsSpan(0, 100));
        Assert.Equal(100, buffer.Accept(S(50), data.AsSpan(50, 150)));
        Assert.Equal(S(200), buffer.ReceiveNext);
        Assert.Equal(data.AsSpan(0, 200).ToArray(), ReadAll(buffer));
    }

    [Fact]
    public void Data_beyond_the_window_is_trimmed_not_dropped()
    {
        var data = Stream(400);
        var buffer = new ReceiveBuffer(200, S(0));
        Assert.Equal(0, buffer.Accept(S(200), data.AsSpan(200, 50))); // starts at the right edge: outside
        Assert.Equal(0, buffer.Accept(S(300), data.AsSpan(300, 50))); // far beyond
        Assert.Equal(0, buffer.OutOfOrderRangeCount);

        Assert.Equal(0, buffer.Accept(S(150), data.AsSpan(150, 100))); // out of order, straddles the edge
        Assert.Equal([Block(150, 200)], buffer.OutOfOrderRanges.ToArray());

        Assert.Equal(200, buffer.Accept(S(0), data.AsSpan(0, 250))); // in order, straddles the edge
        Assert.Equal(S(200), buffer.ReceiveNext);
        Assert.Equal(0, buffer.Window);
        Assert.Equal(data.AsSpan(0, 200).ToArray(), ReadAll(buffer));
    }

    [Fact]
    public void A_zero_window_accepts_nothing_until_a_Read()
    {
        var data = Stream(300);
        var buffer = new ReceiveBuffer(100, S(0));
        Assert.Equal(100, buffer.Accept(S(0), data.AsSpan(0, 100)));
        Assert.Equal(0, buffer.Window);
        Assert.Equal(0, buffer.Accept(S(100), data.AsSpan(100, 1))); // the zero-window probe's byte
        Assert.Equal(0, buffer.Accept(S(100), data.AsSpan(100, 100)));
        Assert.Equal(0, buffer.Accept(S(150), data.AsSpan(150, 10)));
        Assert.Equal(0, buffer.Accept(S(50), data.AsSpan(50, 100))); // old part and beyond the edge
        Assert.Equal(S(100), buffer.ReceiveNext);
        Assert.Equal(0, buffer.OutOfOrderRangeCount);

        var some = new byte[30];
        Assert.Equal(30, buffer.Read(some));
        Assert.Equal(30, buffer.Window);
        Assert.Equal(30, buffer.Accept(S(100), data.AsSpan(100, 100)));
        Assert.Equal(0, buffer.Window);
        Assert.Equal(data.AsSpan(30, 100).ToArray(), ReadAll(buffer));
    }

    [Fact]
    public void Reads_and_writes_wrap_around_the_ring()
    {
        var data = Stream(1000);
        var buffer = new ReceiveBuffer(64, S(0));
        var received = new List<byte>();
        var chunk = new byte[17];
        var next = 0;
        for (var rounds = 0; received.Count < data.Length; rounds++)
        {
            Assert.True(rounds < 1000, "no progress"); // a bug must fail the test, not hang it
            // Out of order then in order, each time at a different ring position.
            var length = Math.Min(Math.Min(23, buffer.Window), data.Length - next);
            if (length > 10)
            {
                buffer.Accept(S((uint)next + 10), data.AsSpan(next + 10, length - 10));
                buffer.Accept(S((uint)next), data.AsSpan(next, 10));
                next += length;
            }
            var read = buffer.Read(chunk);
            received.AddRange(chunk.AsSpan(0, read));
            if (length <= 10 && read == 0)
            {
                buffer.Accept(S((uint)next), data.AsSpan(next, length));
                next += length;
            }
        }
        Assert.Equal(data, received.ToArray());
    }

    [Fact]
    public void Sequence_numbers_wrap_around_2_to_the_32()
    {
        var data = Stream(600);
        const uint Start = uint.MaxValue - 249; // byte 250 has sequence number 0
        var buffer = new ReceiveBuffer(1000, S(Start));
        Assert.Equal(0, buffer.Accept(S(Start) + 300, data.AsSpan(300, 100))); // wrapped: 50..150
        Assert.Equal(0, buffer.Accept(S(Start) + 200, data.AsSpan(200, 100))); // across the wrap
        Assert.Equal([Block(uint.MaxValue - 49, 150)], buffer.OutOfOrderRanges.ToArray());
        Assert.Equal(0, buffer.Accept(S(Start) + 500, data.AsSpan(500, 100)));
        Assert.Equal([Block(uint.MaxValue - 49, 150), Block(250, 350)], Sacks(buffer).Reverse().ToArray());

        Assert.Equal(400, buffer.Accept(S(Start), data.AsSpan(0, 200)));
        Assert.Equal(S(150), buffer.ReceiveNext);
        Assert.Equal(0, buffer.Accept(S(Start) + 100, data.AsSpan(100, 200))); // old, across the wrap
        Assert.Equal(200, buffer.Accept(S(Start) + 350, data.AsSpan(350, 200))); // starts before RCV.NXT
        Assert.Equal(S(350), buffer.ReceiveNext);
        Assert.Equal(data.AsSpan(0, 600).ToArray(), ReadAll(buffer));
    }

    [Fact]
    public void Sack_blocks_put_the_latest_arrival_first_then_the_others_most_recent_first()
    {
        var data = Stream(2000);
        var buffer = new ReceiveBuffer(2000, S(1000));
        Assert.Empty(Sacks(buffer));
        buffer.Accept(S(1200), data.AsSpan(200, 100));
        Assert.Equal([Block(1200, 1300)], Sacks(buffer));
        buffer.Accept(S(1400), data.AsSpan(400, 100));
        buffer.Accept(S(1600), data.AsSpan(600, 100));
        buffer.Accept(S(1800), data.AsSpan(800, 100));
        Assert.Equal([Block(1800, 1900), Block(1600, 1700), Block(1400, 1500), Block(1200, 1300)], Sacks(buffer));

        // Extending an older range makes it the first; a duplicate inside another range does too.
        buffer.Accept(S(1300), data.AsSpan(300, 50));
        Assert.Equal([Block(1200, 1350), Block(1800, 1900), Block(1600, 1700), Block(1400, 1500)], Sacks(buffer));
        buffer.Accept(S(1610), data.AsSpan(610, 10));
        Assert.Equal([Block(1600, 1700), Block(1200, 1350), Block(1800, 1900), Block(1400, 1500)], Sacks(buffer));

        // Bridging two ranges: the merged range is the first.
        buffer.Accept(S(1500), data.AsSpan(500, 100));
        Assert.Equal([Block(1400, 1700), Block(1200, 1350), Block(1800, 1900)], Sacks(buffer));

        // Only as many as fit, in the same order.
        Assert.Equal([Block(1400, 1700), Block(1200, 1350)], Sacks(buffer, 2));
        Assert.Empty(Sacks(buffer, 0));

        // In-order data delivers the lowest range; the others keep their order.
        buffer.Accept(S(1000), data.AsSpan(0, 200));
        Assert.Equal(S(1350), buffer.ReceiveNext);
        Assert.Equal([Block(1400, 1700), Block(1800, 1900)], Sacks(buffer));
    }

    [Fact]
    public void Beyond_the_range_cap_new_out_of_order_data_is_dropped_but_merging_still_works()
    {
        var data = Stream(1000);
        var buffer = new ReceiveBuffer(1000, S(0), maxOutOfOrderRanges: 3);
        buffer.Accept(S(100), data.AsSpan(100, 10));
        buffer.Accept(S(300), data.AsSpan(300, 10));
        buffer.Accept(S(500), data.AsSpan(500, 10));
        Assert.Equal(0, buffer.Accept(S(700), data.AsSpan(700, 10))); // would be a fourth: dropped
        Assert.Equal(0, buffer.Accept(S(200), data.AsSpan(200, 10))); // also below the others: dropped
        Assert.Equal([Block(100, 110), Block(300, 310), Block(500, 510)], buffer.OutOfOrderRanges.ToArray());
        Assert.Equal([Block(500, 510), Block(300, 310), Block(100, 110)], Sacks(buffer)); // never reneged

        buffer.Accept(S(110), data.AsSpan(110, 190)); // joins the first two
        Assert.Equal([Block(100, 310), Block(500, 510)], buffer.OutOfOrderRanges.ToArray());
        buffer.Accept(S(700), data.AsSpan(700, 10)); // room again
        Assert.Equal(3, buffer.OutOfOrderRangeCount);

        Assert.Equal(310, buffer.Accept(S(0), data.AsSpan(0, 100)));
        Assert.Equal(data.AsSpan(0, 310).ToArray(), ReadAll(buffer));
    }

    [Fact]
    public void SkipSequence_steps_over_a_FIN_once_the_data_before_it_is_in()
    {
        var data = Stream(100);
        var buffer = new ReceiveBuffer(1000, S(0));
        buffer.Accept(S(0), data);
        buffer.SkipSequence(1);
        Assert.Equal(S(101), buffer.ReceiveNext);
        Assert.Equal(100, buffer.Readable);
        Assert.Equal(data, ReadAll(buffer));

        var other = new ReceiveBuffer(1000, S(0));
        other.Accept(S(10), data.AsSpan(10, 10));
        Assert.Throws<InvalidOperationException>(() => other.SkipSequence(11));
        other.SkipSequence(10); // up to the range: allowed (the caller's business whether it makes sense)
    }

    [Fact]
    public void The_capacity_must_be_between_1_and_2_to_the_30()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReceiveBuffer(0, S(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReceiveBuffer(ReceiveBuffer.MaxCapacity + 1, S(0)));
        Assert.Throws<ArgumentOutOfRangeException>(() => new ReceiveBuffer(10, S(0), maxOutOfOrderRanges: 0));
    }

    [Fact]
    public void Accept_Read_and_GetSackBlocks_allocate_nothing()
    {
        var data = Stream(600);
        var buffer = new ReceiveBuffer(1000, S(uint.MaxValue - 2000));
        Span<SackBlock> blocks = stackalloc SackBlock[TcpOptions.MaxSackBlocks];
        Span<byte> destination = stackalloc byte[300];
        Assert.Equal(1202, Run(buffer, data, blocks, destination));
        var before = GC.GetAllocatedBytesForCurrentThread();
        var total = 0;
        for (var i = 0; i < 100; i++)
        {
            total += Run(buffer, data, blocks, destination);
        }
        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.Equal(0, allocated);
        Assert.Equal(100 * 1202, total);

        // Assert allocates, so the loop only adds up what the calls return: 2 blocks, 600 accepted, 600 read.
        static int Run(ReceiveBuffer receiver, byte[] stream, Span<SackBlock> sacks, Span<byte> into)
        {
            var start = receiver.ReceiveNext;
            receiver.Accept(start + 200, stream.AsSpan(200, 100));
            receiver.Accept(start + 400, stream.AsSpan(400, 100));
            var result = receiver.GetSackBlocks(sacks);
            result += receiver.Accept(start, stream);
            result += receiver.Read(into);
            result += receiver.Read(into);
            return result;
        }
    }

    /// <summary>
    /// Random segments (reordered, duplicated, overlapping, some beyond the window or before RCV.NXT) and random
    /// reads, checked against a reference model: which stream bytes have arrived inside the window. With room
    /// for every range the model is exact — RCV.NXT, Readable, Window and the set of SACK ranges must match it;
    /// everything read must equal the stream.
    /// </summary>
    [Theory]
    [InlineData(1, 0u, 4096)]
    [InlineData(2, uint.MaxValue - 5000, 4096)]
    [InlineData(3, uint.MaxValue - 100, 1000)]
    [InlineData(4, 2147483600u, 65536)]
    [InlineData(5, uint.MaxValue, 777)]
    [InlineData(6, 12345u, 3000)]
    public void Random_segment_orders_match_a_reference_model(int seed, uint initialSequence, int capacity)
    {
        const int StreamLength = 60_000;
        var random = new Random(seed);
        var data = Stream(StreamLength, seed);
        var buffer = new ReceiveBuffer(capacity, S(initialSequence), maxOutOfOrderRanges: capacity);
        var arrived = new bool[StreamLength];
        var delivered = 0; // stream index of RCV.NXT in the model
        var read = 0;
        var output = new byte[StreamLength];
        var sacks = new SackBlock[capacity];

        while (read < StreamLength)
        {
            int outOfOrderStart = 0, outOfOrderEnd = 0;
            if (random.Next(4) > 0)
            {
                // A segment somewhere around the window: a little before RCV.NXT to a little past the right edge.
                var window = capacity - (delivered - read);
                var from = Math.Clamp(delivered - 300 + random.Next(window + 600), 0, StreamLength - 1);
                var length = Math.Min(1 + random.Next(random.Next(2) == 0 ? 40 : 600), StreamLength - from);
                var becameReadable = buffer.Accept(S(initialSequence) + from, data.AsSpan(from, length));

                var edge = Math.Min(delivered + window, StreamLength);
                for (var i = Math.Max(from, delivered); i < Math.Min(from + length, edge); i++)
                {
                    arrived[i] = true;
                }
                var before = delivered;
                if (Math.Max(from, delivered) > delivered)
                {
                    outOfOrderStart = from;
                    outOfOrderEnd = Math.Min(from + length, edge);
                }
                while (delivered < StreamLength && arrived[delivered])
                {
                    delivered++;
                }
                Assert.Equal(delivered - before, becameReadable);
            }
            else
            {
                var destination = output.AsSpan(read, Math.Min(random.Next(1, capacity + 1), StreamLength - read));
                read += buffer.Read(destination);
            }

            Assert.Equal(S(initialSequence) + delivered, buffer.ReceiveNext);
            Assert.Equal(delivered - read, buffer.Readable);
            Assert.Equal(capacity - (delivered - read), buffer.Window);
            var expectedRanges = new List<SackBlock>();
            var scanEnd = Math.Min(StreamLength, delivered + buffer.Window);
            for (var i = delivered; i < scanEnd; i++)
            {
                if (arrived[i] && (i == delivered || !arrived[i - 1]))
                {
                    var end = i;
                    while (end < StreamLength && arrived[end])
                    {
                        end++;
                    }
                    expectedRanges.Add(new SackBlock(S(initialSequence) + i, S(initialSequence) + end));
                }
            }
            Assert.Equal(expectedRanges, buffer.OutOfOrderRanges.ToArray());
            var sackCount = buffer.GetSackBlocks(sacks);
            Assert.Equal(
                expectedRanges,
                sacks.AsSpan(0, sackCount).ToArray().OrderBy(block => block.Left.DistanceFrom(S(initialSequence))));
            if (outOfOrderStart < outOfOrderEnd)
            {
                // RFC 2018 §4: the first block holds the segment that just arrived.
                Assert.True(sacks[0].Left <= S(initialSequence) + outOfOrderStart);
                Assert.True(S(initialSequence) + outOfOrderEnd <= sacks[0].Right);
            }
        }
        Assert.Equal(data, output);
    }

    /// <summary>With a tight range cap some segments are dropped; the stream read must still be the original.</summary>
    [Theory]
    [InlineData(11, uint.MaxValue - 3000, 2)]
    [InlineData(12, 0u, 1)]
    [InlineData(13, 4000000000u, 5)]
    public void Random_segment_orders_with_a_tight_range_cap_still_deliver_the_stream(int seed, uint initialSequence, int maxRanges)
    {
        const int StreamLength = 50_000;
        const int Capacity = 2048;
        var random = new Random(seed);
        var data = Stream(StreamLength, seed);
        var buffer = new ReceiveBuffer(Capacity, S(initialSequence), maxRanges);
        var output = new byte[StreamLength];
        var read = 0;
        while (read < StreamLength)
        {
            var next = (int)buffer.ReceiveNext.DistanceFrom(S(initialSequence));
            if (random.Next(5) > 0 && next < StreamLength)
            {
                var from = Math.Clamp(next - 100 + random.Next(buffer.Window + 200), 0, StreamLength - 1);
                var length = Math.Min(1 + random.Next(300), StreamLength - from);
                buffer.Accept(S(initialSequence) + from, data.AsSpan(from, length));
            }
            else
            {
                read += buffer.Read(output.AsSpan(read, Math.Min(random.Next(1, 500), StreamLength - read)));
            }
            Assert.InRange(buffer.OutOfOrderRangeCount, 0, maxRanges);
            Assert.Equal(Capacity, buffer.Readable + buffer.Window);
        }
        Assert.Equal(data, output);
    }

    [Fact]
    public void The_ring_starts_small_and_the_window_is_the_whole_capacity()
    {
        var buffer = new ReceiveBuffer(1 << 20, S(0));
        Assert.Equal(ReceiveBuffer.InitialRingSize, buffer.AllocatedSize);
        Assert.Equal(1 << 20, buffer.Window);
    }

    [Theory]
    [InlineData(21, 0u)]
    [InlineData(22, uint.MaxValue - 100_000)]
    public void The_ring_grows_under_wrapped_and_out_of_order_data_without_moving_a_byte(int seed, uint initialSequence)
    {
        // Reads lag behind arrivals so the data wraps around the small ring before it has to grow; out-of-order
        // segments far into the window force growth with holes in place.
        const int StreamLength = 3_000_000;
        const int Capacity = 512 * 1024;
        var random = new Random(seed);
        var data = Stream(StreamLength, seed);
        var buffer = new ReceiveBuffer(Capacity, S(initialSequence));
        var output = new byte[StreamLength];
        var read = 0;
        var largest = buffer.AllocatedSize;
        while (read < StreamLength)
        {
            var next = (int)buffer.ReceiveNext.DistanceFrom(S(initialSequence));
            if (random.Next(3) > 0 && next < StreamLength)
            {
                var from = Math.Min(next + (random.Next(4) == 0 ? random.Next(buffer.Window) : 0), StreamLength - 1);
                var length = Math.Min(1 + random.Next(9000), StreamLength - from);
                buffer.Accept(S(initialSequence) + from, data.AsSpan(from, length));
            }
            else
            {
                read += buffer.Read(output.AsSpan(read, Math.Min(random.Next(1, 20_000), StreamLength - read)));
            }
            largest = Math.Max(largest, buffer.AllocatedSize);
            Assert.InRange(buffer.AllocatedSize, ReceiveBuffer.InitialRingSize, Capacity);
        }
        Assert.Equal(data, output);
        Assert.Equal(Capacity, largest);
    }

    [Fact]
    public void Growing_keeps_data_that_wrapped_around_the_small_ring()
    {
        var data = Stream(60_000, 5);
        var buffer = new ReceiveBuffer(64 * 1024, S(1000));
        Assert.Equal(10_000, buffer.Accept(S(1000), data.AsSpan(0, 10_000)));
        var output = new byte[60_000];
        Assert.Equal(9_000, buffer.Read(output.AsSpan(0, 9_000)));
        // 11,000 unread bytes now wrap around the 16 KiB ring; an out-of-order segment far ahead makes it grow.
        Assert.Equal(10_000, buffer.Accept(S(11_000), data.AsSpan(10_000, 10_000)));
        Assert.Equal(0, buffer.Accept(S(41_000), data.AsSpan(40_000, 5_000)));
        Assert.True(buffer.AllocatedSize > ReceiveBuffer.InitialRingSize);
        Assert.Equal(25_000, buffer.Accept(S(21_000), data.AsSpan(20_000, 20_000)));
        Assert.Equal(36_000, buffer.Read(output.AsSpan(9_000)));
        Assert.Equal(data.AsSpan(0, 45_000).ToArray(), output.AsSpan(0, 45_000).ToArray());
    }

    [Fact]
    public void Peek_lends_the_readable_bytes_in_place_and_Skip_frees_them()
    {
        var data = Stream(1000, 7);
        var buffer = new ReceiveBuffer(64, S(0));
        var received = new List<byte>();
        var next = 0;
        var wrapped = false;
        for (var rounds = 0; received.Count < data.Length; rounds++)
        {
            Assert.True(rounds < 1000, "no progress");
            var length = Math.Min(Math.Min(29, buffer.Window), data.Length - next);
            buffer.Accept(S((uint)next), data.AsSpan(next, length));
            next += length;
            var lent = buffer.Peek(out var first, out var second);
            Assert.Equal(buffer.Readable, lent);
            Assert.Equal(lent, first.Length + second.Length);
            wrapped |= !second.IsEmpty;
            // Take part of it, as a relay whose write was short would.
            var taken = Math.Max(1, lent * 2 / 3);
            var bytes = first.ToArray().Concat(second.ToArray()).Take(taken).ToArray();
            buffer.Skip(taken);
            received.AddRange(bytes);
            Assert.Equal(lent - taken, buffer.Readable);
        }
        Assert.True(wrapped, "the test never lent a wrapped range");
        Assert.Equal(data, received.ToArray());
        Assert.Equal(0, buffer.Peek(out var none, out var nothing));
        Assert.True(none.IsEmpty && nothing.IsEmpty);
    }

    [Fact]
    public void Lent_bytes_stay_unchanged_while_the_ring_grows_and_new_data_arrives()
    {
        var data = Stream(60_000, 9);
        var buffer = new ReceiveBuffer(64 * 1024, S(0));
        Assert.Equal(10_000, buffer.Accept(S(0), data.AsSpan(0, 10_000)));
        buffer.Peek(out var first, out var second);
        Assert.True(second.IsEmpty);
        Assert.Equal(40_000, buffer.Accept(S(10_000), data.AsSpan(10_000, 40_000)));
        Assert.True(buffer.AllocatedSize > ReceiveBuffer.InitialRingSize);
        Assert.Equal(data.AsSpan(0, 10_000).ToArray(), first.ToArray());
        buffer.Skip(10_000);
        Assert.Equal(data.AsSpan(10_000, 40_000).ToArray(), ReadAll(buffer));
    }

    [Fact]
    public void Skip_refuses_more_than_is_readable()
    {
        var buffer = new ReceiveBuffer(100, S(0));
        buffer.Accept(S(0), new byte[10]);
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Skip(11));
        Assert.Throws<ArgumentOutOfRangeException>(() => buffer.Skip(-1));
        Assert.Equal(10, buffer.Readable);
    }
}
