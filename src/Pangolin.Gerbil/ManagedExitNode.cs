using Microsoft.Extensions.Logging;
using Pangolin.Gerbil.Api;
using Pangolin.Gerbil.Control;
using Pangolin.Gerbil.Nodes;
using Pangolin.Protocol.Gerbil;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil;

/// <summary>gerbil could not start (no TUN, port in use): a one-line reason, exit 1.</summary>
internal sealed class StartFailedException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// A managed exit node's life, in upstream gerbil's order: get-config until the server answers; the device with that
/// address, port and peers; the peer API; a bandwidth report every 10 s. On stop: the API first (no more peer
/// changes), a last bandwidth report (bounded), then the device.
/// </summary>
internal sealed partial class ManagedExitNode(
    GerbilOptions options, WgKey privateKey, HttpClient control, ILoggerFactory loggerFactory, TimeProvider time)
{
    /// <summary>How long the stop may wait for the API's requests in flight, and separately for the last report.</summary>
    public static readonly TimeSpan StopBound = TimeSpan.FromSeconds(5);

    private readonly ILogger _logger = loggerFactory.CreateLogger<ManagedExitNode>();
    private readonly TaskCompletionSource<(IExitNode Node, PeerApi Api)> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public WgKey PublicKey { get; } = privateKey.PublicKey();

    /// <summary>Completes when the node is configured and its API listens (for tests and the start line).</summary>
    public Task<(IExitNode Node, PeerApi Api)> Ready => _ready.Task;

    /// <summary>Runs until <paramref name="stop"/> is cancelled; returns normally after a clean stop.</summary>
    /// <exception cref="StartFailedException">The device or the API could not be set up.</exception>
    public async Task RunAsync(CancellationToken stop)
    {
        var endpoints = options.RemoteConfig ?? throw new InvalidOperationException("A managed exit node needs a remote config.");
        var fetcher = new ConfigFetcher(control, endpoints.GetConfig, options.ConfigSigningKey, time, loggerFactory.CreateLogger<ConfigFetcher>());
        NodeConfig config;
        try
        {
            config = await fetcher.FetchAsync(new GetConfigRequest
            {
                PublicKey = PublicKey.ToBase64(),
                ReachableAt = options.ReachableAt?.OriginalString,
                Endpoint = options.Endpoint,
                ListenPort = options.ListenPort,
            }, stop);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            _ready.TrySetCanceled(stop);
            LogStoppedBeforeConfigured(_logger);
            return;
        }

        IExitNode node;
        try
        {
            node = options.Mode == ExitNodeMode.Tun
                ? await TunExitNode.StartAsync(options.InterfaceName, privateKey, config.Address, config.ListenPort, options.Mtu, loggerFactory)
                : await UserspaceExitNode.StartAsync(privateKey, config.Address, config.ListenPort, options.Mtu, loggerFactory);
        }
        catch (Exception e) when (e is IOException or ConfigurationException or UnauthorizedAccessException)
        {
            _ready.TrySetException(e);
            var what = options.Mode == ExitNodeMode.Tun
                ? $"cannot set up TUN interface '{options.InterfaceName}' ({e.Message}); tun mode needs root or CAP_NET_ADMIN, or use --mode userspace"
                : $"cannot start the userspace exit node: {e.Message}";
            throw new StartFailedException(what, e);
        }
        await using var nodeScope = node;
        node.SyncPeers(config.Peers);

        PeerApi api;
        try
        {
            api = await PeerApi.StartAsync(options.ApiListen, node, options.ControlApiToken, loggerFactory, stop);
        }
        catch (IOException e)
        {
            _ready.TrySetException(e);
            throw new StartFailedException($"cannot start the peer API: {e.Message}", e);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            _ready.TrySetCanceled(stop);
            return;
        }
        await using var apiScope = api;

        using var reporter = new BandwidthReporter(control, endpoints.ReceiveBandwidth, node.Peers, time, loggerFactory.CreateLogger<BandwidthReporter>());
        LogRunning(_logger, node.Mode, node.Address, node.ListenPort, config.Peers.Count, api.Address);
        _ready.TrySetResult((node, api));

        await reporter.RunAsync(stop);

        LogStopping(_logger);
        using (var bound = new CancellationTokenSource(StopBound))
        {
            try
            {
                await api.StopAsync(bound.Token);
            }
            catch (OperationCanceledException)
            {
                // Requests still running after the bound are cut off.
            }
        }
        using (var bound = new CancellationTokenSource(StopBound))
        {
            try
            {
                if (!await reporter.ReportAsync(bound.Token))
                {
                    LogLastReportLost(_logger, reporter.PendingPeers);
                }
            }
            catch (OperationCanceledException)
            {
                LogLastReportLost(_logger, reporter.PendingPeers);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Exit node up ({Mode}): address {Address}, WireGuard on UDP {ListenPort}, {Peers} peers from get-config, peer API at {Api}")]
    private static partial void LogRunning(ILogger logger, ExitNodeMode mode, NodeAddress address, int listenPort, int peers, Uri api);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopping: peer API closed, sending the last bandwidth report")]
    private static partial void LogStopping(ILogger logger);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The last bandwidth report was not accepted; the traffic of {Peers} peers since the previous report is lost")]
    private static partial void LogLastReportLost(ILogger logger, int peers);

    [LoggerMessage(Level = LogLevel.Information, Message = "Stopped before the server answered get-config")]
    private static partial void LogStoppedBeforeConfigured(ILogger logger);
}
