using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Netstack.Benchmarks;

internal sealed record BenchOptions(int Seconds, int WarmupSeconds, int Mtu)
{
    public const string Usage = "usage: Pangolin.Netstack.Benchmarks [--seconds N (10)] [--warmup N (2)] [--mtu N (1420)]   (as root)";

    public static BenchOptions Parse(string[] args)
    {
        var options = new BenchOptions(10, 2, 1420);
        for (var i = 0; i < args.Length; i++)
        {
            var name = args[i];
            if (i + 1 >= args.Length || !int.TryParse(args[i + 1], NumberStyles.None, CultureInfo.InvariantCulture, out var value))
            {
                throw new ArgumentException($"{name} needs a whole number");
            }
            i++;
            options = name switch
            {
                "--seconds" when value >= 1 => options with { Seconds = value },
                "--warmup" => options with { WarmupSeconds = value },
                "--mtu" when value is >= 576 and <= 65535 => options with { Mtu = value },
                _ => throw new ArgumentException($"unknown option or value out of range: {name} {value}"),
            };
        }
        return options;
    }
}

/// <summary>
/// TCP between the Linux kernel and our stack over a TUN, beside the kernel talking to itself over a veth pair (the
/// limit), in one run: bulk throughput both ways and the 1-byte request/response rate. Progress goes to stderr, the
/// Markdown tables to stdout. Exit code 0 when every scenario ran clean, 1 when one failed or hung, 2 on bad
/// arguments, 130 when interrupted.
/// </summary>
internal static class Program
{
    private static readonly Metric[] Metrics = [Metric.BulkKernelToPeer, Metric.BulkPeerToKernel, Metric.RequestResponse];

    public static async Task<int> Main(string[] args)
    {
        BenchOptions options;
        try
        {
            options = BenchOptions.Parse(args);
        }
        catch (ArgumentException exception)
        {
            await Console.Error.WriteLineAsync(exception.Message + "\n" + BenchOptions.Usage);
            return 2;
        }

        using var interrupted = new CancellationTokenSource();
        // The first Ctrl-C or SIGTERM stops the run and lets the finally blocks delete the namespaces; a second one
        // is left to its default (the process dies, and bench/netstack/run.sh deletes what is left).
        void OnSignal(PosixSignalContext context)
        {
            if (!interrupted.IsCancellationRequested)
            {
                context.Cancel = true;
                interrupted.Cancel();
            }
        }
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);

        var results = new List<ScenarioResult>();
        try
        {
            using var a = NetworkNamespace.Create();
            a.DisableIPv6();
            using var veth = VethPath.Create(a, options.Mtu);
            using var tun = TunPath.Create(a, options.Mtu);
            BenchPath[] paths = [veth, tun];
            var port = 5201;
            // Metric by metric, veth then tun: the two figures of a ratio are measured close together in time, so a
            // burst of load from elsewhere on the machine disturbs one ratio rather than a whole column.
            foreach (var metric in Metrics)
            {
                foreach (var path in paths)
                {
                    await Console.Error.WriteLineAsync($"{path.Name}: {Scenario.Describe(metric)}, {options.WarmupSeconds} s warm-up + {options.Seconds} s ...");
                    var result = await Scenario.RunAsync(path, metric, port++, options, interrupted.Token);
                    results.Add(result);
                    await Console.Error.WriteLineAsync(result.Value is { } value
                        ? $"  {Scenario.FormatValue(metric, value)}{(result.Failure is null ? "" : "  FAILED: " + result.Failure)}"
                        : "  FAILED: " + result.Failure);
                }
            }
        }
        catch (OperationCanceledException) when (interrupted.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("interrupted: namespaces deleted");
            return 130;
        }

