namespace Pangolin.Netstack.Tcp;

/// <summary>
/// A sender's congestion control, in bytes with a fixed SMSS. The connection reports events; loss detection (which
/// ACK is a duplicate, where recovery ends) is the connection's, so that SACK-based recovery (RFC 6675) can drive the
/// same algorithms.
/// </summary>
internal interface ICongestionControl
{
    /// <summary>cwnd in bytes.</summary>
    int CongestionWindow { get; }

    /// <summary>ssthresh in bytes; <see cref="int.MaxValue"/> until the first congestion event.</summary>
    int SlowStartThreshold { get; }

    bool InRecovery { get; }

    /// <summary>
    /// An ACK that advanced SND.UNA by <paramref name="bytesAcked"/>, received at <paramref name="now"/> (a
    /// <see cref="TimeProvider.GetTimestamp"/> value), with <paramref name="rtt"/> the smoothed RTT. In recovery
    /// this is a partial ACK (RFC 6582 §3.2 step 5); the full ACK is reported with <see cref="OnExitRecovery"/>.
    /// </summary>
    void OnAck(int bytesAcked, long now, TimeSpan rtt);

    /// <summary>
    /// A duplicate ACK (RFC 5681 §2). True on the third outside recovery: the caller then retransmits the first
    /// unacknowledged segment and calls <see cref="OnEnterRecovery"/> (fast retransmit, RFC 5681 §3.2).
    /// </summary>
    bool OnDuplicateAck();

    /// <summary>
    /// Fast retransmit happened: reduce (RFC 5681 §3.2 steps 2-3, RFC 9438 §4.6) and enter fast recovery. With
    /// <paramref name="sackBased"/> the connection counts what is in flight itself (RFC 6675's pipe): cwnd becomes
    /// ssthresh and stays there until recovery ends, without NewReno's inflation and deflation.
    /// </summary>
    void OnEnterRecovery(int flightSize, long now, bool sackBased = false);

    /// <summary>A full ACK (one covering the recovery point) arrived; <paramref name="flightSize"/> is after it.</summary>
    void OnExitRecovery(int flightSize);

    /// <summary>The retransmission timer expired (RFC 5681 §3.1 eq. 4, RFC 9438 §4.8): one segment, slow start again.</summary>
    void OnRetransmissionTimeout(int flightSize, long now);
}

/// <summary>
/// What NewReno and CUBIC share: slow start, the initial window, duplicate-ACK counting and NewReno's fast
/// recovery (RFC 6582) with its window inflation, partial-ACK deflation and exit.
/// </summary>
internal abstract class CongestionControlBase : ICongestionControl
{
    /// <summary>The dupack threshold for fast retransmit (RFC 5681 §3.2).</summary>
    public const int DuplicateAckThreshold = 3;

    private int _duplicateAcks;
    private bool _sackBased;

