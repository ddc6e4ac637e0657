using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using NSec.Cryptography;
using Pangolin.Gerbil.Tests.Infrastructure;
using Pangolin.Protocol;
using Pangolin.Protocol.Gerbil;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Tests;

/// <summary>
/// Upstream gerbil's two guards on a managed node, in process against the fake server: CONTROL_API_TOKEN on the peer
/// API, and REMOTE_CONFIG_SIGNING_KEY on get-config.
/// </summary>
public sealed class ControlSecurityTests
{
    private const string Token = "s3cret-control-token-of-40-characters-xx";
    private const string SiteBlock = "100.89.138.4/30";

    private static GerbilOptions WithToken(GerbilOptions options) => options with { ControlApiToken = Token };

    private static async Task<HttpStatusCode> SendAsync(InProcessNode node, HttpMethod method, string path, string? authorization, HttpContent? body = null)
    {
        using var request = new HttpRequestMessage(method, path) { Content = body };
        if (authorization is not null)
        {
            request.Headers.TryAddWithoutValidation("Authorization", authorization);
        }
        using var response = await node.Client.SendAsync(request, TestContext.Current.CancellationToken);
        if (response.StatusCode == HttpStatusCode.Unauthorized)
        {
            // Upstream's shape: http.Error(w, "Unauthorized", 401) with WWW-Authenticate: Bearer.
            Assert.Equal("Unauthorized", (await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken)).Trim());
            Assert.Equal("text/plain", response.Content.Headers.ContentType?.MediaType);
            Assert.Equal(new AuthenticationHeaderValue("Bearer"), Assert.Single(response.Headers.WwwAuthenticate));
        }
        return response.StatusCode;
    }

    private static JsonContent Peer(WgKey key) =>
        JsonContent.Create(new GerbilPeer { PublicKey = key.ToBase64(), AllowedIps = [SiteBlock] }, ProtocolJsonContext.Default.GerbilPeer);

    [Theory]
    [InlineData(null)]
    [InlineData("Bearer wrong-token-of-the-same-length-as-the-real")]
    [InlineData("Bearer " + Token + "x")]
    [InlineData("Bearer " + "s3cret-control-token-of-40-characters-x")]
    [InlineData("Basic " + Token)]
    [InlineData(Token)]
    [InlineData("Bearer ")]
    public async Task With_a_token_adding_or_removing_a_peer_without_it_is_a_401_and_changes_nothing(string? authorization)
    {
        await using var node = await InProcessNode.StartAsync(configure: WithToken);
        var site = WgKey.GeneratePrivate().PublicKey();

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(node, HttpMethod.Post, "/peer", authorization, Peer(site)));
        Assert.Empty(node.Node.Peers());

        Assert.Equal(HttpStatusCode.Created, await SendAsync(node, HttpMethod.Post, "/peer", "Bearer " + Token, Peer(site)));
        var delete = $"/peer?public_key={Uri.EscapeDataString(site.ToBase64())}";
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(node, HttpMethod.Delete, delete, authorization));
        Assert.Single(node.Node.Peers());
    }

    [Fact]
    public async Task With_the_right_token_the_peer_API_works_and_the_scheme_is_matched_in_any_case()
    {
        await using var node = await InProcessNode.StartAsync(configure: WithToken);
        var site = WgKey.GeneratePrivate().PublicKey();

        Assert.Equal(HttpStatusCode.Created, await SendAsync(node, HttpMethod.Post, "/peer", "Bearer " + Token, Peer(site)));
        Assert.Equal(site, Assert.Single(node.Node.Peers()).PublicKey);
        Assert.Equal(HttpStatusCode.OK, await SendAsync(node, HttpMethod.Delete, $"/peer?public_key={Uri.EscapeDataString(site.ToBase64())}", "bearer " + Token));
        Assert.Empty(node.Node.Peers());
    }

    [Fact]
    public async Task The_token_guards_what_upstream_guards_and_leaves_healthz_and_the_router_open()
    {
        await using var node = await InProcessNode.StartAsync(configure: WithToken);
        using var empty = new StringContent("{}", Encoding.UTF8, "application/json");

        foreach (var path in new[] { "/update-proxy-mapping", "/update-destinations", "/update-local-snis", "/PEER" })
        {
            Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(node, HttpMethod.Post, path, null, new StringContent("{}")));
        }
        Assert.Equal(HttpStatusCode.NotImplemented, await SendAsync(node, HttpMethod.Post, "/update-destinations", "Bearer " + Token, new StringContent("{}")));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(node, HttpMethod.Get, "/healthz", null));
        Assert.Equal(HttpStatusCode.NotImplemented, await SendAsync(node, HttpMethod.Post, "/router/v1/chat", null, empty));
    }

    [Fact]
    public async Task A_node_whose_config_does_not_verify_adds_no_peer_and_stays_down_until_a_signed_one_arrives()
    {
        using var serverKey = Key.Create(SignatureAlgorithm.Ed25519);
        using var impostor = Key.Create(SignatureAlgorithm.Ed25519);
        var site = WgKey.GeneratePrivate().PublicKey();
        await using var node = await InProcessNode.StartUnreadyAsync(control =>
        {
            control.Config = new GetConfigResponse { ListenPort = 0, IpAddress = "100.89.138.1/24", Peers = [new GerbilPeer { PublicKey = site.ToBase64(), AllowedIps = [SiteBlock] }] };
            control.SigningKey = impostor;
        }, options => options with { ConfigSigningKey = serverKey.PublicKey });

        Assert.True(await node.AdvanceUntilAsync(TimeSpan.FromSeconds(1), () => node.Control.GetConfigCalls.Count >= 3), "get-config was not retried");
        Assert.False(node.Managed.Ready.IsCompleted, "the node came up on a config signed by another key");

        node.Control.SigningKey = serverKey;
        Assert.True(await node.AdvanceUntilAsync(TimeSpan.FromSeconds(1), () => node.Managed.Ready.IsCompleted), "the node did not take the signed config");
        await node.WaitUntilUpAsync();
        Assert.Equal(site, Assert.Single(node.Node.Peers()).PublicKey);
    }
}
