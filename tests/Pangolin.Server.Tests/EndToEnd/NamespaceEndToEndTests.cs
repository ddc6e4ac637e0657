using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Hosting;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Server.Sites;
using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;
using Pangolin.Edge;

namespace Pangolin.Server.Tests.EndToEnd;

/// <summary>
/// A site as it is deployed: three network namespaces that the test builds and removes — the server's, the site's
/// and the site's private network behind it, with nginx and a UDP echo service reachable from the site's namespace
/// only. The server (this process: its exit node's UDP socket created inside the server's namespace, its public port
/// there relayed to its loopback listener) reaches those backends only through the newt executable, which runs in the
/// site's namespace as the user nobody.
/// </summary>
[Trait("Category", "Namespaces")]
public sealed class NamespaceEndToEndTests(PostgresServer postgres) : NewtTestBase(DatabaseKind.Sqlite, postgres)
{
    private const string ServerAddress = SiteNetwork.ServerAddress;
    private const string BackendAddress = SiteNetwork.BackendAddress;
    private const int WebPort = 8080;
    private const int OtherWebPort = 8081;
    private const int EchoPort = 9999;
    private const int Nobody = SiteNetwork.Nobody;
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    private SiteNetwork _net = null!;
    private bool _disposed;
    private byte[] _page = null!;

