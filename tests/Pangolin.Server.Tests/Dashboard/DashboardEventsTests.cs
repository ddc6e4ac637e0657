using Microsoft.Extensions.Time.Testing;
using Pangolin.Server.Dashboard;
using Pangolin.Server.Edge;

namespace Pangolin.Server.Tests.Dashboard;

public sealed class DashboardEventsTests
{
    [Fact]
    public void A_burst_of_writes_is_one_notice_after_the_pace_and_a_later_write_is_another()
    {
        var signal = new EdgeChangeSignal();
        var clock = new FakeTimeProvider();
        using var events = new DashboardEvents(signal, clock);
        var notices = 0;
        events.Changed += () => notices++;

        for (var i = 0; i < 50; i++)
        {
            signal.Raise();
        }
        Assert.Equal(0, notices);
        clock.Advance(DashboardEvents.Pace);
        Assert.Equal(1, notices);
        clock.Advance(DashboardEvents.Pace * 4);
        Assert.Equal(1, notices);

        events.Schedule();
        clock.Advance(DashboardEvents.Pace);
        Assert.Equal(2, notices);
    }
}
