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
using Pangolin.WireGuard.Net;
using Pangolin.WireGuard.Tests.Infrastructure;
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
    private const string ServerAddress = "10.240.1.1";
    private const string SiteAddress = "10.240.1.2";
    private const string SiteLanAddress = "10.240.2.1";
    private const string BackendAddress = "10.240.2.2";
    private const int WebPort = 8080;
    private const int OtherWebPort = 8081;
    private const int EchoPort = 9999;
    private const int Nobody = 65534;
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    private readonly CancellationTokenSource _stop = new();
    private readonly List<IDisposable> _cleanup = [];
    private NetworkNamespace _serverNs = null!;
    private NetworkNamespace _siteNs = null!;
    private NetworkNamespace _lanNs = null!;
    private string _work = null!;
    private byte[] _page = null!;

    protected override bool Kestrel => true;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        // Where newts dial the exit node: the server's address on the site-facing link.
        ["Gerbil:BaseEndpoint"] = ServerAddress,
    };

    private static CancellationToken Token => TestContext.Current.CancellationToken;

    private Uri ServerEndpoint => new($"http://{ServerAddress}:{Factory.ExternalPort}");

    public override async ValueTask InitializeAsync()
    {
        _work = Directory.CreateTempSubdirectory("pangolin-netns-").FullName;
        File.SetUnixFileMode(_work, (UnixFileMode)0x1ED); // 0755: nginx's workers and the newt run as nobody
        try
        {
            BuildNetwork();
            await StartBackendsAsync();
            NewtProcess.CopyApp(Path.Combine(_work, "newt"));
            await base.InitializeAsync();
            StartPublicRelay();
        }
        catch
        {
            await DisposeAsync(); // nothing left behind when the set-up fails half-way
            throw;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (_stop.IsCancellationRequested)
        {
            return;
        }
        await _stop.CancelAsync();
        await base.DisposeAsync();
        for (var i = _cleanup.Count - 1; i >= 0; i--)
        {
            _cleanup[i].Dispose();
        }
        Directory.Delete(_work, recursive: true);
    }

    /// <summary>
    /// The exit node's UDP socket lives in the server's namespace. The public port there is a relay to the server's
    /// loopback listener, which outlives server restarts (Kestrel did not serve a handed-over socket again after a
    /// restart here); a restart still drops every connection, since the relay dials the server anew for each.
    /// The clock is the real one: the exit node's WireGuard lives through several handshakes with one peer here, and
    /// on the factory's frozen clock its flood protection refuses every initiation after the first.
    /// </summary>
    protected override void ConfigureServer(IWebHostBuilder builder) =>
        builder.ConfigureServices(services =>
        {
            services.AddSingleton<ExitNodeBind>(port => LinuxUdpTransport.BindInNamespace(_serverNs.Name, new LinuxUdpTransportOptions { Port = port }));
            services.AddSingleton(TimeProvider.System);
        });

    private void StartPublicRelay()
    {
        var listener = Track(_serverNs.Enter(() =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Parse(ServerAddress), Factory.ExternalPort));
            socket.Listen(512);
            return socket;
        }));
        _ = Task.Run(async () =>
        {
            while (!_stop.IsCancellationRequested)
            {
                var client = await listener.AcceptAsync(_stop.Token);
                _ = Task.Run(async () =>
                {
                    using var inbound = client;
                    using var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                    try
                    {
                        await outbound.ConnectAsync(new IPEndPoint(IPAddress.Loopback, Factory.ExternalPort), _stop.Token);
                        await Task.WhenAll(PipeAsync(inbound, outbound), PipeAsync(outbound, inbound));
                    }
                    catch (Exception e) when (e is SocketException or OperationCanceledException or IOException)
                    {
                        // the server is restarting, or the test ends: the newt sees the connection fail
                    }
                }, CancellationToken.None);
            }
        }, CancellationToken.None);
    }

    private async Task PipeAsync(Socket from, Socket to)
    {
        var buffer = new byte[64 * 1024];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _stop.Token);
            }
            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            from.Close(0); // a reset on one side resets the other
            to.Close(0);
        }
    }

    // ------------------------------------------------------------------ the network

    private void BuildNetwork()
    {
        _serverNs = Track(NetworkNamespace.Create());
        _siteNs = Track(NetworkNamespace.Create());
        _lanNs = Track(NetworkNamespace.Create());
        _serverNs.AddVethPair("wan0", _siteNs, "wan1");
        _serverNs.AddAddress("wan0", ServerAddress + "/24");
        _serverNs.SetUp("wan0");
        _siteNs.AddAddress("wan1", SiteAddress + "/24");
        _siteNs.SetUp("wan1");
        _siteNs.AddVethPair("lan0", _lanNs, "lan1");
        _siteNs.AddAddress("lan0", SiteLanAddress + "/24");
        _siteNs.SetUp("lan0");
        _lanNs.AddAddress("lan1", BackendAddress + "/24");
        _lanNs.SetUp("lan1");
        // Even with a route, the server cannot reach the private network: the site does not forward (no NAT, no
        // ip_forward) — the only way in is the newt's tunnel.
        _serverNs.Ip("route", "add", "10.240.2.0/24", "via", SiteAddress);
        _lanNs.Ip("route", "add", "default", "via", SiteLanAddress);
    }

    private T Track<T>(T disposable) where T : IDisposable
    {
        _cleanup.Add(disposable);
        return disposable;
    }

    private async Task StartBackendsAsync()
    {
        _page = RandomNumberGenerator.GetBytes(4 << 20);
        var root = Path.Combine(_work, "www");
        Directory.CreateDirectory(root);
        File.SetUnixFileMode(root, (UnixFileMode)0x1ED);
        await File.WriteAllBytesAsync(Path.Combine(root, "big.bin"), _page, Token);
        File.SetUnixFileMode(Path.Combine(root, "big.bin"), (UnixFileMode)0x1A4);
        var temp = Directory.CreateDirectory(Path.Combine(_work, "nginx-temp")).FullName;
        var config = Path.Combine(_work, "nginx.conf");
        await File.WriteAllTextAsync(config, $$"""
            daemon off;
            worker_processes 1;
            pid {{_work}}/nginx.pid;
            error_log stderr warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                client_body_temp_path {{temp}}/body;
                proxy_temp_path {{temp}}/proxy;
                fastcgi_temp_path {{temp}}/fastcgi;
                uwsgi_temp_path {{temp}}/uwsgi;
                scgi_temp_path {{temp}}/scgi;
                server {
                    listen {{BackendAddress}}:{{WebPort}};
                    root {{root}};
                    location = /hello { return 200 "hello from the private network\n"; }
                }
                server {
                    listen {{BackendAddress}}:{{OtherWebPort}};
                    location / { return 200 "the other backend\n"; }
                }
            }
            """, Token);
        var nginx = Process.Start(new ProcessStartInfo("ip", ["netns", "exec", _lanNs.Name, "nginx", "-p", _work, "-c", config, "-e", "stderr"])
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        }) ?? throw new InvalidOperationException("nginx did not start");
        _cleanup.Add(new Stopper(() =>
        {
            nginx.Kill(entireProcessTree: true);
            nginx.WaitForExit();
            nginx.Dispose();
        }));
        var echo = Track(_lanNs.Enter(() =>
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            socket.Bind(new IPEndPoint(IPAddress.Parse(BackendAddress), EchoPort));
            return socket;
        }));
        _ = Task.Run(async () =>
        {
            var buffer = new byte[65536];
            EndPoint any = new IPEndPoint(IPAddress.Any, 0);
            while (!_stop.IsCancellationRequested)
            {
                var received = await echo.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token);
                buffer.AsSpan(0, received.ReceivedBytes).Reverse();
                await echo.SendToAsync(buffer.AsMemory(0, received.ReceivedBytes), SocketFlags.None, received.RemoteEndPoint, _stop.Token);
            }
        }, CancellationToken.None);
        // Ready when the site's namespace gets the page.
        var deadline = DateTime.UtcNow + Within;
        while (true)
        {
            try
            {
                using var client = _siteNs.Enter(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
                await client.ConnectAsync(new IPEndPoint(IPAddress.Parse(BackendAddress), WebPort), Token);
                return;
            }
            catch (SocketException) when (DateTime.UtcNow < deadline && !nginx.HasExited)
            {
                await Task.Delay(50, Token);
            }
            catch (SocketException e)
            {
                throw new InvalidOperationException($"nginx did not come up in the private network: {e.Message}; {(nginx.HasExited ? await nginx.StandardError.ReadToEndAsync(Token) : "still running")}", e);
            }
        }
    }

    private sealed class Stopper(Action stop) : IDisposable
    {
        public void Dispose() => stop();
    }

    // ------------------------------------------------------------------ newt and the targets

    /// <summary>The newt executable in the site's namespace, as nobody (or as root), dialling the server's address.</summary>
    private NewtProcess StartNewt(NewtSite site, bool asNobody = true, string? secret = null)
    {
        string[] wrapper = asNobody
            ? ["ip", "netns", "exec", _siteNs.Name, "setpriv", $"--reuid={Nobody}", $"--regid={Nobody}", "--clear-groups", "--inh-caps=-all"]
            : ["ip", "netns", "exec", _siteNs.Name];
        var newt = new NewtProcess(wrapper, Path.Combine(_work, "newt"),
            ["--id", site.NewtId, "--secret", secret ?? site.Secret, "--endpoint", ServerEndpoint.ToString(), "--log-level", "DEBUG", "--ping-interval", "1s", "--ping-timeout", "2s"]);
        _cleanup.Add(newt);
        return newt;
    }

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
        using (var direct = _serverNs.Enter(() => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)))
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
