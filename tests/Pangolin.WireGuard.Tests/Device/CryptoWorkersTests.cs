using Pangolin.WireGuard.Device;

namespace Pangolin.WireGuard.Tests.Device;

/// <summary>The fork-join that spreads a batch's crypto over the cores: every element once per run, whatever the timing.</summary>
public sealed class CryptoWorkersTests
{
    [Fact]
    public void Every_element_of_every_run_is_processed_exactly_once_by_caller_and_helpers()
    {
        using var workers = new CryptoWorkers(3, "test");
        var touchedBy = new int[256];
        var helperThreads = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        var batch = new CryptoBatch(256, element =>
        {
            Interlocked.Increment(ref touchedBy[element.Length]);
            helperThreads.TryAdd(Environment.CurrentManagedThreadId, true);
        });
        var elements = Enumerable.Range(0, 256).Select(i => new PacketElement(16) { Length = i }).ToArray();
        var random = new Random(3);
        for (var run = 0; run < 5000; run++)
        {
            // Sizes below, at and above the threshold, so that helpers wake late for batches already reused.
            var count = random.Next(1, 257);
            Array.Clear(touchedBy);
            elements.AsSpan(0, count).CopyTo(batch.Items);
            batch.Count = count;
            workers.Run(batch);
            for (var i = 0; i < 256; i++)
            {
                Assert.Equal(i < count ? 1 : 0, touchedBy[i]);
            }
        }
        Assert.True(helperThreads.Count > 1, "the helpers took part");
    }

    [Fact]
    public void Without_helpers_a_batch_is_done_inline_by_its_caller()
    {
        using var workers = new CryptoWorkers(0, "test");
        var caller = Environment.CurrentManagedThreadId;
        var others = 0;
        var batch = new CryptoBatch(64, _ =>
        {
            if (Environment.CurrentManagedThreadId != caller)
            {
                Interlocked.Increment(ref others);
            }
        });
        for (var i = 0; i < 64; i++)
        {
            batch.Items[i] = new PacketElement(16);
        }
        batch.Count = 64;
        workers.Run(batch);
        Assert.Equal(0, others);
    }
}
