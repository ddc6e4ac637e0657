using Microsoft.Extensions.Time.Testing;
using Pangolin.Netstack.Tcp;

namespace Pangolin.Netstack.Tests.Tcp;

public sealed class RetransmissionTimerTests
{
    private static TimeSpan Ms(double milliseconds) => TimeSpan.FromMilliseconds(milliseconds);

    private static RetransmissionTimer NewTimer(RetransmissionTimerOptions? options = null) =>
        new(options ?? RetransmissionTimerOptions.Default, TimeSpan.TicksPerSecond);

    [Fact]
    public void Before_any_sample_the_RTO_is_one_second()
    {
        var timer = NewTimer();
        Assert.Equal(TimeSpan.FromSeconds(1), timer.Rto);
        Assert.False(timer.HasSample);
    }

    [Fact]
    public void The_first_sample_sets_SRTT_to_R_and_RTTVAR_to_half_of_it()
    {
        var timer = NewTimer();
        Assert.True(timer.AddSample(Ms(100)));
        Assert.Equal(Ms(100), timer.SmoothedRtt);
        Assert.Equal(Ms(50), timer.RttVariance);
        Assert.Equal(Ms(300), timer.Rto); // 100 + 4 * 50
    }

    [Fact]
    public void Later_samples_use_alpha_one_eighth_and_beta_one_quarter_with_the_old_SRTT()
    {
        var timer = NewTimer();
        timer.AddSample(Ms(100));
        timer.AddSample(Ms(200));
        Assert.Equal(Ms(62.5), timer.RttVariance); // 3/4 * 50 + 1/4 * |100 - 200|
        Assert.Equal(Ms(112.5), timer.SmoothedRtt); // 7/8 * 100 + 1/8 * 200
        Assert.Equal(Ms(362.5), timer.Rto);
        timer.AddSample(Ms(40));
        Assert.Equal(Ms(65), timer.RttVariance); // 3/4 * 62.5 + 1/4 * 72.5
        Assert.Equal(Ms(103.4375), timer.SmoothedRtt); // 7/8 * 112.5 + 1/8 * 40
    }

    [Fact]
    public void The_RTO_never_goes_below_the_minimum_of_200_ms_by_default()
    {
        var timer = NewTimer();
        timer.AddSample(Ms(10));
        Assert.Equal(Ms(200), timer.Rto);
    }

    [Fact]
    public void The_minimum_is_configurable_to_the_RFC_value_of_one_second()
    {
        var timer = NewTimer(new RetransmissionTimerOptions { MinRto = TimeSpan.FromSeconds(1) });
        timer.AddSample(Ms(100));
        Assert.Equal(TimeSpan.FromSeconds(1), timer.Rto);
    }

    [Fact]
    public void The_variance_term_is_never_below_the_clock_granularity()
    {
        var timer = NewTimer(new RetransmissionTimerOptions { MinRto = Ms(1), Granularity = Ms(100) });
        for (var i = 0; i < 200; i++)
        {
            timer.AddSample(Ms(50));
        }
        Assert.True(timer.RttVariance < Ms(1));
        Assert.Equal(Ms(150), timer.Rto);
    }

    [Fact]
    public void Backoff_doubles_up_to_120_seconds()
    {
        var timer = NewTimer();
        double[] expected = [2, 4, 8, 16, 32, 64, 120, 120];
        foreach (var seconds in expected)
        {
            timer.BackOff();
            Assert.Equal(TimeSpan.FromSeconds(seconds), timer.Rto);
        }
        Assert.Equal(8, timer.Backoffs);
    }

    [Fact]
    public void A_large_sample_is_capped_at_the_maximum()
    {
        var timer = NewTimer();
        timer.AddSample(TimeSpan.FromSeconds(100));
        Assert.Equal(TimeSpan.FromSeconds(120), timer.Rto);
    }

