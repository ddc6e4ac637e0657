using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.EndToEnd;

/// <summary>
/// The whole path with real parts (plan E7): a client → the edge in the server → the exit node → the newt executable
/// in the site's namespace → nginx (or a WebSocket, TCP or UDP service) in the private network behind it, which only
/// the newt can reach. Everything is made through the server's API. Every access method and rule is tried allowed and
/// denied; what the backend received is read back from nginx's echo of it.
/// </summary>
[Trait("Category", "Namespaces")]
public sealed class EdgeNamespaceTests(EdgeNamespaceFixture net) : IClassFixture<EdgeNamespaceFixture>
{
    private const int WebPort = EdgeNamespaceFixture.WebPort;

    /// <summary>Not let in, on a resource with platform sign-in (SSO, on by default): a redirect to its sign-in page.</summary>
    private const int SignIn = 302;

    // A change reaches the edge and the newt a moment after the API call: well under a second on an idle machine,
    // up to about ten seconds on a 2-core machine shared with other builds (see EdgeNamespaceFixture.ArrangeAsync).
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private static string Url(string name, string pathAndQuery = "/") => $"http://{name.ToLowerInvariant()}.example.test{pathAndQuery}";

    private static string Host(string name) => $"{name.ToLowerInvariant()}.example.test";