    protected CongestionControlBase(int smss, long timestampFrequency)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(smss, 1);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timestampFrequency, 0);
        Smss = smss;
        TimestampFrequency = timestampFrequency;
        CongestionWindow = InitialWindow(smss);
        SlowStartThreshold = int.MaxValue;
    }

    public int Smss { get; }

    public int CongestionWindow { get; protected set; }

    public int SlowStartThreshold { get; protected set; }

    public bool InRecovery { get; private set; }

    public int DuplicateAcks => _duplicateAcks;

    protected long TimestampFrequency { get; }

    /// <summary>RFC 6928 §2: min(10 * MSS, max(2 * MSS, 14600)).</summary>
    public static int InitialWindow(int smss) => Math.Min(10 * smss, Math.Max(2 * smss, 14600));

    public void OnAck(int bytesAcked, long now, TimeSpan rtt)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(bytesAcked);
        _duplicateAcks = 0;
        InTimeoutEpisode = false;
        if (InRecovery && _sackBased)
        {
            return; // RFC 6675 §5: cwnd stays at ssthresh; the pipe estimate paces the sending
        }
        if (InRecovery)
        {
            // RFC 6582 §3.2 step 5: deflate by the amount acknowledged, add back one SMSS if at least that much was
            // acknowledged, so about ssthresh bytes stay in flight once recovery ends.
            var window = (long)CongestionWindow - bytesAcked;
            if (bytesAcked >= Smss)
            {
                window += Smss;
            }
            CongestionWindow = (int)Math.Max(window, Smss);
            return;
        }
        if (CongestionWindow < SlowStartThreshold)
        {
            // Byte counting (RFC 3465) without RFC 5681's one-SMSS cap per ACK, as Linux does: a receiver that
            // coalesces (GRO, or our stack's ACK per receive batch) sends stretch ACKs, and a per-ACK cap would slow
            // slow start down to its ACK rate. No further than ssthresh; the rest counts towards congestion avoidance.
            var growth = bytesAcked;
            var room = SlowStartThreshold - CongestionWindow;
            if (growth <= room)
            {
                CongestionWindow += growth;
                return;
            }
            CongestionWindow = SlowStartThreshold;
            bytesAcked -= room;
        }
        if (bytesAcked > 0)
        {
            OnCongestionAvoidanceAck(bytesAcked, now, rtt);
        }
    }

    public bool OnDuplicateAck()
    {
        if (InRecovery)
        {
            if (_sackBased)
            {
                return false; // the pipe estimate already counts what the SACKs say has left the network
            }
            // RFC 5681 §3.2 step 4: each further dupack means a segment left the network.
            CongestionWindow = (int)Math.Min((long)CongestionWindow + Smss, int.MaxValue);
            return false;
        }
        return ++_duplicateAcks == DuplicateAckThreshold;
    }

    public void OnEnterRecovery(int flightSize, long now, bool sackBased = false)
    {
        SlowStartThreshold = Math.Max(ReducedThreshold(flightSize, now), 2 * Smss);
        _sackBased = sackBased;
        // RFC 5681 §3.2 step 3: inflate by the three segments the dupacks say have left the network — unless the
        // pipe estimate counts them (RFC 6675 §5 step 4.2: cwnd = ssthresh).
        CongestionWindow = SlowStartThreshold + (sackBased ? 0 : DuplicateAckThreshold * Smss);
        InRecovery = true;
        _duplicateAcks = 0;
    }

    public void OnExitRecovery(int flightSize)
    {
        // RFC 6582 §3.2 step 6, option (1): min(ssthresh, max(FlightSize, SMSS) + SMSS), which avoids a burst
        // when little is in flight.
        CongestionWindow = (int)Math.Min(SlowStartThreshold, (long)Math.Max(flightSize, Smss) + Smss);
        InRecovery = false;
        _duplicateAcks = 0;
    }

    public void OnRetransmissionTimeout(int flightSize, long now)
    {
        // Only the first timeout of a loss episode reduces ssthresh (RFC 5681 §3.1: on later ones the flight size
        // is already small). Recovery is abandoned.
        if (!InTimeoutEpisode)
        {
            SlowStartThreshold = Math.Max(ReducedThreshold(flightSize, now), 2 * Smss);
        }
        InTimeoutEpisode = true;
        CongestionWindow = Smss; // the loss window (RFC 5681 §3.1)
        InRecovery = false;
        _duplicateAcks = 0;
        OnLossWindow();
    }

    /// <summary>True between a timeout and the next new ACK.</summary>
    protected bool InTimeoutEpisode { get; set; }

    /// <summary>ssthresh after a congestion event (before the 2 * SMSS floor).</summary>
    protected abstract int ReducedThreshold(int flightSize, long now);

    /// <summary>Growth above ssthresh for <paramref name="bytesAcked"/> newly acknowledged bytes.</summary>
    protected abstract void OnCongestionAvoidanceAck(int bytesAcked, long now, TimeSpan rtt);

    protected virtual void OnLossWindow()
    {
    }

    protected double Seconds(long timestampDelta) => timestampDelta / (double)TimestampFrequency;
}

/// <summary>NewReno: RFC 5681's slow start and congestion avoidance with RFC 6582's fast recovery.</summary>
internal sealed class NewRenoCongestionControl(int smss, long timestampFrequency) : CongestionControlBase(smss, timestampFrequency)
{
    private long _bytesAckedInAvoidance;

    /// <summary>RFC 5681 §3.1 eq. 4: max(FlightSize / 2, 2 * SMSS).</summary>
    protected override int ReducedThreshold(int flightSize, long now)
    {
        _bytesAckedInAvoidance = 0;
        return flightSize / 2;
    }

    /// <summary>RFC 5681 §3.1: byte counting, one SMSS per cwnd of acknowledged bytes (RFC 3465).</summary>
    protected override void OnCongestionAvoidanceAck(int bytesAcked, long now, TimeSpan rtt)
    {
        _bytesAckedInAvoidance += bytesAcked;
        if (_bytesAckedInAvoidance >= CongestionWindow)
        {
            _bytesAckedInAvoidance -= CongestionWindow;
            CongestionWindow = (int)Math.Min((long)CongestionWindow + Smss, int.MaxValue);
        }
    }
}

