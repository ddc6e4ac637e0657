using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Pangolin.Protocol.Messages;

namespace Pangolin.Newt.Health;

/// <summary>
/// Runs the health checks the server configures (<c>newt/healthcheck/add|remove|enable|disable</c>, and the lists in
/// wg/connect and sync): an HTTP request or a TCP connect to the target from the site's own network, every
/// hcInterval while healthy and every hcUnhealthyInterval while not, with thresholds before a state changes. Every
/// change reports the whole map (<c>newt/healthcheck/status</c>), as upstream's newt does.
/// </summary>
internal sealed partial class HealthMonitor : IAsyncDisposable
{
    private readonly Dictionary<int, Check> _checks = [];
    private readonly Lock _lock = new();
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Action<IReadOnlyDictionary<int, HealthCheckStatus>> _report;

    public HealthMonitor(bool enforceCertificates, TimeProvider time, ILogger logger, Action<IReadOnlyDictionary<int, HealthCheckStatus>> report)
    {
        var handler = new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero, AllowAutoRedirect = false, UseCookies = false };
        if (!enforceCertificates)
        {
            // Targets on a private network mostly have self-signed certificates (upstream skips the check unless
            // --enforce-hc-cert); a health check sends nothing secret, it only asks whether the service answers.
#pragma warning disable CA5359
            handler.SslOptions.RemoteCertificateValidationCallback = (_, _, _, _) => true;
#pragma warning restore CA5359
        }
        _http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        _time = time;
        _logger = logger;
        _report = report;
    }

    public IReadOnlyDictionary<int, HealthCheckStatus> Snapshot()
    {
        lock (_lock)
        {
            return _checks.ToDictionary(c => c.Key, c => c.Value.Status);
        }
    }

    /// <summary>Starts or replaces checks (same id: replaced).</summary>
    public void Add(IEnumerable<HealthCheckConfig> configs)
    {
        foreach (var config in configs)
        {
            Remove([config.Id]);
            if (!config.HcEnabled || config.HcHostname.Length == 0 || config.HcPort is < 1 or > 65535)
            {
                continue;
            }
            var check = new Check(config);
            lock (_lock)
            {
                _checks[config.Id] = check;
            }
            check.Loop = Task.Run(() => RunAsync(check), CancellationToken.None);
        }
    }

    public void Remove(IEnumerable<int> ids)
    {
        foreach (var id in ids)
        {
            Check? check;
            lock (_lock)
            {
                _checks.Remove(id, out check);
            }
            check?.Stop.Cancel();
        }
    }

    /// <summary>Makes the running checks exactly <paramref name="configs"/> (newt/sync).</summary>
    public void Sync(IReadOnlyCollection<HealthCheckConfig> configs)
    {
        List<int> stale;
        lock (_lock)
        {
            stale = [.. _checks.Keys.Where(id => configs.All(c => c.Id != id))];
        }
        Remove(stale);
        Add(configs.Where(c =>
        {
            lock (_lock)
            {
                return !_checks.TryGetValue(c.Id, out var running) || !Same(running.Config, c);
            }
        }).ToList());
    }

    private static bool Same(HealthCheckConfig a, HealthCheckConfig b) =>
        System.Text.Json.JsonSerializer.Serialize(a, Pangolin.Protocol.ProtocolJsonContext.Default.HealthCheckConfig)
        == System.Text.Json.JsonSerializer.Serialize(b, Pangolin.Protocol.ProtocolJsonContext.Default.HealthCheckConfig);

    public void SetEnabled(int id, bool enabled)
    {
        Check? check;
        lock (_lock)
        {
            _checks.TryGetValue(id, out check);
        }
        if (check is not null && check.Config.HcEnabled != enabled)
        {
            Add([check.Config with { HcEnabled = enabled }]);
        }
    }

    private async Task RunAsync(Check check)
    {
        var ct = check.Stop.Token;
        var config = check.Config;
        var successes = 0;
        var failures = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var error = await ProbeAsync(config, ct);
                if (error is null)
                {
                    successes++;
                    failures = 0;
                }
                else
                {
                    failures++;
                    successes = 0;
                }
                var current = check.Status.Status;
                var next = current;
                if (error is null && (current != HealthStates.Healthy) && successes >= Math.Max(1, config.HcHealthyThreshold))
                {
                    next = HealthStates.Healthy;
                }
                else if (error is not null && current != HealthStates.Unhealthy && failures >= Math.Max(1, config.HcUnhealthyThreshold))
                {
                    next = HealthStates.Unhealthy;
                }
                check.Status = check.Status with
                {
                    Status = next,
                    LastCheck = _time.GetUtcNow().ToString("yyyy-MM-dd'T'HH:mm:ssK", CultureInfo.InvariantCulture),
                    CheckCount = check.Status.CheckCount + 1,
                    LastError = error ?? "",
                };
                if (next != current)
                {
                    LogChanged(_logger, config.Id, config.HcHostname, config.HcPort, next, error ?? "");
                    _report(Snapshot());
                }
                var wait = next == HealthStates.Healthy ? config.HcInterval : config.HcUnhealthyInterval;
                await Task.Delay(TimeSpan.FromSeconds(Math.Max(1, wait > 0 ? wait : 30)), _time, ct);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
        }
    }

    /// <summary>Null when healthy; otherwise why not.</summary>
    private async Task<string?> ProbeAsync(HealthCheckConfig config, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TimeSpan.FromSeconds(config.HcTimeout > 0 ? config.HcTimeout : 5));
        try
        {
            if (config.HcMode == "tcp")
            {
                using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(config.HcHostname, config.HcPort, timeout.Token);
                return null;
            }
            var scheme = config.HcScheme is "https" ? "https" : "http";
            var host = config.HcHostname.Contains(':', StringComparison.Ordinal) ? $"[{config.HcHostname}]" : config.HcHostname;
            var path = config.HcPath.StartsWith('/') ? config.HcPath : "/" + config.HcPath;
            using var request = new HttpRequestMessage(new HttpMethod(config.HcMethod is { Length: > 0 } m ? m : "GET"), $"{scheme}://{host}:{config.HcPort}{path}");
            foreach (var (name, value) in config.HcHeaders ?? new Dictionary<string, string>())
            {
                if (string.Equals(name, "Host", StringComparison.OrdinalIgnoreCase))
                {
                    request.Headers.Host = value;
                }
                else
                {
                    request.Headers.TryAddWithoutValidation(name, value);
                }
            }
            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout.Token);
            var status = (int)response.StatusCode;
            var ok = config.HcStatus > 0 ? status == config.HcStatus : status is >= 200 and < 400;
            return ok ? null : $"HTTP {status}";
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return $"no answer within {(config.HcTimeout > 0 ? config.HcTimeout : 5)} s";
        }
        catch (Exception e) when (e is HttpRequestException or SocketException or IOException or UriFormatException or FormatException)
        {
            return e.Message;
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<Check> all;
        lock (_lock)
        {
            all = [.. _checks.Values];
            _checks.Clear();
        }
        foreach (var check in all)
        {
            await check.Stop.CancelAsync();
            if (check.Loop is not null)
            {
                await check.Loop.ConfigureAwait(ConfigureAwaitOptions.SuppressThrowing);
            }
            check.Stop.Dispose();
        }
        _http.Dispose();
    }

    private sealed class Check(HealthCheckConfig config)
    {
        public HealthCheckConfig Config { get; } = config;

        public CancellationTokenSource Stop { get; } = new();

        public Task? Loop { get; set; }

        public HealthCheckStatus Status { get; set; } = new() { Status = HealthStates.Unknown, Config = config };
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Health check {Id} ({Host}:{Port}) is now {State} {Error}")]
    private static partial void LogChanged(ILogger logger, int id, string host, int port, string state, string error);
}
