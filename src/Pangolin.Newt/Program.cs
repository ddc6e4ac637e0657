using System.Runtime.InteropServices;
using Microsoft.Extensions.Logging;
using Pangolin.Newt;
using Pangolin.Newt.Metrics;
using Pangolin.Newt.Tunnel;

// newt --id <id> --secret <secret> --endpoint https://pangolin.example.com: flags, then environment variables, then
// defaults (CommandLine). --print-config shows the merged settings. SIGINT/SIGTERM stop it gracefully (exit 0).
SocketCompletions.PreferInline();
try
{
    EmbeddedSodium.Register();
}
catch (IOException e)
{
    await Console.Error.WriteLineAsync($"newt: {e.Message}");
    return 1;
}
return await CommandLine.RunAsync(args, CommandLine.ProcessEnvironment(), Console.Out, Console.Error, async (options, warnings) =>
{
    using var loggerFactory = LoggerFactory.Create(b => b.AddSimpleConsole(o => o.SingleLine = true).SetMinimumLevel(options.MinimumLogLevel));
    var logger = loggerFactory.CreateLogger("newt");
    foreach (var warning in warnings)
    {
        NewtLog.IgnoredSetting(logger, warning);
    }
    if (options.Native && NativeTunnel.Unavailable() is { } problem)
    {
        await Console.Error.WriteLineAsync($"newt: {problem}");
        return 2;
    }
    using var metrics = new NewtMetrics(options.Id, CommandLine.Version);
    using var exporter = options.Metrics ? new PrometheusExporter(metrics.Meter) : null;
    MetricsServer? metricsServer = null;
    if (exporter is not null)
    {
        try
        {
            metricsServer = MetricsServer.Start(options.MetricsAddress, exporter, logger);
        }
        catch (MetricsBindException e)
        {
            await Console.Error.WriteLineAsync($"newt: --metrics-address: {e.Message}");
            return 2;
        }
    }
    await using var _ = metricsServer;
    if (options.ServerTls.SkipVerify)
    {
        NewtLog.IgnoredSetting(logger, "SKIP_TLS_VERIFY=true: the server's certificate is not verified");
    }
    NewtLog.Starting(logger, CommandLine.Version, options.Id, options.Endpoint);
    using var stop = new CancellationTokenSource();
    void Stop(PosixSignalContext context)
    {
        context.Cancel = true; // shut down in order rather than be killed
        stop.Cancel();
    }
    using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
    using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
    await using var agent = new NewtAgent(options, loggerFactory, metrics: metrics);
    NewtLog.Key(logger, agent.PublicKey);
    return await agent.RunAsync(stop.Token);
});

internal static partial class NewtLog
{
    [LoggerMessage(Level = LogLevel.Warning, Message = "{Warning}")]
    public static partial void IgnoredSetting(ILogger logger, string warning);

    [LoggerMessage(Level = LogLevel.Information, Message = "newt {Version}: site {Id}, server {Endpoint}")]
    public static partial void Starting(ILogger logger, string version, string id, Uri endpoint);

    /// <summary>The tunnel's public key, to match with the exit node's peer list (`wg show` on a kernel gerbil).</summary>
    [LoggerMessage(Level = LogLevel.Information, Message = "WireGuard public key {PublicKey}")]
    public static partial void Key(ILogger logger, string publicKey);
}