/// <summary>
/// CUBIC (RFC 9438): after a reduction the window follows W_cubic(t) = C (t - K)^3 + W_max, concave up to the
/// previous maximum and convex beyond it, never below what Reno would have (the Reno-friendly region, §4.3), and
/// with fast convergence (§4.7). Computed in segments and seconds as the RFC writes it, kept in bytes.
/// </summary>
internal sealed class CubicCongestionControl(int smss, long timestampFrequency) : CongestionControlBase(smss, timestampFrequency)
{
    /// <summary>RFC 9438 §5.1.</summary>
    public const double C = 0.4;

    /// <summary>The multiplicative decrease factor (RFC 9438 §4.6).</summary>
    public const double Beta = 0.7;

    /// <summary>Reno's additive increase for the same average window (RFC 9438 §4.3, eq. 4).</summary>
    public const double RenoFriendlyAlpha = 3 * (1 - Beta) / (1 + Beta);

    private bool _epochStarted;
    private long _epochStart;
    private double _k;
    private double _windowEstimate;
    private double _pendingBytes;

    /// <summary>W_max in segments: the window at the last congestion event (after fast convergence).</summary>
    public double WindowMax { get; private set; }

    /// <summary>cwnd_prior in segments: the window just before the last reduction.</summary>
    public double WindowPrior { get; private set; }

    /// <summary>K in seconds for the current epoch.</summary>
    public double K => _k;

    /// <summary>W_est in segments.</summary>
    public double RenoEstimate => _windowEstimate;

    /// <summary>W_cubic(t) in segments (RFC 9438 eq. 1).</summary>
    public double CubicWindow(double t) => (C * Math.Pow(t - _k, 3)) + WindowMax;

    protected override int ReducedThreshold(int flightSize, long now)
    {
        var cwnd = CongestionWindow / (double)Smss;
        // §4.7 fast convergence: a window below the last maximum means a new flow is taking its share; give up
        // some of ours by remembering a lower maximum.
        WindowMax = cwnd < WindowMax ? cwnd * (1 + Beta) / 2 : cwnd;
        WindowPrior = cwnd;
        _epochStarted = false;
        _pendingBytes = 0;
        // §4.6: ssthresh = cwnd * beta_cubic.
        return (int)(CongestionWindow * Beta);
    }

    protected override void OnCongestionAvoidanceAck(int bytesAcked, long now, TimeSpan rtt)
    {
        var cwnd = CongestionWindow / (double)Smss;
        if (!_epochStarted)
        {
            // §4.2: the epoch begins with the first ACK in congestion avoidance.
            _epochStarted = true;
            _epochStart = now;
            _windowEstimate = cwnd;
            if (WindowMax <= cwnd)
            {
                // No known maximum above us (first epoch, or after slow start overshot it): start on the plateau.
                _k = 0;
                WindowMax = cwnd;
            }
            else
            {
                _k = Math.Cbrt((WindowMax - cwnd) / C); // eq. 2, cwnd_epoch = cwnd
            }
        }
        var segmentsAcked = bytesAcked / (double)Smss;

        // §4.3: Reno's window estimate, with alpha 1 once it is past the window before the reduction.
        var alpha = _windowEstimate >= WindowPrior ? 1.0 : RenoFriendlyAlpha;
        _windowEstimate += alpha * segmentsAcked / cwnd;

        var t = Seconds(now - _epochStart);
        double increment;
        var cubic = CubicWindow(t);
        if (cubic < _windowEstimate)
        {
            // The Reno-friendly region: cwnd = W_est.
            increment = _windowEstimate - cwnd;
        }
        else
        {
            // §4.4-4.5: aim for W_cubic one RTT ahead, bounded to [cwnd, 1.5 cwnd], and close (target - cwnd) / cwnd
            // of the gap per acknowledged segment.
            var target = Math.Clamp(CubicWindow(t + rtt.TotalSeconds), cwnd, 1.5 * cwnd);
            increment = (target - cwnd) / cwnd * segmentsAcked;
        }
        _pendingBytes += Math.Max(increment, 0) * Smss;
        if (_pendingBytes >= 1)
        {
            var whole = Math.Floor(_pendingBytes);
            _pendingBytes -= whole;
            CongestionWindow = (int)Math.Min(CongestionWindow + whole, int.MaxValue);
        }
    }

    protected override void OnLossWindow() => _epochStarted = false;
}