    [Fact]
    public async Task An_open_resource_is_served_by_nginx_behind_newt_with_path_targets_a_rewrite_and_the_host_override()
    {
        var resource = net.Made.Open;
        using var client = net.EdgeClient();

        // /api/... goes to the /api target, rewritten to /v2/..., with the query kept and the Host the resource sets.
        var api = (await UntilAsync(() => SendAsync(client, Url("E7open", "/api/items?x=1")), r => r.Status == 200 && r.Body.Contains("backend=web", StringComparison.Ordinal), "the /api target answers")).Echo;
        Assert.Equal("/v2/items?x=1", api["uri"]);
        Assert.Equal("backend.internal.test", api["host"]);
        Assert.Equal("GET", api["method"]);
        Assert.Equal("/v2", (await SendAsync(client, Url("E7open", "/api"))).Echo["uri"]);

        // The prefix is segment-aware: /apix is not /api; it and everything else go to the catch-all target, unrewritten.
        var apix = await SendAsync(client, Url("E7open", "/apix/y"));
        Assert.Equal(200, apix.Status);
        Assert.Equal("other", apix.Echo["backend"]);
        Assert.Equal("/apix/y", apix.Echo["uri"]);
        Assert.Equal("backend.internal.test", apix.Echo["host"]);
        Assert.Equal("other", (await SendAsync(client, Url("E7open", "/"))).Echo["backend"]);

        // A resource served under /app only: what is outside gets the edge's 404, neither nginx nor the control
        // plane (whose API paths a resource's host does not serve).
        var app = await UntilAsync(() => SendAsync(client, Url("E7pathonly", "/app/page")), r => r.Status == 200, "the /app target answers");
        Assert.Equal("/app/page", app.Echo["uri"]);
        Assert.Equal("e7pathonly.example.test", app.Echo["host"]);
        foreach (var outside in new[] { "/apps", "/", "/api/v1/", "/api/v1/auth/login" })
        {
            var reply = await SendAsync(client, Url("E7pathonly", outside), outside.EndsWith("login", StringComparison.Ordinal) ? HttpMethod.Post : null);
            Assert.True(reply.Status == 404 && reply.Body.Contains("No target of this resource serves this path.", StringComparison.Ordinal), $"{outside}: {reply.Status} {reply.Body}");
        }

        // Denied: a host nothing is published on, and the resource once blocked; neither reaches nginx.
        var nowhere = await SendAsync(client, Url("E7nowhere", "/api/items"));
        Assert.Equal(404, nowhere.Status);
        Assert.DoesNotContain("backend=", nowhere.Body, StringComparison.Ordinal);
        (await net.Api.PostJsonAsync($"resource/{resource}", new { blockAccess = true })).Expect(200);
        var blocked = await UntilAsync(() => SendAsync(client, Url("E7open", "/api/items")), r => r.Status != 200, "the blocked resource refuses");
        Assert.Equal(403, blocked.Status);
        Assert.DoesNotContain("backend=", blocked.Body, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Http_basic_credentials_open_the_resource_and_wrong_or_missing_ones_do_not()
    {
        var resource = net.Made.Basic;
        using var client = net.EdgeClient();
        var right = ("Authorization", Basic("alice", "correct horse"));

        var admitted = await UntilAsync(() => SendAsync(client, Url("E7basic", "/in"), headers: [right]), r => r.Status == 200, "the right credentials are admitted");
        Assert.Equal("/in", admitted.Echo["uri"]);

        var wrong = await SendAsync(client, Url("E7basic", "/in"), headers: [("Authorization", Basic("alice", "wrong horse"))]);
        Assert.Equal(401, wrong.Status);
        Assert.DoesNotContain("backend=", wrong.Body, StringComparison.Ordinal);
        var otherUser = await SendAsync(client, Url("E7basic", "/in"), headers: [("Authorization", Basic("mallory", "correct horse"))]);
        Assert.Equal(401, otherUser.Status);
        // Header auth is the only method: missing credentials are refused without a challenge...
        var missing = await SendAsync(client, Url("E7basic", "/in"));
        Assert.Equal(401, missing.Status);
        Assert.Equal("", missing.Challenge);
        Assert.DoesNotContain("backend=", missing.Body, StringComparison.Ordinal);

        // ...and with extended compatibility, with the browser's prompt; the right credentials still open it.
        (await net.Api.PostJsonAsync($"resource/{resource}/header-auth", new { user = "alice", password = "correct horse", extendedCompatibility = true })).Expect(201);
        var challenged = await UntilAsync(() => SendAsync(client, Url("E7basic", "/in")), r => r.Challenge.Length > 0, "missing credentials are challenged");
        Assert.Equal(401, challenged.Status);
        Assert.Equal("Basic realm=\"pangolin\"", challenged.Challenge);
        Assert.Equal(200, (await SendAsync(client, Url("E7basic", "/in"), headers: [right])).Status);
    }

    [Fact]
    public async Task A_share_link_opens_its_resource_by_headers_or_p_token_whose_cookie_then_suffices_and_the_token_never_reaches_nginx()
    {
        var (tokenId, secret) = net.Made.ShareLink;
        using var client = net.EdgeClient();
        var seen = new List<string>();

        // Headers, as programs send them: forwarded, without the token headers.
        var byHeaders = await UntilAsync(() => SendAsync(client, Url("E7share", "/page"), headers: [("P-Access-Token-Id", tokenId), ("P-Access-Token", secret)]),
            r => r.Status == 200, "the share link in headers is admitted");
        seen.Add(byHeaders.Body);
        Assert.Equal("web", byHeaders.Echo["backend"]);
        Assert.Equal("", byHeaders.Echo["token"]);
        Assert.Equal("", byHeaders.Echo["tokenid"]);
        Assert.Equal(SignIn, (await SendAsync(client, Url("E7share", "/page"), headers: [("P-Access-Token-Id", tokenId), ("P-Access-Token", secret + "x")])).Status);
        Assert.Equal(SignIn, (await SendAsync(client, Url("E7share", "/page"))).Status);

        // ?p_token= in a browser: a host-only session cookie and a 302 to the same address without the token.
        var link = await RawGetAsync(Host("E7share"), $"/docs/page?x=1&p_token={tokenId}.{secret}");
        Assert.Equal(302, link.Status);
        Assert.Equal("/docs/page?x=1", link.Location);
        AssertSameHost(Host("E7share"), link.Location);
        var setCookie = Assert.Single(link.SetCookies);
        Assert.StartsWith("p_session_token_s=", setCookie, StringComparison.Ordinal);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("domain=", setCookie, StringComparison.OrdinalIgnoreCase);
        var cookie = setCookie.Split(';')[0];

        // The cookie alone then opens the clean address; nginx gets the page's other cookies but not the edge's.
        var withCookie = await SendAsync(client, Url("E7share", link.Location!), headers: [("Cookie", $"theme=dark; {cookie}")]);
        seen.Add(withCookie.Body);
        Assert.Equal(200, withCookie.Status);
        Assert.Equal("/docs/page?x=1", withCookie.Echo["uri"]);
        Assert.Equal("theme=dark", withCookie.Echo["cookie"]);

        // A POST carrying p_token is forwarded at once (no redirect), and still without the token.
        var post = await SendAsync(client, Url("E7share", $"/submit?p_token={tokenId}.{secret}&y=2"), HttpMethod.Post);
        seen.Add(post.Body);
        Assert.Equal(200, post.Status);
        Assert.Equal("POST", post.Echo["method"]);
        Assert.Equal("/submit?y=2", post.Echo["uri"]);

        // Denied: a wrong p_token (no cookie), a forged cookie.
        var wrong = await RawGetAsync(Host("E7share"), $"/docs/page?p_token={tokenId}.{secret}x");
        Assert.Equal(SignIn, wrong.Status);
        Assert.Empty(wrong.SetCookies);
        Assert.Equal(SignIn, (await SendAsync(client, Url("E7share", "/docs/page"), headers: [("Cookie", "p_session_token_s=forged")])).Status);

        Assert.All(seen, body => Assert.DoesNotContain(secret, body, StringComparison.Ordinal));
        Assert.All(seen, body => Assert.DoesNotContain("p_token", body, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Ip_cidr_path_and_method_rules_accept_drop_and_pass_in_priority_order()
    {
        // The rules (EdgeNamespaceFixture.ArrangeAsync), by priority:
        //   1 PASS IP 127.0.0.3   2 DROP PATH /public/secret/*   3 ACCEPT PATH /public/*   4 ACCEPT IP 127.0.0.2
        //   5 DROP CIDR 127.0.0.8/29   6 ACCEPT PATH /api/* for GET   7 DROP PATH /api/* for DELETE
        var resource = net.Made.Rules;
        var secretDrop = net.Made.RulesSecretDrop;
        var (tokenId, secret) = net.Made.RulesLink;

        using var local = net.EdgeClient("127.0.0.1");
        using var listed = net.EdgeClient("127.0.0.2");
        using var passed = net.EdgeClient("127.0.0.3");
        using var inRange = net.EdgeClient("127.0.0.9");
        using var outOfRange = net.EdgeClient("127.0.0.7");
        // The target is known with all the rules (they were made before it) once this is served.
        await UntilAsync(() => SendAsync(local, Url("E7rules", "/public/page")), r => r.Status == 200, "the ACCEPT path rule admits");

        async Task<int> StatusAsync(HttpClient client, string path, HttpMethod? method = null, params (string, string)[] headers)
        {
            var reply = await SendAsync(client, Url("E7rules", path), method, headers);
            Assert.True(reply.Status != 200 || reply.Echo["backend"] == "web", reply.Body);
            return reply.Status;
        }

        // No rule matches: the resource's own sign-in applies (none here), so refused as unsigned.
        Assert.Equal(SignIn, await StatusAsync(local, "/private"));
        // PATH: ACCEPT, and a DROP of higher priority (lower number) wins over it.
        Assert.Equal(200, await StatusAsync(local, "/public/page"));
        Assert.Equal(403, await StatusAsync(local, "/public/secret/x"));
        // IP: ACCEPT for 127.0.0.2 only, after the path DROP.
        Assert.Equal(200, await StatusAsync(listed, "/private"));
        Assert.Equal(403, await StatusAsync(listed, "/public/secret/x"));
        // CIDR: 127.0.0.8/29 dropped, its neighbour not; the PATH ACCEPT comes first.
        Assert.Equal(403, await StatusAsync(inRange, "/private"));
        Assert.Equal(200, await StatusAsync(inRange, "/public/page"));
        Assert.Equal(SignIn, await StatusAsync(outOfRange, "/private"));
        // METHOD: GET accepted, DELETE dropped, POST matched by neither.
        Assert.Equal(200, await StatusAsync(local, "/api/x"));
        Assert.Equal(403, await StatusAsync(local, "/api/x", HttpMethod.Delete));
        Assert.Equal(SignIn, await StatusAsync(local, "/api/x", HttpMethod.Post));
        // PASS for 127.0.0.3, first: the later ACCEPT and DROP do not apply, the sign-in does — and a share link passes it.
        Assert.Equal(SignIn, await StatusAsync(passed, "/public/page"));
        Assert.Equal(SignIn, await StatusAsync(passed, "/public/secret/x"));
        Assert.Equal(200, await StatusAsync(passed, "/public/secret/x", null, ("P-Access-Token-Id", tokenId), ("P-Access-Token", secret)));

        // Priorities changed through the API: the path DROP now comes after the ACCEPT.
        (await net.Api.PostJsonAsync($"resource/{resource}/rule/{secretDrop}", new { priority = 10 })).Expect(200);
        await UntilAsync(() => SendAsync(local, Url("E7rules", "/public/secret/x")), r => r.Status == 200, "the lowered DROP no longer applies");
        Assert.Equal(403, await StatusAsync(inRange, "/private"));

        // Rules off: only the sign-in is left.
        (await net.Api.PostJsonAsync($"resource/{resource}", new { applyRules = false })).Expect(200);
        await UntilAsync(() => SendAsync(local, Url("E7rules", "/public/page")), r => r.Status == SignIn, "without rules the ACCEPT is gone");
        Assert.Equal(SignIn, await StatusAsync(listed, "/private"));
        Assert.Equal(SignIn, await StatusAsync(inRange, "/private"));
    }

    [Fact]
    public async Task A_spoofed_x_forwarded_for_from_an_untrusted_peer_changes_neither_the_rules_nor_what_nginx_sees()
    {
        // Rules: DROP IP 203.0.113.7, DROP IP 127.0.0.4; otherwise open.
        using var peer = net.EdgeClient("127.0.0.1");
        using var dropped = net.EdgeClient("127.0.0.4");
        await UntilAsync(() => SendAsync(peer, Url("E7xff", "/")), r => r.Status == 200, "the resource is served");

        (string, string)[] forged = [("X-Forwarded-For", "203.0.113.7"), ("X-Real-IP", "203.0.113.7"), ("Forwarded", "for=203.0.113.7"), ("X-Forwarded-Host", "evil.example")];
        // Claiming a dropped address does not get a client dropped, nor reach nginx as its address.
        var claimed = await SendAsync(peer, Url("E7xff", "/claimed"), null, forged);
        Assert.Equal(200, claimed.Status);
        Assert.Equal("127.0.0.1", claimed.Echo["xff"]);
        Assert.Equal("127.0.0.1", claimed.Echo["xri"]);
        Assert.Equal("", claimed.Echo["fwd"]);
        var chain = await SendAsync(peer, Url("E7xff", "/chain"), headers: [("X-Forwarded-For", "198.51.100.1, 203.0.113.7")]);
        Assert.Equal(200, chain.Status);
        Assert.Equal("127.0.0.1", chain.Echo["xff"]);

        // A dropped client does not escape its DROP by claiming another address.
        var escape = await SendAsync(dropped, Url("E7xff", "/"), null, ("X-Forwarded-For", "198.51.100.1"), ("X-Real-IP", "198.51.100.1"), ("Forwarded", "for=198.51.100.1"));
        Assert.Equal(403, escape.Status);
        Assert.DoesNotContain("backend=", escape.Body, StringComparison.Ordinal);
        Assert.Equal(403, (await SendAsync(dropped, Url("E7xff", "/"))).Status);
    }

    [Fact]
    public async Task The_session_cookie_got_on_one_resource_does_not_open_another()
    {
        var (aId, aSecret) = net.Made.CookieALink;
        var (bId, bSecret) = net.Made.CookieBLink;
        using var client = net.EdgeClient();
        await UntilAsync(() => SendAsync(client, Url("E7cookiea"), headers: [("P-Access-Token-Id", aId), ("P-Access-Token", aSecret)]), r => r.Status == 200, "A is served");
        await UntilAsync(() => SendAsync(client, Url("E7cookieb"), headers: [("P-Access-Token-Id", bId), ("P-Access-Token", bSecret)]), r => r.Status == 200, "B is served");

        var link = await RawGetAsync(Host("E7cookiea"), $"/?p_token={aId}.{aSecret}");
        Assert.Equal(302, link.Status);
        var setCookie = Assert.Single(link.SetCookies);
        Assert.DoesNotContain("domain=", setCookie, StringComparison.OrdinalIgnoreCase); // host-only: a browser keeps it to A
        var cookie = setCookie.Split(';')[0];

        Assert.Equal(200, (await SendAsync(client, Url("E7cookiea"), headers: [("Cookie", cookie)])).Status);
        // Sent to B anyway (same cookie name: both are SSL resources), it opens nothing there.
        var onB = await SendAsync(client, Url("E7cookieb"), headers: [("Cookie", cookie)]);
        Assert.Equal(SignIn, onB.Status);
        Assert.DoesNotContain("backend=", onB.Body, StringComparison.Ordinal);
        // Nor do A's link itself, in headers or as p_token, open B.
        Assert.Equal(SignIn, (await SendAsync(client, Url("E7cookieb"), headers: [("P-Access-Token-Id", aId), ("P-Access-Token", aSecret)])).Status);
        var aOnB = await RawGetAsync(Host("E7cookieb"), $"/?p_token={aId}.{aSecret}");
        Assert.Equal(SignIn, aOnB.Status);
        Assert.Empty(aOnB.SetCookies);
    }

    [Fact]
    public async Task The_p_token_redirect_stays_on_the_resources_host_whatever_the_path()
    {
        var (tokenId, secret) = net.Made.RedirectLink;
        var host = Host("E7redirect");
        using var client = net.EdgeClient();
        await UntilAsync(() => SendAsync(client, Url("E7redirect"), headers: [("P-Access-Token-Id", tokenId), ("P-Access-Token", secret)]), r => r.Status == 200, "the resource is served");

        string[] paths =
        [
            "//evil.example/", "//evil.example", "///evil.example/x", "/\\evil.example/", "/\\\\evil.example", "/\\/evil.example",
            "/%2F%2Fevil.example/", "/%2f/evil.example", "/%5Cevil.example", "/%5C%5Cevil.example", "/%2F%5Cevil.example",
            "/%09/evil.example", "/%0D%0A/evil.example", "/..//evil.example", "/%2E%2E//evil.example", "/.//evil.example",
            "//evil.example/%2F..", "/https:%2F%2Fevil.example",
        ];
        foreach (var path in paths)
        {
            var reply = await RawGetAsync(host, $"{path}?p_token={tokenId}.{secret}");
            Assert.True(reply.Status == 302, $"{path}: {reply.Status} {reply.Head}");
            AssertSameHost(host, reply.Location, path);
            Assert.DoesNotContain("p_token", reply.Location!, StringComparison.Ordinal);
            Assert.Single(reply.SetCookies);
        }

        // Forwarded headers from an untrusted peer do not steer it either.
        var forwarded = await RawGetAsync(host, $"/next?p_token={tokenId}.{secret}", "X-Forwarded-Host: evil.example\r\nX-Forwarded-Proto: https\r\nForwarded: host=evil.example\r\n");
        Assert.Equal(302, forwarded.Status);
        Assert.Equal("/next", forwarded.Location);

        // The absolute form names another host: if anything redirects, it is still to this host.
        var absolute = await RawGetAsync(host, $"http://evil.example/x?p_token={tokenId}.{secret}");
        if (absolute.Status is >= 300 and < 400)
        {
            AssertSameHost(host, absolute.Location, "absolute form");
        }
    }

    [Fact]
    public async Task A_websocket_runs_through_the_edge_and_newt_to_an_echo_in_the_private_network_with_the_share_link_only()
    {
        var (tokenId, secret) = net.Made.WebSocketLink;
        var uri = new Uri("ws://e7ws.example.test/ws/chat?room=1");
        using var invoker = new HttpMessageInvoker(net.EdgeHandler());

        async Task<ClientWebSocket> ConnectAsync(bool withLink)
        {
            var socket = new ClientWebSocket();
            socket.Options.CollectHttpResponseDetails = true;
            if (withLink)
            {
                socket.Options.SetRequestHeader("P-Access-Token-Id", tokenId);
                socket.Options.SetRequestHeader("P-Access-Token", secret);
            }
            await socket.ConnectAsync(uri, invoker, Ct);
            return socket;
        }

        ClientWebSocket? ws = null;
        var watch = Stopwatch.StartNew();
        while (ws is null)
        {
            try
            {
                ws = await ConnectAsync(withLink: true);
            }
            catch (WebSocketException e)
            {
                Assert.True(watch.Elapsed < Patience, $"no WebSocket within {Patience.TotalSeconds} s: {e.Message}\n{net.Diagnostics()}");
                await Task.Delay(100, Ct);
            }
        }
        using (ws)
        {
            Assert.Equal(HttpStatusCode.SwitchingProtocols, ws.HttpStatusCode);
            var hello = EdgeNamespaceFixture.Echo(await ReceiveTextAsync(ws));
            Assert.Equal("/ws/chat?room=1", hello["target"]);
            Assert.Equal("127.0.0.1", hello["xff"]);
            Assert.Equal("", hello["tokenid"]); // the link's headers stay at the edge
            await ws.SendAsync("ping through newt"u8.ToArray(), WebSocketMessageType.Text, endOfMessage: true, Ct);
            Assert.Equal("ping through newt", await ReceiveTextAsync(ws));
            var big = RandomNumberGenerator.GetBytes(200 * 1024);
            await ws.SendAsync(big, WebSocketMessageType.Binary, endOfMessage: true, Ct);
            Assert.Equal(big, await ReceiveAsync(ws, big.Length));
            await ws.CloseAsync(WebSocketCloseStatus.NormalClosure, "done", Ct);
            Assert.Equal(WebSocketCloseStatus.NormalClosure, ws.CloseStatus);
        }

        // Denied: without the link the upgrade is refused at the edge.
        using var refused = new ClientWebSocket();
        refused.Options.CollectHttpResponseDetails = true;
        await Assert.ThrowsAsync<WebSocketException>(() => refused.ConnectAsync(uri, invoker, Ct));
        Assert.Equal(HttpStatusCode.Found, refused.HttpStatusCode);
    }

    [Fact]
    public async Task Raw_tcp_and_udp_resources_reach_nginx_and_the_udp_echo_through_newt_and_stop_when_disabled()
    {
        var (tcp, tcpPort, udp, udpPort) = (net.Made.Tcp, net.Made.TcpPort, net.Made.Udp, net.Made.UdpPort);

        // TCP: an HTTP/1.0 exchange with nginx, byte stream through the proxy port.
        var watch = Stopwatch.StartNew();
        string answer;
        while (true)
        {
            answer = await TryTcpAsync(tcpPort, "GET /hello HTTP/1.0\r\nHost: raw\r\n\r\n");
            if (answer.Contains("hello from the private network", StringComparison.Ordinal))
            {
                break;
            }
            Assert.True(watch.Elapsed < Patience, $"no answer through the TCP port: '{answer}'\n{net.Diagnostics()}");
            await Task.Delay(100, Ct);
        }
        Assert.StartsWith("HTTP/1.1 200", answer, StringComparison.Ordinal);

        // UDP: datagrams both ways, reversed by the echo.
        using (var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            client.Connect(IPAddress.Loopback, udpPort);
            watch.Restart();
            for (var i = 0; ; i++)
            {
                var question = Encoding.ASCII.GetBytes($"question {i}");
                if (await TryUdpAsync(client, question, TimeSpan.FromSeconds(1)) is { } reply)
                {
                    Assert.Equal(question.Reverse().ToArray(), reply);
                    break;
                }
                Assert.True(watch.Elapsed < Patience, $"no UDP answer through the proxy port\n{net.Diagnostics()}");
            }
            for (var i = 0; i < 20; i++)
            {
                var payload = RandomNumberGenerator.GetBytes(1200);
                var reply = await TryUdpAsync(client, payload, TimeSpan.FromSeconds(5));
                Assert.NotNull(reply);
                Assert.Equal(payload.Reverse().ToArray(), reply);
            }
        }

        // Denied: disabled, the ports close; TCP is refused and UDP answered no more.
        (await net.Api.PostJsonAsync($"resource/{tcp}", new { enabled = false })).Expect(200);
        (await net.Api.PostJsonAsync($"resource/{udp}", new { enabled = false })).Expect(200);
        watch.Restart();
        while (true)
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await probe.ConnectAsync(new IPEndPoint(IPAddress.Loopback, tcpPort), Ct);
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
            {
                break;
            }
            catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
            {
                // caught in the backlog of the listener as it closed: probe again
            }
            Assert.True(watch.Elapsed < Patience, "the disabled TCP resource's port still accepts");
            await Task.Delay(100, Ct);
        }
        using (var client = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0)))
        {
            client.Connect(IPAddress.Loopback, udpPort);
            watch.Restart();
            // Answered until the port closes; then none of several datagrams is.
            while (await TryUdpAsync(client, "still there?"u8.ToArray(), TimeSpan.FromMilliseconds(500)) is not null)
            {
                Assert.True(watch.Elapsed < Patience, "the disabled UDP resource still answers");
            }
            for (var i = 0; i < 3; i++)
            {
                Assert.Null(await TryUdpAsync(client, "anyone?"u8.ToArray(), TimeSpan.FromMilliseconds(500)));
            }
        }
    }

    [Fact]
    public async Task Requests_through_newt_never_fail_while_another_resources_targets_and_paths_and_this_ones_rules_change()
    {
        var (steady, rule, moving) = (net.Made.Steady, net.Made.SteadyRule, net.Made.Moving);
        using (var probe = net.EdgeClient())
        {
            await UntilAsync(() => SendAsync(probe, Url("E7steady", "/steady")), r => r.Status == 200, "the steady resource is served");
            await UntilAsync(() => SendAsync(probe, Url("E7moving", "/steady")), r => r.Status == 200, "the moving resource is served");
            // The rule is live: what the load avoids is dropped.
            Assert.Equal(403, (await SendAsync(probe, Url("E7steady", "/blocked/x"))).Status);
        }

        using var load = new CancellationTokenSource(TimeSpan.FromSeconds(8));
        var failures = new System.Collections.Concurrent.ConcurrentQueue<string>();
        var served = 0;
        async Task LoopAsync(string name, string expectedBackend)
        {
            using var client = net.EdgeClient(); // pooled connections: they must survive the route changes
            for (var i = 0; !load.IsCancellationRequested; i++)
            {
                try
                {
                    var reply = await SendAsync(client, Url(name, $"/steady/{i}"));
                    if (reply.Status != 200 || reply.Echo.GetValueOrDefault("backend") != expectedBackend || reply.Echo.GetValueOrDefault("uri") != $"/steady/{i}")
                    {
                        failures.Enqueue($"{name} /steady/{i}: {reply.Status} {reply.Body}");
                    }
                    else
                    {
                        Interlocked.Increment(ref served);
                    }
                }
                catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException)
                {
                    failures.Enqueue($"{name} /steady/{i}: {e.GetType().Name} {e.Message}");
                }
            }
        }
        var loops = new[] { LoopAsync("E7steady", "web"), LoopAsync("E7moving", "other"), LoopAsync("E7steady", "web") };

        // Meanwhile, through the API: the moving resource gains, re-paths and loses targets; the steady one's rule changes.
        var changes = 0;
        while (!load.IsCancellationRequested)
        {
            var added = await net.CreateBackendTargetAsync(moving, WebPort, new Dictionary<string, object?> { ["path"] = "/moving", ["pathMatchType"] = "prefix" });
            (await net.Api.PostJsonAsync($"resource/{steady}/rule/{rule}", new { value = $"/blocked{changes}/*", priority = 10 + changes })).Expect(200);
            await Task.Delay(300, Ct);
            (await net.Api.PostJsonAsync($"target/{added}", new { path = "/moved", pathMatchType = "exact", rewritePath = "/renamed", rewritePathType = "exact" })).Expect(200);
            (await net.Api.PostJsonAsync($"resource/{steady}/rule/{rule}", new { enabled = changes % 2 == 0 })).Expect(200);
            await Task.Delay(300, Ct);
            (await net.Api.DeleteJsonAsync($"target/{added}")).Expect(200);
            var fresh = (await net.Api.PutJsonAsync($"resource/{moving}/target", new { siteId = net.SiteId, ip = EdgeNamespaceFixture.BackendAddress, port = WebPort, path = "/fresh", pathMatchType = "prefix" }))
                .Expect(201).Data.GetProperty("targetId").GetInt32();
            await Task.Delay(300, Ct);
            (await net.Api.DeleteJsonAsync($"target/{fresh}")).Expect(200);
            changes++;
        }
        await Task.WhenAll(loops);

        TestContext.Current.TestOutputHelper?.WriteLine($"{served} requests served during {changes} rounds of route and rule changes");
        Assert.True(failures.IsEmpty, $"{failures.Count} of {served + failures.Count} requests failed while routes changed:\n{string.Join('\n', failures.Take(10))}\n{net.Diagnostics()}");
        Assert.True(served >= 50, $"only {served} requests were made");
        Assert.True(changes >= 2, $"only {changes} rounds of changes were made");

        // The changes were real: a path target added now is served, and the last rule value drops.
        await net.CreateBackendTargetAsync(moving, WebPort, new Dictionary<string, object?> { ["path"] = "/moving", ["pathMatchType"] = "prefix" });
        (await net.Api.PostJsonAsync($"resource/{steady}/rule/{rule}", new { value = "/finally/*", enabled = true })).Expect(200);
        using var check = net.EdgeClient();
        await UntilAsync(() => SendAsync(check, Url("E7moving", "/moving/x")), r => r.Status == 200 && r.Echo["backend"] == "web", "the added path target is served");
        await UntilAsync(() => SendAsync(check, Url("E7steady", "/finally/x")), r => r.Status == 403, "the changed rule drops");
    }

    // ------------------------------------------------------------------ helpers

    private sealed record Reply(int Status, string Body, string? Location, IReadOnlyList<string> SetCookies, string Challenge, string Head = "")
    {
        public Dictionary<string, string> Echo => EdgeNamespaceFixture.Echo(Body);
    }

    private static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}"));

