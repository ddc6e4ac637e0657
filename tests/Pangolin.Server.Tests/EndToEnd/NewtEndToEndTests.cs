extern alias newt;

using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using newt::Pangolin.Newt;
using Pangolin.Server.Sites;
using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;
using Pangolin.Edge;

namespace Pangolin.Server.Tests.EndToEnd;

/// <summary>
/// Our newt against our server over real loopback sockets: token, WebSocket, registration, a userspace WireGuard
/// tunnel to the embedded exit node, relays to real backends — reached by the server's target connector — and the
/// changes, failures and restarts a site lives through.
/// </summary>
public sealed class NewtEndToEndTests(PostgresServer postgres) : NewtTestBase(DatabaseKind.Sqlite, postgres)
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    protected override bool Kestrel => true;

    private NewtOptions Options(NewtSite site) => new() { Id = site.NewtId, Secret = site.Secret, Endpoint = Factory.Endpoint, PingInterval = TimeSpan.FromSeconds(1), PingTimeout = TimeSpan.FromSeconds(2) };

    private sealed class RunningNewt(NewtAgent agent, Task<int> run, CancellationTokenSource stop) : IAsyncDisposable
    {
        public NewtAgent Agent => agent;

        public Task<int> Run => run;

        public async Task<int> StopAsync()
        {
            await stop.CancelAsync();
            return await run.WaitAsync(Within);
        }

        public async ValueTask DisposeAsync()
        {
            if (!run.IsCompleted)
            {
                await StopAsync();
            }
            await agent.DisposeAsync();
            stop.Dispose();
        }
    }

    private RunningNewt Start(NewtOptions options)
    {
        // The newt's lines land in the current server's captured log (PANGOLIN_TEST_LOGS keeps it), across restarts.
        var agent = new NewtAgent(options, LoggerFactory.Create(b => b.SetMinimumLevel(LogLevel.Debug).AddProvider(new CurrentServerLog(() => Factory))));
        var stop = new CancellationTokenSource();
        return new RunningNewt(agent, Task.Run(() => agent.RunAsync(stop.Token)), stop);
    }

    /// <summary>The newt's and the tunnels' last log lines, for a failure message (CI keeps no other log).</summary>
    private string RecentTunnelLog() => string.Join('\n', Factory.Logs
        .Where(l => l.Contains(" newt:", StringComparison.Ordinal) || l.Contains("Pangolin.Newt", StringComparison.Ordinal)
            || l.Contains("Pangolin.Tunnel", StringComparison.Ordinal) || l.Contains("ControlChannel", StringComparison.Ordinal))
        .Select(l => l.Split(" | ")[0]).TakeLast(40));

    private sealed class CurrentServerLog(Func<PangolinFactory> factory) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(categoryName, factory);

        public void Dispose()
        {
        }

        private sealed class Logger(string category, Func<PangolinFactory> factory) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
                factory().Logs.Enqueue($"{logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
        }
    }

    /// <summary>A TCP backend on the host network that answers each line with the same line prefixed.</summary>
    private static (TcpListener Listener, Task Serving) StartBackend(string prefix, CancellationToken ct)
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var serving = Task.Run(async () =>
        {
            while (!ct.IsCancellationRequested)
            {
                var client = await listener.AcceptTcpClientAsync(ct);
                _ = Task.Run(async () =>
                {
                    using (client)
                    {
                        var stream = client.GetStream();
                        var buffer = new byte[64 * 1024];
                        int n;
                        await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(prefix), ct);
                        while ((n = await stream.ReadAsync(buffer, ct)) > 0)
                        {
                            await stream.WriteAsync(buffer.AsMemory(0, n), ct);
                        }
                    }
                }, ct);
            }
        }, ct);
        return (listener, serving);
    }

    private async Task<string> ExchangeAsync(int targetId, byte[] payload, TimeSpan? connectWithin = null)
    {
        var ct = TestContext.Current.CancellationToken;
        var connector = Factory.Services.GetRequiredService<TargetConnector>();
        using var connecting = CancellationTokenSource.CreateLinkedTokenSource(ct);
        connecting.CancelAfter(connectWithin ?? Within);
        Stream stream;
        try
        {
            stream = await connector.ConnectTcpAsync(targetId, connecting.Token);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new TimeoutException($"no connection to target {targetId} within {(connectWithin ?? Within).TotalSeconds} s");
        }
        await using var _ = stream;
        var prefix = new byte[4];
        await stream.ReadExactlyAsync(prefix, ct).AsTask().WaitAsync(Within, ct);
        var writing = stream.WriteAsync(payload, ct).AsTask();
        var back = new byte[payload.Length];
        await stream.ReadExactlyAsync(back, ct).AsTask().WaitAsync(Within, ct);
        await writing;
        Assert.Equal(SHA256.HashData(payload), SHA256.HashData(back));
        return System.Text.Encoding.ASCII.GetString(prefix);
    }

    /// <summary>Retries until the target answers with <paramref name="expectedPrefix"/>: a change reaches the newt a moment after the API call.</summary>
    private async Task EventuallyReachableAsync(int targetId, string expectedPrefix, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? Within);
        var last = "nothing";
        while (true)
        {
            try
            {
                // Each attempt is short: a SYN sent while the site was switching tunnels backs off for long.
                last = await ExchangeAsync(targetId, RandomNumberGenerator.GetBytes(1024), TimeSpan.FromSeconds(3));
                if (last == expectedPrefix)
                {
                    return;
                }
            }
            catch (Exception e) when (e is TargetUnreachableException or IOException or TimeoutException)
            {
                last = e.Message;
            }
            Assert.True(DateTime.UtcNow < deadline, $"target {targetId} did not answer {expectedPrefix} within {(within ?? Within).TotalSeconds} s; last: {last}\n{RecentTunnelLog()}");
            await Task.Delay(200, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task A_newt_connects_registers_and_relays_targets_that_change_while_it_runs()
    {
        var ct = TestContext.Current.CancellationToken;
        var (one, _) = StartBackend("ONE:", ct);
        var (two, _) = StartBackend("TWO:", ct);
        using var stopOne = one;
        using var stopTwo = two;
        var site = await CreateNewtSiteAsync();
        var resource = await CreateResourceAsync("App");
        var (first, _) = await CreateTargetAsync(resource, site.SiteId, "127.0.0.1", ((IPEndPoint)one.LocalEndpoint).Port);

        await using var newt = Start(Options(site));
        await EventuallyAsync(async () => (await PresenceAsync(site.SiteId)).Online, "the site is online");
        await EventuallyReachableAsync(first, "ONE:");
        // A large transfer through both WireGuards and both stacks, checked end to end.
        Assert.Equal("ONE:", await ExchangeAsync(first, RandomNumberGenerator.GetBytes(8 << 20)));

        // Targets added and changed through the API are relayed without touching the newt.
        var (second, _) = await CreateTargetAsync(resource, site.SiteId, "127.0.0.1", ((IPEndPoint)two.LocalEndpoint).Port);
        await EventuallyReachableAsync(second, "TWO:");
        (await Admin.PostJsonAsync($"target/{first}", new { port = ((IPEndPoint)two.LocalEndpoint).Port })).Expect(200);
        await EventuallyReachableAsync(first, "TWO:");
        (await Admin.DeleteJsonAsync($"target/{second}")).Expect(200);
        await EventuallyAsync(() => Task.FromResult(newt.Agent.Proxies?.Targets.Count == 1), "the deleted target's relay is gone");

        // Stopping says goodbye: the site is offline at once.
        Assert.Equal(NewtAgent.ExitOk, await newt.StopAsync());
        await EventuallyAsync(async () => !(await PresenceAsync(site.SiteId)).Online, "offline after the newt stopped");
    }

    [Fact]
    public async Task A_restarted_newt_and_a_newt_whose_websocket_drops_are_back_without_admin_action()
    {
        var ct = TestContext.Current.CancellationToken;
        var (backend, _) = StartBackend("ONE:", ct);
        using var stop = backend;
        var site = await CreateNewtSiteAsync();
        var resource = await CreateResourceAsync("App");
        var (target, _) = await CreateTargetAsync(resource, site.SiteId, "127.0.0.1", ((IPEndPoint)backend.LocalEndpoint).Port);

        await using (var newt = Start(Options(site)))
        {
            await EventuallyReachableAsync(target, "ONE:");
        }
        // A new process: a new key, the same block.
        await using var again = Start(Options(site));
        await EventuallyReachableAsync(target, "ONE:");
        Assert.Equal("100.89.137.4/30", await DbAsync(db => db.Sites.AsNoTracking().Where(s => s.SiteId == site.SiteId).Select(s => s.Subnet).FirstAsync()));

        // The server cuts the WebSocket (as a restart would): the newt reconnects by itself and the tunnel carries on.
        var registry = Factory.Services.GetRequiredService<Pangolin.Server.ControlChannel.ConnectionRegistry>();
        Assert.True(registry.Disconnect(site.NewtId, System.Net.WebSockets.WebSocketCloseStatus.EndpointUnavailable, "test"));
        await EventuallyAsync(() => Task.FromResult(!registry.IsConnected(site.NewtId)), "the socket is closed");
        await EventuallyAsync(() => Task.FromResult(registry.IsConnected(site.NewtId)), "the newt is back");
        await EventuallyReachableAsync(target, "ONE:");
    }

    [Fact]
    public async Task After_a_server_restart_the_newt_is_back_by_itself_with_its_targets_and_block()
    {
        var ct = TestContext.Current.CancellationToken;
        var (backend, _) = StartBackend("ONE:", ct);
        using var stop = backend;
        var site = await CreateNewtSiteAsync();
        var resource = await CreateResourceAsync("App");
        var (target, internalPort) = await CreateTargetAsync(resource, site.SiteId, "127.0.0.1", ((IPEndPoint)backend.LocalEndpoint).Port);
        await using var newt = Start(Options(site));
        await EventuallyReachableAsync(target, "ONE:");

        await RestartServerAsync();
        await EventuallyAsync(async () => (await PresenceAsync(site.SiteId)).Online, "the site is online again");
        // The old tunnel died with the node's sessions: the newt notices (liveness) or re-handshakes, then carries on.
        await EventuallyReachableAsync(target, "ONE:", TimeSpan.FromSeconds(60));
        var stored = await DbAsync(db => db.Targets.AsNoTracking().Where(t => t.TargetId == target).Select(t => t.InternalPort).FirstAsync());
        Assert.Equal(internalPort, stored);
        Assert.Equal("100.89.137.4/30", await DbAsync(db => db.Sites.AsNoTracking().Where(s => s.SiteId == site.SiteId).Select(s => s.Subnet).FirstAsync()));
    }

    [Fact]
    public async Task Datagrams_reach_a_udp_target_through_the_newt_and_come_back()
    {
        var ct = TestContext.Current.CancellationToken;
        using var echo = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var echoing = Task.Run(async () =>
        {
            while (!ct.IsCancellationRequested)
            {
                var datagram = await echo.ReceiveAsync(ct);
                await echo.SendAsync(datagram.Buffer.Reverse().ToArray(), datagram.RemoteEndPoint, ct);
            }
        }, ct);
        var site = await CreateNewtSiteAsync();
        var resource = await CreateResourceAsync("Game", http: false, protocol: "udp");
        var (target, _) = await CreateTargetAsync(resource, site.SiteId, "127.0.0.1", ((IPEndPoint)echo.Client.LocalEndPoint!).Port);
        await using var newt = Start(Options(site));
        await EventuallyAsync(() => Task.FromResult(newt.Agent.Proxies?.Targets.Count == 1), "the newt relays the UDP target");

        using var flow = await Factory.Services.GetRequiredService<TargetConnector>().OpenUdpAsync(target, ct);
        var answer = new byte[2048];
        var deadline = DateTime.UtcNow + Within;
        for (var i = 0; ; i++)
        {
            var question = System.Text.Encoding.ASCII.GetBytes($"question {i}");
            await flow.SendAsync(question, ct);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
            wait.CancelAfter(TimeSpan.FromSeconds(1));
            try
            {
                var length = await flow.ReceiveAsync(answer, wait.Token);
                Assert.Equal(question.Reverse().ToArray(), answer.AsSpan(0, length).ToArray());
                break;
            }
            catch (OperationCanceledException) when (!ct.IsCancellationRequested && DateTime.UtcNow < deadline)
            {
                // UDP: the first datagrams may be lost while the tunnel's first handshake completes.
            }
        }
        // The session stays: more datagrams go both ways on it.
        for (var i = 0; i < 20; i++)
        {
            var payload = RandomNumberGenerator.GetBytes(1200);
            await flow.SendAsync(payload, ct);
            var length = await flow.ReceiveAsync(answer, ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), ct);
            Assert.Equal(payload.Reverse().ToArray(), answer.AsSpan(0, length).ToArray());
        }
    }

    [Fact]
    public async Task A_wrong_secret_stops_the_newt_with_exit_code_3_and_a_second_newt_replaces_the_first()
    {
        var site = await CreateNewtSiteAsync();
        await using (var wrong = Start(Options(site) with { Secret = site.Secret + "x" }))
        {
            Assert.Equal(NewtAgent.ExitRefused, await wrong.Run.WaitAsync(Within, TestContext.Current.CancellationToken));
        }

        await using var first = Start(Options(site));
        var registry = Factory.Services.GetRequiredService<Pangolin.Server.ControlChannel.ConnectionRegistry>();
        await EventuallyAsync(() => Task.FromResult(first.Agent.TunnelUp), "the first newt's tunnel is up");
        await using var second = Start(Options(site));
        Assert.Equal(NewtAgent.ExitReplaced, await first.Run.WaitAsync(Within, TestContext.Current.CancellationToken));
        await EventuallyAsync(() => Task.FromResult(second.Agent.TunnelUp), "the second newt's tunnel is up");
        Assert.True(registry.IsConnected(site.NewtId));
    }
}
