using Pangolin.WireGuard.Device;

namespace Pangolin.WireGuard.Tests.Device;

[CollectionDefinition(nameof(ProcessWideAllocations), DisableParallelization = true)]
public sealed class ProcessWideAllocations;

/// <summary>
/// DequeueAsync's waiting path resumes on the thread pool, so its allocations are measured for the whole process:
/// this runs alone (no parallel tests allocating beside it) and allows the runtime's own background noise (thread
/// pool, tiering: some tens of kilobytes) but less than one smallest object (24 bytes) per four packets, which any
/// per-packet allocation would exceed.
/// </summary>
[Collection(nameof(ProcessWideAllocations))]
public sealed class MemoryPacketInterfaceAsyncAllocationTests
{
    [Fact]
    public async Task Waiting_in_DequeueAsync_allocates_nothing_per_packet()
    {
        using var memory = new MemoryPacketInterface(capacity: 8);
        var buffers = new[] { new byte[2048] };
        var sizes = new[] { 1400 };
        var destination = new byte[2048];
        var waited = 0;
        var stop = false;
        using var turn = new SemaphoreSlim(1);

        // The device's side: one packet per turn, a turn being given each time the stack has taken a packet, so
        // that the stack's next DequeueAsync finds the queue empty and has to wait.
        var producer = new Thread(() =>
        {
            while (true)
            {
                turn.Wait();
                if (Volatile.Read(ref stop))
                {
                    return;
                }
                memory.Write(buffers, sizes, 0, 1);
            }
        })
        {
            IsBackground = true,
        };
        producer.Start();

        async Task Consume(int packets)
        {
            for (var i = 0; i < packets; i++)
            {
                var pending = memory.DequeueAsync(destination, CancellationToken.None);
                if (!pending.IsCompleted)
                {
                    waited++;
                }
                if (await pending.ConfigureAwait(false) != 1400)
                {
                    Assert.Fail("A packet came back wrong.");
                }
                turn.Release();
            }
        }

        try
        {
            // Bounds against a hang only: each packet is a thread handoff, slow on a loaded 2-core machine.
            await Consume(2000).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
            waited = 0;
            const int Packets = 20_000;
            var before = GC.GetTotalAllocatedBytes(precise: true);
            var consuming = Consume(Packets);
            await consuming.WaitAsync(TimeSpan.FromSeconds(300), TestContext.Current.CancellationToken);
            var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

            Assert.True(waited > Packets / 2, $"Only {waited} of {Packets} dequeues waited: the test did not exercise the waiting path.");
            Assert.True(allocated < Packets * 24 / 4, $"{allocated} bytes allocated for {Packets} packets ({waited} waits).");
        }
        finally
        {
            Volatile.Write(ref stop, true);
            turn.Release();
            producer.Join(TimeSpan.FromSeconds(10));
        }
    }
}
