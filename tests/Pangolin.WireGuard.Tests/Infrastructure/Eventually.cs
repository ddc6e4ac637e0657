using System.Diagnostics;

namespace Pangolin.WireGuard.Tests.Infrastructure;

/// <summary>Polls a condition until it holds or the deadline passes.</summary>
internal static class Eventually
{
    public static async Task<bool> TrueAsync(Func<bool> condition, TimeSpan within)
    {
        var deadline = Stopwatch.StartNew();
        while (!condition())
        {
            if (deadline.Elapsed > within)
            {
                return false;
            }
            await Task.Delay(10);
        }
        return true;
    }

    /// <summary>Polls an asynchronous condition (a command, say) every <paramref name="every"/> until it holds or the deadline passes.</summary>
    public static async Task<bool> TrueAsync(Func<Task<bool>> condition, TimeSpan within, TimeSpan every)
    {
        var deadline = Stopwatch.StartNew();
        while (!await condition())
        {
            if (deadline.Elapsed > within)
            {
                return false;
            }
            await Task.Delay(every);
        }
        return true;
    }
}
