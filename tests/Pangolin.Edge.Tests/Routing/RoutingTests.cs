using System.Net;
using System.Net.WebSockets;
using System.Text;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using static Pangolin.Edge.Tests.Routing.Resources;

namespace Pangolin.Edge.Tests.Routing;

public sealed class RoutingTests
{
    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Requests_go_by_host_to_their_resource_and_other_hosts_stay_with_the_host_application()
    {
        await using var a = await EchoBackend.StartAsync("a");
        await using var b = await EchoBackend.StartAsync("b");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = a.Port;
        edge.Dialer.Ports[2] = b.Port;
        edge.Source.Set(Http(1, "a.example.com", Target(1)), Http(2, "b.example.com", Target(2)));

        var (_, toA) = await edge.GetAsync("a.example.com", "/x?y=1");
        var (_, toB) = await edge.GetAsync("B.Example.com:8080", "/");
        var (other, _) = await edge.GetAsync("c.example.com", "/");

        Assert.Equal("a", toA!.Backend);
        Assert.Equal("/x", toA.Path);
        Assert.Equal("?y=1", toA.Query);
        Assert.Equal("a.example.com", toA.Header("Host"));
        Assert.Equal("b", toB!.Backend);
        Assert.Equal("the host application", await other.Content.ReadAsStringAsync(Ct));
    }

    [Fact]
    public async Task A_wildcard_resource_takes_one_label_below_its_domain_and_an_exact_domain_wins_over_it()
    {
        await using var wild = await EchoBackend.StartAsync("wild");
        await using var exact = await EchoBackend.StartAsync("exact");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = wild.Port;
        edge.Dialer.Ports[2] = exact.Port;
        edge.Source.Set(Http(1, "*.example.com", Target(1)), Http(2, "app.example.com", Target(2)));

        Assert.Equal("wild", (await edge.GetAsync("x.example.com", "/")).Reply!.Backend);
        Assert.Equal("exact", (await edge.GetAsync("app.example.com", "/")).Reply!.Backend);
        Assert.Equal("the host application", await (await edge.GetAsync("a.b.example.com", "/")).Response.Content.ReadAsStringAsync(Ct));
        Assert.Equal("the host application", await (await edge.GetAsync("example.com", "/")).Response.Content.ReadAsStringAsync(Ct));

        // A deeper wildcard's hosts are its own even when the shallower wildcard's route ranks higher.
        await using var deep = await EchoBackend.StartAsync("deep");
        edge.Dialer.Ports[3] = deep.Port;
        edge.Source.Set(Http(1, "*.example.com", Target(1, priority: 500)), Http(3, "*.b.example.com", Target(3)));
        await Eventually(async () => (await edge.GetAsync("a.b.example.com", "/")).Reply?.Backend == "deep");
        Assert.Equal("wild", (await edge.GetAsync("b.example.com", "/")).Reply!.Backend);
    }

