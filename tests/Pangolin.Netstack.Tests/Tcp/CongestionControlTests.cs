using Pangolin.Netstack.Tcp;

namespace Pangolin.Netstack.Tests.Tcp;

public sealed class CongestionControlTests
{
    private const int Smss = 1000;
    private const long Frequency = TimeSpan.TicksPerSecond;
    private static readonly TimeSpan Rtt = TimeSpan.FromMilliseconds(100);

    private static long At(double seconds) => (long)(seconds * Frequency);

    [Theory]
    [InlineData(536, 5360)]
    [InlineData(1000, 10000)]
    [InlineData(1460, 14600)]
    [InlineData(4000, 14600)]
    [InlineData(8960, 17920)]
    public void The_initial_window_follows_RFC_6928(int smss, int expected)
    {
        Assert.Equal(expected, CongestionControlBase.InitialWindow(smss));
        Assert.Equal(expected, new NewRenoCongestionControl(smss, Frequency).CongestionWindow);
        Assert.Equal(expected, new CubicCongestionControl(smss, Frequency).CongestionWindow);
    }

    [Fact]
    public void Slow_start_grows_by_the_bytes_each_ACK_acknowledges_stretch_ACKs_included()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        Assert.Equal(int.MaxValue, cc.SlowStartThreshold);
        cc.OnAck(Smss, 0, Rtt);
        Assert.Equal(11 * Smss, cc.CongestionWindow);
        cc.OnAck(3 * Smss, 0, Rtt); // a stretch ACK from a coalescing receiver counts in full (Linux, RFC 3465)
        Assert.Equal(14 * Smss, cc.CongestionWindow);
        cc.OnAck(100, 0, Rtt);
        Assert.Equal((14 * Smss) + 100, cc.CongestionWindow);
    }

    [Fact]
    public void Slow_start_doubles_the_window_each_round_trip()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        for (var round = 0; round < 3; round++)
        {
            var segments = cc.CongestionWindow / Smss;
            for (var i = 0; i < segments; i++)
            {
                cc.OnAck(Smss, 0, Rtt);
            }
        }
        Assert.Equal(80 * Smss, cc.CongestionWindow);
    }

    [Fact]
    public void Three_duplicate_ACKs_trigger_fast_retransmit_once()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        Assert.False(cc.OnDuplicateAck());
        Assert.False(cc.OnDuplicateAck());
        Assert.True(cc.OnDuplicateAck());
        Assert.False(cc.OnDuplicateAck());
    }

    [Fact]
    public void A_new_ACK_resets_the_duplicate_count()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        cc.OnDuplicateAck();
        cc.OnDuplicateAck();
        cc.OnAck(Smss, 0, Rtt);
        Assert.False(cc.OnDuplicateAck());
        Assert.False(cc.OnDuplicateAck());
        Assert.True(cc.OnDuplicateAck());
    }

    [Fact]
    public void Fast_recovery_halves_the_flight_inflates_by_three_and_by_one_per_further_dupack()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        cc.OnEnterRecovery(20 * Smss, 0);
        Assert.True(cc.InRecovery);
        Assert.Equal(10 * Smss, cc.SlowStartThreshold);
        Assert.Equal(13 * Smss, cc.CongestionWindow);
        Assert.False(cc.OnDuplicateAck());
        Assert.Equal(14 * Smss, cc.CongestionWindow);
    }

    [Fact]
    public void The_threshold_is_at_least_two_segments()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        cc.OnEnterRecovery(Smss, 0);
        Assert.Equal(2 * Smss, cc.SlowStartThreshold);
    }

    [Fact]
    public void A_partial_ACK_deflates_by_the_acknowledged_bytes_and_adds_back_one_SMSS()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        cc.OnEnterRecovery(20 * Smss, 0); // cwnd 13
        cc.OnDuplicateAck(); // 14
        cc.OnAck(4 * Smss, 0, Rtt);
        Assert.True(cc.InRecovery);
        Assert.Equal(11 * Smss, cc.CongestionWindow); // 14 - 4 + 1
        cc.OnAck(500, 0, Rtt); // less than one SMSS: nothing added back
        Assert.Equal((11 * Smss) - 500, cc.CongestionWindow);
        cc.OnAck(Smss, 0, Rtt); // exactly one SMSS: deflated by one, one added back
        Assert.Equal((11 * Smss) - 500, cc.CongestionWindow);
        Assert.Equal(10 * Smss, cc.SlowStartThreshold);
    }

    [Fact]
    public void The_full_ACK_ends_recovery_at_ssthresh_or_just_above_the_flight()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        cc.OnEnterRecovery(20 * Smss, 0);
        cc.OnExitRecovery(15 * Smss);
        Assert.False(cc.InRecovery);
        Assert.Equal(10 * Smss, cc.CongestionWindow);

        var little = new NewRenoCongestionControl(Smss, Frequency);
        little.OnEnterRecovery(20 * Smss, 0);
        little.OnExitRecovery(2 * Smss);
        Assert.Equal(3 * Smss, little.CongestionWindow);
    }

    [Fact]
    public void Congestion_avoidance_adds_one_SMSS_per_window_of_acknowledged_bytes()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        cc.OnEnterRecovery(20 * Smss, 0);
        cc.OnExitRecovery(20 * Smss); // cwnd = ssthresh = 10
        for (var i = 0; i < 9; i++)
        {
            cc.OnAck(Smss, 0, Rtt);
        }
        Assert.Equal(10 * Smss, cc.CongestionWindow);
        cc.OnAck(Smss, 0, Rtt);
        Assert.Equal(11 * Smss, cc.CongestionWindow);
        for (var i = 0; i < 11; i++)
        {
            cc.OnAck(Smss, 0, Rtt);
        }
        Assert.Equal(12 * Smss, cc.CongestionWindow);
    }

    [Fact]
    public void Slow_start_stops_at_ssthresh_and_the_rest_counts_for_avoidance()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        cc.OnRetransmissionTimeout(8 * Smss, 0); // ssthresh 4, cwnd 1
        Assert.Equal(Smss, cc.CongestionWindow);
        Assert.Equal(4 * Smss, cc.SlowStartThreshold);
        cc.OnAck(Smss, 0, Rtt);
        cc.OnAck(Smss, 0, Rtt);
        cc.OnAck(Smss, 0, Rtt);
        Assert.Equal(4 * Smss, cc.CongestionWindow);
        cc.OnAck(Smss, 0, Rtt);
        Assert.Equal(4 * Smss, cc.CongestionWindow);
    }

    [Fact]
    public void A_timeout_leaves_recovery_and_a_second_one_keeps_ssthresh()
    {
        var cc = new NewRenoCongestionControl(Smss, Frequency);
        cc.OnEnterRecovery(20 * Smss, 0);
        cc.OnRetransmissionTimeout(20 * Smss, 0);
        Assert.False(cc.InRecovery);
        Assert.Equal(Smss, cc.CongestionWindow);
        Assert.Equal(10 * Smss, cc.SlowStartThreshold);
        cc.OnRetransmissionTimeout(Smss, 0);
        Assert.Equal(10 * Smss, cc.SlowStartThreshold);
        cc.OnAck(Smss, 0, Rtt);
        cc.OnRetransmissionTimeout(4 * Smss, 0);
        Assert.Equal(2 * Smss, cc.SlowStartThreshold);
    }

    [Fact]
    public void Cubic_reduces_to_beta_and_computes_K_from_the_RFC_formula()
    {
        var cc = CubicAt(100);
        cc.OnEnterRecovery(100 * Smss, 0);
        Assert.Equal(70 * Smss, cc.SlowStartThreshold);
        Assert.Equal(100, cc.WindowMax);
        cc.OnExitRecovery(100 * Smss);
        Assert.Equal(70 * Smss, cc.CongestionWindow);
        cc.OnAck(Smss, At(0), Rtt);
        Assert.Equal(Math.Cbrt(30 / 0.4), cc.K, 9);
    }

    [Fact]
    public void Cubic_follows_the_RFC_curve_when_Reno_is_slower()
    {
        var cc = CubicAt(100);
        cc.OnEnterRecovery(100 * Smss, 0);
        cc.OnExitRecovery(100 * Smss);
        var k = Math.Cbrt(30 / 0.4);
        var now = 0.0;
        foreach (var checkpoint in new[] { 1.0, 2.0, 3.0, k, 5.0, 6.0 })
        {
            while (now < checkpoint)
            {
                // One window of ACKs spread over each round trip.
                var segments = cc.CongestionWindow / Smss;
                for (var i = 0; i < segments && now < checkpoint; i++)
                {
                    now += Rtt.TotalSeconds / segments;
                    cc.OnAck(Smss, At(now), Rtt);
                }
            }
            var expected = (0.4 * Math.Pow(now - k, 3)) + 100;
            Assert.InRange(cc.CongestionWindow / (double)Smss, expected - 1.5, expected + 1.5);
        }
    }

    [Fact]
    public void Cubic_is_never_slower_than_Reno_in_the_friendly_region()
    {
        var cc = CubicAt(100);
        var rtt = TimeSpan.FromMilliseconds(10);
        cc.OnEnterRecovery(100 * Smss, 0);
        cc.OnExitRecovery(100 * Smss);
        var now = 0.0;
        for (var round = 0; round < 30; round++)
        {
            var segments = cc.CongestionWindow / Smss;
            for (var i = 0; i < segments; i++)
            {
                now += rtt.TotalSeconds / segments;
                cc.OnAck(Smss, At(now), rtt);
            }
        }
        var cubic = (0.4 * Math.Pow(now - cc.K, 3)) + 100;
        var reno = 70 + (30 * CubicCongestionControl.RenoFriendlyAlpha);
        Assert.True(cubic < reno - 5);
        Assert.InRange(cc.CongestionWindow / (double)Smss, reno - 1, reno + 1);
        Assert.Equal(3 * 0.3 / 1.7, CubicCongestionControl.RenoFriendlyAlpha, 12);
    }

    [Fact]
    public void Cubic_fast_convergence_lowers_W_max_when_the_window_did_not_regain_it()
    {
        var cc = CubicAt(100);
        cc.OnEnterRecovery(100 * Smss, 0);
        cc.OnExitRecovery(100 * Smss);
        Assert.Equal(100, cc.WindowMax);
        cc.OnEnterRecovery(70 * Smss, 0); // second loss at 70 < 100
        Assert.Equal(70 * 1.7 / 2, cc.WindowMax, 9);
        Assert.Equal(49 * Smss, cc.SlowStartThreshold);
    }

    [Fact]
    public void Cubic_growth_per_ACK_is_at_most_half_a_window_per_round_trip()
    {
        var cc = CubicAt(10);
        cc.OnEnterRecovery(10 * Smss, 0);
        cc.OnExitRecovery(10 * Smss); // cwnd 7, W_max 10
        var before = cc.CongestionWindow;
        // Long after the epoch began, W_cubic is huge: the target is capped at 1.5 cwnd.
        cc.OnAck(Smss, At(0), Rtt);
        for (var i = 0; i < 7; i++)
        {
            cc.OnAck(Smss, At(100), Rtt);
        }
        Assert.InRange(cc.CongestionWindow, before, before + (before / 2) + Smss);
    }

    [Fact]
    public void Cubic_after_a_timeout_slow_starts_to_ssthresh_and_then_starts_a_new_epoch()
    {
        var cc = CubicAt(100);
        cc.OnRetransmissionTimeout(100 * Smss, At(0));
        Assert.Equal(Smss, cc.CongestionWindow);
        Assert.Equal(70 * Smss, cc.SlowStartThreshold);
        var now = 0.0;
        while (cc.CongestionWindow < cc.SlowStartThreshold)
        {
            now += 0.001;
            cc.OnAck(Smss, At(now), Rtt);
        }
        Assert.Equal(70 * Smss, cc.CongestionWindow);
        cc.OnAck(Smss, At(now), Rtt);
        Assert.Equal(Math.Cbrt(30 / 0.4), cc.K, 9);
    }

    private static CubicCongestionControl CubicAt(int segments)
    {
        var cc = new CubicCongestionControl(Smss, Frequency);
        // Slow start to the given window with ACKs at time zero.
        while (cc.CongestionWindow < segments * Smss)
        {
            cc.OnAck(Smss, 0, Rtt);
        }
        Assert.Equal(segments * Smss, cc.CongestionWindow);
        return cc;
    }
}
