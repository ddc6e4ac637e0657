using System.Net;
using System.Security.Cryptography;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Pangolin.Protocol;
using Pangolin.Server.Sites;
using Pangolin.Server.Tests.Infrastructure;
using Pangolin.WireGuard.Configuration;
using Pangolin.Edge;

namespace Pangolin.Server.Tests.ControlChannel;

/// <summary>
/// A newt's registration as upstream's newt performs it (ping/request, the backwards-compatible register, register
/// with ping results), the embedded exit node it lands on, the pushes that follow target changes, and the data path:
/// a real WireGuard site tunnel dialling the node, reached by the server's target connector over TCP and UDP.
/// </summary>
public abstract class RegistrationTests(DatabaseKind kind, PostgresServer postgres) : NewtTestBase(kind, postgres)
{
    [Fact]
    public async Task An_upstream_newt_registers_and_gets_the_tunnel_and_its_targets_in_wg_connect()
    {
        var site = await CreateNewtSiteAsync();
        var resource = await CreateResourceAsync("App");
        var (_, internalPort) = await CreateTargetAsync(resource, site.SiteId, "10.0.0.5", 80);
        Assert.InRange(internalPort, InternalPortAllocator.First, InternalPortAllocator.Last);

        await using var newt = await ConnectAsync(site);
        var key = WgKey.GeneratePrivate();
        var connect = await RegisterAsync(newt, key);

        Assert.Equal("b2", connect.ChainId);
        Assert.Equal("100.89.137.4", connect.TunnelIp);
        Assert.Equal("100.89.137.1", connect.ServerIp);
        Assert.Equal($"localhost:{Node.Runtime!.ListenPort}", connect.Endpoint);
        Assert.Equal(Node.Runtime.PublicKey.ToBase64(), connect.PublicKey);
        Assert.Equal(21820, connect.RelayPort);
        Assert.Equal([$"{internalPort}:10.0.0.5:80"], connect.Targets.Tcp);
        Assert.Empty(connect.Targets.Udp);

        var stored = await DbAsync(db => db.Sites.AsNoTracking().FirstAsync(s => s.SiteId == site.SiteId));
        Assert.Equal(("100.89.137.4/30", key.PublicKey().ToBase64(), Node.ExitNodeId), (stored.Subnet, stored.PubKey, stored.ExitNodeId));
        Assert.Equal("1.15.0", await DbAsync(db => db.Newts.AsNoTracking().Where(n => n.NewtId == site.NewtId).Select(n => n.Version).FirstAsync()));
        var peer = Assert.Single(Node.Runtime.Snapshot().Peers);
        Assert.Equal(key.PublicKey(), peer.PublicKey);
        Assert.Equal([IPNetwork.Parse("100.89.137.4/30")], peer.AllowedIps);

        // The API shows the site's tunnel.
        var shown = (await Admin.GetJsonAsync($"site/{site.SiteId}")).Expect(200).Data;
        Assert.Equal("100.89.137.4/30", shown.GetProperty("subnet").GetString());
        Assert.True(shown.GetProperty("online").GetBoolean());
    }