    protected override bool Kestrel => true;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        // Where newts dial the exit node: the server's address on the site-facing link.
        ["Gerbil:BaseEndpoint"] = ServerAddress,
    };

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private Uri ServerEndpoint => SiteNetwork.ServerEndpoint(Factory.ExternalPort);

    public override async ValueTask InitializeAsync()
    {
        _net = SiteNetwork.Create("netns");
        try
        {
            await StartBackendsAsync();
            await base.InitializeAsync();
            _net.StartPublicRelay(Factory.ExternalPort);
        }
        catch
        {
            await DisposeAsync(); // nothing left behind when the set-up fails half-way
            throw;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _net.Stop();
        await base.DisposeAsync();
        _net.Dispose();
    }

    protected override void ConfigureServer(IWebHostBuilder builder) =>
        builder.ConfigureServices(_net.ConfigureServer);

    private async Task StartBackendsAsync()
    {
        _page = RandomNumberGenerator.GetBytes(4 << 20);
        var root = Path.Combine(_net.Work, "www");
        Directory.CreateDirectory(root);
        File.SetUnixFileMode(root, (UnixFileMode)0x1ED);
        await File.WriteAllBytesAsync(Path.Combine(root, "big.bin"), _page, Token);
        File.SetUnixFileMode(Path.Combine(root, "big.bin"), (UnixFileMode)0x1A4);
        await _net.StartNginxAsync($$"""
                server {
                    listen {{BackendAddress}}:{{WebPort}};
                    root {{root}};
                    location = /hello { return 200 "hello from the private network\n"; }
                }
                server {
                    listen {{BackendAddress}}:{{OtherWebPort}};
                    location / { return 200 "the other backend\n"; }
                }
            """, WebPort, Token);
        _net.StartUdpEcho(EchoPort);
    }

    // ------------------------------------------------------------------ newt and the targets

    /// <summary>The newt executable in the site's namespace, as nobody (or as root), dialling the server's address.</summary>
    private NewtProcess StartNewt(NewtSite site, bool asNobody = true, string? secret = null) =>
        _net.StartNewt(["--id", site.NewtId, "--secret", secret ?? site.Secret, "--endpoint", ServerEndpoint.ToString(), "--log-level", "DEBUG", "--ping-interval", "1s", "--ping-timeout", "2s"], asNobody);

    private TargetConnector Connector => Factory.Services.GetRequiredService<TargetConnector>();

    /// <summary>An HTTP client whose connections are streams through the tunnel to one target.</summary>
    private HttpClient ClientFor(int targetId) => new(new SocketsHttpHandler
    {
        ConnectCallback = async (_, ct) => await Connector.ConnectTcpAsync(targetId, ct),
        PooledConnectionLifetime = TimeSpan.Zero, // every request dials: a removed or restarted path shows at once
    })
    { BaseAddress = new Uri("http://backend.internal/"), Timeout = TimeSpan.FromSeconds(10) };

    /// <summary>GETs <paramref name="path"/> from the target until it answers 200 (a change reaches the newt a moment after the API call).</summary>
    private async Task<byte[]> EventuallyGetAsync(int targetId, string path, NewtProcess newt, TimeSpan? within = null)
    {
        var deadline = DateTime.UtcNow + (within ?? Within);
        var last = "nothing";
        while (true)
        {
            try
            {
                using var client = ClientFor(targetId);
                using var response = await client.GetAsync(path, Token);
                if (response.StatusCode == HttpStatusCode.OK)
                {
                    return await response.Content.ReadAsByteArrayAsync(Token);
                }
                last = $"HTTP {(int)response.StatusCode}";
            }
            catch (Exception e) when (e is HttpRequestException or TargetUnreachableException or IOException or TaskCanceledException)
            {
                last = e.Message;
            }
            Assert.True(DateTime.UtcNow < deadline, $"target {targetId} {path}: no 200 within {(within ?? Within).TotalSeconds} s; last: {last}\nnewt:\n{newt.Tail()}");
            await Task.Delay(100, Token);
        }
    }

    private async Task ExpectEchoAsync(int targetId, NewtProcess newt)
    {
        using var flow = await Connector.OpenUdpAsync(targetId, Token);
        var answer = new byte[2048];
        var deadline = DateTime.UtcNow + Within;
        for (var i = 0; ; i++)
        {
            var question = System.Text.Encoding.ASCII.GetBytes($"question {i}");
            await flow.SendAsync(question, Token);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(Token);
            wait.CancelAfter(TimeSpan.FromSeconds(1));
            try
            {
                var length = await flow.ReceiveAsync(answer, wait.Token);
                Assert.Equal(question.Reverse().ToArray(), answer.AsSpan(0, length).ToArray());
                break;
            }
            catch (OperationCanceledException) when (!Token.IsCancellationRequested)
            {
                Assert.True(DateTime.UtcNow < deadline, $"no UDP answer within {Within.TotalSeconds} s\nnewt:\n{newt.Tail()}");
            }
        }
        for (var i = 0; i < 20; i++)
        {
            var payload = RandomNumberGenerator.GetBytes(1200);
            await flow.SendAsync(payload, Token);
            var length = await flow.ReceiveAsync(answer, Token).AsTask().WaitAsync(TimeSpan.FromSeconds(10), Token);
            Assert.Equal(payload.Reverse().ToArray(), answer.AsSpan(0, length).ToArray());
        }
    }

    private async Task<(int Web, int Echo)> CreateTargetsAsync(NewtSite site)
    {
        var web = await CreateResourceAsync("Web");
        var game = await CreateResourceAsync("Game", http: false, protocol: "udp");
        var (webTarget, _) = await CreateTargetAsync(web, site.SiteId, BackendAddress, WebPort);
        var (echoTarget, _) = await CreateTargetAsync(game, site.SiteId, BackendAddress, EchoPort);
        return (webTarget, echoTarget);
    }

    private async Task<IReadOnlyList<(string Ip, int Port, int? InternalPort)>> TargetRowsAsync(int siteId) =>
        await DbAsync(async db => (IReadOnlyList<(string, int, int?)>)(await db.Targets.AsNoTracking().Where(t => t.SiteId == siteId)
            .OrderBy(t => t.TargetId).Select(t => new { t.Ip, t.Port, t.InternalPort }).ToListAsync(Token))
            .Select(t => (t.Ip, t.Port, t.InternalPort)).ToList());

    private async Task<string?> SubnetAsync(int siteId) =>
        await DbAsync(db => db.Sites.AsNoTracking().Where(s => s.SiteId == siteId).Select(s => s.Subnet).FirstAsync(Token));

    // ------------------------------------------------------------------ the scenarios

    [Fact]
    public async Task A_newt_run_as_nobody_in_its_own_namespace_relays_the_servers_TCP_and_UDP_to_backends_only_it_can_reach()
    {
        // The private network is out of the server's reach without the tunnel.
        using (var direct = _net.ServerNs.Enter(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)))
        {
            using var attempt = CancellationTokenSource.CreateLinkedTokenSource(Token);
            attempt.CancelAfter(TimeSpan.FromSeconds(2));
            await Assert.ThrowsAnyAsync<Exception>(async () => await direct.ConnectAsync(new IPEndPoint(IPAddress.Parse(BackendAddress), WebPort), attempt.Token));
        }
        var site = await CreateNewtSiteAsync();
        var (web, echo) = await CreateTargetsAsync(site);

        var newt = StartNewt(site);
        await EventuallyAsync(async () => (await PresenceAsync(site.SiteId)).Online, "the site is online");
        Assert.Contains($"Uid:\t{Nobody}\t{Nobody}\t{Nobody}\t{Nobody}", await File.ReadAllTextAsync($"/proc/{newt.Id}/status", Token), StringComparison.Ordinal);

        // TCP: nginx's 4 MB page, byte for byte, through both WireGuards, both userspace stacks and the relay.
        Assert.Equal(SHA256.HashData(_page), SHA256.HashData(await EventuallyGetAsync(web, "big.bin", newt)));
        Assert.Equal("hello from the private network\n", System.Text.Encoding.ASCII.GetString(await EventuallyGetAsync(web, "hello", newt)));
        // UDP: a session per flow, datagrams both ways.
        await ExpectEchoAsync(echo, newt);

        // A target added through the API is relayed a moment later, without touching the newt.
        var resource = await CreateResourceAsync("Other");
        var clock = Stopwatch.StartNew();
        var (other, otherPort) = await CreateTargetAsync(resource, site.SiteId, BackendAddress, OtherWebPort);
        Assert.Equal("the other backend\n", System.Text.Encoding.ASCII.GetString(await EventuallyGetAsync(other, "/", newt, TimeSpan.FromSeconds(5))));
        TestContext.Current.TestOutputHelper?.WriteLine($"a new target answered {clock.ElapsedMilliseconds} ms after the API call returned");

        // A target removed through the API stops being relayed: its internal port on the site's tunnel IP refuses.
        var tunnelIp = IPAddress.Parse((await SubnetAsync(site.SiteId))!.Split('/')[0]);
        (await Admin.DeleteJsonAsync($"target/{other}")).Expect(200);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (true)
        {
            try
            {
                await using var stream = await Node.Runtime!.ConnectTcpAsync(new IPEndPoint(tunnelIp, otherPort), Token).WaitAsync(TimeSpan.FromSeconds(3), Token);
            }
            catch (Exception e) when (e is IOException or SocketException)
            {
                break; // refused: the relay is gone
            }
            Assert.True(DateTime.UtcNow < deadline, $"the removed target's port {otherPort} still accepts\nnewt:\n{newt.Tail()}");
            await Task.Delay(100, Token);
        }
        // ...while the others go on.
        Assert.Equal(SHA256.HashData(_page), SHA256.HashData(await EventuallyGetAsync(web, "big.bin", newt)));
        Assert.False(newt.HasExited, newt.Tail());
    }

    [Fact]
    public async Task A_killed_newt_a_restarted_server_and_a_restarted_exit_node_each_come_back_by_themselves_with_nothing_lost()
    {
        var site = await CreateNewtSiteAsync();
        var (web, echo) = await CreateTargetsAsync(site);
        var targets = await TargetRowsAsync(site.SiteId);
        var newt = StartNewt(site);
        Assert.Equal(SHA256.HashData(_page), SHA256.HashData(await EventuallyGetAsync(web, "big.bin", newt)));
        var subnet = await SubnetAsync(site.SiteId);

        // The newt dies without a goodbye and is started again (systemd's Restart=always).
        newt.Kill();
        newt = StartNewt(site);
        Assert.Equal(SHA256.HashData(_page), SHA256.HashData(await EventuallyGetAsync(web, "big.bin", newt)));
        await ExpectEchoAsync(echo, newt);

        // The server restarts; the same newt process comes back by itself.
        var before = Node.Runtime!.ListenPort;
        await RestartServerAsync();
        TestContext.Current.TestOutputHelper?.WriteLine($"exit node port before the restart {before}, after {Node.Runtime!.ListenPort}");
        Assert.Equal(SHA256.HashData(_page), SHA256.HashData(await EventuallyGetAsync(web, "big.bin", newt)));
        await ExpectEchoAsync(echo, newt);

        // The exit node alone restarts (new socket, sessions gone); the newt notices and reconnects.
        await Node.StopAsync(Token);
        await Node.StartAsync(Token);
        Assert.Equal(SHA256.HashData(_page), SHA256.HashData(await EventuallyGetAsync(web, "big.bin", newt)));
        await ExpectEchoAsync(echo, newt);

        // Nothing was lost or reallocated on the way.
        Assert.False(newt.HasExited, newt.Tail());
        Assert.Equal(targets, await TargetRowsAsync(site.SiteId));
        Assert.Equal(subnet, await SubnetAsync(site.SiteId));
        Assert.True((await PresenceAsync(site.SiteId)).Online);
    }

    [Fact]
    public async Task A_wrong_secret_gets_one_clear_line_and_a_second_newt_with_the_same_id_takes_over_cleanly()
    {
        var site = await CreateNewtSiteAsync();
        var (web, _) = await CreateTargetsAsync(site);

        using (var wrong = StartNewt(site, secret: site.Secret + "x"))
        {
            Assert.Equal(3, await wrong.ExitCodeAsync());
            var line = Assert.Single(wrong.Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith($"newt: the server refused newt id {site.NewtId}: ", line, StringComparison.Ordinal);
        }

        var first = StartNewt(site);
        Assert.Equal(SHA256.HashData(_page), SHA256.HashData(await EventuallyGetAsync(web, "big.bin", first)));
        var second = StartNewt(site, asNobody: false);
        // The first is told it was replaced and stops (exit code 4: a supervisor must not restart it in a loop).
        Assert.Equal(4, await first.ExitCodeAsync());
        Assert.Contains($"newt: another newt connected with id {site.NewtId}; this one stops", first.Stderr, StringComparison.Ordinal);
        Assert.Equal(SHA256.HashData(_page), SHA256.HashData(await EventuallyGetAsync(web, "big.bin", second)));
        Assert.False(second.HasExited, second.Tail());
        Assert.True((await PresenceAsync(site.SiteId)).Online);
        Assert.Equal(1, Factory.Services.GetRequiredService<Pangolin.Server.ControlChannel.ConnectionRegistry>().Count);
    }
}
