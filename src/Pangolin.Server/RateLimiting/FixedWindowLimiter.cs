using System.Collections.Concurrent;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.RateLimiting;

/// <summary>
/// Fixed-window counters keyed by scope and caller (IP, e-mail, user), on the injected clock so tests can
/// advance time. One node keeps them in memory; a shared store can replace this for several nodes.
/// </summary>
public interface IRateLimiter
{
    /// <summary>Counts one attempt; false (with the wait) when the window's budget is spent.</summary>
    bool TryAcquire(string scope, string key, RateLimitWindow window, out TimeSpan retryAfter);

    /// <summary>Whether an attempt would be allowed now, without counting one.</summary>
    bool TryPeek(string scope, string key, RateLimitWindow window, out TimeSpan retryAfter);

    /// <summary>Forgets a key's attempts (after a success that should not count against the owner).</summary>
    void Reset(string scope, string key);
}

internal sealed class FixedWindowLimiter(TimeProvider time) : IRateLimiter
{
    private const int SweepThreshold = 50_000;
    private readonly ConcurrentDictionary<(string Scope, string Key), Window> _windows = new();
    private long _lastSweepTicks;

    public bool TryAcquire(string scope, string key, RateLimitWindow window, out TimeSpan retryAfter)
    {
        var now = time.GetUtcNow();
        var length = TimeSpan.FromMinutes(window.WindowMinutes);
        var entry = _windows.GetOrAdd((scope, key), static (_, n) => new Window(n), now);
        lock (entry)
        {
            if (now - entry.Start >= length)
            {
                entry.Start = now;
                entry.Count = 0;
            }
            entry.Length = length;
            if (entry.Count >= window.MaxRequests)
            {
                retryAfter = entry.Start + length - now;
                return false;
            }
            entry.Count++;
        }
        retryAfter = TimeSpan.Zero;
        SweepIfLarge(now);
        return true;
    }

    public bool TryPeek(string scope, string key, RateLimitWindow window, out TimeSpan retryAfter)
    {
        retryAfter = TimeSpan.Zero;
        if (!_windows.TryGetValue((scope, key), out var entry))
        {
            return true;
        }
        lock (entry)
        {
            var now = time.GetUtcNow();
            var length = TimeSpan.FromMinutes(window.WindowMinutes);
            if (now - entry.Start >= length || entry.Count < window.MaxRequests)
            {
                return true;
            }
            retryAfter = entry.Start + length - now;
            return false;
        }
    }

    public void Reset(string scope, string key) => _windows.TryRemove((scope, key), out _);

    // Expired windows are dropped lazily so that a flood of distinct keys cannot grow memory for ever.
    private void SweepIfLarge(DateTimeOffset now)
    {
        if (_windows.Count < SweepThreshold || now.UtcTicks - Interlocked.Read(ref _lastSweepTicks) < TimeSpan.TicksPerSecond)
        {
            return;
        }
        Interlocked.Exchange(ref _lastSweepTicks, now.UtcTicks);
        foreach (var (key, entry) in _windows)
        {
            if (now - entry.Start >= entry.Length)
            {
                _windows.TryRemove(key, out _);
            }
        }
    }

    private sealed class Window(DateTimeOffset start)
    {
        public DateTimeOffset Start { get; set; } = start;
        public int Count { get; set; }
        public TimeSpan Length { get; set; }
    }
}