        Console.Out.Write(Report(results, options));
        return results.Any(r => r.Failure is not null || r.Value is null) ? 1 : 0;
    }

    private static string Report(List<ScenarioResult> results, BenchOptions options)
    {
        var text = new StringBuilder();
        var invariant = CultureInfo.InvariantCulture;
        text.AppendLine(invariant, $"MTU {options.Mtu}; {options.Seconds} s measured after {options.WarmupSeconds} s of warm-up; {Environment.ProcessorCount} CPUs; .NET {Environment.Version}");
        text.AppendLine();
        text.AppendLine("| metric | veth: kernel ⇄ kernel | tun: kernel ⇄ Netstack | tun / veth |");
        text.AppendLine("|---|---:|---:|---:|");
        foreach (var metric in Metrics)
        {
            var veth = results.FirstOrDefault(r => r.Path == "veth" && r.Metric == metric);
            var tun = results.FirstOrDefault(r => r.Path == "tun" && r.Metric == metric);
            var ratio = veth?.Value is > 0 && tun?.Value is { } tunValue ? (tunValue / veth.Value.Value).ToString("F3", invariant) : "—";
            text.AppendLine(invariant, $"| {Scenario.Describe(metric)} | {Cell(veth)} | {Cell(tun)} | {ratio} |");
        }
        text.AppendLine();
        text.AppendLine("| path | metric | per second min–max | this process, cores (user + sys) | TUN reader thread, cores | whole machine busy, cores | packets/s on the TUN | process CPU per packet | counter changes over the scenario |");
        text.AppendLine("|---|---|---:|---:|---:|---:|---:|---:|---|");
        foreach (var r in results)
        {
            var range = r.Value is null ? "—" : $"{Scenario.FormatValue(r.Metric, r.MinPerSecond)}–{Scenario.FormatValue(r.Metric, r.MaxPerSecond)}";
            if (r.StalledSeconds > 0)
            {
                range += $" ({r.StalledSeconds} s without progress)";
            }
            var reader = r.ReaderCores is { } readerCores ? readerCores.ToString("F2", invariant) : "";
            var packets = r.PacketsPerSecond is { } pps ? pps.ToString("N0", invariant) : "";
            // Everything this process spent (our stack, the loops on both ends, and the kernel's work done in its
            // system calls: the kernel socket's TCP, the TUN) per packet that crossed the TUN.
            var perPacket = r.PacketsPerSecond is > 0 ? $"{(r.UserCores + r.SystemCores) / r.PacketsPerSecond.Value * 1e6:F1} µs" : "";
            // Counters that moved, and the stack's drops and resets even when they did not (that they stayed at zero
            // is the point).
            var counters = string.Join(", ", r.CounterChanges
                .Where(c => c.Value != 0 || c.Key is "stack.DroppedPackets" or "stack.ResetsSent")
                .OrderBy(c => c.Key, StringComparer.Ordinal)
                .Select(c => $"{c.Key} {c.Value.ToString("N0", invariant)}"));
            var process = r.Value is null ? "—" : $"{r.UserCores + r.SystemCores:F2} ({r.UserCores:F2} + {r.SystemCores:F2})";
            var machine = r.Value is null ? "—" : r.MachineCores.ToString("F2", invariant);
            text.AppendLine(invariant, $"| {r.Path} | {Scenario.Describe(r.Metric)} | {range} | {process} | {reader} | {machine} | {packets} | {perPacket} | {counters} |");
        }
        var failures = results.Where(r => r.Failure is not null).ToList();
        if (failures.Count > 0)
        {
            text.AppendLine();
            foreach (var r in failures)
            {
                text.AppendLine(invariant, $"FAILED {r.Path} {Scenario.Describe(r.Metric)}: {r.Failure}");
            }
        }
        return text.ToString();
    }

    private static string Cell(ScenarioResult? result) => result switch
    {
        null => "not run",
        { Value: null } => "failed",
        { Value: { } value, Failure: null } => Scenario.FormatValue(result.Metric, value),
        { Value: { } value } => Scenario.FormatValue(result.Metric, value) + " (failed at the end)",
    };
}
