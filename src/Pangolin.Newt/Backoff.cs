namespace Pangolin.Newt;

/// <summary>
/// Full-jitter exponential backoff (AWS Architecture Blog, "Exponential Backoff and Jitter", 2015): attempt n waits a
/// uniformly random time in [0, min(cap, base × factor^n)). Full jitter spreads reconnecting newts apart after a
/// server restart instead of having them return in waves.
/// </summary>
/// <remarks>Not thread-safe: one reconnect loop owns one instance.</remarks>
internal sealed class Backoff
{
    public static readonly TimeSpan DefaultBase = TimeSpan.FromSeconds(0.5);
    public static readonly TimeSpan DefaultCap = TimeSpan.FromSeconds(60);
    public const double DefaultFactor = 2;

    private readonly Random _random;
    private int _attempt;

    public Backoff(Random random, TimeSpan? baseDelay = null, double factor = DefaultFactor, TimeSpan? cap = null)
    {
        ArgumentNullException.ThrowIfNull(random);
        Base = baseDelay ?? DefaultBase;
        Cap = cap ?? DefaultCap;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(Base, TimeSpan.Zero, nameof(baseDelay));
        ArgumentOutOfRangeException.ThrowIfLessThan(Cap, Base, nameof(cap));
        ArgumentOutOfRangeException.ThrowIfLessThan(factor, 1, nameof(factor));
        _random = random;
        Factor = factor;
    }

    public TimeSpan Base { get; }

    public double Factor { get; }

    public TimeSpan Cap { get; }

    /// <summary>Doublings since the last <see cref="Reset"/>; it stops growing once the ceiling reaches the cap.</summary>
    public int Attempt => _attempt;

    /// <summary>The upper bound of the next delay: min(cap, base × factor^attempt).</summary>
    public TimeSpan Ceiling
    {
        get
        {
            var ceiling = Base.TotalSeconds * Math.Pow(Factor, _attempt);
            // Past the cap the power keeps growing (to infinity), so compare before converting.
            return ceiling >= Cap.TotalSeconds ? Cap : TimeSpan.FromSeconds(ceiling);
        }
    }

    /// <summary>The delay before the next attempt; each call moves one attempt on.</summary>
    public TimeSpan Next()
    {
        var ceiling = Ceiling;
        // Stop counting once capped, so the attempt number cannot overflow on a newt left disconnected for years.
        if (ceiling < Cap)
        {
            _attempt++;
        }
        return TimeSpan.FromTicks((long)(_random.NextDouble() * ceiling.Ticks));
    }

    /// <summary>Back to the first attempt (after a connection stayed up long enough).</summary>
    public void Reset() => _attempt = 0;
}
