using Pangolin.WireGuard.Replay;

namespace Pangolin.WireGuard.Tests.Replay;

public sealed class ReplayFilterTests
{
    // wireguard-go's replay_test.go limit: (1 << 64) - (1 << 4) - 1.
    private const ulong Limit = ulong.MaxValue - 16;
    private const ulong Window = ReplayFilter.WindowSize;

    [Fact]
    public void The_window_is_8128_counters_as_in_wireguard_go()
    {
        Assert.Equal(8128UL, Window);
        Assert.True(Window >= 2000);
    }

    [Fact]
    public void The_wireguard_go_replay_table_passes()
    {
        // Ported case by case from wireguard-go replay/replay_test.go (itself from the Linux kernel's selftest).
        const ulong tLim = Window + 1;
        var filter = new ReplayFilter();
        var step = 0;
        void T(ulong n, bool expected)
        {
            step++;
            Assert.True(filter.ValidateCounter(n, Limit) == expected, $"case {step}: counter {n} should be {(expected ? "accepted" : "rejected")}");
        }

        T(0, true);                       /*  1 */
        T(1, true);                       /*  2 */
        T(1, false);                      /*  3 */
        T(9, true);                       /*  4 */
        T(8, true);                       /*  5 */
        T(7, true);                       /*  6 */
        T(7, false);                      /*  7 */
        T(tLim, true);                    /*  8 */
        T(tLim - 1, true);                /*  9 */
        T(tLim - 1, false);               /* 10 */
        T(tLim - 2, true);                /* 11 */
        T(2, true);                       /* 12 */
        T(2, false);                      /* 13 */
        T(tLim + 16, true);               /* 14 */
        T(3, false);                      /* 15 */
        T(tLim + 16, false);              /* 16 */
        T(tLim * 4, true);                /* 17 */
        T(tLim * 4 - (tLim - 1), true);   /* 18 */
        T(10, false);                     /* 19 */
        T(tLim * 4 - tLim, false);        /* 20 */
        T(tLim * 4 - (tLim + 1), false);  /* 21 */
        T(tLim * 4 - (tLim - 2), true);   /* 22 */
        T(tLim * 4 + 1 - tLim, false);    /* 23 */
        T(0, false);                      /* 24 */
        T(Limit, false);                  /* 25 */
        T(Limit - 1, true);               /* 26 */
        T(Limit, false);                  /* 27 */
        T(Limit - 1, false);              /* 28 */
        T(Limit - 2, true);               /* 29 */
        T(Limit + 1, false);              /* 30 */
        T(Limit + 2, false);              /* 31 */
        T(Limit - 2, false);              /* 32 */
        T(Limit - 3, true);               /* 33 */
        T(0, false);                      /* 34 */

        // Bulk test 1
        filter.Reset();
        step = 0;
        for (ulong i = 1; i <= Window; i++)
        {
            T(i, true);
        }
        T(0, true);
        T(0, false);

        // Bulk test 2
        filter.Reset();
        step = 0;
        for (ulong i = 2; i <= Window + 1; i++)
        {
            T(i, true);
        }
        T(1, true);
        T(0, false);

        // Bulk test 3
        filter.Reset();
        step = 0;
        for (var i = Window + 1; i > 0; i--)
        {
            T(i, true);
        }

        // Bulk test 4
        filter.Reset();
        step = 0;
        for (var i = Window + 2; i > 1; i--)
        {
            T(i, true);
        }
        T(0, false);

        // Bulk test 5
        filter.Reset();
        step = 0;
        for (var i = Window; i > 0; i--)
        {
            T(i, true);
        }
        T(Window + 1, true);
        T(0, false);

        // Bulk test 6
        filter.Reset();
        step = 0;
        for (var i = Window; i > 0; i--)
        {
            T(i, true);
        }
        T(0, true);
        T(Window + 1, true);
    }

    [Fact]
    public void Counters_in_order_are_accepted_once()
    {
        var filter = new ReplayFilter();
        for (ulong i = 0; i < 20_000; i++)
        {
            Assert.True(filter.ValidateCounter(i, Limit));
        }
        for (var i = 20_000UL - Window; i < 20_000; i++)
        {
            Assert.False(filter.ValidateCounter(i, Limit));
        }
    }

    [Fact]
    public void Reordering_within_the_window_is_accepted_and_duplicates_are_not()
    {
        var filter = new ReplayFilter();
        Assert.True(filter.ValidateCounter(5000, Limit));
        // 2,000 packets late, in reverse order: all fine, and each only once.
        for (var i = 4999UL; i >= 3000; i--)
        {
            Assert.True(filter.ValidateCounter(i, Limit), $"late counter {i}");
        }
        for (var i = 3000UL; i <= 5000; i++)
        {
            Assert.False(filter.ValidateCounter(i, Limit), $"duplicate {i}");
        }
        Assert.True(filter.ValidateCounter(5001, Limit));
    }

    [Fact]
    public void A_counter_exactly_one_window_back_is_the_oldest_accepted()
    {
        var filter = new ReplayFilter();
        Assert.True(filter.ValidateCounter(100_000, Limit));
        Assert.False(filter.ValidateCounter(100_000 - Window - 1, Limit));
        Assert.True(filter.ValidateCounter(100_000 - Window, Limit));
        Assert.False(filter.ValidateCounter(0, Limit));
    }

