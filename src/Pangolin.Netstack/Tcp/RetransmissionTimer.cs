namespace Pangolin.Netstack.Tcp;

/// <summary>The retransmission timer's constants (RFC 6298 §2).</summary>
internal sealed record RetransmissionTimerOptions
{
    /// <summary>
    /// The lower bound on the RTO. RFC 6298 §2.4 says 1 s (SHOULD); like Linux (TCP_RTO_MIN) and gVisor we use
    /// 200 ms: on the paths this stack serves (tunnels of a few to a few hundred ms) 1 s stalls a connection after
    /// every loss that fast retransmit cannot repair, and the RFC's conservative bound predates widespread SACK.
    /// </summary>
    public TimeSpan MinRto { get; init; } = TimeSpan.FromMilliseconds(200);

    /// <summary>The upper bound (RFC 6298 §2.5: at least 60 s; Linux's TCP_RTO_MAX is 120 s).</summary>
    public TimeSpan MaxRto { get; init; } = TimeSpan.FromSeconds(120);

    /// <summary>The RTO before the first sample (RFC 6298 §2.1).</summary>
    public TimeSpan InitialRto { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The clock granularity G (RFC 6298 §2.2-2.3): the variance term is never below it.</summary>
    public TimeSpan Granularity { get; init; } = TimeSpan.FromMilliseconds(1);

    public static RetransmissionTimerOptions Default { get; } = new();
}

/// <summary>
/// The retransmission timeout (RFC 6298): SRTT and RTTVAR from RTT samples, the RTO derived from them, exponential
/// backoff on expiry, and the timer's deadline. Pure state: the connection passes in RTT samples as durations and
/// the current time as a <see cref="TimeProvider.GetTimestamp"/> value.
/// </summary>
internal sealed class RetransmissionTimer
{
    /// <summary>RFC 6298 §5.7: the RTO to restore when data starts after a lost SYN and no sample was taken.</summary>
    public static readonly TimeSpan ConservativeInitialRto = TimeSpan.FromSeconds(3);

    private const int K = 4;

    private readonly RetransmissionTimerOptions _options;
    private readonly long _timestampFrequency;
    private long _deadline;

