using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using System.Security.Cryptography;
using System.Text;
using Microsoft.AspNetCore.Hosting;
using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.EndToEnd;

/// <summary>
/// One deployment shared by <see cref="EdgeNamespaceTests"/>: the server (this process, its exit node's UDP socket in
/// the server's namespace, its edge on loopback), a newt site whose real newt executable runs as nobody in the site's
/// namespace, and the site's private network behind it with nginx (which echoes what it received), a UDP echo and a
/// WebSocket echo, all reachable from the site's namespace only. Each test makes its own resources through the API.
/// </summary>
public sealed class EdgeNamespaceFixture(PostgresServer postgres) : NewtTestBase(DatabaseKind.Sqlite, postgres)
{
    public const string BackendAddress = SiteNetwork.BackendAddress;

    /// <summary>nginx: <c>/hello</c> a fixed line, anything else a line of what it received (<see cref="Echo"/>).</summary>
    public const int WebPort = 8080;

    /// <summary>nginx: a second backend that names itself and the URI it received.</summary>
    public const int OtherWebPort = 8081;

    /// <summary>A WebSocket echo that first says what request it was upgraded from.</summary>
    public const int WebSocketPort = 8082;

    /// <summary>A UDP echo that answers every datagram reversed.</summary>
    public const int UdpEchoPort = 9999;

    private static readonly TimeSpan Within = TimeSpan.FromSeconds(60);

    private SiteNetwork _net = null!;
    private bool _disposed;

