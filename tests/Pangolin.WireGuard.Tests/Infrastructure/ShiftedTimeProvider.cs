namespace Pangolin.WireGuard.Tests.Infrastructure;

/// <summary>
/// The system clock plus an offset the test can move forward: timestamps and wall-clock time jump, while timers
/// keep running on the real clock. Lets a device in a real network believe its sessions are minutes old.
/// </summary>
internal sealed class ShiftedTimeProvider : TimeProvider
{
    private long _offsetTicks;

    public TimeSpan Offset => TimeSpan.FromTicks(Interlocked.Read(ref _offsetTicks));

    public void Shift(TimeSpan by) => Interlocked.Add(ref _offsetTicks, by.Ticks);

    public override DateTimeOffset GetUtcNow() => System.GetUtcNow() + Offset;

    public override long GetTimestamp() =>
        System.GetTimestamp() + (long)(Offset.Ticks * (double)TimestampFrequency / TimeSpan.TicksPerSecond);

    public override long TimestampFrequency => System.TimestampFrequency;

    public override TimeZoneInfo LocalTimeZone => System.LocalTimeZone;
}
