namespace Pangolin.Netstack.Fuzz;

/// <summary>
/// A clock that moves only when told, for deterministic fuzzing: timers fire inside <see cref="Advance"/>, on the
/// caller's thread, in deadline order, each at its own time. Nothing runs on the thread pool, so an input replays
/// the same way every time.
/// </summary>
internal sealed class ManualTimeProvider : TimeProvider
{
    /// <summary>More timer callbacks than this in one advance means a timer that re-arms itself for "now" forever.</summary>
    private const int MaxFiringsPerAdvance = 100_000;

    private readonly List<ManualTimer> _timers = [];
    private long _now = 100 * TimeSpan.TicksPerSecond;

    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    public override long GetTimestamp() => _now;

    public override DateTimeOffset GetUtcNow() => new DateTimeOffset(2000, 1, 1, 0, 0, 0, TimeSpan.Zero).AddTicks(_now);

    public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var timer = new ManualTimer(this, callback, state);
        _timers.Add(timer);
        timer.Change(dueTime, period);
        return timer;
    }

    public void Advance(TimeSpan delta)
    {
        var target = _now + delta.Ticks;
        var firings = 0;
        while (true)
        {
            ManualTimer? next = null;
            foreach (var timer in _timers)
            {
                if (timer.Due <= target && (next is null || timer.Due < next.Due))
                {
                    next = timer;
                }
            }
            if (next is null)
            {
                break;
            }
            if (++firings > MaxFiringsPerAdvance)
            {
                throw new InvalidOperationException("A timer keeps re-arming itself without time passing (a livelock).");
            }
            _now = Math.Max(_now, next.Due);
            next.Fire();
        }
        _now = target;
    }

    private sealed class ManualTimer(ManualTimeProvider owner, TimerCallback callback, object? state) : ITimer
    {
        private long _period = long.MaxValue;

        public long Due { get; private set; } = long.MaxValue;

        public bool Change(TimeSpan dueTime, TimeSpan period)
        {
            Due = dueTime == Timeout.InfiniteTimeSpan ? long.MaxValue : owner._now + Math.Max(0, dueTime.Ticks);
            _period = period == Timeout.InfiniteTimeSpan || period <= TimeSpan.Zero ? long.MaxValue : period.Ticks;
            return true;
        }

        public void Fire()
        {
            Due = _period == long.MaxValue ? long.MaxValue : Due + _period;
            callback(state);
        }

        public void Dispose()
        {
            Due = long.MaxValue;
            owner._timers.Remove(this);
        }

        public ValueTask DisposeAsync()
        {
            Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