    [Fact]
    public void A_jump_forward_clears_the_reused_blocks_of_the_ring()
    {
        var filter = new ReplayFilter();
        for (ulong i = 0; i < 64 * 4; i++)
        {
            Assert.True(filter.ValidateCounter(i, Limit));
        }

        // 8192 counters later the ring wraps onto the very blocks just filled: they must read as empty.
        const ulong jump = 8192;
        Assert.True(filter.ValidateCounter(jump + 5, Limit));
        for (var i = jump; i < jump + 64 * 4; i++)
        {
            Assert.Equal(i != jump + 5, filter.ValidateCounter(i, Limit));
        }

        // The same for a jump of less than a ring: blocks between the old and new positions are cleared,
        // the ones still inside the window keep their history.
        filter.Reset();
        for (ulong i = 0; i < 64 * 10; i++)
        {
            filter.ValidateCounter(i, Limit);
        }
        Assert.True(filter.ValidateCounter(64 * 10 + 64 * 50, Limit));
        for (ulong i = 0; i < 64 * 10; i++)
        {
            Assert.False(filter.ValidateCounter(i, Limit), $"already seen {i}");
        }
        for (var i = 64UL * 10; i < 64 * 60; i++)
        {
            Assert.True(filter.ValidateCounter(i, Limit), $"never seen {i}");
        }

        // A jump far beyond the ring (by more than 2^64 / 2) still works.
        Assert.True(filter.ValidateCounter(Limit - 1, Limit));
        Assert.False(filter.ValidateCounter(64 * 60 + 1, Limit));
        Assert.True(filter.ValidateCounter(Limit - 2, Limit));
    }

    [Fact]
    public void Counters_at_or_past_the_limit_are_rejected()
    {
        var filter = new ReplayFilter();
        Assert.False(filter.ValidateCounter(1000, 1000));
        Assert.False(filter.ValidateCounter(1001, 1000));
        Assert.True(filter.ValidateCounter(999, 1000));
        Assert.False(filter.ValidateCounter(999, 1000));
        Assert.True(filter.ValidateCounter(998, 1000));
        Assert.False(filter.ValidateCounter(0, 0));

        // WireGuard's REJECT-AFTER-MESSAGES = 2^64 - 2^13 - 1.
        const ulong rejectAfterMessages = ulong.MaxValue - (1UL << 13);
        filter.Reset();
        Assert.True(filter.ValidateCounter(rejectAfterMessages - 1, rejectAfterMessages));
        Assert.False(filter.ValidateCounter(rejectAfterMessages, rejectAfterMessages));
        Assert.False(filter.ValidateCounter(ulong.MaxValue, rejectAfterMessages));
    }

    [Fact]
    public void Reset_starts_over_at_counter_zero()
    {
        var filter = new ReplayFilter();
        Assert.True(filter.ValidateCounter(0, Limit));
        Assert.True(filter.ValidateCounter(50_000, Limit));
        filter.Reset();
        Assert.True(filter.ValidateCounter(0, Limit));
        Assert.True(filter.ValidateCounter(100, Limit));
        Assert.True(filter.ValidateCounter(50_000, Limit));
    }

    [Fact]
    public void Random_reordered_traffic_matches_an_exact_reference_model()
    {
        // The model: accept iff below the limit, not seen before, and not more than WindowSize behind the highest
        // accepted counter. With one spare block in the ring the bitmap is exact, so the two must always agree.
        var random = new Random(6479);
        var filter = new ReplayFilter();
        var seen = new HashSet<ulong>();
        ulong highest = 0;
        ulong next = 0;
        for (var i = 0; i < 200_000; i++)
        {
            var roll = random.Next(100);
            ulong counter;
            if (roll < 60)
            {
                counter = next++;
            }
            else if (roll < 90)
            {
                counter = next - (ulong)Math.Min((long)next, random.Next(9000));
            }
            else if (roll < 99)
            {
                counter = next + (ulong)random.Next(20_000);
                next = counter + 1;
            }
            else
            {
                counter = (ulong)random.Next(1000);
            }

            var expected = (counter > highest || highest - counter <= Window) && !seen.Contains(counter);
            if (expected)
            {
                seen.Add(counter);
                highest = Math.Max(highest, counter);
            }
            Assert.True(expected == filter.ValidateCounter(counter, Limit), $"step {i}, counter {counter}, highest {highest}");
        }
    }

    [Fact]
    public void Validating_counters_allocates_nothing()
    {
        var filter = new ReplayFilter();
        // Once unmeasured: the first call of each path may load types and run JIT work on this thread, which counts
        // as allocation here only when no earlier test (the order is random) already did it.
        Exercise(filter);
        var before = GC.GetAllocatedBytesForCurrentThread();
        Exercise(filter);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);

        static void Exercise(ReplayFilter filter)
        {
            filter.ValidateCounter(0, Limit);
            for (ulong i = 1; i < 100_000; i++)
            {
                filter.ValidateCounter(i, Limit);
                filter.ValidateCounter(i - 1, Limit);
            }
            filter.ValidateCounter(10_000_000, Limit);
            filter.Reset();
        }
    }
}
