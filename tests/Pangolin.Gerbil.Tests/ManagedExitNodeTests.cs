using System.Net;
using System.Net.Http.Json;
using System.Text;
using Pangolin.Gerbil.Control;
using Pangolin.Gerbil.Tests.Infrastructure;
using Pangolin.Protocol;
using Pangolin.Protocol.Gerbil;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Gerbil.Tests;

/// <summary>
/// A managed exit node in userspace, in process, against the fake server: get-config, the peer API and the
/// bandwidth report, with real userspace site tunnels dialling it over loopback and pinging its address.
/// </summary>
public sealed class ManagedExitNodeTests
{
    private const string SiteA = "100.89.138.4";
    private const string SiteB = "100.89.138.8";
    private const long TwoMiB = 2 * 1024 * 1024;
    private const int NodeTcpPort = 8080;
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(20);

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    private static async Task<HttpResponseMessage> AddPeerAsync(InProcessNode node, WgKey key, string block) =>
        await node.Client.PostAsJsonAsync("/peer", new GerbilPeer { PublicKey = key.ToBase64(), AllowedIps = [block] },
            ProtocolJsonContext.Default.GerbilPeer, TestContext.Current.CancellationToken);

    private static async Task<HttpResponseMessage> RemovePeerAsync(InProcessNode node, WgKey key) =>
        await node.Client.DeleteAsync($"/peer?public_key={Uri.EscapeDataString(key.ToBase64())}", TestContext.Current.CancellationToken);

    [Fact]
    public async Task The_peers_from_get_config_are_applied_and_a_site_reaches_the_node_address_through_the_tunnel()
    {
        var sitePrivate = WgKey.GeneratePrivate();
        await using var node = await InProcessNode.StartAsync(control => control.Config = new GetConfigResponse
        {
            ListenPort = 0,
            IpAddress = "100.89.138.1/24",
            Peers = [new GerbilPeer { PublicKey = sitePrivate.PublicKey().ToBase64(), AllowedIps = [SiteA + "/30"] }],
        });
        await using var site = node.DialSite(SiteA, sitePrivate);

        Assert.True(await site.ReachesNodeAsync(Site.Within), "the site did not reach the node");
        Assert.Equal(IPAddress.Parse("100.89.138.1"), node.NodeAddress);
        var peer = Assert.Single(node.Node.Peers());
        Assert.Equal(sitePrivate.PublicKey(), peer.PublicKey);
        Assert.Equal([IPNetwork.Parse(SiteA + "/30")], peer.AllowedIps);
        Assert.Equal(node.Managed.PublicKey.ToBase64(), Assert.Single(node.Control.GetConfigCalls).Body.PublicKey);
    }

    [Fact]
    public async Task POST_peer_lets_a_site_in_and_DELETE_peer_shuts_it_out()
    {
        await using var node = await InProcessNode.StartAsync();
        await using var site = node.DialSite(SiteA);
        Assert.False(await site.ReachesNodeAsync(Site.RefusedWithin), "a site the node does not know got through");

        using (var added = await AddPeerAsync(node, site.PublicKey, site.Block))
        {
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
            var status = await added.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.GerbilStatusResponse, TestContext.Current.CancellationToken);
            Assert.Equal("Peer added successfully", status!.Status);
        }
        Assert.True(await site.ReachesNodeAsync(Site.Within), "the added site did not reach the node");