    [Fact]
    public async Task The_server_reaches_a_target_through_the_site_tunnel_over_tcp_and_udp()
    {
        var site = await CreateNewtSiteAsync();
        var resource = await CreateResourceAsync("App");
        var (tcpTarget, tcpPort) = await CreateTargetAsync(resource, site.SiteId, "10.0.0.5", 80);
        var udpResource = await CreateResourceAsync("Dns", http: false, protocol: "udp");
        var (udpTarget, udpPort) = await CreateTargetAsync(udpResource, site.SiteId, "10.0.0.53", 53);
        await using var newt = await ConnectAsync(site);
        var key = WgKey.GeneratePrivate();
        var connect = await RegisterAsync(newt, key);
        Assert.Equal([$"{udpPort}:10.0.0.53:53"], connect.Targets.Udp);

        // The newt's side: listeners on tunnelIP:internalPort inside its userspace stack (an echo stands in for the target).
        await using var tunnel = StartSiteTunnel(key, connect);
        using var listener = tunnel.Stack.ListenTcp(new IPEndPoint(IPAddress.Parse(connect.TunnelIp), tcpPort));
        var ct = TestContext.Current.CancellationToken;
        var echo = Task.Run(async () =>
        {
            await using var accepted = await listener.AcceptAsync(ct);
            await accepted.CopyToAsync(accepted, ct);
        }, ct);
        using var udp = tunnel.Stack.BindUdp(new IPEndPoint(IPAddress.Parse(connect.TunnelIp), udpPort));
        var udpEcho = Task.Run(async () =>
        {
            var buffer = new byte[2048];
            var received = await udp.ReceiveFromAsync(buffer, ct);
            await udp.SendToAsync(buffer.AsMemory(0, received.Length), received.RemoteEndPoint, ct);
        }, ct);

        var connector = Factory.Services.GetRequiredService<TargetConnector>();
        await using (var stream = await connector.ConnectTcpAsync(tcpTarget, ct).AsTask().WaitAsync(TimeSpan.FromSeconds(20), ct))
        {
            var payload = RandomNumberGenerator.GetBytes(256 * 1024);
            var writing = stream.WriteAsync(payload, ct).AsTask();
            var back = new byte[payload.Length];
            await stream.ReadExactlyAsync(back, ct).AsTask().WaitAsync(TimeSpan.FromSeconds(20), ct);
            await writing;
            Assert.Equal(payload, back);
        }
        await echo.WaitAsync(TimeSpan.FromSeconds(10), ct);

        using var flow = await connector.OpenUdpAsync(udpTarget, ct);
        var question = "where is 10.0.0.53?"u8.ToArray();
        await flow.SendAsync(question, ct);
        var answer = new byte[2048];
        var length = await flow.ReceiveAsync(answer, ct).AsTask().WaitAsync(TimeSpan.FromSeconds(10), ct);
        Assert.Equal(question, answer.AsSpan(0, length).ToArray());
        await udpEcho;
    }