    [Fact]
    public void Karn_a_sample_from_a_retransmitted_segment_is_ignored_and_the_backoff_kept()
    {
        var timer = NewTimer();
        timer.AddSample(Ms(100));
        timer.BackOff();
        timer.BackOff();
        Assert.Equal(Ms(1200), timer.Rto);
        Assert.False(timer.AddSample(Ms(5000), fromRetransmittedSegment: true));
        Assert.Equal(Ms(1200), timer.Rto);
        Assert.Equal(Ms(100), timer.SmoothedRtt);
        Assert.Equal(2, timer.Backoffs);
    }

    [Fact]
    public void A_valid_sample_after_backoff_recomputes_the_RTO()
    {
        var timer = NewTimer();
        timer.AddSample(Ms(100));
        timer.BackOff();
        Assert.True(timer.AddSample(Ms(100)));
        Assert.Equal(0, timer.Backoffs);
        Assert.Equal(Ms(250), timer.Rto); // SRTT 100 + 4 * (3/4 * 50)
    }

    [Fact]
    public void ResetBackoff_returns_to_the_computed_or_initial_RTO()
    {
        var timer = NewTimer();
        timer.BackOff();
        timer.ResetBackoff();
        Assert.Equal(TimeSpan.FromSeconds(1), timer.Rto);
        timer.AddSample(Ms(100));
        timer.BackOff();
        timer.ResetBackoff();
        Assert.Equal(Ms(300), timer.Rto);
        Assert.Equal(0, timer.Backoffs);
    }

    [Fact]
    public void After_a_lost_SYN_without_a_sample_data_starts_with_three_seconds()
    {
        var timer = NewTimer();
        timer.BackOff();
        timer.UseConservativeInitialRto();
        Assert.Equal(TimeSpan.FromSeconds(3), timer.Rto);
        var sampled = NewTimer();
        sampled.AddSample(Ms(100));
        sampled.UseConservativeInitialRto();
        Assert.Equal(Ms(300), sampled.Rto);
    }

    [Fact]
    public void Timestamp_samples_with_several_per_window_move_the_estimate_less()
    {
        var timer = NewTimer();
        timer.AddSample(Ms(100));
        timer.AddSample(Ms(200), expectedSamples: 5);
        Assert.Equal(Ms(102.5), timer.SmoothedRtt); // alpha / 5 = 1/40
        Assert.Equal(Ms(52.5), timer.RttVariance); // beta / 5 = 1/20: 50 + (100 - 50) / 20
    }

    [Fact]
    public void The_timer_expires_one_RTO_after_it_was_started_in_fake_time()
    {
        var time = new FakeTimeProvider();
        var timer = new RetransmissionTimer(RetransmissionTimerOptions.Default, time.TimestampFrequency);
        Assert.False(timer.IsRunning);
        Assert.False(timer.IsExpired(time.GetTimestamp()));
        var start = time.GetTimestamp();
        timer.Start(start);
        Assert.Equal(start + time.TimestampFrequency, timer.Deadline);
        time.Advance(Ms(999));
        Assert.False(timer.IsExpired(time.GetTimestamp()));
        time.Advance(Ms(1));
        Assert.True(timer.IsExpired(time.GetTimestamp()));
    }

    [Fact]
    public void StartIfStopped_does_not_push_a_running_timer_back_and_Stop_stops_it()
    {
        var time = new FakeTimeProvider();
        var timer = new RetransmissionTimer(RetransmissionTimerOptions.Default, time.TimestampFrequency);
        timer.StartIfStopped(time.GetTimestamp());
        var deadline = timer.Deadline;
        time.Advance(Ms(500));
        timer.StartIfStopped(time.GetTimestamp());
        Assert.Equal(deadline, timer.Deadline);
        timer.Start(time.GetTimestamp());
        Assert.True(timer.Deadline > deadline);
        timer.Stop();
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(timer.IsExpired(time.GetTimestamp()));
        Assert.Throws<InvalidOperationException>(() => timer.Deadline);
    }
}