        using (var removed = await RemovePeerAsync(node, site.PublicKey))
        {
            Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
            var status = await removed.Content.ReadFromJsonAsync(ProtocolJsonContext.Default.GerbilStatusResponse, TestContext.Current.CancellationToken);
            Assert.Equal("Peer removed successfully", status!.Status);
        }
        Assert.Empty(node.Node.Peers());
        Assert.False(await site.ReachesNodeAsync(Site.RefusedWithin), "a removed site still got through");
    }

    [Fact]
    public async Task POST_peer_again_replaces_the_allowed_IPs()
    {
        await using var node = await InProcessNode.StartAsync();
        await using var site = node.DialSite(SiteA);
        (await AddPeerAsync(node, site.PublicKey, "100.89.138.100/30")).Dispose();
        // Allowed IPs that do not cover the site's address: the node drops what it sends.
        Assert.False(await site.ReachesNodeAsync(Site.RefusedWithin), "a site outside its allowed IPs got through");

        using var replaced = await AddPeerAsync(node, site.PublicKey, site.Block);

        Assert.Equal(HttpStatusCode.Created, replaced.StatusCode);
        Assert.True(await site.ReachesNodeAsync(Site.Within), "the site did not reach the node after its allowed IPs were replaced");
        Assert.Equal([IPNetwork.Parse(site.Block)], Assert.Single(node.Node.Peers()).AllowedIps);
    }

    [Fact]
    public async Task DELETE_peer_for_a_key_the_node_does_not_know_is_still_200()
    {
        await using var node = await InProcessNode.StartAsync();

        using var removed = await RemovePeerAsync(node, WgKey.GeneratePrivate().PublicKey());

        Assert.Equal(HttpStatusCode.OK, removed.StatusCode);
    }

    [Theory]
    [InlineData("{not json", "The body is not a JSON peer")]
    [InlineData("null", "not null")]
    [InlineData("[]", "The body is not a JSON peer")]
    [InlineData("""{"publicKey":"short","allowedIps":["100.89.138.4/30"]}""", "publicKey must be a WireGuard public key")]
    [InlineData("""{"allowedIps":["100.89.138.4/30"]}""", "publicKey must be a WireGuard public key")]
    [InlineData("""{"publicKey":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","allowedIps":[]}""", "publicKey must not be all zeros")]
    [InlineData("""{"publicKey":"KEY","allowedIps":["100.89.138.4"]}""", "allowedIps: \"100.89.138.4\" is not an address with a prefix length")]
    [InlineData("""{"publicKey":"KEY","allowedIps":["100.89.138.4/33"]}""", "allowedIps: ")]
    [InlineData("""{"publicKey":"KEY","allowedIps":[7]}""", "The body is not a JSON peer")]
    public async Task A_peer_body_the_node_cannot_use_is_a_400_with_a_plain_reason(string body, string reason)
    {
        await using var node = await InProcessNode.StartAsync();

        using var response = await node.Client.PostAsync("/peer", Json(body.Replace("KEY", WgKey.GeneratePrivate().PublicKey().ToBase64(), StringComparison.Ordinal)),
            TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.Empty(node.Node.Peers());
    }

    [Fact]
    public async Task The_nodes_own_key_is_refused_as_a_peer()
    {
        await using var node = await InProcessNode.StartAsync();

        using var response = await AddPeerAsync(node, node.Node.PublicKey, SiteA + "/30");

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("own key", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("/peer", "Missing public_key query parameter")]
    [InlineData("/peer?public_key=", "Missing public_key query parameter")]
    [InlineData("/peer?public_key=abc", "public_key must be a WireGuard public key")]
    public async Task A_DELETE_without_a_usable_key_is_a_400_with_a_plain_reason(string path, string reason)
    {
        await using var node = await InProcessNode.StartAsync();

        using var response = await node.Client.DeleteAsync(path, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains(reason, await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_whose_plus_signs_were_not_percent_encoded_is_still_understood()
    {
        await using var node = await InProcessNode.StartAsync();
        WgKey key;
        do
        {
            key = WgKey.GeneratePrivate().PublicKey();
        }
        while (!key.ToBase64().Contains('+', StringComparison.Ordinal));
        (await AddPeerAsync(node, key, SiteA + "/30")).Dispose();

        using var response = await node.Client.DeleteAsync("/peer?public_key=" + key.ToBase64().Replace("/", "%2F", StringComparison.Ordinal), TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Empty(node.Node.Peers());
    }

    [Fact]
    public async Task Healthz_answers_ok_and_the_relay_and_SNI_routes_answer_501()
    {
        await using var node = await InProcessNode.StartAsync();

        using var health = await node.Client.GetAsync("/healthz", TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
        Assert.Equal("ok", (await health.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Trim());

        foreach (var path in new[] { "/update-proxy-mapping", "/update-destinations", "/update-local-snis", "/router/v1/chat" })
        {
            using var response = await node.Client.PostAsync(path, Json("{}"), TestContext.Current.CancellationToken);
            Assert.Equal(HttpStatusCode.NotImplemented, response.StatusCode);
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            Assert.Contains("not implemented", await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task A_sites_traffic_is_reported_in_megabytes_and_a_refused_report_is_kept_for_the_next()
    {
        await using var node = await InProcessNode.StartAsync();
        await using var site = node.DialSite(SiteA);
        (await AddPeerAsync(node, site.PublicKey, site.Block)).Dispose();
        Assert.True(await site.ReachesNodeAsync(Site.Within), "the site did not reach the node");
        await SendToNodeAsync(node, site, TwoMiB);
        node.Control.RefuseBandwidth(1);

        Assert.True(await node.AdvanceUntilAsync(BandwidthReporter.Interval, () => node.Control.BandwidthCalls.Any(c => c.Status == 200)),
            "no report was accepted");

        var calls = node.Control.BandwidthCalls;
        Assert.Equal(500, calls[0].Status);
        var refused = Assert.Single(calls[0].Body);
        var accepted = Assert.Single(node.Control.AcceptedBandwidth);
        Assert.Equal(site.PublicKey.ToBase64(), accepted.PublicKey);
        // 2 MiB from the site, with WireGuard's and TCP's overhead on top: megabytes, not bytes.
        Assert.InRange(accepted.BytesIn, 2.0, 2.5);
        Assert.InRange(accepted.BytesOut, 0.0, 0.5);
        Assert.True(accepted.BytesIn >= refused.BytesIn, $"the accepted report ({accepted.BytesIn} MB) lost the refused one's traffic ({refused.BytesIn} MB)");
    }

    [Fact]
    public async Task Stopping_closes_the_API_and_sends_a_last_report()
    {
        await using var node = await InProcessNode.StartAsync();
        await using var site = node.DialSite(SiteA);
        (await AddPeerAsync(node, site.PublicKey, site.Block)).Dispose();
        Assert.True(await site.ReachesNodeAsync(Site.Within), "the site did not reach the node");

        await node.StopAsync();

        var last = Assert.Single(node.Control.AcceptedBandwidth);
        Assert.Equal(site.PublicKey.ToBase64(), last.PublicKey);
        Assert.True(last.BytesIn > 0);
        await Assert.ThrowsAsync<HttpRequestException>(() => node.Client.GetAsync("/healthz", TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task Stopping_before_the_server_answers_ends_the_get_config_loop()
    {
        await using var control = await FakeControlServer.StartAsync();
        control.RefuseGetConfig(int.MaxValue);
        using var http = new HttpClient();
        var loggers = Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance;
        var managed = new ManagedExitNode(new GerbilOptions { RemoteConfig = new ControlEndpoints(control.BaseUrl), Mode = ExitNodeMode.Userspace },
            WgKey.GeneratePrivate(), http, loggers, TimeProvider.System);
        using var stop = new CancellationTokenSource();

        var running = managed.RunAsync(stop.Token);
        Assert.True(await Eventually.TrueAsync(() => control.GetConfigCalls.Count >= 1, Within));
        await stop.CancelAsync();

        await running.WaitAsync(Within, TestContext.Current.CancellationToken);
        Assert.True(managed.Ready.IsCanceled);
    }

    /// <summary>The site opens a TCP connection to the node's own stack and sends <paramref name="bytes"/>.</summary>
    private static async Task SendToNodeAsync(InProcessNode node, Site site, long bytes)
    {
        var ct = TestContext.Current.CancellationToken;
        using var listener = node.Node.Runtime.Stack.ListenTcp(new IPEndPoint(node.NodeAddress, NodeTcpPort));
        var accepting = listener.AcceptAsync(ct).AsTask();
        await using var sender = await site.Tunnel.Stack.ConnectTcpAsync(new IPEndPoint(node.NodeAddress, NodeTcpPort), ct).WaitAsync(Within, ct);
        await using var receiver = await accepting.WaitAsync(Within, ct);
        var receiving = Task.Run(async () =>
        {
            var buffer = new byte[64 * 1024];
            long total = 0;
            while (total < bytes)
            {
                var n = await receiver.ReadAsync(buffer, ct);
                if (n == 0)
                {
                    break;
                }
                total += n;
            }
            return total;
        }, ct);
        var chunk = new byte[64 * 1024];
        for (long sent = 0; sent < bytes; sent += chunk.Length)
        {
            await sender.WriteAsync(chunk, ct);
        }
        Assert.Equal(bytes, await receiving.WaitAsync(Within, ct));
    }
}
