using System.Net.WebSockets;
using System.Text.Json.Serialization.Metadata;
using Microsoft.Extensions.Logging;
using Pangolin.Newt.Control;
using Pangolin.Newt.Health;
using Pangolin.Newt.Metrics;
using Pangolin.Newt.Proxy;
using Pangolin.Newt.Tunnel;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Net;

namespace Pangolin.Newt;

/// <summary>
/// The newt itself: gets a token, holds the WebSocket, registers with an exit node, brings the tunnel up and keeps the
/// relays and health checks as the server says; reconnects after any failure with full-jitter backoff, keeping the
/// tunnel and relays running while the WebSocket is down (the server resyncs them on the first ping).
/// </summary>
internal sealed partial class NewtAgent : IAsyncDisposable
{
    public const string Agent = "pangolin-dotnet-newt";
    public const int ExitOk = 0;
    public const int ExitFailed = 1;
    public const int ExitRefused = 3;
    public const int ExitReplaced = 4;

    private static readonly TimeSpan PingRequestInterval = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan RegisterInterval = TimeSpan.FromSeconds(2);
    private static readonly TimeSpan WebSocketPingInterval = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan StableAfter = TimeSpan.FromSeconds(30);
    private const int MaxSends = 10;

    private readonly NewtOptions _options;
    private readonly ILoggerFactory _loggers;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly Func<int, IUdpTransport>? _bind;
    private readonly ServerConnection _server;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private readonly WgKey _privateKey = WgKey.GeneratePrivate();
    private string? _publicKey;
    private readonly HealthMonitor _health;
    private readonly NewtMetrics _metrics;
    private readonly bool _ownsMetrics;
    private ControlClient? _client;
    private TunnelSession? _tunnel;
    private CancellationTokenSource? _cycle;
    private string _pingRequestChain = "";
    private string _registerChain = "";
    private long _configVersion;
    private bool _replaced;

    /// <summary>This run's WireGuard public key (base64), as registered with the server.</summary>
    public string PublicKey => _publicKey ??= _privateKey.PublicKey().ToBase64();

    public NewtAgent(
        NewtOptions options, ILoggerFactory loggers, TimeProvider? time = null, Func<int, IUdpTransport>? bind = null, NewtMetrics? metrics = null)
    {
        _options = options;
        _loggers = loggers;
        _logger = loggers.CreateLogger("newt");
        _time = time ?? TimeProvider.System;
        _bind = bind;
        _server = new ServerConnection(options.ServerTls);
        _health = new HealthMonitor(options.EnforceHealthCheckCert, _time, loggers.CreateLogger<HealthMonitor>(), ReportHealth);
        _ownsMetrics = metrics is null;
        _metrics = metrics ?? new NewtMetrics(options.Id, CommandLine.Version, _time);
    }

    /// <summary>True while a tunnel is up (tests and the health file).</summary>
    public bool TunnelUp => _tunnel is not null;

    /// <summary>The relays of the current tunnel, if any.</summary>
    public ProxyManager? Proxies => _tunnel?.Proxies;