    private static async Task<Reply> SendAsync(HttpClient client, string url, HttpMethod? method = null, params (string Name, string Value)[] headers)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, url);
        foreach (var (name, value) in headers)
        {
            request.Headers.TryAddWithoutValidation(name, value);
        }
        if (request.Method == HttpMethod.Post)
        {
            request.Content = new StringContent("a=1");
        }
        using var response = await client.SendAsync(request, Ct);
        return new Reply((int)response.StatusCode, await response.Content.ReadAsStringAsync(Ct), response.Headers.Location?.OriginalString,
            response.Headers.TryGetValues("Set-Cookie", out var cookies) ? [.. cookies] : [], response.Headers.WwwAuthenticate.ToString());
    }

    /// <summary>Sends until <paramref name="done"/> holds (a change reaches the edge and the newt a moment after the API call).</summary>
    private async Task<Reply> UntilAsync(Func<Task<Reply>> send, Func<Reply, bool> done, string what)
    {
        var watch = Stopwatch.StartNew();
        var last = "nothing yet";
        while (true)
        {
            try
            {
                var reply = await send();
                if (done(reply))
                {
                    TestContext.Current.TestOutputHelper?.WriteLine($"{what}: {watch.ElapsedMilliseconds} ms");
                    return reply;
                }
                last = $"{reply.Status} {reply.Body}";
            }
            catch (Exception e) when (e is HttpRequestException or IOException or TaskCanceledException && !Ct.IsCancellationRequested)
            {
                last = e.Message;
            }
            Assert.True(watch.Elapsed < Patience, $"{what}: not within {Patience.TotalSeconds} s; last: {last}\n{net.Diagnostics()}");
            await Task.Delay(100, Ct);
        }
    }

    /// <summary>A GET written byte for byte (HttpClient would normalise the odd paths), read to the end of its head.</summary>
    private async Task<Reply> RawGetAsync(string host, string target, string extraHeaders = "")
    {
        await using var stream = await net.ConnectEdgeAsync("127.0.0.1", Ct);
        await stream.WriteAsync(Encoding.Latin1.GetBytes($"GET {target} HTTP/1.1\r\nHost: {host}\r\n{extraHeaders}Connection: close\r\n\r\n"), Ct);
        using var reader = new StreamReader(stream, Encoding.Latin1);
        var text = await reader.ReadToEndAsync(Ct).WaitAsync(TimeSpan.FromSeconds(15), Ct);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var head = end < 0 ? text : text[..end];
        var lines = head.Split("\r\n");
        var status = int.Parse(lines[0].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Where(p => p.Length == 2).Select(p => (Name: p[0].Trim(), Value: p[1].Trim())).ToList();
        string? Header(string name) => headers.Where(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase)).Select(h => h.Value).FirstOrDefault();
        return new Reply(status, end < 0 ? "" : text[(end + 4)..], Header("Location"),
            [.. headers.Where(h => h.Name.Equals("Set-Cookie", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value)], Header("WWW-Authenticate") ?? "", head);
    }

    /// <summary>A Location a browser would follow to this host only: path-absolute, and so after a WHATWG parser's clean-up.</summary>
    private static void AssertSameHost(string host, string? location, string? what = null)
    {
        Assert.False(string.IsNullOrEmpty(location), $"{what}: no Location");
        Assert.DoesNotContain(location, c => c < 0x21 || c == 0x7F);
        // Browsers read '\' as '/' in http URLs: "//" or "/\" at the start would name another host.
        Assert.True(location[0] == '/' && (location.Length == 1 || (location[1] != '/' && location[1] != '\\')), $"{what}: Location '{location}' is not path-absolute");
        Assert.Equal(host, new Uri(new Uri($"http://{host}/"), location.Replace('\\', '/')).Host);
    }

    private static async Task<string> TryTcpAsync(int port, string request)
    {
        using var client = new TcpClient();
        try
        {
            await client.ConnectAsync(IPAddress.Loopback, port, Ct);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(request), Ct);
            using var reader = new StreamReader(stream, Encoding.ASCII);
            return await reader.ReadToEndAsync(Ct).WaitAsync(TimeSpan.FromSeconds(10), Ct);
        }
        catch (Exception e) when (e is SocketException or IOException or TimeoutException)
        {
            return e.Message;
        }
    }

    /// <summary>Sends one datagram and waits for one answer; null when none comes in time (or the port is closed).</summary>
    private static async Task<byte[]?> TryUdpAsync(UdpClient client, byte[] datagram, TimeSpan wait)
    {
        await client.SendAsync(datagram, Ct);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(Ct);
        timeout.CancelAfter(wait);
        try
        {
            return (await client.ReceiveAsync(timeout.Token)).Buffer;
        }
        catch (OperationCanceledException) when (!Ct.IsCancellationRequested)
        {
            return null;
        }
        catch (SocketException e) when (e.SocketErrorCode is SocketError.ConnectionRefused or SocketError.ConnectionReset)
        {
            return null; // ICMP port unreachable: nothing listens (yet, or any more)
        }
    }

    private static async Task<string> ReceiveTextAsync(ClientWebSocket ws)
    {
        var bytes = await ReceiveAsync(ws, 64 * 1024);
        return Encoding.UTF8.GetString(bytes);
    }

    /// <summary>One whole message (up to <paramref name="max"/> bytes), however it was fragmented on the way.</summary>
    private static async Task<byte[]> ReceiveAsync(ClientWebSocket ws, int max)
    {
        var buffer = new byte[max];
        var count = 0;
        while (true)
        {
            var result = await ws.ReceiveAsync(buffer.AsMemory(count), Ct).AsTask().WaitAsync(TimeSpan.FromSeconds(15), Ct);
            count += result.Count;
            if (result.EndOfMessage)
            {
                return buffer[..count];
            }
            Assert.True(count < max, "the message is longer than expected");
        }
    }
}
