namespace Pangolin.Newt.Tests;

public sealed class BackoffTests
{
    [Fact]
    public void Each_delay_lies_between_zero_and_half_a_second_times_two_to_the_attempt()
    {
        var backoff = new Backoff(new Random(42));
        for (var attempt = 0; attempt < 7; attempt++)
        {
            var ceiling = TimeSpan.FromSeconds(0.5 * Math.Pow(2, attempt));
            Assert.Equal(ceiling, backoff.Ceiling);
            var delay = backoff.Next();
            Assert.InRange(delay, TimeSpan.Zero, ceiling);
            Assert.NotEqual(ceiling, delay); // the interval is half-open
        }
    }

    [Fact]
    public void The_delays_are_jittered_across_the_whole_interval_not_clustered_at_the_ceiling()
    {
        var below = 0;
        var above = 0;
        for (var seed = 0; seed < 200; seed++)
        {
            var delay = new Backoff(new Random(seed)).Next();
            if (delay < TimeSpan.FromSeconds(0.25))
            {
                below++;
            }
            else
            {
                above++;
            }
        }
        // A fair split of 200 draws lands in 60-140 with overwhelming probability; the seeds make it fixed anyway.
        Assert.InRange(below, 60, 140);
        Assert.InRange(above, 60, 140);
    }

    [Fact]
    public void The_ceiling_stops_at_sixty_seconds_however_many_attempts_fail()
    {
        var backoff = new Backoff(new Random(7));
        for (var attempt = 0; attempt < 10_000; attempt++)
        {
            Assert.InRange(backoff.Next(), TimeSpan.Zero, TimeSpan.FromSeconds(60));
        }
        Assert.Equal(TimeSpan.FromSeconds(60), backoff.Ceiling);
        // 0.5 s × 2^7 = 64 s is the first ceiling past the cap, so counting stopped there.
        Assert.Equal(7, backoff.Attempt);
    }

    [Fact]
    public void Reset_starts_again_from_half_a_second()
    {
        var backoff = new Backoff(new Random(1));
        for (var attempt = 0; attempt < 5; attempt++)
        {
            backoff.Next();
        }
        Assert.Equal(TimeSpan.FromSeconds(16), backoff.Ceiling);

        backoff.Reset();

        Assert.Equal(0, backoff.Attempt);
        Assert.Equal(TimeSpan.FromSeconds(0.5), backoff.Ceiling);
        Assert.InRange(backoff.Next(), TimeSpan.Zero, TimeSpan.FromSeconds(0.5));
    }

    [Fact]
    public void The_same_seed_gives_the_same_delays()
    {
        var a = new Backoff(new Random(99));
        var b = new Backoff(new Random(99));
        for (var attempt = 0; attempt < 20; attempt++)
        {
            Assert.Equal(a.Next(), b.Next());
        }
    }

    [Fact]
    public void A_base_factor_and_cap_can_be_chosen()
    {
        var backoff = new Backoff(new Random(3), TimeSpan.FromSeconds(1), factor: 3, cap: TimeSpan.FromSeconds(10));
        Assert.Equal(TimeSpan.FromSeconds(1), backoff.Ceiling);
        backoff.Next();
        Assert.Equal(TimeSpan.FromSeconds(3), backoff.Ceiling);
        backoff.Next();
        Assert.Equal(TimeSpan.FromSeconds(9), backoff.Ceiling);
        backoff.Next();
        Assert.Equal(TimeSpan.FromSeconds(10), backoff.Ceiling);
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(new Random(), TimeSpan.Zero));
        Assert.Throws<ArgumentOutOfRangeException>(() => new Backoff(new Random(), TimeSpan.FromSeconds(2), cap: TimeSpan.FromSeconds(1)));
    }
}