    protected override bool Kestrel => true;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        // Where the newt dials the exit node: the server's address on the site-facing link.
        ["Gerbil:BaseEndpoint"] = SiteNetwork.ServerAddress,
    };

    public HttpClient Api => Admin;

    public int SiteId { get; private set; }

    public NewtProcess Newt { get; private set; } = null!;

    /// <summary>The edge's plain-HTTP port on 127.0.0.1.</summary>
    public int EdgePort => Factory.EdgePort;

    /// <summary>The resources the tests use (one or two each), made through the API while the fixture starts.</summary>
    public Arrangement Made { get; private set; } = null!;

    public sealed record Link(string Id, string Secret);

    public sealed class Arrangement
    {
        public required int Open { get; init; }
        public required int PathOnly { get; init; }
        public required int Basic { get; init; }
        public required int Share { get; init; }
        public required Link ShareLink { get; init; }
        public required int Rules { get; init; }
        public required Link RulesLink { get; init; }
        public required int RulesSecretDrop { get; init; }
        public required int Xff { get; init; }
        public required int CookieA { get; init; }
        public required Link CookieALink { get; init; }
        public required int CookieB { get; init; }
        public required Link CookieBLink { get; init; }
        public required int Redirect { get; init; }
        public required Link RedirectLink { get; init; }
        public required int WebSocket { get; init; }
        public required Link WebSocketLink { get; init; }
        public required int Tcp { get; init; }
        public required int TcpPort { get; init; }
        public required int Udp { get; init; }
        public required int UdpPort { get; init; }
        public required int Steady { get; init; }
        public required int SteadyRule { get; init; }
        public required int Moving { get; init; }
    }

    /// <summary>
    /// Every test's resources, made at once: a change reaches the edge through a reload of the routes (a few hundred
    /// milliseconds, several seconds on a busy 2-core machine) and the newt's new listener; paid for once here
    /// instead of once per test. Each test then uses its own resources only.
    /// </summary>
    private async Task<Arrangement> ArrangeAsync()
    {
        // Open, with a path-prefix target rewritten /api → /v2, a catch-all target, and a Host override.
        var open = await CreateHttpResourceAsync("E7open", new { sso = false, setHostHeader = "backend.internal.test" });
        await CreateBackendTargetAsync(open, WebPort, new Dictionary<string, object?>
        {
            ["path"] = "/api", ["pathMatchType"] = "prefix", ["rewritePath"] = "/v2", ["rewritePathType"] = "prefix",
        });
        await CreateBackendTargetAsync(open, OtherWebPort);
        // Open, served under /app only.
        var pathOnly = await CreateHttpResourceAsync("E7pathonly", new { sso = false });
        await CreateBackendTargetAsync(pathOnly, WebPort, new Dictionary<string, object?> { ["path"] = "/app", ["pathMatchType"] = "prefix" });

        // HTTP Basic as the only method.
        var basic = await CreateHttpResourceAsync("E7basic", new { sso = false });
        (await Admin.PostJsonAsync($"resource/{basic}/header-auth", new { user = "alice", password = "correct horse", extendedCompatibility = false })).Expect(201);
        await CreateBackendTargetAsync(basic, WebPort);

        // Share links (the resources keep SSO on: nobody can sign in here, so only the link opens them).
        var share = await CreateHttpResourceAsync("E7share");
        var shareLink = await ShareLinkAsync(share);
        await CreateBackendTargetAsync(share, WebPort);

        // Rules in priority order; the lowest number is tried first.
        var rules = await CreateHttpResourceAsync("E7rules", new { applyRules = true });
        var rulesLink = await ShareLinkAsync(rules);
        await RuleAsync(rules, "PASS", "IP", "127.0.0.3", 1);
        var secretDrop = await RuleAsync(rules, "DROP", "PATH", "/public/secret/*", 2);
        await RuleAsync(rules, "ACCEPT", "PATH", "/public/*", 3);
        await RuleAsync(rules, "ACCEPT", "IP", "127.0.0.2", 4);
        await RuleAsync(rules, "DROP", "CIDR", "127.0.0.8/29", 5);
        await RuleAsync(rules, "ACCEPT", "PATH", "/api/*", 6, method: "GET");
        await RuleAsync(rules, "DROP", "PATH", "/api/*", 7, method: "DELETE");
        await CreateBackendTargetAsync(rules, WebPort);

        // Open, with DROP rules for an address a client may claim and one it may have.
        var xff = await CreateHttpResourceAsync("E7xff", new { sso = false, applyRules = true });
        await RuleAsync(xff, "DROP", "IP", "203.0.113.7", 1);
        await RuleAsync(xff, "DROP", "IP", "127.0.0.4", 2);
        await CreateBackendTargetAsync(xff, WebPort);

        var cookieA = await CreateHttpResourceAsync("E7cookiea");
        var cookieALink = await ShareLinkAsync(cookieA);
        await CreateBackendTargetAsync(cookieA, WebPort);
        var cookieB = await CreateHttpResourceAsync("E7cookieb");
        var cookieBLink = await ShareLinkAsync(cookieB);
        await CreateBackendTargetAsync(cookieB, WebPort);

        var redirect = await CreateHttpResourceAsync("E7redirect");
        var redirectLink = await ShareLinkAsync(redirect);
        await CreateBackendTargetAsync(redirect, WebPort);

        var webSocket = await CreateHttpResourceAsync("E7ws");
        var webSocketLink = await ShareLinkAsync(webSocket);
        await CreateBackendTargetAsync(webSocket, WebSocketPort);

        var (tcp, tcpPort) = await CreateRawResourceAsync("E7tcp", "tcp");
        await CreateBackendTargetAsync(tcp, WebPort);
        var (udp, udpPort) = await CreateRawResourceAsync("E7udp", "udp");
        await CreateBackendTargetAsync(udp, UdpEchoPort);

        // Under load: the steady one (with a rule that its requests never match) and the one whose targets move.
        var steady = await CreateHttpResourceAsync("E7steady", new { sso = false, applyRules = true });
        var steadyRule = await RuleAsync(steady, "DROP", "PATH", "/blocked/*", 10);
        await CreateBackendTargetAsync(steady, WebPort);
        var moving = await CreateHttpResourceAsync("E7moving", new { sso = false });
        await CreateBackendTargetAsync(moving, OtherWebPort);

        return new Arrangement
        {
            Open = open, PathOnly = pathOnly, Basic = basic, Share = share, ShareLink = shareLink, Rules = rules, RulesLink = rulesLink, RulesSecretDrop = secretDrop,
            Xff = xff, CookieA = cookieA, CookieALink = cookieALink, CookieB = cookieB, CookieBLink = cookieBLink,
            Redirect = redirect, RedirectLink = redirectLink, WebSocket = webSocket, WebSocketLink = webSocketLink,
            Tcp = tcp, TcpPort = tcpPort, Udp = udp, UdpPort = udpPort, Steady = steady, SteadyRule = steadyRule, Moving = moving,
        };
    }

    public async Task<Link> ShareLinkAsync(int resourceId)
    {
        var link = (await Admin.PostJsonAsync($"resource/{resourceId}/access-token", new { title = "E7" })).Expect(201).Data;
        return new Link(link.GetProperty("accessTokenId").GetString()!, link.GetProperty("accessToken").GetString()!);
    }

    public async Task<int> RuleAsync(int resourceId, string action, string match, string value, int priority, string? method = null) =>
        (await Admin.PutJsonAsync($"resource/{resourceId}/rule", new { action, match, value, priority, method })).Expect(201).Data.GetProperty("ruleId").GetInt32();

    public override async ValueTask InitializeAsync()
    {
        _net = SiteNetwork.Create("edge-netns");
        try
        {
            await StartBackendsAsync();
            await base.InitializeAsync();
            _net.StartPublicRelay(Factory.ExternalPort);
            var site = await CreateNewtSiteAsync();
            SiteId = site.SiteId;
            Newt = _net.StartNewt(["--id", site.NewtId, "--secret", site.Secret, "--endpoint", SiteNetwork.ServerEndpoint(Factory.ExternalPort).ToString(),
                "--log-level", "INFO", "--ping-interval", "1s", "--ping-timeout", "2s"]);
            await EventuallyAsync(async () => (await PresenceAsync(site.SiteId)).Online, "the site is online");
            Made = await ArrangeAsync();
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

    // ------------------------------------------------------------------ what the tests use

    /// <summary>An HTTP resource <c>{name}.example.test</c>, with <paramref name="update"/> applied (sso, headers, ...).</summary>
    public async Task<int> CreateHttpResourceAsync(string name, object? update = null)
    {
        var resource = await CreateResourceAsync(name);
        if (update is not null)
        {
            (await Admin.PostJsonAsync($"resource/{resource}", update)).Expect(200);
        }
        return resource;
    }

    /// <summary>A raw TCP or UDP resource on a free proxy port (on 127.0.0.1).</summary>
    public async Task<(int ResourceId, int ProxyPort)> CreateRawResourceAsync(string name, string protocol)
    {
        var proxyPort = protocol == "udp" ? FreeUdpPort() : SmtpTestServer.FreePort();
        var resource = (await Admin.PutJsonAsync("org/acme/resource", new { name, http = false, protocol, proxyPort })).Expect(201).Data.GetProperty("resourceId").GetInt32();
        return (resource, proxyPort);
    }

    /// <summary>A target on the newt site at the backend's address; <paramref name="extra"/> adds path settings.</summary>
    public async Task<int> CreateBackendTargetAsync(int resourceId, int port, IDictionary<string, object?>? extra = null)
    {
        var body = new Dictionary<string, object?> { ["siteId"] = SiteId, ["ip"] = BackendAddress, ["port"] = port };
        foreach (var (key, value) in extra ?? new Dictionary<string, object?>())
        {
            body[key] = value;
        }
        var (targetId, _) = await CreateTargetAsync(resourceId, SiteId, BackendAddress, port, body);
        return targetId;
    }

    /// <summary>
    /// A client whose every connection goes to the edge port (from <paramref name="from"/>, any 127/8 address), so
    /// requests carry the resource's host name as theirs. No cookies, no redirects followed.
    /// </summary>
    public HttpClient EdgeClient(string from = "127.0.0.1") => new(EdgeHandler(from)) { Timeout = TimeSpan.FromSeconds(15) };

    public SocketsHttpHandler EdgeHandler(string from = "127.0.0.1") => new()
    {
        UseCookies = false,
        AllowAutoRedirect = false,
        ConnectCallback = async (_, ct) => await ConnectEdgeAsync(from, ct),
    };

    /// <summary>A TCP connection to the edge port from a chosen loopback address.</summary>
    public async Task<Stream> ConnectEdgeAsync(string from, CancellationToken ct)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, EdgePort), ct);
            return new NetworkStream(socket, ownsSocket: true);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>nginx's echo line as key → value: backend, uri, host, xff, xri, fwd, token, tokenid, cookie, method.</summary>
    public static Dictionary<string, string> Echo(string body) =>
        body.TrimEnd('\n').Split('|').Select(part => part.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv.Length > 1 ? kv[1] : "", StringComparer.Ordinal);

    /// <summary>The last lines of the newt's output and the server's edge log, for a failure message.</summary>
    public string Diagnostics() =>
        $"newt:\n{Newt.Tail(20)}\nserver:\n{string.Join('\n', Factory.Logs.Where(l => l.Contains("Edge", StringComparison.Ordinal) || l.Contains("Yarp", StringComparison.Ordinal)).TakeLast(30))}";

    private static int FreeUdpPort()
    {
        using var probe = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.Client.LocalEndPoint!).Port;
    }

    // ------------------------------------------------------------------ the private network's services

    private async Task StartBackendsAsync()
    {
        // '|'-separated key=value pairs: what the request that reached nginx carried (Echo parses it).
        const string echo = "backend=web|uri=$request_uri|host=$http_host|xff=$http_x_forwarded_for|xri=$http_x_real_ip|fwd=$http_forwarded"
            + "|token=$http_p_access_token|tokenid=$http_p_access_token_id|cookie=$http_cookie|method=$request_method\\n";
        await _net.StartNginxAsync($$"""
                server {
                    listen {{BackendAddress}}:{{WebPort}};
                    location = /hello { return 200 "hello from the private network\n"; }
                    location / { return 200 "{{echo}}"; }
                }
                server {
                    listen {{BackendAddress}}:{{OtherWebPort}};
                    location / { return 200 "backend=other|uri=$request_uri|host=$http_host\n"; }
                }
            """, WebPort, _net.Stopping);
        _net.StartUdpEcho(UdpEchoPort);
        _net.ServeInLan(WebSocketPort, EchoWebSocketAsync);
    }

    /// <summary>
    /// RFC 6455 §4.2: reads the upgrade request, answers 101 with Sec-WebSocket-Accept, then sends one text message
    /// describing the request (<c>target=...|xff=...|tokenid=...</c>) and echoes every message back as it came.
    /// </summary>
    private async Task EchoWebSocketAsync(Socket client)
    {
        await using var stream = new NetworkStream(client, ownsSocket: true);
        var head = new List<byte>();
        var one = new byte[1];
        while (head.Count < 16 * 1024 && !(head.Count >= 4 && head[^4] == '\r' && head[^3] == '\n' && head[^2] == '\r' && head[^1] == '\n'))
        {
            if (await stream.ReadAsync(one, _net.Stopping) == 0)
            {
                return;
            }
            head.Add(one[0]);
        }
        var lines = Encoding.ASCII.GetString([.. head]).Split("\r\n", StringSplitOptions.RemoveEmptyEntries);
        var headers = lines.Skip(1).Select(l => l.Split(':', 2)).Where(p => p.Length == 2)
            .GroupBy(p => p[0].Trim(), StringComparer.OrdinalIgnoreCase).ToDictionary(g => g.Key, g => string.Join(",", g.Select(p => p[1].Trim())), StringComparer.OrdinalIgnoreCase);
        if (!headers.TryGetValue("Sec-WebSocket-Key", out var key))
        {
            await stream.WriteAsync("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"u8.ToArray(), _net.Stopping);
            return;
        }
#pragma warning disable CA5350 // RFC 6455 §4.2.2 defines Sec-WebSocket-Accept with SHA-1
        var accept = Convert.ToBase64String(SHA1.HashData(Encoding.ASCII.GetBytes(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11")));
#pragma warning restore CA5350
        await stream.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"), _net.Stopping);
        using var socket = WebSocket.CreateFromStream(stream, new WebSocketCreationOptions { IsServer = true, KeepAliveInterval = TimeSpan.Zero });
        var target = lines[0].Split(' ') is { Length: 3 } requestLine ? requestLine[1] : "?";
        var hello = $"target={target}|xff={headers.GetValueOrDefault("X-Forwarded-For")}|tokenid={headers.GetValueOrDefault("P-Access-Token-Id")}";
        await socket.SendAsync(Encoding.UTF8.GetBytes(hello), WebSocketMessageType.Text, endOfMessage: true, _net.Stopping);
        var buffer = new byte[16 * 1024];
        while (true)
        {
            var received = await socket.ReceiveAsync(buffer.AsMemory(), _net.Stopping);
            if (received.MessageType == WebSocketMessageType.Close)
            {
                await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "bye", _net.Stopping);
                return;
            }
            await socket.SendAsync(buffer.AsMemory(0, received.Count), received.MessageType, received.EndOfMessage, _net.Stopping);
        }
    }
}
