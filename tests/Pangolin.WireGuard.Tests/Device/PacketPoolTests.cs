using Pangolin.WireGuard.Device;

namespace Pangolin.WireGuard.Tests.Device;

/// <summary>The device's bounded element pool: renting never passes the capacity, and a reader that waits for a free element wakes when one comes back.</summary>
public sealed class PacketPoolTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(10);

    [Fact]
    public void TryRent_gives_at_most_the_capacity_and_a_return_makes_room_again()
    {
        using var pool = new PacketPool(3, 64);
        var rented = new List<PacketElement>();
        while (pool.TryRent(out var element))
        {
            rented.Add(element);
        }
        Assert.Equal(3, rented.Count);
        Assert.Equal(3, rented.Distinct().Count());
        rented[1].Length = 17;
        pool.Return(rented[1]);
        Assert.True(pool.TryRent(out var again));
        Assert.Same(rented[1], again);
        Assert.Equal(0, again.Length); // reset on return
        Assert.False(pool.TryRent(out _));
    }

    [Fact]
    public async Task A_waiting_Rent_wakes_when_an_element_comes_back_and_a_cancelled_one_throws()
    {
        using var pool = new PacketPool(1, 64);
        var only = pool.Rent(CancellationToken.None);
        var waiting = Task.Run(() => pool.Rent(CancellationToken.None), TestContext.Current.CancellationToken);
        await Task.Delay(100, TestContext.Current.CancellationToken);
        Assert.False(waiting.IsCompleted);
        pool.Return(only);
        Assert.Same(only, await waiting.WaitAsync(Deadline, TestContext.Current.CancellationToken));

        using var cancel = new CancellationTokenSource();
        var cancelled = Task.Run(() => pool.Rent(cancel.Token), TestContext.Current.CancellationToken);
        await Task.Delay(100, TestContext.Current.CancellationToken);
        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled.WaitAsync(Deadline, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Many_threads_renting_and_returning_never_hold_more_than_the_capacity()
    {
        using var pool = new PacketPool(4, 64); // fewer than the threads: some wait, and must be woken
        var held = 0;
        var most = 0;
        var workers = Enumerable.Range(0, 6).Select(_ => Task.Run(() =>
        {
            for (var i = 0; i < 20_000; i++)
            {
                var element = pool.Rent(TestContext.Current.CancellationToken);
                var now = Interlocked.Increment(ref held);
                int seen;
                while ((seen = Volatile.Read(ref most)) < now && Interlocked.CompareExchange(ref most, now, seen) != seen)
                {
                }
                Interlocked.Decrement(ref held);
                pool.Return(element);
            }
        }, TestContext.Current.CancellationToken)).ToArray();
        await Task.WhenAll(workers).WaitAsync(TimeSpan.FromSeconds(60), TestContext.Current.CancellationToken);
        Assert.InRange(most, 1, 4);
        var all = new List<PacketElement>();
        while (pool.TryRent(out var element))
        {
            all.Add(element);
        }
        Assert.Equal(4, all.Count);
    }
}
