using System.Net;
using System.Net.Http.Json;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Protocol;
using Pangolin.Server.Sites;
using Pangolin.Server.Tests.Infrastructure;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Server.Tests.ControlChannel;

/// <summary>
/// What exit nodes report back: the health of targets from newts, per-site traffic from the embedded node and from
/// standalone gerbils, and the gerbils' own API (get-config, receive-bandwidth) on the internal port only.
/// </summary>
public abstract class ExitNodeApiTests(DatabaseKind kind, PostgresServer postgres) : NewtTestBase(kind, postgres)
{
    private HttpClient Internal() => Factory.CreateClient(new WebApplicationFactoryClientOptions { BaseAddress = new Uri("http://localhost:3001/api/v1/") });

    [Fact]
    public async Task Health_reported_by_a_newt_is_stored_for_its_own_targets_only()
    {
        var site = await CreateNewtSiteAsync("Mine");
        var other = await CreateNewtSiteAsync("Other");
        var resource = await CreateResourceAsync("App");
        var hc = new { hcEnabled = true, hcPath = "/up" };
        var (mine, _) = await CreateTargetAsync(resource, site.SiteId, "10.0.0.5", 80, new { siteId = site.SiteId, ip = "10.0.0.5", port = 80, hc.hcEnabled, hc.hcPath });
        var (foreign, _) = await CreateTargetAsync(resource, other.SiteId, "10.0.0.6", 80, new { siteId = other.SiteId, ip = "10.0.0.6", port = 80, hc.hcEnabled, hc.hcPath });
        var ids = await DbAsync(db => db.TargetHealthChecks.AsNoTracking().ToDictionaryAsync(h => h.TargetId, h => h.TargetHealthCheckId));

        await using var newt = await ConnectAsync(site);
        await newt.SendAsync("{\"type\":\"newt/healthcheck/status\",\"data\":{\"targets\":{"
            + $"\"{ids[mine]}\":{{\"status\":\"healthy\",\"lastCheck\":\"2026-11-25T12:00:00Z\",\"checkCount\":3,\"lastError\":\"\",\"config\":{{}}}},"
            + $"\"{ids[foreign]}\":{{\"status\":\"unhealthy\",\"lastCheck\":\"2026-11-25T12:00:00Z\",\"checkCount\":3,\"lastError\":\"refused\",\"config\":{{}}}}"
            + "}}}");
        await EventuallyAsync(async () => await HealthAsync(mine) == "healthy", "the newt's own target is healthy");
        Assert.Equal("unknown", await HealthAsync(foreign));
        var shown = (await Admin.GetJsonAsync($"target/{mine}")).Expect(200).Data;
        Assert.Equal("healthy", shown.GetProperty("hcHealth").GetString());
    }

    private Task<string> HealthAsync(int targetId) =>
        DbAsync(db => db.TargetHealthChecks.AsNoTracking().Where(h => h.TargetId == targetId).Select(h => h.HcHealth).FirstAsync());

    [Fact]
    public async Task Traffic_through_the_embedded_node_is_counted_per_site_from_the_site_s_point_of_view()
    {
        var site = await CreateNewtSiteAsync();
        var resource = await CreateResourceAsync("App");
        var (targetId, port) = await CreateTargetAsync(resource, site.SiteId, "10.0.0.5", 80);
        await using var newt = await ConnectAsync(site);
        var key = WgKey.GeneratePrivate();
        var connect = await RegisterAsync(newt, key);
        await using var tunnel = StartSiteTunnel(key, connect);
        var ct = TestContext.Current.CancellationToken;
        using var listener = tunnel.Stack.ListenTcp(new IPEndPoint(IPAddress.Parse(connect.TunnelIp), port));
        const int Download = 3 << 20;
        var serving = Task.Run(async () =>
        {
            await using var accepted = await listener.AcceptAsync(ct);
            await accepted.WriteAsync(RandomNumberGenerator.GetBytes(Download), ct); // the site sends: its "out"
        }, ct);
        var bandwidth = Factory.Services.GetRequiredService<BandwidthAccumulator>();
        bandwidth.SampleEmbedded();
        await bandwidth.FlushAsync(ct);
        var before = await DbAsync(db => db.Sites.AsNoTracking().FirstAsync(s => s.SiteId == site.SiteId));

        await using (var stream = await Factory.Services.GetRequiredService<TargetConnector>().ConnectTcpAsync(targetId, ct))
        {
            await stream.ReadExactlyAsync(new byte[Download], ct).AsTask().WaitAsync(TimeSpan.FromSeconds(30), ct);
        }
        await serving;
        bandwidth.SampleEmbedded();
        await bandwidth.FlushAsync(ct);
        var after = await DbAsync(db => db.Sites.AsNoTracking().FirstAsync(s => s.SiteId == site.SiteId));
        Assert.InRange(after.MegabytesOut - before.MegabytesOut, 3.0, 3.5);
        Assert.InRange(after.MegabytesIn - before.MegabytesIn, 0.001, 0.5);
        Assert.Equal(Factory.Clock.GetUtcNow().UtcDateTime, after.LastBandwidthUpdate);
    }

