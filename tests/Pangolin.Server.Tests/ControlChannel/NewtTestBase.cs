using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Data;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.Sites;
using Pangolin.Server.Tests.Infrastructure;
using Pangolin.Tunnel;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Server.Tests.ControlChannel;

/// <summary>A server with an admin and an org, and the steps a newt takes against it, for the control-channel tests.</summary>
public abstract class NewtTestBase(DatabaseKind kind, PostgresServer postgres) : ServerTestBase(kind, postgres)
{
    protected sealed record NewtSite(int SiteId, string NewtId, string Secret);

    protected HttpClient Admin { get; private set; } = null!;

    public override async ValueTask InitializeAsync()
    {
        await base.InitializeAsync();
        Admin = await AdminAsync();
        await CreateOrgAsync(Admin, "acme");
    }

    protected async Task<NewtSite> CreateNewtSiteAsync(string name = "Home Lab")
    {
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name, type = "newt" })).Expect(201).Data;
        return new NewtSite(site.GetProperty("siteId").GetInt32(), site.GetProperty("newtId").GetString()!, site.GetProperty("secret").GetString()!);
    }

    /// <summary>As newt asks: no cookies, the CSRF header, JSON.</summary>
    protected async Task<ApiReply> GetTokenAsync(string newtId, string secret, object? extra = null)
    {
        using var client = Factory.DashboardClient();
        var body = extra ?? new { newtId, secret };
        return await client.PostJsonAsync("auth/newt/get-token", body);
    }

    protected async Task<string> TokenAsync(NewtSite site) =>
        (await GetTokenAsync(site.NewtId, site.Secret)).Expect(200).Data.GetProperty("token").GetString()!;

    protected async Task<NewtScript> ConnectAsync(NewtSite site) => await NewtScript.ConnectAsync(Factory.Server, await TokenAsync(site));

    protected async Task<T> DbAsync<T>(Func<PangolinDbContext, Task<T>> query)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<PangolinDbContext>());
    }

    protected async Task<(bool Online, DateTime? LastPing)> PresenceAsync(int siteId)
    {
        var site = await DbAsync(db => db.Sites.AsNoTracking().FirstAsync(s => s.SiteId == siteId));
        return (site.Online, site.LastPing);
    }

    protected static async Task EventuallyAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + NewtScript.Deadline;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"Not within {NewtScript.Deadline.TotalSeconds} s: {what}");
            }
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }

    protected async Task AssertRefusedAsync(string token)
    {
        var e = await Assert.ThrowsAnyAsync<Exception>(() => NewtScript.ConnectAsync(Factory.Server, token));
        Assert.Contains("401", e.Message, StringComparison.Ordinal);
    }

    protected EmbeddedExitNode Node => Factory.Services.GetRequiredService<EmbeddedExitNode>();

    protected async Task<int> CreateResourceAsync(string name, bool http = true, string? protocol = null)
    {
        var body = http
            ? (object)new { name, http = true, subdomain = name.ToLowerInvariant(), domainId = "main" }
            : new { name, http = false, protocol, proxyPort = 20000 + name.Length };
        return (await Admin.PutJsonAsync("org/acme/resource", body)).Expect(201).Data.GetProperty("resourceId").GetInt32();
    }

    protected async Task<(int TargetId, int InternalPort)> CreateTargetAsync(int resourceId, int siteId, string ip, int port, object? extra = null)
    {
        var target = (await Admin.PutJsonAsync($"resource/{resourceId}/target", extra ?? new { siteId, ip, port })).Expect(201).Data;
        var targetId = target.GetProperty("targetId").GetInt32();
        var internalPort = await DbAsync(db => db.Targets.AsNoTracking().Where(t => t.TargetId == targetId).Select(t => t.InternalPort).FirstAsync());
        return (targetId, internalPort ?? 0);
    }

    /// <summary>Upstream newt's connect sequence up to <c>newt/wg/connect</c>.</summary>
    protected async Task<WgConnectData> RegisterAsync(NewtScript newt, WgKey privateKey, string chainId = "b2")
    {
        await SendRegistrationAsync(newt, privateKey, chainId);
        return NewtScript.Data(await newt.ExpectAsync(MessageTypes.NewtWgConnect), ProtocolJsonContext.Default.WgConnectData);
    }

    /// <summary>The register message as newt sends it, with one ping result (one node: latency 0, nothing pinged).</summary>
    protected static string RegisterJson(string publicKey, int? exitNodeId, string endpoint, string chainId) =>
        "{\"type\":\"newt/wg/register\",\"data\":{\"publicKey\":\"" + publicKey + "\",\"pingResults\":[{\"exitNodeId\":" + exitNodeId
        + ",\"latencyMs\":0,\"weight\":1,\"exitNodeName\":\"embedded\",\"endpoint\":\"" + endpoint
        + "\",\"wasPreviouslyConnected\":false}],\"newtVersion\":\"1.15.0\",\"chainId\":\"" + chainId + "\"}}";

    protected async Task SendRegistrationAsync(NewtScript newt, WgKey privateKey, string chainId)
    {
        await newt.PingAsync();
        await newt.ExpectAsync(MessageTypes.Pong);
        await newt.SendAsync("{\"type\":\"newt/ping/request\",\"data\":{\"noCloud\":false,\"chainId\":\"a1\"}}");
        var exitNodes = NewtScript.Data(await newt.ExpectAsync(MessageTypes.NewtPingExitNodes), ProtocolJsonContext.Default.ExitNodesData);
        Assert.Equal("a1", exitNodes.ChainId);
        var node = Assert.Single(exitNodes.ExitNodes);
        Assert.Equal(Node.ExitNodeId, node.ExitNodeId);
        Assert.Equal("embedded", node.ExitNodeName);
        Assert.Equal(1, node.Weight);
        var publicKey = privateKey.PublicKey().ToBase64();
        // Sent on every connect for older servers: it must not start a registration.
        await newt.SendAsync($"{{\"type\":\"newt/wg/register\",\"data\":{{\"publicKey\":\"{publicKey}\",\"newtVersion\":\"1.15.0\",\"backwardsCompatible\":true,\"chainId\":\"x\"}}}}");
        Assert.DoesNotContain(await newt.DrainAsync(TimeSpan.FromMilliseconds(300)), m => m.Type == MessageTypes.NewtWgConnect);
        await newt.SendAsync(RegisterJson(publicKey, node.ExitNodeId, node.Endpoint, chainId));
    }

    /// <summary>What newt does with <c>newt/wg/connect</c>: a userspace tunnel at tunnelIP dialling the node.</summary>
    protected static UserspaceTunnel StartSiteTunnel(WgKey privateKey, WgConnectData connect)
    {
        var site = new UserspaceTunnel(new UserspaceTunnelOptions { PrivateKey = privateKey, InterfaceName = "site", Addresses = [IPAddress.Parse(connect.TunnelIp)] });
        site.Start();
        var port = int.Parse(connect.Endpoint[(connect.Endpoint.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        var peer = new PeerUpdate(WgKey.FromBase64(connect.PublicKey))
        {
            Endpoint = new IPEndPoint(IPAddress.Loopback, port),
            PersistentKeepaliveInterval = 5,
            ReplaceAllowedIps = true,
        };
        peer.AllowedIps.Add(new IPNetwork(IPAddress.Parse(connect.ServerIp), 32));
        var update = new DeviceUpdate();
        update.Peers.Add(peer);
        site.Configure(update);
        return site;
    }
}