    [Fact]
    public async Task Paths_match_exact_segment_prefix_and_regex_in_priority_order_and_unmatched_paths_get_a_page()
    {
        await using var exact = await EchoBackend.StartAsync("exact");
        await using var prefix = await EchoBackend.StartAsync("prefix");
        await using var regex = await EchoBackend.StartAsync("regex");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = exact.Port;
        edge.Dialer.Ports[2] = prefix.Port;
        edge.Dialer.Ports[3] = regex.Port;
        edge.Source.Set(Http(1, "app.example.com",
            Target(1, path: "/api/health", match: "exact"),
            Target(2, path: "/api", match: "prefix"),
            Target(3, path: @"\.png$", match: "regex")));

        async Task<string?> To(string path) => (await edge.GetAsync("app.example.com", path)).Reply?.Backend;

        Assert.Equal("exact", await To("/api/health"));
        Assert.Equal("prefix", await To("/api/health/deep"));
        Assert.Equal("prefix", await To("/api"));
        Assert.Equal("prefix", await To("/api/x.png")); // prefix (113) ranks above regex (112), as upstream's priorities do
        Assert.Equal("regex", await To("/img/x.png"));
        var (unmatched, _) = await edge.GetAsync("app.example.com", "/apix");
        Assert.Equal(HttpStatusCode.NotFound, unmatched.StatusCode);
        Assert.Contains("No target of this resource serves this path", await unmatched.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_explicit_priority_orders_routes_above_the_derived_ones()
    {
        await using var low = await EchoBackend.StartAsync("catch-all");
        await using var high = await EchoBackend.StartAsync("prefix");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = low.Port;
        edge.Dialer.Ports[2] = high.Port;
        edge.Source.Set(Http(1, "app.example.com", Target(1, priority: 500), Target(2, path: "/api", match: "prefix")));
        Assert.Equal("catch-all", (await edge.GetAsync("app.example.com", "/api/x")).Reply!.Backend);

        edge.Source.Set(Http(1, "app.example.com", Target(1), Target(2, path: "/api", match: "prefix")));
        await Eventually(async () => (await edge.GetAsync("app.example.com", "/api/x")).Reply!.Backend == "prefix");
        Assert.Equal("catch-all", (await edge.GetAsync("app.example.com", "/other")).Reply!.Backend);
    }

    [Theory]
    [InlineData("/api", "prefix", "/v2", "prefix", "/api/users", "/v2/users")]
    [InlineData("/api", "prefix", "", "stripPrefix", "/api/users", "/users")]
    [InlineData("/api", "prefix", "/inner", "stripPrefix", "/api/users", "/inner/users")]
    [InlineData("/old", "exact", "/new", "exact", "/old", "/new")]
    [InlineData(@"^/u/(\d+)$", "regex", "/users/$1", "regex", "/u/42", "/users/42")]
    public async Task Paths_are_rewritten_as_upstream_rewrites_them(string path, string match, string rewrite, string rewriteType, string request, string expected)
    {
        await using var backend = await EchoBackend.StartAsync("b");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = backend.Port;
        edge.Source.Set(Http(1, "app.example.com", Target(1, path: path, match: match, rewritePath: rewrite, rewriteType: rewriteType)));

        var (_, reply) = await edge.GetAsync("app.example.com", request + "?q=1");

        Assert.Equal(expected, reply!.Path);
        Assert.Equal("?q=1", reply.Query);
    }

    [Fact]
    public async Task Forwarded_headers_come_from_the_edge_and_forged_ones_or_the_edges_own_secrets_never_reach_the_target()
    {
        await using var backend = await EchoBackend.StartAsync("b");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = backend.Port;
        edge.Source.Set(Http(1, "app.example.com", Target(1)) with
        {
            RequestHeaders = [new("X-Custom", "from-the-resource"), new("X-Replaced", "by-the-resource")],
        });

        var (_, reply) = await edge.GetAsync("app.example.com", "/p?p_token=abc.def&keep=1", r =>
        {
            r.Headers.TryAddWithoutValidation("X-Forwarded-For", "6.6.6.6");
            r.Headers.TryAddWithoutValidation("X-Real-IP", "6.6.6.6");
            r.Headers.TryAddWithoutValidation("Forwarded", "for=6.6.6.6");
            r.Headers.TryAddWithoutValidation("Remote-User", "admin");
            r.Headers.TryAddWithoutValidation("Remote-Email", "admin@example.com");
            r.Headers.TryAddWithoutValidation("X-Replaced", "by-the-client");
            r.Headers.TryAddWithoutValidation("Cookie", "p_session_token_s.123=secret; app=1; p_session_token=x");
        });

        Assert.Equal("127.0.0.1", reply!.Header("X-Forwarded-For"));
        Assert.Equal("127.0.0.1", reply.Header("X-Real-IP"));
        Assert.Equal("http", reply.Header("X-Forwarded-Proto"));
        Assert.Equal("app.example.com", reply.Header("X-Forwarded-Host"));
        Assert.Null(reply.Header("Forwarded"));
        Assert.Null(reply.Header("Remote-User"));
        Assert.Null(reply.Header("Remote-Email"));
        Assert.Equal("from-the-resource", reply.Header("X-Custom"));
        Assert.Equal("by-the-resource", reply.Header("X-Replaced"));
        Assert.Equal("app=1", reply.Header("Cookie"));
        Assert.Equal("?keep=1", reply.Query);
    }

    [Fact]
    public async Task The_host_header_can_be_overridden_per_resource()
    {
        await using var backend = await EchoBackend.StartAsync("b");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = backend.Port;
        edge.Source.Set(Http(1, "app.example.com", Target(1)) with { SetHostHeader = "internal.lan" });

        Assert.Equal("internal.lan", (await edge.GetAsync("app.example.com", "/")).Reply!.Header("Host"));
    }

    [Fact]
    public async Task Requests_are_balanced_round_robin_and_a_sticky_resource_keeps_a_client_on_one_target()
    {
        await using var one = await EchoBackend.StartAsync("one");
        await using var two = await EchoBackend.StartAsync("two");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = one.Port;
        edge.Dialer.Ports[2] = two.Port;
        edge.Source.Set(Http(1, "app.example.com", Target(1), Target(2)));

        var seen = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            seen.Add((await edge.GetAsync("app.example.com", "/")).Reply!.Backend);
        }
        Assert.Equal(3, seen.Count(s => s == "one"));
        Assert.Equal(3, seen.Count(s => s == "two"));

        edge.Source.Set(Http(1, "app.example.com", Target(1), Target(2)) with { StickySession = true });
        await Eventually(async () => (await edge.GetAsync("app.example.com", "/")).Response.Headers.Contains("Set-Cookie"));
        var (first, firstReply) = await edge.GetAsync("app.example.com", "/");
        var cookie = first.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("p_sticky=", StringComparison.Ordinal));
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        for (var i = 0; i < 6; i++)
        {
            var (_, reply) = await edge.GetAsync("app.example.com", "/", r => r.Headers.TryAddWithoutValidation("Cookie", cookie.Split(';')[0]));
            Assert.Equal(firstReply!.Backend, reply!.Backend);
        }
    }