    [Fact]
    public async Task A_local_site_target_is_reached_directly_and_an_unregistered_newt_site_is_explained()
    {
        var ct = TestContext.Current.CancellationToken;
        using var backend = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        backend.Start();
        var local = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = await CreateResourceAsync("App");
        var (localTarget, localPort) = await CreateTargetAsync(resource, local, "127.0.0.1", ((IPEndPoint)backend.LocalEndpoint).Port);
        Assert.Equal(0, localPort); // no tunnel, no internal port
        var connector = Factory.Services.GetRequiredService<TargetConnector>();
        await using (var stream = await connector.ConnectTcpAsync(localTarget, ct))
        {
            using var accepted = await backend.AcceptTcpClientAsync(ct);
            await stream.WriteAsync("hi"u8.ToArray(), ct);
            var two = new byte[2];
            await accepted.GetStream().ReadExactlyAsync(two, ct);
            Assert.Equal("hi"u8.ToArray(), two);
        }

        var site = await CreateNewtSiteAsync();
        var (newtTarget, _) = await CreateTargetAsync(resource, site.SiteId, "10.0.0.5", 80);
        var e = await Assert.ThrowsAsync<TargetUnreachableException>(() => connector.ConnectTcpAsync(newtTarget, ct).AsTask());
        Assert.Contains("has not connected yet", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Registering_again_with_a_new_key_swaps_the_peer_and_keeps_the_subnet_and_sites_get_distinct_blocks()
    {
        var first = await CreateNewtSiteAsync("First");
        var second = await CreateNewtSiteAsync("Second");
        await using (var newt = await ConnectAsync(first))
        {
            await RegisterAsync(newt, WgKey.GeneratePrivate());
        }
        var newKey = WgKey.GeneratePrivate();
        await using (var again = await ConnectAsync(first))
        {
            var connect = await RegisterAsync(again, newKey);
            Assert.Equal("100.89.137.4", connect.TunnelIp);
        }
        Assert.Equal([newKey.PublicKey()], Node.Runtime!.Snapshot().Peers.Select(p => p.PublicKey));

        await using var other = await ConnectAsync(second);
        Assert.Equal("100.89.137.8", (await RegisterAsync(other, WgKey.GeneratePrivate())).TunnelIp);
        Assert.Equal(2, Node.Runtime.Snapshot().Peers.Count);
    }

    [Fact]
    public async Task Sites_registering_at_the_same_moment_get_different_blocks()
    {
        var sites = new List<NewtSite>();
        for (var i = 0; i < 6; i++)
        {
            sites.Add(await CreateNewtSiteAsync($"Site {i}"));
        }
        var newts = new List<NewtScript>();
        foreach (var site in sites)
        {
            newts.Add(await ConnectAsync(site));
        }
        try
        {
            var nodeId = Node.ExitNodeId;
            const string endpoint = "localhost";
            // Every register goes out before any answer is read, so the server handles them side by side.
            foreach (var newt in newts)
            {
                await newt.SendAsync(RegisterJson(WgKey.GeneratePrivate().PublicKey().ToBase64(), nodeId, endpoint, "c"));
            }
            var tunnelIps = new List<string>();
            foreach (var newt in newts)
            {
                tunnelIps.Add(NewtScript.Data(await newt.ExpectAsync(MessageTypes.NewtWgConnect), ProtocolJsonContext.Default.WgConnectData).TunnelIp);
            }
            Assert.Equal(6, tunnelIps.Distinct().Count());
            var subnets = await DbAsync(db => db.Sites.AsNoTracking().Where(s => s.Subnet != null).Select(s => s.Subnet!).ToListAsync());
            Assert.Equal(6, subnets.Distinct().Count());
        }
        finally
        {
            foreach (var newt in newts)
            {
                await newt.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task Target_changes_reach_the_connected_newt_as_adds_and_removes_with_a_rising_version()
    {
        var site = await CreateNewtSiteAsync();
        await using var newt = await ConnectAsync(site);
        await RegisterAsync(newt, WgKey.GeneratePrivate());
        var resource = await CreateResourceAsync("App");

        var (targetId, port) = await CreateTargetAsync(resource, site.SiteId, "10.0.0.5", 80,
            new { siteId = site.SiteId, ip = "10.0.0.5", port = 80, hcEnabled = true, hcPath = "/up" });
        var add = await newt.ExpectAsync(MessageTypes.NewtTcpAdd);
        Assert.Equal([$"{port}:10.0.0.5:80"], NewtScript.Data(add, ProtocolJsonContext.Default.TargetData).Targets);
        var check = await newt.ExpectAsync(MessageTypes.NewtHealthCheckAdd);
        Assert.Equal("/up", Assert.Single(NewtScript.Data(check, ProtocolJsonContext.Default.HealthCheckAddData).Targets).HcPath);
        Assert.Equal(add.ConfigVersion + 1, check.ConfigVersion);

        (await Admin.PostJsonAsync($"target/{targetId}", new { port = 8080 })).Expect(200);
        var removed = await newt.ExpectAsync(MessageTypes.NewtTcpRemove);
        Assert.Equal([$"{port}:10.0.0.5:80"], NewtScript.Data(removed, ProtocolJsonContext.Default.TargetData).Targets);
        await newt.ExpectAsync(MessageTypes.NewtHealthCheckRemove);
        Assert.Equal([$"{port}:10.0.0.5:8080"], NewtScript.Data(await newt.ExpectAsync(MessageTypes.NewtTcpAdd), ProtocolJsonContext.Default.TargetData).Targets);

        // A raw UDP resource's targets go as udp; IPv6 hosts are bracketed.
        var udp = await CreateResourceAsync("Game", http: false, protocol: "udp");
        var (_, udpPort) = await CreateTargetAsync(udp, site.SiteId, "fd00::7", 27015);
        Assert.Equal([$"{udpPort}:[fd00::7]:27015"], NewtScript.Data(await newt.ExpectAsync(MessageTypes.NewtUdpAdd), ProtocolJsonContext.Default.TargetData).Targets);

        // Disabling the resource re-sends the whole state without its targets.
        (await Admin.PostJsonAsync($"resource/{resource}", new { enabled = false })).Expect(200);
        var sync = NewtScript.Data(await newt.ExpectAsync(MessageTypes.NewtSync), ProtocolJsonContext.Default.SyncData);
        Assert.Empty(sync.ProxyTargets.Tcp);
        Assert.Equal([$"{udpPort}:[fd00::7]:27015"], sync.ProxyTargets.Udp);

        (await Admin.DeleteJsonAsync($"target/{targetId}")).Expect(200);
        (await Admin.DeleteJsonAsync($"resource/{udp}")).Expect(200);
        var last = NewtScript.Data(await newt.ExpectAsync(MessageTypes.NewtSync), ProtocolJsonContext.Default.SyncData);
        Assert.Empty(last.ProxyTargets.Udp);

        // The newt's next ping carries the version it holds; matching, it gets no sync.
        var version = Factory.Services.GetRequiredService<Pangolin.Server.ControlChannel.ConnectionRegistry>().ConfigVersion(site.NewtId)!.Value;
        await newt.PingAsync(version);
        Assert.DoesNotContain(await newt.DrainAsync(TimeSpan.FromMilliseconds(300)), m => m.Type == MessageTypes.NewtSync);
    }

    [Fact]
    public async Task The_embedded_exit_node_keeps_its_key_and_reloads_its_sites_when_it_restarts()
    {
        var site = await CreateNewtSiteAsync();
        var key = WgKey.GeneratePrivate();
        await using (var newt = await ConnectAsync(site))
        {
            await RegisterAsync(newt, key);
        }
        var publicKey = Node.Runtime!.PublicKey;
        var ct = TestContext.Current.CancellationToken;
        await ((IHostedService)Node).StopAsync(ct);
        Assert.Null(Node.Runtime);
        Assert.False(await DbAsync(db => db.ExitNodes.AsNoTracking().Where(n => n.Embedded).Select(n => n.Online).FirstAsync()));
        await ((IHostedService)Node).StartAsync(ct);
        Assert.Equal(publicKey, Node.Runtime!.PublicKey);
        Assert.Equal([key.PublicKey()], Node.Runtime.Snapshot().Peers.Select(p => p.PublicKey));
        var row = await DbAsync(db => db.ExitNodes.AsNoTracking().FirstAsync(n => n.Embedded));
        Assert.True(row.Online);
        Assert.Equal(Node.Runtime.ListenPort, row.ListenPort);
        // The private key is stored encrypted, never in clear.
        Assert.DoesNotContain(publicKey.ToBase64(), row.PrivateKeyProtected!, StringComparison.Ordinal);
    }
}

public sealed class SqliteRegistrationTests(PostgresServer postgres) : RegistrationTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresRegistrationTests(PostgresServer postgres) : RegistrationTests(DatabaseKind.Postgres, postgres);

/// <summary>An exit node whose network holds one site block besides its own: the second site is refused with upstream's code.</summary>
public sealed class FullExitNodeTests(PostgresServer postgres) : NewtTestBase(DatabaseKind.Sqlite, postgres)
{
    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?> { ["Gerbil:SiteBlockSize"] = "25" };

    [Fact]
    public async Task A_site_that_finds_no_free_block_gets_no_available_subnet()
    {
        var first = await CreateNewtSiteAsync("First");
        await using var one = await ConnectAsync(first);
        Assert.Equal("100.89.137.128", (await RegisterAsync(one, WgKey.GeneratePrivate())).TunnelIp);

        var second = await CreateNewtSiteAsync("Second");
        await using var two = await ConnectAsync(second);
        await SendRegistrationAsync(two, WgKey.GeneratePrivate(), "b2");
        var error = await two.ExpectAsync(MessageTypes.NewtError);
        Assert.Equal(MessageTypes.ErrorCodeNoAvailableSubnet, NewtScript.Data(error, ProtocolJsonContext.Default.NewtErrorData).Code);
        Assert.Null(await DbAsync(db => db.Sites.AsNoTracking().Where(s => s.SiteId == second.SiteId).Select(s => s.Subnet).FirstAsync()));
    }
}
