using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Edge;

/// <summary>
/// The edge inside the server: resources and targets made through the API are served on the edge's port by host
/// name, and changes made through the API take effect with no restart: typically 70–350 ms after the call here; the
/// assertions allow 15 s so that a loaded machine does not fail them (timing is the benchmark's job).
/// </summary>
public abstract class EdgeServerTests(DatabaseKind kind, PostgresServer postgres) : NewtTestBase(kind, postgres)
{
    protected override bool Kestrel => true;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task The_edge_reload_loops_stop_quietly_after_being_disposed()
    {
        // A host whose start fails (a port taken between the check and the bind) disposes its services, and the
        // stop that follows must not throw: it did, from the two reload loops' disposed cancellation sources.
        var loops = Factory.Services.GetServices<Microsoft.Extensions.Hosting.IHostedService>()
            .Where(s => s.GetType().Name is "DatabaseEdgeConfigSource" or "DatabaseCertificateSource").ToList();
        Assert.Equal(2, loops.Select(l => l.GetType()).Distinct().Count());
        foreach (var loop in loops)
        {
            ((IDisposable)loop).Dispose();
            await loop.StopAsync(Ct);
        }
    }

    [Fact]
    public async Task A_resource_made_through_the_api_is_served_by_host_on_the_edge_port_and_follows_target_changes()
    {
        await using var one = await Backend.StartAsync("one");
        await using var two = await Backend.StartAsync("two");
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = await CreateResourceAsync("App");
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false })).Expect(200);
        var (first, _) = await CreateTargetAsync(resource, site, "127.0.0.1", one.Port);
        using var client = EdgeClient();

        Assert.Equal("one", await AnswersAsync(client, "app.example.test", "one"));

        // A second target: requests are shared; the first removed: all go to the second.
        await CreateTargetAsync(resource, site, "127.0.0.1", two.Port);
        await AnswersAsync(client, "app.example.test", "two");
        (await Admin.DeleteJsonAsync($"target/{first}")).Expect(200);
        await Eventually(async () =>
        {
            for (var i = 0; i < 4; i++)
            {
                if (await GetAsync(client, "app.example.test") != "two")
                {
                    return false;
                }
            }
            return true;
        });

        // Protected again: the edge sends browsers to the sign-in page rather than serve it open.
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = true })).Expect(200);
        await Eventually(async () => (await SendAsync(client, "app.example.test")).StatusCode == HttpStatusCode.Found);

        // Other hosts are the control plane's: the API answers on the edge port only where it is served.
        using var dashboard = await SendAsync(client, "localhost", "/api/v1/");
        Assert.NotEqual(HttpStatusCode.BadGateway, dashboard.StatusCode);
    }

    [Fact]
    public async Task A_deleted_resource_stops_being_served()
    {
        await using var one = await Backend.StartAsync("one");
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = await CreateResourceAsync("Gone");
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false })).Expect(200);
        await CreateTargetAsync(resource, site, "127.0.0.1", one.Port);
        using var client = EdgeClient();
        await AnswersAsync(client, "gone.example.test", "one");

        (await Admin.DeleteJsonAsync($"resource/{resource}")).Expect(200);

        await Eventually(async () => (await SendAsync(client, "gone.example.test")).StatusCode != HttpStatusCode.OK);
    }

    [Fact]
    public async Task Rules_made_through_the_api_refuse_and_admit_requests_at_the_edge()
    {
        await using var one = await Backend.StartAsync("one");
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = await CreateResourceAsync("Ruled");
        await CreateTargetAsync(resource, site, "127.0.0.1", one.Port);
        (await Admin.PostJsonAsync($"resource/{resource}", new { applyRules = true })).Expect(200);
        (await Admin.PutJsonAsync($"resource/{resource}/rule", new { action = "ACCEPT", match = "PATH", value = "/open/*", priority = 1 })).Expect(201);
        (await Admin.PutJsonAsync($"resource/{resource}/rule", new { action = "DROP", match = "CIDR", value = "127.0.0.0/8", priority = 2 })).Expect(201);
        using var client = EdgeClient();

        // SSO is on and nobody signed in: only the ACCEPT rule's paths get through; the DROP refuses the rest.
        Assert.Equal("one", await AnswersAsync(client, "ruled.example.test", "one", "/open/page"));
        await Eventually(async () => (await SendAsync(client, "ruled.example.test", "/closed")).StatusCode == HttpStatusCode.Forbidden);
        Assert.Equal("one", await GetAsync(client, "ruled.example.test", "/open/again"));
    }

    [Fact]
    public async Task A_raw_tcp_resource_opens_its_port_when_made_and_closes_it_when_deleted()
    {
        using var echo = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        echo.Start();
        var echoing = Task.Run(async () =>
        {
            while (true)
            {
                var accepted = await echo.AcceptTcpClientAsync(Ct);
                _ = Task.Run(async () =>
                {
                    using (accepted)
                    {
                        await accepted.GetStream().CopyToAsync(accepted.GetStream(), Ct);
                    }
                }, Ct);
            }
        }, Ct);
        var proxyPort = SmtpTestServer.FreePort();
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = (await Admin.PutJsonAsync("org/acme/resource", new { name = "Raw", http = false, protocol = "tcp", proxyPort }))
            .Expect(201).Data.GetProperty("resourceId").GetInt32();
        await CreateTargetAsync(resource, site, "127.0.0.1", ((IPEndPoint)echo.LocalEndpoint).Port);

        var watch = Stopwatch.StartNew();
        while (true)
        {
            using var client = new System.Net.Sockets.TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, proxyPort, Ct);
                var stream = client.GetStream();
                await stream.WriteAsync("ping through the edge"u8.ToArray(), Ct);
                client.Client.Shutdown(System.Net.Sockets.SocketShutdown.Send);
                var reply = new MemoryStream();
                await stream.CopyToAsync(reply, Ct);
                var text = System.Text.Encoding.UTF8.GetString(reply.ToArray());
                if (text == "ping through the edge")
                {
                    break;
                }
                Assert.True(text.Length == 0 && watch.Elapsed < Patience, $"the echo through the edge answered '{text}'");
                await Task.Delay(20, Ct);
            }
            catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException && watch.Elapsed < Patience)
            {
                // The port opens when the resource is made; until its target is known too, the edge closes connections.
                await Task.Delay(20, Ct);
            }
        }

        (await Admin.DeleteJsonAsync($"resource/{resource}")).Expect(200);
        await Eventually(async () =>
        {
            using var client = new System.Net.Sockets.TcpClient();
            try
            {
                await client.ConnectAsync(IPAddress.Loopback, proxyPort, Ct);
                return false;
            }
            catch (System.Net.Sockets.SocketException)
            {
                return true;
            }
        });
    }

    [Fact]
    public async Task Http_basic_credentials_admit_and_wrong_ones_are_refused_then_rate_limited()
    {
        await using var one = await Backend.StartAsync("one");
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = await CreateResourceAsync("Basic");
        await CreateTargetAsync(resource, site, "127.0.0.1", one.Port);
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false })).Expect(200);
        (await Admin.PostJsonAsync($"resource/{resource}/header-auth", new { user = "alice", password = "correct horse", extendedCompatibility = true })).Expect(201);
        using var client = EdgeClient();
        static string Basic(string user, string password) => "Basic " + Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"{user}:{password}"));

        // Extended compatibility: no credentials get the browser's prompt.
        await Eventually(async () => (await SendAsync(client, "basic.example.test")).Headers.WwwAuthenticate.ToString() == "Basic realm=\"pangolin\"");
        Assert.Equal("one", await GetWithAsync(client, "basic.example.test", Basic("alice", "correct horse")));
        Assert.Equal("one", await GetWithAsync(client, "basic.example.test", Basic("alice", "correct horse")));
        Assert.Equal("HTTP 401", await GetWithAsync(client, "basic.example.test", Basic("alice", "wrong")));

        // Guessing is limited per address (RateLimits:Secrets, 15 per 15 minutes): then even the right one waits.
        for (var i = 0; i < 14; i++)
        {
            await GetWithAsync(client, "basic.example.test", Basic("alice", $"guess {i}"));
        }
        Assert.Equal("HTTP 429", await GetWithAsync(client, "basic.example.test", Basic("alice", "guess 15")));
        Assert.Equal("HTTP 429", await GetWithAsync(client, "basic.example.test", Basic("bob", "other")));
    }

    [Fact]
    public async Task A_share_link_signs_its_bearer_in_to_its_resource_only_and_deleting_it_ends_the_session()
    {
        await using var one = await Backend.StartAsync("one");
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var shared = await CreateResourceAsync("Shared");
        var other = await CreateResourceAsync("Other");
        await CreateTargetAsync(shared, site, "127.0.0.1", one.Port);
        await CreateTargetAsync(other, site, "127.0.0.1", one.Port);
        var link = (await Admin.PostJsonAsync($"resource/{shared}/access-token", new { title = "for Bob" })).Expect(201).Data;
        var tokenId = link.GetProperty("accessTokenId").GetString()!;
        var secret = link.GetProperty("accessToken").GetString()!;
        // The link to hand out: the resource's address with a path, then the token parameter.
        Assert.Equal($"https://shared.example.test/?p_token={tokenId}.{secret}", link.GetProperty("url").GetString());
        using var client = EdgeClient();
        await Eventually(async () => (await SendAsync(client, "shared.example.test")).StatusCode == HttpStatusCode.Found);
        await Eventually(async () => (await SendAsync(client, "other.example.test")).StatusCode == HttpStatusCode.Found);

        // The link: a session cookie for this host, and the same address without the token.
        using var redeemed = await SendAsync(client, "shared.example.test", $"/docs/page?x=1&p_token={tokenId}.{secret}");
        Assert.Equal(HttpStatusCode.Found, redeemed.StatusCode);
        Assert.Equal("/docs/page?x=1", redeemed.Headers.Location!.OriginalString);
        var setCookie = redeemed.Headers.GetValues("Set-Cookie").Single();
        // The resource is SSL (the default): upstream's name for its cookie, and Secure.
        Assert.StartsWith("p_session_token_s=", setCookie, StringComparison.Ordinal);
        Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("secure", setCookie, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("domain=", setCookie, StringComparison.OrdinalIgnoreCase);
        var cookie = setCookie.Split(';')[0];
        Assert.Equal("one", await GetWithCookieAsync(client, "shared.example.test", cookie));

        // Not the other resource's, and not a forged one: those go to the sign-in page.
        Assert.Equal("HTTP 302", await GetWithCookieAsync(client, "other.example.test", cookie));
        Assert.Equal("HTTP 302", await GetWithCookieAsync(client, "shared.example.test", "p_session_token_s=forged"));
        using var wrong = await SendAsync(client, "shared.example.test", $"/?p_token={tokenId}.wrong");
        Assert.Equal(HttpStatusCode.Found, wrong.StatusCode);
        Assert.DoesNotContain("p_token", wrong.Headers.Location!.OriginalString, StringComparison.Ordinal); // the way back drops the token

        // Programs send the link in headers.
        using (var request = new HttpRequestMessage(HttpMethod.Get, "/"))
        {
            request.Headers.Host = "shared.example.test";
            request.Headers.Add("P-Access-Token-Id", tokenId);
            request.Headers.Add("P-Access-Token", secret);
            using var response = await client.SendAsync(request, Ct);
            Assert.Equal("one", await response.Content.ReadAsStringAsync(Ct));
        }

        // Deleting the link ends what it opened, once the session check's 5 s memory has passed.
        (await Admin.DeleteJsonAsync($"access-token/{tokenId}")).Expect(200);
        Factory.Clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal("HTTP 302", await GetWithCookieAsync(client, "shared.example.test", cookie));
    }

    [Fact]
    public async Task Every_access_decision_lands_in_the_request_log_and_the_api_filters_it()
    {
        await using var one = await Backend.StartAsync("one");
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var open = await CreateResourceAsync("Logged");
        await CreateTargetAsync(open, site, "127.0.0.1", one.Port);
        (await Admin.PostJsonAsync($"resource/{open}", new { sso = false, applyRules = true })).Expect(200);
        (await Admin.PutJsonAsync($"resource/{open}/rule", new { action = "DROP", match = "PATH", value = "/secret/*", priority = 1 })).Expect(201);
        var closed = await CreateResourceAsync("Shut");
        await CreateTargetAsync(closed, site, "127.0.0.1", one.Port);
        // An entry past the retention period (7 days): the writer's hourly sweep removes it with its first batch.
        var old = await DbAsync(async db =>
        {
            var row = new Pangolin.Data.Entities.RequestAuditLog { OrgId = "acme", ResourceId = open, Timestamp = Factory.Clock.GetUtcNow().UtcDateTime.AddDays(-8), Path = "/old" };
            db.RequestAuditLogs.Add(row);
            await db.SaveChangesAsync(Ct);
            return row.Id;
        });
        using var client = EdgeClient();
        await Eventually(async () => (await SendAsync(client, "logged.example.test", "/secret/x")).StatusCode == HttpStatusCode.Forbidden);
        await Eventually(async () => (await SendAsync(client, "shut.example.test")).StatusCode == HttpStatusCode.Found);

        using (var request = new HttpRequestMessage(HttpMethod.Get, "/page?a=1&p_token=abc.secret"))
        {
            request.Headers.Host = "logged.example.test";
            request.Headers.UserAgent.ParseAdd("log-test/1.0");
            (await client.SendAsync(request, Ct)).Dispose();
        }

        System.Text.Json.JsonElement[] entries = [];
        await Eventually(async () =>
        {
            var log = (await Admin.GetJsonAsync($"org/acme/logs/request?resourceId={open}&action=true")).Expect(200).Data.GetProperty("log");
            entries = [.. log.EnumerateArray()];
            return entries.Any(e => e.GetProperty("path").GetString() == "/page");
        });
        var page = entries.First(e => e.GetProperty("path").GetString() == "/page");
        Assert.Equal(101, page.GetProperty("reason").GetInt32()); // allowed, no sign-in needed
        Assert.Equal("127.0.0.1", page.GetProperty("ip").GetString());
        Assert.Equal("logged.example.test", page.GetProperty("host").GetString());
        Assert.Equal("GET", page.GetProperty("method").GetString());
        Assert.Equal("log-test/1.0", page.GetProperty("userAgent").GetString());
        Assert.Equal("?a=1", page.GetProperty("query").GetString()); // the share-link token is never stored

        await Eventually(async () =>
        {
            var denied = (await Admin.GetJsonAsync($"org/acme/logs/request?action=false&reason=203")).Expect(200).Data.GetProperty("log");
            return denied.EnumerateArray().Any(e => e.GetProperty("path").GetString() == "/secret/x" && e.GetProperty("resourceId").GetInt32() == open);
        });
        await Eventually(async () =>
        {
            var denied = (await Admin.GetJsonAsync($"org/acme/logs/request?resourceId={closed}")).Expect(200).Data.GetProperty("log");
            return denied.EnumerateArray().Any(e => !e.GetProperty("action").GetBoolean() && e.GetProperty("reason").GetInt32() == 204);
        });
        var none = (await Admin.GetJsonAsync($"org/acme/logs/request?host=nowhere.example.test")).Expect(200).Data.GetProperty("log");
        Assert.Equal(0, none.GetArrayLength());
        Assert.False(await DbAsync(db => db.RequestAuditLogs.AnyAsync(l => l.Id == old, Ct)));
    }

    /// <summary>A client of the edge port that shows redirects instead of following them and keeps no cookies.</summary>
    private HttpClient EdgeClient() => new(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false })
    {
        BaseAddress = new Uri($"http://127.0.0.1:{Factory.EdgePort}"),
    };

    private static async Task<string> GetWithAsync(HttpClient client, string host, string authorization)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Host = host;
        request.Headers.TryAddWithoutValidation("Authorization", authorization);
        using var response = await client.SendAsync(request, Ct);
        return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync(Ct) : $"HTTP {(int)response.StatusCode}";
    }

    private static async Task<string> GetWithCookieAsync(HttpClient client, string host, string cookie)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/");
        request.Headers.Host = host;
        request.Headers.TryAddWithoutValidation("Cookie", cookie);
        using var response = await client.SendAsync(request, Ct);
        return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync(Ct) : $"HTTP {(int)response.StatusCode}";
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string host, string path = "/")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = host;
        return await client.SendAsync(request, Ct);
    }

    private static async Task<string> GetAsync(HttpClient client, string host, string path = "/")
    {
        using var response = await SendAsync(client, host, path);
        return response.StatusCode == HttpStatusCode.OK ? await response.Content.ReadAsStringAsync(Ct) : $"HTTP {(int)response.StatusCode}";
    }

    /// <summary>Polls until the host answers with this backend.</summary>
    private static async Task<string> AnswersAsync(HttpClient client, string host, string backend, string path = "/")
    {
        var watch = Stopwatch.StartNew();
        string last;
        while ((last = await GetAsync(client, host, path)) != backend)
        {
            Assert.True(watch.Elapsed < Patience, $"{host} still answered '{last}' after {watch.ElapsedMilliseconds} ms");
            await Task.Delay(10, Ct);
        }
        return last;
    }

    private static async Task Eventually(Func<Task<bool>> condition)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            Assert.True(watch.Elapsed < Patience, $"the change did not take effect within {Patience.TotalSeconds} s");
            await Task.Delay(10, Ct);
        }
    }

    /// <summary>A backend on loopback that answers every request with its name.</summary>
    private sealed class Backend : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private Backend(WebApplication app) => _app = app;

        public int Port => new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

        public static async Task<Backend> StartAsync(string name)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            app.Run(context => context.Response.WriteAsync(name));
            await app.StartAsync();
            return new Backend(app);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}

public sealed class EdgeChangeSignalTests
{
    [Theory]
    [InlineData("INSERT INTO \"targets\" (\"ip\") VALUES (@p0)", "targets", true)]
    [InlineData("INSERT INTO targets (ip) VALUES ($1)", "targets", true)]
    [InlineData("UPDATE sites AS s SET online = TRUE", "sites", true)]
    [InlineData("DELETE FROM role_sites WHERE site_id = 1", "sites", false)]
    [InlineData("UPDATE user_sites SET x = 1", "sites", false)]
    [InlineData("UPDATE sitesx SET x = 1", "sites", false)]
    [InlineData("UPDATE \"sites\"\nSET x = 1", "sites", true)]
    public void A_table_counts_only_under_its_own_name_quoted_or_not(string sql, string table, bool expected) =>
        Assert.Equal(expected, Pangolin.Server.Edge.EdgeChangeSignal.ContainsIdentifier(sql, table));
}

public sealed class SqliteEdgeServerTests(PostgresServer postgres) : EdgeServerTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresEdgeServerTests(PostgresServer postgres) : EdgeServerTests(DatabaseKind.Postgres, postgres);