    [Fact]
    public async Task A_target_that_cannot_be_reached_gets_a_502_and_a_blocked_or_protected_resource_is_refused()
    {
        await using var backend = await EchoBackend.StartAsync("b");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[2] = backend.Port;
        edge.Source.Set(
            Http(1, "gone.example.com", Target(1)),
            Http(2, "blocked.example.com", Target(2)) with { Access = EdgeAccessPolicy.Open with { Blocked = true } },
            Http(3, "protected.example.com", Target(2)) with { Access = EdgeAccessPolicy.Open with { HasPassword = true } });

        var gone = (await edge.GetAsync("gone.example.com", "/")).Response;
        Assert.Equal(HttpStatusCode.BadGateway, gone.StatusCode);
        // A page a visitor can read, not YARP's empty 502.
        Assert.Equal("text/html", gone.Content.Headers.ContentType?.MediaType);
        Assert.Contains("<h1>Bad gateway</h1>", await gone.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await edge.GetAsync("blocked.example.com", "/")).Response.StatusCode);
        // A protected resource sends the browser to its sign-in page, which gets the way back.
        var signIn = (await edge.GetAsync("protected.example.com", "/a?b=1")).Response;
        Assert.Equal(HttpStatusCode.Found, signIn.StatusCode);
        Assert.StartsWith("http://localhost:3000/auth/resource/", signIn.Headers.Location!.OriginalString, StringComparison.Ordinal);
        Assert.EndsWith("?redirect=" + Uri.EscapeDataString("http://protected.example.com/a?b=1"), signIn.Headers.Location!.OriginalString, StringComparison.Ordinal);
        Assert.Equal(0, edge.Dialer.Connections);
    }

    [Fact]
    public async Task Https_targets_get_tls_with_the_resources_server_name_and_h2c_targets_get_http2()
    {
        await using var tls = await EchoBackend.StartAsync("tls", https: true);
        await using var h2c = await EchoBackend.StartAsync("h2c", protocols: HttpProtocols.Http2);
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = tls.Port;
        edge.Dialer.Ports[2] = h2c.Port;
        edge.Source.Set(
            Http(1, "secure.example.com", Target(1, method: "https")) with { TlsServerName = "backend.internal" },
            Http(2, "grpc.example.com", Target(2, method: "h2c")));

        var (_, secure) = await edge.GetAsync("secure.example.com", "/");
        var (_, grpc) = await edge.GetAsync("grpc.example.com", "/");

        Assert.Equal("tls", secure!.Backend);
        Assert.True(secure.Tls);
        Assert.Equal(["backend.internal"], tls.ServerNames);
        Assert.Equal("HTTP/2", grpc!.Protocol);
    }

    [Fact]
    public async Task WebSockets_pass_through_the_edge()
    {
        await using var backend = await EchoBackend.StartAsync("ws", app => app.Map("/ws", async (HttpContext context) =>
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            var buffer = new byte[1024];
            var received = await socket.ReceiveAsync(buffer, context.RequestAborted);
            await socket.SendAsync(buffer.AsMemory(0, received.Count), WebSocketMessageType.Text, true, context.RequestAborted);
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "bye", context.RequestAborted);
        }));
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = backend.Port;
        edge.Source.Set(Http(1, "ws.example.com", Target(1)));

        using var client = new ClientWebSocket();
        client.Options.SetRequestHeader("Host", "ws.example.com");
        await client.ConnectAsync(new Uri($"ws://127.0.0.1:{edge.Port}/ws"), Ct);
        await client.SendAsync(Encoding.UTF8.GetBytes("hello through the edge"), WebSocketMessageType.Text, true, Ct);
        var buffer = new byte[1024];
        var reply = await client.ReceiveAsync(buffer, Ct);

        Assert.Equal("hello through the edge", Encoding.UTF8.GetString(buffer, 0, reply.Count));
    }

    [Fact]
    public async Task Routes_change_under_load_without_a_failed_request()
    {
        await using var one = await EchoBackend.StartAsync("one");
        await using var two = await EchoBackend.StartAsync("two");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = one.Port;
        edge.Dialer.Ports[2] = two.Port;
        edge.Source.Set(Http(1, "app.example.com", Target(1)), Http(9, "other.example.com", Target(2)));

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        stop.CancelAfter(TimeSpan.FromSeconds(3));
        var failures = 0;
        var done = 0;
        var seen = new System.Collections.Concurrent.ConcurrentDictionary<string, int>();
        var load = Enumerable.Range(0, 4).Select(_ => Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var (response, reply) = await edge.GetAsync("app.example.com", "/");
                if (response.StatusCode != HttpStatusCode.OK || reply is null)
                {
                    Interlocked.Increment(ref failures);
                }
                else
                {
                    seen.AddOrUpdate(reply.Backend, 1, (_, n) => n + 1);
                }
                Interlocked.Increment(ref done);
            }
        }, CancellationToken.None)).ToList();
        var flips = 0;
        while (!stop.IsCancellationRequested)
        {
            // Alternate between one target, both, and the other; and touch an unrelated resource.
            var targets = (flips % 3) switch { 0 => new[] { Target(1) }, 1 => [Target(1), Target(2)], _ => [Target(2)] };
            edge.Source.Set(Http(1, "app.example.com", targets), Http(9, "other.example.com", Target(flips % 2 == 0 ? 2 : 1)));
            flips++;
            await Task.Delay(20, CancellationToken.None);
        }
        await Task.WhenAll(load);

        Assert.True(done > 50, $"only {done} requests ran");
        Assert.True(flips > 20, $"only {flips} changes");
        Assert.Equal(0, failures);
        Assert.True(seen.ContainsKey("one") && seen.ContainsKey("two"), "both targets served");
    }

    private static async Task Eventually(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the change did not take effect within 5 s");
            await Task.Delay(20, Ct);
        }
    }
}
