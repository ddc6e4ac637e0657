using Pangolin.Server.Edge;

namespace Pangolin.Server.Dashboard;

/// <summary>
/// Tells open dashboard pages that what they show may have changed: a site came online or went away, a target's
/// health changed, bandwidth was counted, an admin edited something. Fed by the same committed-write signal as the
/// edge, and paced to at most one notice per <see cref="Pace"/> so that a burst of presence pings costs each page one
/// reload. Pages re-read through the API, so a notice carries no data and needs no authorization of its own.
/// </summary>
public sealed class DashboardEvents : IDisposable
{
    public static readonly TimeSpan Pace = TimeSpan.FromMilliseconds(500);

    private readonly ITimer _timer;
    private int _scheduled;

    public DashboardEvents(EdgeChangeSignal signal, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(signal);
        ArgumentNullException.ThrowIfNull(time);
        _timer = time.CreateTimer(_ => Fire(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        signal.Subscribe(Schedule);
    }

    /// <summary>Raised on a thread-pool thread; handlers marshal with InvokeAsync and must not throw.</summary>
    public event Action? Changed;

    /// <summary>Raises <see cref="Changed"/> soon (a change the database does not see, such as a tunnel's state).</summary>
    public void Schedule()
    {
        if (Interlocked.Exchange(ref _scheduled, 1) == 0)
        {
            _timer.Change(Pace, Timeout.InfiniteTimeSpan);
        }
    }

    private void Fire()
    {
        Volatile.Write(ref _scheduled, 0);
        Changed?.Invoke();
    }

    public void Dispose() => _timer.Dispose();
}
