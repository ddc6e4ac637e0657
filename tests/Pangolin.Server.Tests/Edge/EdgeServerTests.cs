using System.Diagnostics;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Edge;

/// <summary>
/// The edge inside the server: resources and targets made through the API are served on the edge's port by host
/// name, and changes made through the API take effect with no restart: typically 70–350 ms after the call here; the
/// assertions allow 5 s so that a loaded CI machine does not fail them (timing is the benchmark's job).
/// </summary>
public abstract class EdgeServerTests(DatabaseKind kind, PostgresServer postgres) : NewtTestBase(kind, postgres)
{
    protected override bool Kestrel => true;

    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(5);

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task A_resource_made_through_the_api_is_served_by_host_on_the_edge_port_and_follows_target_changes()
    {
        await using var one = await Backend.StartAsync("one");
        await using var two = await Backend.StartAsync("two");
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = await CreateResourceAsync("App");
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false })).Expect(200);
        var (first, _) = await CreateTargetAsync(resource, site, "127.0.0.1", one.Port);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Factory.EdgePort}") };

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

        // Protected again: the edge refuses rather than serve it open.
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = true })).Expect(200);
        await Eventually(async () => (await SendAsync(client, "app.example.test")).StatusCode == HttpStatusCode.Unauthorized);

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
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Factory.EdgePort}") };
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
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Factory.EdgePort}") };

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
                Assert.Equal("ping through the edge", System.Text.Encoding.UTF8.GetString(reply.ToArray()));
                break;
            }
            catch (System.Net.Sockets.SocketException) when (watch.Elapsed < Patience)
            {
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