    [Fact]
    public async Task A_standalone_gerbil_registers_gets_its_peers_and_reports_bandwidth_on_the_internal_port_only()
    {
        var gerbilKey = WgKey.GeneratePrivate().PublicKey().ToBase64();
        using var client = Internal();
        var first = await client.PostAsJsonAsync("gerbil/get-config", new { publicKey = gerbilKey, reachableAt = "http://10.9.0.2:3003" }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.False(first.Headers.Contains("X-Gerbil-Config-Signature"), "signed without Gerbil:ConfigSigningKey");
        var config = await first.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.GetConfigResponse, TestContext.Current.CancellationToken);
        Assert.Equal("100.89.138.1/24", config!.IpAddress); // the embedded node holds 100.89.137.0/24
        Assert.Equal(51820, config.ListenPort);
        Assert.Empty(config.Peers);
        var node = await DbAsync(db => db.ExitNodes.AsNoTracking().FirstAsync(n => n.PublicKey == gerbilKey));
        Assert.Equal(("http://10.9.0.2:3003", "10.9.0.2", true, false), (node.ReachableAt, node.Endpoint, node.Online, node.Embedded));

        // A site on that node is in the next get-config (what a restarted gerbil reloads).
        var site = await CreateNewtSiteAsync();
        var siteKey = WgKey.GeneratePrivate().PublicKey().ToBase64();
        await DbAsync(db => db.Sites.Where(s => s.SiteId == site.SiteId).ExecuteUpdateAsync(u => u
            .SetProperty(s => s.ExitNodeId, node.ExitNodeId).SetProperty(s => s.PubKey, siteKey).SetProperty(s => s.Subnet, "100.89.138.4/30")));
        var again = await (await client.PostAsJsonAsync("gerbil/get-config", new { publicKey = gerbilKey }, TestContext.Current.CancellationToken))
            .Content.ReadFromJsonAsync(ProtocolJsonContext.Default.GetConfigResponse, TestContext.Current.CancellationToken);
        Assert.Equal("100.89.138.1/24", again!.IpAddress);
        var peer = Assert.Single(again.Peers);
        Assert.Equal((siteKey, "100.89.138.4/30"), (peer.PublicKey, Assert.Single(peer.AllowedIps)));

        // Bandwidth in megabytes from the node's side; the site's counters are swapped.
        var report = await client.PostAsync("gerbil/receive-bandwidth",
            new StringContent($"[{{\"publicKey\":\"{siteKey}\",\"bytesIn\":1.5,\"bytesOut\":0.25}},{{\"publicKey\":\"{gerbilKey}\",\"bytesIn\":0,\"bytesOut\":0}}]",
                System.Text.Encoding.UTF8, "application/json"), TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, report.StatusCode);
        await Factory.Services.GetRequiredService<BandwidthAccumulator>().FlushAsync(TestContext.Current.CancellationToken);
        var counted = await DbAsync(db => db.Sites.AsNoTracking().FirstAsync(s => s.SiteId == site.SiteId));
        Assert.Equal((1.5, 0.25), (counted.MegabytesOut, counted.MegabytesIn));

        // Bad input is refused with a reason; the dashboard port does not serve this API at all.
        var bad = await client.PostAsJsonAsync("gerbil/get-config", new { publicKey = "nope" }, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("publicKey", await bad.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        using var dashboard = Factory.DashboardClient();
        (await dashboard.PostJsonAsync("gerbil/get-config", new { publicKey = gerbilKey })).Expect(404);
        // And the internal port serves nothing else.
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("user", TestContext.Current.CancellationToken)).StatusCode);
    }