    /// <summary>Runs until <paramref name="stop"/> fires (exit 0), the secret is refused at the first attempt (3) or another newt takes the id (4).</summary>
    public async Task<int> RunAsync(CancellationToken stop)
    {
        var backoff = new Backoff(Random.Shared);
        var tokens = new TokenClient(_server, _options);
        var first = true;
        string? retryReason = null;
        while (!stop.IsCancellationRequested)
        {
            ControlClient? client = null;
            if (retryReason is not null)
            {
                _metrics.WebSocketReconnect(retryReason);
            }
            var stage = "token";
            try
            {
                var token = await tokens.GetTokenAsync(stop);
                stage = "websocket";
                client = new ControlClient(_metrics);
                var dialling = _time.GetTimestamp();
                try
                {
                    await client.ConnectAsync(_options.Endpoint, token, _server, TimeSpan.FromSeconds(30), stop);
                }
                finally
                {
                    _metrics.WebSocketConnectLatency(_time.GetElapsedTime(dialling), client.Connected);
                }
                _metrics.ConnectionAttempt(NewtMetrics.WebSocket, success: true);
                first = false;
                LogConnected(_logger, _options.Endpoint.Host);
                var since = _time.GetUtcNow();
                WebSocketCloseStatus? status = null;
                _metrics.WebSocketOpened();
                try
                {
                    status = await RunSessionAsync(client, stop);
                }
                finally
                {
                    retryReason = stop.IsCancellationRequested ? "shutdown" : _replaced ? "replaced" : status is null ? "connection_lost" : "server_closed";
                    _metrics.WebSocketClosed(retryReason, clean: status is not null);
                }
                if (_replaced)
                {
                    await Console.Error.WriteLineAsync($"newt: another newt connected with id {_options.Id}; this one stops");
                    return ExitReplaced;
                }
                if (stop.IsCancellationRequested)
                {
                    break;
                }
                LogDisconnected(_logger, status?.ToString() ?? "connection lost");
                if (_time.GetUtcNow() - since >= StableAfter)
                {
                    backoff.Reset();
                }
            }
            catch (CredentialsRefusedException e)
            {
                ConnectFailed("auth", out retryReason);
                if (first)
                {
                    await Console.Error.WriteLineAsync($"newt: {e.Message}");
                    return ExitRefused;
                }
                LogRetrying(_logger, e.Message);
            }
            catch (EndpointException e)
            {
                ConnectFailed(stage, out retryReason);
                LogRetrying(_logger, e.Message);
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                break;
            }
            finally
            {
                if (client is not null)
                {
                    if (stop.IsCancellationRequested && !_replaced)
                    {
                        // Say goodbye, so that the site shows offline at once rather than after a timeout.
                        client.TrySend(WsMessage.CreateEmpty(MessageTypes.NewtDisconnecting));
                        await client.CloseAsync(TimeSpan.FromSeconds(1));
                    }
                    await client.DisposeAsync();
                }
            }
            var delay = backoff.Next();
            LogBackoff(_logger, delay.TotalSeconds);
            try
            {
                await Task.Delay(delay, _time, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        return ExitOk;
    }

    private void ConnectFailed(string errorType, out string retryReason)
    {
        _metrics.ConnectionAttempt(NewtMetrics.WebSocket, success: false);
        _metrics.ConnectionError(NewtMetrics.WebSocket, errorType);
        retryReason = errorType + "_failed";
    }

    private async Task<WebSocketCloseStatus?> RunSessionAsync(ControlClient client, CancellationToken stop)
    {
        using var session = CancellationTokenSource.CreateLinkedTokenSource(stop);
        await WithGateAsync(() =>
        {
            _client = client;
            Send(MessageTypes.NewtPing, new EmptyData(), ProtocolJsonContext.Default.EmptyData);
            if (_tunnel is null)
            {
                StartPingRequestCycle();
            }
            else
            {
                ReportHealth(_health.Snapshot());
            }
            return Task.CompletedTask;
        });
        var pinger = Task.Run(async () =>
        {
            while (!session.IsCancellationRequested)
            {
                await Task.Delay(WebSocketPingInterval, _time, session.Token);
                await WithGateAsync(() =>
                {
                    Send(MessageTypes.NewtPing, new EmptyData(), ProtocolJsonContext.Default.EmptyData);
                    return Task.CompletedTask;
                });
            }
        }, CancellationToken.None);
        try
        {
            return await client.ReadAllAsync(message => WithGateAsync(() => HandleAsync(message, stop)), problem => LogBadMessage(_logger, problem), session.Token);
        }
        catch (OperationCanceledException) when (stop.IsCancellationRequested)
        {
            return WebSocketCloseStatus.NormalClosure;
        }
        finally
        {
            await session.CancelAsync();
            await pinger.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            await WithGateAsync(() =>
            {
                _client = null;
                CancelCycle();
                return Task.CompletedTask;
            });
        }
    }

    private async Task HandleAsync(WsMessage message, CancellationToken stop)
    {
        if (message.ConfigVersion is { } version)
        {
            _configVersion = version;
        }
        switch (message.Type)
        {
            case MessageTypes.NewtPingExitNodes:
                OnExitNodes(message.GetData(ProtocolJsonContext.Default.ExitNodesData) ?? new ExitNodesData());
                break;
            case MessageTypes.NewtWgConnect:
                await OnConnectAsync(message.GetData(ProtocolJsonContext.Default.WgConnectData) ?? new WgConnectData(), stop);
                break;
            case MessageTypes.NewtTcpAdd or MessageTypes.NewtUdpAdd or MessageTypes.NewtTcpRemove or MessageTypes.NewtUdpRemove:
                OnTargets(message.Type, message.GetData(ProtocolJsonContext.Default.TargetData) ?? new TargetData());
                break;
            case MessageTypes.NewtSync:
                OnSync(message.GetData(ProtocolJsonContext.Default.SyncData) ?? new SyncData());
                break;
            case MessageTypes.NewtHealthCheckAdd:
                _health.Add(message.GetData(ProtocolJsonContext.Default.HealthCheckAddData)?.Targets ?? []);
                break;
            case MessageTypes.NewtHealthCheckRemove:
                _health.Remove(message.GetData(ProtocolJsonContext.Default.HealthCheckRemoveData)?.Ids ?? []);
                break;
            case MessageTypes.NewtHealthCheckEnable or MessageTypes.NewtHealthCheckDisable:
                _health.SetEnabled(message.GetData(ProtocolJsonContext.Default.HealthCheckIdData)?.Id ?? 0, message.Type == MessageTypes.NewtHealthCheckEnable);
                break;
            case MessageTypes.NewtHealthCheckStatusRequest:
                ReportHealth(_health.Snapshot());
                break;
            case MessageTypes.Pong:
                _metrics.Heartbeat();
                break;
            case MessageTypes.NewtWgReconnect:
                LogServerSays(_logger, "reconnect the tunnel");
                _metrics.TunnelReconnect("server", "server_request");
                await TearDownTunnelAsync();
                StartPingRequestCycle();
                break;
            case MessageTypes.NewtWgTerminate:
                var reason = message.GetData(ProtocolJsonContext.Default.TerminateData)?.Reason ?? "no reason given";
                LogServerSays(_logger, "close the tunnel: " + reason);
                CancelCycle();
                await TearDownTunnelAsync();
                break;
            case MessageTypes.NewtError:
                var error = message.GetData(ProtocolJsonContext.Default.NewtErrorData) ?? new NewtErrorData();
                LogServerError(_logger, error.Code, error.Message);
                if (error.Code == MessageTypes.ErrorCodeReplaced)
                {
                    _replaced = true;
                    await (_client?.CloseAsync(TimeSpan.FromSeconds(1)) ?? Task.CompletedTask);
                }
                break;
            case MessageTypes.Error:
                var failure = message.GetData(ProtocolJsonContext.Default.ErrorData) ?? new ErrorData();
                LogServerError(_logger, "error", failure.Message);
                break;
            default:
                LogIgnored(_logger, message.Type);
                break;
        }
    }

    private void StartPingRequestCycle()
    {
        var chain = NewChain();
        _pingRequestChain = chain;
        RunCycle(PingRequestInterval, () =>
            Send(MessageTypes.NewtPingRequest, new PingRequestData { NoCloud = false, ChainId = chain }, ProtocolJsonContext.Default.PingRequestData),
            onExhausted: StartPingRequestCycle);
    }

    private void OnExitNodes(ExitNodesData data)
    {
        if (data.ChainId.Length > 0 && data.ChainId != _pingRequestChain)
        {
            return; // the answer to an earlier request
        }
        if (data.ExitNodes.Count == 0)
        {
            LogNoExitNode(_logger);
            return;
        }
        // One node needs no measurement; with several, prefer --prefer-endpoint, then the server chooses by weight.
        var results = data.ExitNodes
            .Where(n => _options.PreferEndpoint is not { Length: > 0 } preferred || n.Endpoint == preferred || data.ExitNodes.All(o => o.Endpoint != preferred))
            .Select(n => new ExitNodePingResult
            {
                ExitNodeId = n.ExitNodeId, LatencyMs = 0, Weight = n.Weight, ExitNodeName = n.ExitNodeName, Endpoint = n.Endpoint,
                WasPreviouslyConnected = n.WasPreviouslyConnected,
            }).ToList();
        var chain = NewChain();
        _registerChain = chain;
        var register = new RegisterData
        {
            PublicKey = PublicKey, PingResults = results, NewtVersion = CommandLine.Version, ChainId = chain, Agent = Agent,
        };
        RunCycle(RegisterInterval, () => Send(MessageTypes.NewtWgRegister, register, ProtocolJsonContext.Default.RegisterData), onExhausted: () =>
        {
            _metrics.SiteRegistration(success: false); // no wg/connect for any of the sends
            StartPingRequestCycle();
        });
    }

    private async Task OnConnectAsync(WgConnectData data, CancellationToken stop)
    {
        if (data.ChainId.Length > 0 && data.ChainId != _registerChain)
        {
            return;
        }
        CancelCycle();
        await TearDownTunnelAsync();
        TunnelSession tunnel;
        try
        {
            tunnel = await TunnelSession.StartAsync(_privateKey, data, _options, _loggers, _time, _bind, networkNamespace: null, stop);
        }
        catch (Exception e) when (e is FormatException or System.Net.Sockets.SocketException or ConfigurationException or IOException)
        {
            _metrics.SiteRegistration(success: false);
            _metrics.ConnectionAttempt(NewtMetrics.WireGuard, success: false);
            _metrics.ConnectionError(NewtMetrics.WireGuard, e is System.Net.Sockets.SocketException ? "socket" : "config");
            LogTunnelFailed(_logger, e.Message);
            StartPingRequestCycle();
            return;
        }
        _tunnel = tunnel;
        _metrics.SiteRegistration(success: true);
        _metrics.ConnectionAttempt(NewtMetrics.WireGuard, success: true);
        _metrics.TunnelStarted(tunnel.Proxies.Counters);
        tunnel.PingAnswered += _metrics.TunnelPing;
        foreach (var (protocol, targets) in new[] { (ProxyProtocol.Tcp, data.Targets.Tcp), (ProxyProtocol.Udp, data.Targets.Udp) })
        {
            foreach (var target in targets)
            {
                AddTarget(protocol, target);
            }
        }
        _health.Sync(data.HealthCheckTargets);
        var reachable = await tunnel.PingAsync(5, _options.PingTimeout, stop);
        var relays = tunnel.Proxies.Targets.Count;
        LogTunnelUp(_logger, data.TunnelIp, data.Endpoint, relays, reachable ? "answers" : "does not answer yet");
        tunnel.StartLiveness(_options.PingInterval, _options.PingTimeout, _time, () => _ = WithGateAsync(() => OnTunnelLostAsync(tunnel)));
        WriteHealthFile(true);
    }

    private async Task OnTunnelLostAsync(TunnelSession lost)
    {
        if (_tunnel != lost)
        {
            return;
        }
        LogTunnelLost(_logger, TunnelSession.FailuresBeforeLost);
        _metrics.TunnelReconnect("client", "ping_timeout");
        await TearDownTunnelAsync();
        if (_client is not null)
        {
            StartPingRequestCycle();
        }
    }

    private void OnTargets(string type, TargetData data)
    {
        if (_tunnel is null)
        {
            return; // wg/connect brings the whole list
        }
        var protocol = type is MessageTypes.NewtUdpAdd or MessageTypes.NewtUdpRemove ? ProxyProtocol.Udp : ProxyProtocol.Tcp;
        var add = type is MessageTypes.NewtTcpAdd or MessageTypes.NewtUdpAdd;
        var applied = true;
        foreach (var target in data.Targets)
        {
            if (add)
            {
                applied &= AddTarget(protocol, target);
            }
            else if (ProxyTarget.TryParse(protocol, target, out var parsed, out var error))
            {
                _tunnel.Proxies.Remove(protocol, parsed.InternalPort);
            }
            else
            {
                applied = false;
                LogBadTarget(_logger, target, error);
            }
        }
        _metrics.ConfigReload(applied);
    }

    private void OnSync(SyncData data)
    {
        _health.Sync(data.HealthCheckTargets);
        if (_tunnel is null)
        {
            return;
        }
        var desired = new List<ProxyTarget>();
        var parsedAll = true;
        foreach (var (protocol, targets) in new[] { (ProxyProtocol.Tcp, data.ProxyTargets.Tcp), (ProxyProtocol.Udp, data.ProxyTargets.Udp) })
        {
            foreach (var target in targets)
            {
                if (ProxyTarget.TryParse(protocol, target, out var parsed, out var error))
                {
                    desired.Add(parsed);
                }
                else
                {
                    parsedAll = false;
                    LogBadTarget(_logger, target, error);
                }
            }
        }
        _tunnel.Proxies.Sync(desired);
        _metrics.ConfigReload(parsedAll);
    }

    private bool AddTarget(ProxyProtocol protocol, string target)
    {
        if (!ProxyTarget.TryParse(protocol, target, out var parsed, out var error))
        {
            LogBadTarget(_logger, target, error);
            return false;
        }
        try
        {
            _tunnel!.Proxies.Add(parsed);
            return true;
        }
        catch (Exception e) when (e is System.Net.Sockets.SocketException or InvalidOperationException or ArgumentException)
        {
            LogBadTarget(_logger, target, e.Message);
            return false;
        }
    }

    private void ReportHealth(IReadOnlyDictionary<int, HealthCheckStatus> statuses)
    {
        if (statuses.Count > 0)
        {
            Send(MessageTypes.NewtHealthCheckStatus, new HealthStatusData { Targets = statuses }, ProtocolJsonContext.Default.HealthStatusData);
        }
    }

    private async Task TearDownTunnelAsync()
    {
        if (_tunnel is { } tunnel)
        {
            _tunnel = null;
            WriteHealthFile(false);
            await tunnel.DisposeAsync();
            _metrics.TunnelStopped(tunnel.Proxies.Counters);
        }
    }

    /// <summary>Sends now, then every <paramref name="interval"/> until cancelled; after <see cref="MaxSends"/>, starts over with <paramref name="onExhausted"/>.</summary>
    private void RunCycle(TimeSpan interval, Action send, Action onExhausted)
    {
        CancelCycle();
        var cycle = new CancellationTokenSource();
        _cycle = cycle;
        send();
        _ = Task.Run(async () =>
        {
            try
            {
                for (var sent = 1; sent < MaxSends; sent++)
                {
                    await Task.Delay(interval, _time, cycle.Token);
                    await WithGateAsync(() =>
                    {
                        if (!cycle.IsCancellationRequested)
                        {
                            send();
                        }
                        return Task.CompletedTask;
                    });
                }
                await Task.Delay(interval, _time, cycle.Token);
                await WithGateAsync(() =>
                {
                    if (!cycle.IsCancellationRequested && _client is not null)
                    {
                        onExhausted();
                    }
                    return Task.CompletedTask;
                });
            }
            catch (OperationCanceledException)
            {
            }
        }, CancellationToken.None);
    }

    /// <summary>Not disposed: a cycle's task may still read its token after the cancel (no timer, nothing to free).</summary>
    private void CancelCycle()
    {
        _cycle?.Cancel();
        _cycle = null;
    }

    private void Send<T>(string type, T data, JsonTypeInfo<T> info) =>
        _client?.TrySend(WsMessage.Create(type, data, info, WsMessage.NewtConfigVersion(_configVersion)));

    private static string NewChain() => Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(8));

    private void WriteHealthFile(bool healthy)
    {
        if (_options.HealthFile is not { Length: > 0 } path)
        {
            return;
        }
        try
        {
            if (healthy)
            {
                File.WriteAllText(path, "ok");
            }
            else
            {
                File.Delete(path);
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            LogHealthFile(_logger, path, e.Message);
        }
    }

    private async Task WithGateAsync(Func<Task> action)
    {
        await _gate.WaitAsync();
        try
        {
            await action();
        }
        finally
        {
            _gate.Release();
        }
    }

    public async ValueTask DisposeAsync()
    {
        await WithGateAsync(async () =>
        {
            CancelCycle();
            await TearDownTunnelAsync();
        });
        await _health.DisposeAsync();
        if (_ownsMetrics)
        {
            _metrics.Dispose();
        }
        _server.Dispose();
        _gate.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Connected to {Host}")]
    private static partial void LogConnected(ILogger logger, string host);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Disconnected from the server: {Reason}")]
    private static partial void LogDisconnected(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "{Problem}")]
    private static partial void LogRetrying(ILogger logger, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Reconnecting in {Seconds:0.0} s")]
    private static partial void LogBackoff(ILogger logger, double seconds);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Unreadable message from the server: {Problem}")]
    private static partial void LogBadMessage(ILogger logger, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "The server says: {What}")]
    private static partial void LogServerSays(ILogger logger, string what);

    [LoggerMessage(Level = LogLevel.Error, Message = "The server reports {Code}: {Message}")]
    private static partial void LogServerError(ILogger logger, string code, string message);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Ignored message {Type}")]
    private static partial void LogIgnored(ILogger logger, string type);

    [LoggerMessage(Level = LogLevel.Warning, Message = "The server offers no exit node; asking again")]
    private static partial void LogNoExitNode(ILogger logger);

    [LoggerMessage(Level = LogLevel.Error, Message = "The tunnel could not be set up: {Problem}")]
    private static partial void LogTunnelFailed(ILogger logger, string problem);

    [LoggerMessage(Level = LogLevel.Information, Message = "Tunnel up: {TunnelIp} via {Endpoint}, {Targets} targets; the exit node {Answer}")]
    private static partial void LogTunnelUp(ILogger logger, string tunnelIp, string endpoint, int targets, string answer);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Tunnel lost ({Failures} pings unanswered); registering again")]
    private static partial void LogTunnelLost(ILogger logger, int failures);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Target '{Target}' skipped: {Problem}")]
    private static partial void LogBadTarget(ILogger logger, string target, string problem);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Health file {Path}: {Problem}")]
    private static partial void LogHealthFile(ILogger logger, string path, string problem);
}