    public RetransmissionTimer(RetransmissionTimerOptions options, long timestampFrequency)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timestampFrequency, 0);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.MinRto, TimeSpan.Zero, nameof(options));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.MaxRto, options.MinRto, nameof(options));
        _options = options;
        _timestampFrequency = timestampFrequency;
        Rto = options.InitialRto;
    }

    /// <summary>The current RTO, backoff included.</summary>
    public TimeSpan Rto { get; private set; }

    /// <summary>SRTT; zero until the first sample.</summary>
    public TimeSpan SmoothedRtt { get; private set; }

    /// <summary>RTTVAR; zero until the first sample.</summary>
    public TimeSpan RttVariance { get; private set; }

    public bool HasSample { get; private set; }

    /// <summary>How many times the RTO has been doubled since the last sample or reset.</summary>
    public int Backoffs { get; private set; }

    public bool IsRunning { get; private set; }

    /// <summary>When the running timer expires, as a timestamp.</summary>
    public long Deadline => IsRunning ? _deadline : throw new InvalidOperationException("The timer is not running.");

    /// <summary>
    /// Takes an RTT measurement (RFC 6298 §2.2-2.3) and recomputes the RTO, which also undoes any backoff (§5.7).
    /// Karn's rule (§3): a sample from a segment that was retransmitted is ambiguous and is ignored — the caller
    /// says so with <paramref name="fromRetransmittedSegment"/>. Timestamp echoes (RFC 7323 §4) are not ambiguous:
    /// pass false for those. <paramref name="expectedSamples"/> spreads the gain over several samples per RTT as
    /// RFC 7323 §4.2 suggests (ceil(FlightSize / (2 * SMSS))); 1 gives RFC 6298's per-RTT gains.
    /// Returns false when the sample was ignored.
    /// </summary>
    public bool AddSample(TimeSpan rtt, bool fromRetransmittedSegment = false, int expectedSamples = 1)
    {
        if (fromRetransmittedSegment || rtt < TimeSpan.Zero)
        {
            return false;
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(expectedSamples, 1);
        var r = rtt.Ticks;
        if (!HasSample)
        {
            // §2.2: SRTT <- R, RTTVAR <- R/2.
            SmoothedRtt = rtt;
            RttVariance = TimeSpan.FromTicks(r / 2);
            HasSample = true;
        }
        else
        {
            // §2.3: RTTVAR <- (1 - beta) * RTTVAR + beta * |SRTT - R'| with beta = 1/4, then
            // SRTT <- (1 - alpha) * SRTT + alpha * R' with alpha = 1/8; RTTVAR first, with the old SRTT.
            var srtt = SmoothedRtt.Ticks;
            var rttvar = RttVariance.Ticks;
            var deviation = Math.Abs(srtt - r);
            rttvar -= (rttvar - deviation) / (4L * expectedSamples);
            srtt -= (srtt - r) / (8L * expectedSamples);
            SmoothedRtt = TimeSpan.FromTicks(srtt);
            RttVariance = TimeSpan.FromTicks(rttvar);
        }
        Backoffs = 0;
        Rto = ComputeRto();
        return true;
    }

    /// <summary>
    /// The timer expired (RFC 6298 §5.5): the RTO doubles, up to the maximum. The caller retransmits and restarts.
    /// </summary>
    public void BackOff()
    {
        Backoffs++;
        var doubled = Rto.Ticks > _options.MaxRto.Ticks / 2 ? _options.MaxRto : Rto * 2;
        Rto = doubled > _options.MaxRto ? _options.MaxRto : doubled;
    }

    /// <summary>
    /// Undoes backoff without a new sample: back to the RTO that SRTT and RTTVAR give (or the initial RTO without
    /// them). For when the connection learns the path is fine again by other means.
    /// </summary>
    public void ResetBackoff()
    {
        Backoffs = 0;
        Rto = HasSample ? ComputeRto() : _options.InitialRto;
    }

    /// <summary>
    /// RFC 6298 §5.7: when the SYN (or SYN-ACK) was retransmitted and no sample was taken, data transmission starts
    /// with an RTO of 3 s, not the shorter initial one.
    /// </summary>
    public void UseConservativeInitialRto()
    {
        if (!HasSample && Rto < ConservativeInitialRto)
        {
            Backoffs = 0;
            Rto = ConservativeInitialRto > _options.MaxRto ? _options.MaxRto : ConservativeInitialRto;
        }
    }

    /// <summary>(Re)starts the timer to expire one RTO after <paramref name="now"/> (RFC 6298 §5.1, §5.3, §5.6).</summary>
    public void Start(long now)
    {
        _deadline = now + (long)(Rto.Ticks * (double)_timestampFrequency / TimeSpan.TicksPerSecond);
        IsRunning = true;
    }

    /// <summary>Starts the timer only if it is not running (RFC 6298 §5.1: sending data must not push it back).</summary>
    public void StartIfStopped(long now)
    {
        if (!IsRunning)
        {
            Start(now);
        }
    }

    /// <summary>All outstanding data was acknowledged (RFC 6298 §5.2).</summary>
    public void Stop() => IsRunning = false;

    public bool IsExpired(long now) => IsRunning && now - _deadline >= 0;

    private TimeSpan ComputeRto()
    {
        // §2.3: RTO <- SRTT + max(G, K * RTTVAR), then the bounds of §2.4 and §2.5.
        var variance = Math.Max(_options.Granularity.Ticks, K * RttVariance.Ticks);
        var rto = TimeSpan.FromTicks(SmoothedRtt.Ticks + variance);
        if (rto < _options.MinRto)
        {
            return _options.MinRto;
        }
        return rto > _options.MaxRto ? _options.MaxRto : rto;
    }
}
