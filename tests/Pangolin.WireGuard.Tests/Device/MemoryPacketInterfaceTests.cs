using System.Buffers.Binary;
using System.Diagnostics;
using Pangolin.WireGuard.Device;

namespace Pangolin.WireGuard.Tests.Device;

public sealed class MemoryPacketInterfaceTests
{
    private const int Offset = 16;
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public void The_device_reads_what_the_stack_enqueued_in_order_at_the_offset()
    {
        using var memory = new MemoryPacketInterface("mem7", mtu: 1280);
        Assert.Equal("mem7", memory.Name);
        Assert.Equal(1280, memory.Mtu);
        for (var i = 0; i < 5; i++)
        {
            Assert.True(memory.TryEnqueue(Packet(i, 40 + i)));
        }
        Assert.Equal(5, memory.PendingForDevice);

        var (buffers, sizes) = Buffers(8, 2048);
        var count = memory.Read(buffers, sizes, Offset);

        Assert.Equal(5, count);
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(Packet(i, 40 + i), buffers[i].AsSpan(Offset, sizes[i]).ToArray());
            Assert.Equal(0, buffers[i][Offset - 1]);
        }
        Assert.Equal(0, memory.PendingForDevice);
    }

    [Fact]
    public void A_Read_takes_at_most_one_batch_and_leaves_the_rest_for_the_next()
    {
        using var memory = new MemoryPacketInterface(capacity: 100);
        for (var i = 0; i < 10; i++)
        {
            memory.Enqueue(Packet(i, 100));
        }

        var (buffers, sizes) = Buffers(4, 2048);
        Assert.Equal(4, memory.Read(buffers, sizes, Offset));
        Assert.Equal(3, Sequence(buffers[3].AsSpan(Offset)));
        Assert.Equal(4, memory.Read(buffers, sizes, Offset));
        Assert.Equal(4, Sequence(buffers[0].AsSpan(Offset)));
        Assert.Equal(2, memory.Read(buffers, sizes, Offset));
        Assert.Equal(9, Sequence(buffers[1].AsSpan(Offset)));
    }

    [Fact]
    public void A_Read_blocks_until_the_stack_enqueues()
    {
        using var memory = new MemoryPacketInterface();
        var (buffers, sizes) = Buffers(4, 2048);
        var count = 0;
        var reader = new Thread(() => count = memory.Read(buffers, sizes, 0)) { IsBackground = true };
        reader.Start();
        Assert.True(Eventually(() => IsWaiting(reader)), "Read did not wait.");

        memory.Enqueue(Packet(1, 60));

        Assert.True(reader.Join(Deadline));
        Assert.Equal(1, count);
        Assert.Equal(Packet(1, 60), buffers[0].AsSpan(0, sizes[0]).ToArray());
    }

    [Fact]
    public void The_stack_dequeues_what_the_device_wrote_in_order()
    {
        using var memory = new MemoryPacketInterface();
        var (buffers, sizes) = Buffers(3, 2048);
        for (var i = 0; i < 3; i++)
        {
            sizes[i] = WritePacket(buffers[i].AsSpan(Offset), i, 500 + i);
        }

        memory.Write(buffers, sizes, Offset, 3);

        Assert.Equal(3, memory.PendingForStack);
        var destination = new byte[2048];
        for (var i = 0; i < 3; i++)
        {
            Assert.True(memory.TryDequeue(destination, out var length));
            Assert.Equal(Packet(i, 500 + i), destination.AsSpan(0, length).ToArray());
        }
        Assert.False(memory.TryDequeue(destination, out _));
        Assert.Throws<ArgumentException>(() =>
        {
            memory.Write(buffers, sizes, Offset, 1);
            memory.TryDequeue(new byte[10], out _);
        });
        Assert.Equal(1, memory.PendingForStack); // a destination too short leaves the packet queued
    }

    [Fact]
    public async Task DequeueAsync_waits_for_the_device_to_write()
    {
        using var memory = new MemoryPacketInterface();
        var destination = new byte[2048];
        var pending = memory.DequeueAsync(destination, TestContext.Current.CancellationToken);
        Assert.False(pending.IsCompleted);

        var (buffers, sizes) = Buffers(1, 2048);
        sizes[0] = WritePacket(buffers[0].AsSpan(Offset), 42, 300);
        memory.Write(buffers, sizes, Offset, 1);

        var length = await pending.AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken);
        Assert.Equal(Packet(42, 300), destination.AsSpan(0, length).ToArray());

        // Already queued: completes synchronously.
        memory.Write(buffers, sizes, Offset, 1);
        var ready = memory.DequeueAsync(destination, TestContext.Current.CancellationToken);
        Assert.True(ready.IsCompletedSuccessfully);
        Assert.Equal(300, await ready);
    }

    [Fact]
    public async Task DequeueAsync_can_be_cancelled_and_then_used_again()
    {
        using var memory = new MemoryPacketInterface();
        var destination = new byte[2048];
        using var cancellation = new CancellationTokenSource();
        var pending = memory.DequeueAsync(destination, cancellation.Token);

        await cancellation.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending.AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken));
        var (buffers, sizes) = Buffers(1, 2048);
        sizes[0] = WritePacket(buffers[0].AsSpan(Offset), 7, 70);
        var again = memory.DequeueAsync(destination, TestContext.Current.CancellationToken);
        memory.Write(buffers, sizes, Offset, 1);
        Assert.Equal(70, await again.AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task A_waiting_DequeueAsync_is_exclusive_and_a_packet_too_long_for_it_stays_queued()
    {
        using var memory = new MemoryPacketInterface();
        var pending = memory.DequeueAsync(new byte[50], TestContext.Current.CancellationToken);
        Assert.Throws<InvalidOperationException>(() => { _ = memory.DequeueAsync(new byte[50], TestContext.Current.CancellationToken).AsTask(); });

        var (buffers, sizes) = Buffers(1, 2048);
        sizes[0] = WritePacket(buffers[0], 3, 100);
        memory.Write(buffers, sizes, 0, 1);

        await Assert.ThrowsAsync<ArgumentException>(() => pending.AsTask().WaitAsync(Deadline, TestContext.Current.CancellationToken));
        var destination = new byte[100];
        Assert.Equal(100, await memory.DequeueAsync(destination, TestContext.Current.CancellationToken));
        Assert.Equal(3, Sequence(destination));
    }

    [Fact]
    public void A_full_queue_refuses_TryEnqueue_and_holds_Enqueue_until_the_device_reads()
    {
        using var memory = new MemoryPacketInterface(capacity: 4);
        for (var i = 0; i < 4; i++)
        {
            Assert.True(memory.TryEnqueue(Packet(i, 80)));
        }
        Assert.False(memory.TryEnqueue(Packet(4, 80)));

        var enqueuer = new Thread(() => memory.Enqueue(Packet(4, 80))) { IsBackground = true };
        enqueuer.Start();
        Assert.True(Eventually(() => IsWaiting(enqueuer)), "Enqueue did not wait.");
        Assert.Equal(4, memory.PendingForDevice);

        var (buffers, sizes) = Buffers(1, 2048);
        Assert.Equal(1, memory.Read(buffers, sizes, 0));
        Assert.True(enqueuer.Join(Deadline), "Enqueue did not finish once there was room.");

        var (rest, restSizes) = Buffers(8, 2048);
        Assert.Equal(4, memory.Read(rest, restSizes, 0));
        Assert.Equal(4, Sequence(rest[3]));
    }

    [Fact]
    public void A_waiting_Enqueue_can_be_cancelled()
    {
        using var memory = new MemoryPacketInterface(capacity: 1);
        memory.Enqueue(Packet(0, 10));
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(100));

        var stopwatch = Stopwatch.StartNew();
        Assert.ThrowsAny<OperationCanceledException>(() => memory.Enqueue(Packet(1, 10), cancellation.Token));
        Assert.True(stopwatch.Elapsed < Deadline);
        Assert.Equal(1, memory.PendingForDevice);
    }

    [Fact]
    public void When_the_stack_falls_behind_writes_are_dropped_and_counted_not_queued_without_bound()
    {
        using var memory = new MemoryPacketInterface(capacity: 3);
        var (buffers, sizes) = Buffers(5, 2048);
        for (var i = 0; i < 5; i++)
        {
            sizes[i] = WritePacket(buffers[i].AsSpan(), i, 100);
        }

        memory.Write(buffers, sizes, 0, 5);

        Assert.Equal(3, memory.PendingForStack);
        Assert.Equal(2, memory.DroppedWrites);
        var destination = new byte[2048];
        Assert.True(memory.TryDequeue(destination, out _));
        Assert.Equal(0, Sequence(destination));
    }

    [Fact]
    public void With_the_block_behaviour_a_write_waits_for_the_stack_to_make_room()
    {
        using var memory = new MemoryPacketInterface(capacity: 2, whenFull: FullQueueBehavior.Block);
        var (buffers, sizes) = Buffers(3, 2048);
        for (var i = 0; i < 3; i++)
        {
            sizes[i] = WritePacket(buffers[i].AsSpan(), i, 100);
        }

        var writer = new Thread(() => memory.Write(buffers, sizes, 0, 3)) { IsBackground = true };
        writer.Start();
        Assert.True(Eventually(() => IsWaiting(writer)), "Write did not wait.");

        var destination = new byte[2048];
        Assert.True(memory.TryDequeue(destination, out _));
        Assert.True(writer.Join(Deadline));
        Assert.Equal(0, memory.DroppedWrites);
        Assert.True(memory.TryDequeue(destination, out _));
        Assert.True(memory.TryDequeue(destination, out _));
        Assert.Equal(2, Sequence(destination));
    }

    [Fact]
    public async Task Dispose_wakes_every_waiter_with_ObjectDisposedException_and_refuses_later_calls()
    {
        // Towards the device: full, so Enqueue waits. Towards the stack: empty, so DequeueAsync waits.
        var memory = new MemoryPacketInterface(capacity: 1);
        memory.Enqueue(Packet(0, 10));
        Exception? enqueueError = null;
        var enqueuer = new Thread(() => enqueueError = Record.Exception(() => memory.Enqueue(Packet(1, 10)))) { IsBackground = true };
        enqueuer.Start();
        var dequeue = memory.DequeueAsync(new byte[100], TestContext.Current.CancellationToken).AsTask();
        Assert.True(Eventually(() => IsWaiting(enqueuer)), "Enqueue did not wait.");
        Assert.False(dequeue.IsCompleted);

        memory.Dispose();

        Assert.True(enqueuer.Join(TimeSpan.FromSeconds(1)));
        Assert.IsType<ObjectDisposedException>(enqueueError);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => dequeue.WaitAsync(TimeSpan.FromSeconds(1), TestContext.Current.CancellationToken));
        var (buffers, sizes) = Buffers(1, 2048);
        Assert.Throws<ObjectDisposedException>(() => memory.Read(buffers, sizes, 0));
        Assert.Throws<ObjectDisposedException>(() => memory.Write(buffers, sizes, 0, 1));
        Assert.Throws<ObjectDisposedException>(() => memory.TryEnqueue(Packet(2, 10)));
        Assert.Throws<ObjectDisposedException>(() => memory.TryDequeue(new byte[100], out _));
        memory.Dispose();

        // Towards the device: empty, so Read waits.
        var idle = new MemoryPacketInterface();
        Exception? readError = null;
        var reader = new Thread(() => readError = Record.Exception(() => idle.Read(buffers, sizes, 0))) { IsBackground = true };
        reader.Start();
        Assert.True(Eventually(() => IsWaiting(reader)), "Read did not wait.");

        idle.Dispose();

        Assert.True(reader.Join(TimeSpan.FromSeconds(1)));
        Assert.IsType<ObjectDisposedException>(readError);
    }

    [Fact]
    public void A_handler_gets_the_devices_writes_directly_and_there_is_no_queue()
    {
        var seen = new List<byte[]>();
        using var memory = new MemoryPacketInterface(onWrite: packet => seen.Add(packet.ToArray()));
        var (buffers, sizes) = Buffers(2, 2048);
        sizes[0] = WritePacket(buffers[0].AsSpan(Offset), 1, 20);
        sizes[1] = WritePacket(buffers[1].AsSpan(Offset), 2, 30);

        memory.Write(buffers, sizes, Offset, 2);

        Assert.Equal([Packet(1, 20), Packet(2, 30)], seen);
        Assert.Throws<InvalidOperationException>(() => memory.TryDequeue(new byte[100], out _));
    }

    [Fact]
    public void A_batch_handler_is_told_where_each_write_of_the_device_begins_and_ends()
    {
        var events = new List<string>();
        using var memory = new MemoryPacketInterface(
            onWrite: packet => events.Add("packet " + packet.Length),
            onWriteBatch: begins => events.Add(begins ? "begin" : "end"));
        var (buffers, sizes) = Buffers(2, 2048);
        sizes[0] = WritePacket(buffers[0].AsSpan(Offset), 1, 20);
        sizes[1] = WritePacket(buffers[1].AsSpan(Offset), 2, 30);

        memory.Write(buffers, sizes, Offset, 2);
        memory.Write(buffers, sizes, Offset, 1);

        Assert.Equal(["begin", "packet 20", "packet 30", "end", "begin", "packet 20", "end"], events);
    }

    [Fact]
    public void Packets_longer_than_the_MTU_pass_and_packets_longer_than_the_devices_buffer_are_dropped()
    {
        using var memory = new MemoryPacketInterface(mtu: 1280);
        memory.Enqueue(Packet(1, 9000));
        memory.Enqueue(Packet(2, 100));
        Assert.Throws<ArgumentException>(() => memory.TryEnqueue(new byte[MemoryPacketInterface.MaxPacketSize + 1]));

        var (buffers, sizes) = Buffers(4, 4096);
        Assert.Equal(1, memory.Read(buffers, sizes, 0));
        Assert.Equal(Packet(2, 100), buffers[0].AsSpan(0, sizes[0]).ToArray());
        Assert.Equal(1, memory.DroppedReads);

        memory.Enqueue(Packet(3, 9000));
        var (large, largeSizes) = Buffers(1, 9000 + Offset);
        Assert.Equal(1, memory.Read(large, largeSizes, Offset));
        Assert.Equal(Packet(3, 9000), large[0].AsSpan(Offset, largeSizes[0]).ToArray());
    }

    [Fact]
    public async Task A_producer_and_a_consumer_on_two_threads_keep_every_packet_in_order()
    {
        using var memory = new MemoryPacketInterface(capacity: 16);
        const int Packets = 50_000;
        var producer = Task.Factory.StartNew(() =>
        {
            Span<byte> packet = stackalloc byte[200];
            for (var i = 0; i < Packets; i++)
            {
                BinaryPrimitives.WriteInt32BigEndian(packet, i);
                memory.Enqueue(packet[..(60 + (i % 100))]);
            }
        }, TaskCreationOptions.LongRunning);

        var (buffers, sizes) = Buffers(8, 2048);
        var expected = 0;
        using var watchdog = new Timer(_ => memory.Dispose(), null, Deadline, Timeout.InfiniteTimeSpan);
        while (expected < Packets)
        {
            var count = memory.Read(buffers, sizes, 0);
            for (var i = 0; i < count; i++, expected++)
            {
                Assert.Equal(expected, Sequence(buffers[i]));
                Assert.Equal(60 + (expected % 100), sizes[i]);
            }
        }
        await producer.WaitAsync(Deadline, TestContext.Current.CancellationToken);
    }

    [Fact]
    public void Both_directions_allocate_nothing_in_steady_state()
    {
        using var memory = new MemoryPacketInterface(capacity: 64);
        var packet = Packet(1, 1400);
        var (buffers, sizes) = Buffers(32, 2048);
        var destination = new byte[2048];

        void RoundTrips(int times)
        {
            for (var round = 0; round < times; round++)
            {
                for (var i = 0; i < 32; i++)
                {
                    memory.Enqueue(packet);
                }
                var count = memory.Read(buffers, sizes, Offset);
                memory.Write(buffers, sizes, Offset, count);
                while (memory.TryDequeue(destination, out _))
                {
                }
                memory.Write(buffers, sizes, Offset, 1);
                var ready = memory.DequeueAsync(destination, CancellationToken.None);
                if (!ready.IsCompletedSuccessfully || count != 32)
                {
                    Assert.Fail("Expected a full batch and a synchronous dequeue.");
                }
            }
        }

        AssertSteadyStateAllocatesNothing(RoundTrips);
    }

    private static byte[] Packet(int sequence, int length)
    {
        var packet = new byte[length];
        WritePacket(packet, sequence, length);
        return packet;
    }

    private static int WritePacket(Span<byte> destination, int sequence, int length)
    {
        for (var i = 0; i < length; i++)
        {
            destination[i] = (byte)(i + sequence);
        }
        if (length >= 4)
        {
            BinaryPrimitives.WriteInt32BigEndian(destination, sequence);
        }
        return length;
    }

    private static int Sequence(ReadOnlySpan<byte> packet) => BinaryPrimitives.ReadInt32BigEndian(packet);

    private static (byte[][] Buffers, int[] Sizes) Buffers(int count, int size)
    {
        var buffers = new byte[count][];
        for (var i = 0; i < count; i++)
        {
            buffers[i] = new byte[size];
        }
        return (buffers, new int[count]);
    }

    private static bool IsWaiting(Thread thread) => (thread.ThreadState & System.Threading.ThreadState.WaitSleepJoin) != 0;

    private static bool Eventually(Func<bool> condition)
    {
        var stopwatch = Stopwatch.StartNew();
        while (stopwatch.Elapsed < Deadline)
        {
            if (condition())
            {
                return true;
            }
            Thread.Sleep(10);
        }
        return condition();
    }

    /// <summary>
    /// Warms up, then measures 200 rounds at a time, up to five times: steady state allocates nothing if one
    /// measurement comes out at zero. An allocation per packet would show in every measurement; a one-off by the
    /// runtime (tiering up a method in the middle of one) shows in one only.
    /// </summary>
    private static void AssertSteadyStateAllocatesNothing(Action<int> rounds)
    {
        rounds(300);
        var measured = new List<long>();
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var before = GC.GetAllocatedBytesForCurrentThread();
            rounds(200);
            var allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (allocated == 0)
            {
                return;
            }
            measured.Add(allocated);
        }
        Assert.Fail($"Every measurement allocated: {string.Join(", ", measured)} bytes.");
    }
}
