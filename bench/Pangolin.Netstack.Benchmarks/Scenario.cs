using System.Globalization;

namespace Pangolin.Netstack.Benchmarks;

internal enum Metric
{
    BulkKernelToPeer,
    BulkPeerToKernel,
    RequestResponse,
}

internal sealed record ScenarioResult(
    string Path,
    Metric Metric,
    double? Value,
    double MinPerSecond,
    double MaxPerSecond,
    int StalledSeconds,
    double UserCores,
    double SystemCores,
    double MachineCores,
    double? ReaderCores,
    double? PacketsPerSecond,
    IReadOnlyDictionary<string, long> CounterChanges,
    string? Failure);

/// <summary>
/// Runs one metric over one path: connects, starts the loops, lets them warm up, samples once a second for the
/// measured time, then stops them and waits (bounded) for both ends to close. A hang or an exception becomes the
/// result's <see cref="ScenarioResult.Failure"/>, with the path's counters, rather than an endless run.
/// </summary>
internal static class Scenario
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(15);
    private static readonly TimeSpan SettleTime = TimeSpan.FromMilliseconds(500);

    public static string Describe(Metric metric) => metric switch
    {
        Metric.BulkKernelToPeer => "bulk kernel → peer (Gbit/s)",
        Metric.BulkPeerToKernel => "bulk peer → kernel (Gbit/s)",
        Metric.RequestResponse => "1-byte request/response (transactions/s)",
        _ => throw new ArgumentOutOfRangeException(nameof(metric)),
    };

    /// <summary>Gbit/s for bulk (the count is bytes), transactions/s for request/response.</summary>
    public static double Scale(Metric metric, double perSecond) =>
        metric == Metric.RequestResponse ? perSecond : perSecond * 8 / 1e9;

    public static async Task<ScenarioResult> RunAsync(BenchPath path, Metric metric, int port, BenchOptions options, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(path);
        ArgumentNullException.ThrowIfNull(options);
        var before = path.Counters();
        using var scenario = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);

        BenchConnection connection;
        using (var connecting = CancellationTokenSource.CreateLinkedTokenSource(scenario.Token))
        {
            connecting.CancelAfter(ConnectTimeout);
            try
            {
                connection = metric == Metric.BulkPeerToKernel
                    ? await path.PeerConnectsAsync(port, connecting.Token).ConfigureAwait(false)
                    : await path.KernelConnectsAsync(port, connecting.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
            {
                return Failed(path, metric, before, $"no connection within {ConnectTimeout.TotalSeconds} s");
            }
            catch (Exception exception) when (exception is System.Net.Sockets.SocketException or IOException)
            {
                // Refused or reset while connecting: a finding about this path, and the other scenarios still run.
                return Failed(path, metric, before, $"connecting failed: {exception.GetType().Name}: {exception.Message}");
            }
        }

        ScenarioResult result;
        using (connection)
        {
            try
            {
                result = await MeasureAsync(path, metric, connection, options, before, scenario, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                // Whatever ended the measurement, no loop outlives its connection.
                scenario.Cancel();
            }
        }
        // The counters once the connection is closed on both ends and its last ACKs have crossed.
        await Task.Delay(SettleTime, cancellationToken).ConfigureAwait(false);
        return result with { CounterChanges = Changes(before, path.Counters()) };
    }

    private static async Task<ScenarioResult> MeasureAsync(BenchPath path, Metric metric, BenchConnection connection, BenchOptions options, IReadOnlyDictionary<string, long> before, CancellationTokenSource scenario, CancellationToken cancellationToken)
    {
        var time = TimeProvider.System;
        var progress = new Progress();
        var token = scenario.Token;
        // Each loop starts on the thread pool: a writer whose writes complete synchronously must not hold up the
        // start of its reader.
        Task[] loops = metric switch
        {
            Metric.BulkKernelToPeer =>
                [Task.Run(() => Loops.BulkWriteAsync(connection.Kernel, progress, token), token), Task.Run(() => Loops.BulkReadAsync(connection.Peer, progress, token), token)],
            Metric.BulkPeerToKernel =>
                [Task.Run(() => Loops.BulkWriteAsync(connection.Peer, progress, token), token), Task.Run(() => Loops.BulkReadAsync(connection.Kernel, progress, token), token)],
            _ => [Task.Run(() => Loops.RequestAsync(connection.Kernel, progress, token), token), Task.Run(() => Loops.EchoAsync(connection.Peer, token), token)],
        };
        var all = Task.WhenAll(loops);
        var started = time.GetTimestamp();

        await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(options.WarmupSeconds), token)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (all.IsCompleted)
        {
            return Failed(path, metric, before, "the loops ended during warm-up: " + Reason(all, path));
        }

        var countStart = progress.Count;
        var timeStart = time.GetTimestamp();
        var cpuStart = Environment.CpuUsage;
        var machineStart = MachineCpu.BusySeconds();
        var packetsStart = path.PacketCount;
        var readerStart = path.ReaderCpuSeconds;
        var perSecond = new List<double>();
        var previous = countStart;
        var previousTime = timeStart;
        for (var second = 1; second <= options.Seconds; second++)
        {
            var due = TimeSpan.FromSeconds(options.WarmupSeconds + second) - time.GetElapsedTime(started);
            if (due > TimeSpan.Zero)
            {
                await Task.WhenAny(all, Task.Delay(due, token)).ConfigureAwait(false);
            }
            cancellationToken.ThrowIfCancellationRequested();
            if (all.IsCompleted)
            {
                return Failed(path, metric, before, $"the loops ended {second} s into the measurement: " + Reason(all, path));
            }
            var now = time.GetTimestamp();
            var count = progress.Count;
            perSecond.Add(Scale(metric, (count - previous) / time.GetElapsedTime(previousTime, now).TotalSeconds));
            previous = count;
            previousTime = now;
        }
        var elapsed = time.GetElapsedTime(timeStart).TotalSeconds;
        var measured = progress.Count - countStart;
        var cpuEnd = Environment.CpuUsage;
        var user = (cpuEnd.UserTime - cpuStart.UserTime).TotalSeconds / elapsed;
        var system = (cpuEnd.PrivilegedTime - cpuStart.PrivilegedTime).TotalSeconds / elapsed;
        var machine = (MachineCpu.BusySeconds() - machineStart) / elapsed;
        var packets = (path.PacketCount - packetsStart) / elapsed;
        var reader = (path.ReaderCpuSeconds - readerStart) / elapsed;

        progress.Stop();
        string? failure = null;
        await Task.WhenAny(all, Task.Delay(StopTimeout, cancellationToken)).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        if (!all.IsCompleted)
        {
            failure = $"the connection did not close within {StopTimeout.TotalSeconds} s of the stop (half-close both ways): "
                + string.Join("; ", loops.Select((loop, i) => $"{LoopNames(metric)[i]} {(loop.IsCompleted ? "done" : "still waiting")}"));
            scenario.Cancel();
            await Task.WhenAny(all, Task.Delay(TimeSpan.FromSeconds(5), cancellationToken)).ConfigureAwait(false);
        }
        else if (all.IsFaulted)
        {
            failure = "after the stop: " + Reason(all, path);
        }
        else if (path.Failure is { } pathFailure)
        {
            failure = "the path failed: " + pathFailure.Message;
        }

        return new ScenarioResult(
            path.Name,
            metric,
            Scale(metric, measured / elapsed),
            perSecond.Count > 0 ? perSecond.Min() : 0,
            perSecond.Count > 0 ? perSecond.Max() : 0,
            perSecond.Count(value => value == 0),
            user,
            system,
            machine,
            reader,
            packets,
            Changes(before, path.Counters()),
            failure);
    }

    /// <summary>Who runs each loop of <paramref name="metric"/>, in the order the loops are started.</summary>
    private static string[] LoopNames(Metric metric) => metric switch
    {
        Metric.BulkKernelToPeer => ["kernel writer", "peer reader"],
        Metric.BulkPeerToKernel => ["peer writer", "kernel reader"],
        _ => ["kernel client", "peer echo server"],
    };

    private static ScenarioResult Failed(BenchPath path, Metric metric, IReadOnlyDictionary<string, long> before, string failure) =>
        new(path.Name, metric, null, 0, 0, 0, 0, 0, 0, null, null, Changes(before, path.Counters()), failure);

    private static string Reason(Task all, BenchPath path)
    {
        var reasons = new List<string>();
        if (all.Exception is { } aggregate)
        {
            reasons.AddRange(aggregate.InnerExceptions.Select(e => $"{e.GetType().Name}: {e.Message}"));
        }
        if (path.Failure is { } failure)
        {
            reasons.Add($"path: {failure.GetType().Name}: {failure.Message}");
        }
        return reasons.Count > 0 ? string.Join("; ", reasons) : "a loop returned early without an error";
    }

    private static Dictionary<string, long> Changes(IReadOnlyDictionary<string, long> before, IReadOnlyDictionary<string, long> after)
    {
        var changes = new Dictionary<string, long>();
        foreach (var (name, value) in after)
        {
            // The open connections are a level, not a running total: report where it ends (one in TIME-WAIT after a
            // close the stack began is expected).
            changes[name] = name == "stack.TcpConnectionsOpen" ? value : value - before.GetValueOrDefault(name);
        }
        return changes;
    }

    public static string FormatValue(Metric metric, double value) =>
        metric == Metric.RequestResponse
            ? value.ToString("N0", CultureInfo.InvariantCulture)
            : value.ToString("F3", CultureInfo.InvariantCulture);
}

/// <summary>The whole machine's busy CPU time (every process, the kernel's softirq work included), from /proc/stat.</summary>
internal static class MachineCpu
{
    /// <summary>user + nice + system + irq + softirq, in seconds (idle, iowait and steal are not busy here).</summary>
    public static double BusySeconds()
    {
        var first = File.ReadLines("/proc/stat").First();
        var fields = first.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        long busy = 0;
        foreach (var index in (int[])[1, 2, 3, 6, 7])
        {
            busy += long.Parse(fields[index], CultureInfo.InvariantCulture);
        }
        // USER_HZ is 100 on Linux (sysconf(_SC_CLK_TCK)); /proc/stat counts in those ticks.
        return busy / 100.0;
    }
}
