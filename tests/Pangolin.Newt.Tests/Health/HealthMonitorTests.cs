using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Newt.Health;
using Pangolin.Protocol.Messages;

namespace Pangolin.Newt.Tests.Health;

/// <summary>
/// Health checks against real listeners on loopback, on a fake clock: HTTP status and expected status, the Host
/// override, thresholds in both directions, TCP mode, and a report of the whole map on every change.
/// </summary>
public sealed class HealthMonitorTests : IAsyncDisposable
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(20);

    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UnixEpoch);
    private readonly ConcurrentQueue<IReadOnlyDictionary<int, HealthCheckStatus>> _reports = new();
    private readonly HealthMonitor _monitor;

    public HealthMonitorTests() => _monitor = new HealthMonitor(false, _clock, NullLogger.Instance, _reports.Enqueue);

    /// <summary>A tiny HTTP server: answers every request with the current status and remembers the Host headers.</summary>
    private sealed class TinyHttp : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly CancellationTokenSource _stop = new();

        public TinyHttp()
        {
            _listener.Start();
            _ = Task.Run(ServeAsync);
        }

        public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

        public volatile int Status = 200;

        public ConcurrentQueue<string> Hosts { get; } = new();

        private async Task ServeAsync()
        {
            while (!_stop.IsCancellationRequested)
            {
                using var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                var stream = client.GetStream();
                var request = new StringBuilder();
                var buffer = new byte[4096];
                while (!request.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                {
                    var n = await stream.ReadAsync(buffer, _stop.Token);
                    if (n == 0)
                    {
                        break;
                    }
                    request.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }
                var host = request.ToString().Split("\r\n").FirstOrDefault(l => l.StartsWith("Host:", StringComparison.OrdinalIgnoreCase));
                Hosts.Enqueue(host?[5..].Trim() ?? "");
                await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {Status} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"), _stop.Token);
            }
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _stop.Dispose();
        }
    }

    private static HealthCheckConfig Http(int id, int port, int healthy = 1, int unhealthy = 1, int status = 0, Dictionary<string, string>? headers = null) => new()
    {
        Id = id, HcEnabled = true, HcMode = "http", HcScheme = "http", HcHostname = "127.0.0.1", HcPort = port, HcPath = "/health",
        HcMethod = "GET", HcInterval = 5, HcUnhealthyInterval = 5, HcTimeout = 2, HcHealthyThreshold = healthy, HcUnhealthyThreshold = unhealthy,
        HcStatus = status, HcHeaders = headers,
    };

    /// <summary>Advances the fake clock a second at a time until the latest report says <paramref name="state"/> for <paramref name="id"/>.</summary>
    private async Task<HealthCheckStatus> UntilAsync(int id, string state)
    {
        var deadline = DateTime.UtcNow + Deadline;
        while (true)
        {
            if (_reports.LastOrDefault() is { } last && last.TryGetValue(id, out var status) && status.Status == state)
            {
                return status;
            }
            Assert.True(DateTime.UtcNow < deadline, $"check {id} never became {state}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
            _clock.Advance(TimeSpan.FromSeconds(1));
        }
    }

    [Fact]
    public async Task An_http_check_turns_healthy_then_unhealthy_after_its_thresholds_and_reports_each_change()
    {
        using var server = new TinyHttp();
        _monitor.Add([Http(7, server.Port, healthy: 2, unhealthy: 2, headers: new() { ["Host"] = "app.example.com" })]);
        var healthy = await UntilAsync(7, HealthStates.Healthy);
        Assert.True(healthy.CheckCount >= 2, "two successes were needed");
        Assert.Equal("", healthy.LastError);
        Assert.All(server.Hosts, h => Assert.Equal("app.example.com", h));

        var before = _reports.Count;
        server.Status = 503;
        var unhealthy = await UntilAsync(7, HealthStates.Unhealthy);
        Assert.Equal("HTTP 503", unhealthy.LastError);
        Assert.Equal(before + 1, _reports.Count); // one report per change, not per probe
    }

    [Fact]
    public async Task An_expected_status_is_matched_exactly()
    {
        using var server = new TinyHttp { Status = 204 };
        _monitor.Add([Http(1, server.Port, status: 204), Http(2, server.Port, status: 200)]);
        await UntilAsync(1, HealthStates.Healthy);
        await UntilAsync(2, HealthStates.Unhealthy);
        Assert.Equal(2, _monitor.Snapshot().Count);
    }

    [Fact]
    public async Task A_tcp_check_follows_whether_the_port_accepts_and_removed_checks_stop()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        _monitor.Add([new HealthCheckConfig { Id = 3, HcEnabled = true, HcMode = "tcp", HcHostname = "127.0.0.1", HcPort = port, HcInterval = 5, HcTimeout = 2 }]);
        await UntilAsync(3, HealthStates.Healthy);
        listener.Stop();
        await UntilAsync(3, HealthStates.Unhealthy);

        _monitor.Remove([3]);
        Assert.Empty(_monitor.Snapshot());
        // Sync replaces the set; a disabled check is not run.
        _monitor.Sync([Http(4, port) with { HcEnabled = false }]);
        Assert.Empty(_monitor.Snapshot());
    }

    public async ValueTask DisposeAsync() => await _monitor.DisposeAsync();
}