    [Fact]
    public async Task A_slow_remote_exit_node_holds_up_only_the_registration_of_its_own_site()
    {
        using var gerbil = new StalledPeerApi();
        var gerbilKey = WgKey.GeneratePrivate().PublicKey().ToBase64();
        using var client = Internal();
        (await client.PostAsJsonAsync("gerbil/get-config", new { publicKey = gerbilKey, reachableAt = gerbil.Url }, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        var remote = await DbAsync(db => db.ExitNodes.AsNoTracking().FirstAsync(n => n.PublicKey == gerbilKey));
        var siteA = await CreateNewtSiteAsync("On the remote node");
        var siteB = await CreateNewtSiteAsync("On the embedded node");
        await using var newtA = await ConnectAsync(siteA);
        await using var newtB = await ConnectAsync(siteB);

        // A's registration waits for its node to take the key (POST /peer), which does not answer yet...
        await newtA.SendAsync(RegisterJson(WgKey.GeneratePrivate().PublicKey().ToBase64(), remote.ExitNodeId, remote.Endpoint, "a"));
        await gerbil.PeerRequested.Task.WaitAsync(NewtScript.Deadline, TestContext.Current.CancellationToken);
        // ...while B registers on the embedded node all the same.
        await newtB.SendAsync(RegisterJson(WgKey.GeneratePrivate().PublicKey().ToBase64(), Node.ExitNodeId, "localhost", "b"));
        var connectB = NewtScript.Data(await newtB.ExpectAsync(MessageTypes.NewtWgConnect), ProtocolJsonContext.Default.WgConnectData);
        Assert.Equal(Node.Runtime!.PublicKey.ToBase64(), connectB.PublicKey);
        await Assert.ThrowsAsync<TimeoutException>(() => newtA.ReceiveAsync(TimeSpan.FromMilliseconds(300))); // A still waits

        gerbil.Answer();
        var connectA = NewtScript.Data(await newtA.ExpectAsync(MessageTypes.NewtWgConnect), ProtocolJsonContext.Default.WgConnectData);
        Assert.Equal(gerbilKey, connectA.PublicKey);
    }

    /// <summary>A standalone gerbil's peer API that holds every request until <see cref="Answer"/>, then answers 200.</summary>
    private sealed class StalledPeerApi : IDisposable
    {
        private readonly System.Net.Sockets.TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly TaskCompletionSource _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly CancellationTokenSource _stop = new();

        public StalledPeerApi()
        {
            _listener.Start();
            _ = AcceptAsync();
        }

        public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public TaskCompletionSource PeerRequested { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void Answer() => _answer.TrySetResult();

        public void Dispose()
        {
            _stop.Cancel();
            _answer.TrySetResult();
            _listener.Dispose();
            _stop.Dispose();
        }

        private async Task AcceptAsync()
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    _ = ServeAsync(client);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or System.Net.Sockets.SocketException)
            {
                // stopped
            }
        }

        private async Task ServeAsync(System.Net.Sockets.TcpClient client)
        {
            using (client)
            {
                try
                {
                    var stream = client.GetStream();
                    var head = new byte[8192];
                    var read = await stream.ReadAsync(head, _stop.Token);
                    if (System.Text.Encoding.ASCII.GetString(head, 0, read).StartsWith("POST /peer", StringComparison.Ordinal))
                    {
                        PeerRequested.TrySetResult();
                    }
                    await _answer.Task.WaitAsync(_stop.Token);
                    await stream.WriteAsync("HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), _stop.Token);
                }
                catch (Exception e) when (e is OperationCanceledException or IOException or System.Net.Sockets.SocketException)
                {
                    // stopped
                }
            }
        }
    }
}

public sealed class SqliteExitNodeApiTests(PostgresServer postgres) : ExitNodeApiTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresExitNodeApiTests(PostgresServer postgres) : ExitNodeApiTests(DatabaseKind.Postgres, postgres);
