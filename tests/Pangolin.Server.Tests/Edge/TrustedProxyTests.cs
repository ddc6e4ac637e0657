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
/// Which client the edge sees: the peer itself, unless the peer is one of <c>Server:TrustedProxies</c>, whose
/// X-Forwarded-For then names the client. Rules, the request log and the target's X-Forwarded-For follow it; a forged
/// X-Forwarded-For from anyone else changes nothing.
/// </summary>
public abstract class TrustedProxyTests(PostgresServer postgres, bool trusted) : NewtTestBase(DatabaseKind.Sqlite, postgres)
{
    protected override bool Kestrel => true;

    protected override IDictionary<string, string?> Settings => trusted
        ? new Dictionary<string, string?> { ["Server:TrustedProxies:0"] = "127.0.0.1/32" }
        : new Dictionary<string, string?>();

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task X_forwarded_for_counts_only_from_a_trusted_proxy()
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        await using var backend = builder.Build();
        backend.Run(context => context.Response.WriteAsync(context.Request.Headers["X-Forwarded-For"].ToString()));
        await backend.StartAsync(Ct);
        var port = new Uri(backend.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = await CreateResourceAsync("Proxied");
        await CreateTargetAsync(resource, site, "127.0.0.1", port);
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false, applyRules = true })).Expect(200);
        (await Admin.PutJsonAsync($"resource/{resource}/rule", new { action = "DROP", match = "CIDR", value = "203.0.113.0/24", priority = 1 })).Expect(201);
        using var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Factory.EdgePort}") };

        async Task<(HttpStatusCode Status, string Body)> SendAsync(string forwardedFor)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/");
            request.Headers.Host = "proxied.example.test";
            request.Headers.TryAddWithoutValidation("X-Forwarded-For", forwardedFor);
            using var response = await client.SendAsync(request, Ct);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
        }

        // The edge reloads a moment after each of the API's changes (on a loaded machine, seconds): wait until it has
        // the resource with its rule, then until the resource answers.
        var source = Factory.Services.GetRequiredService<Pangolin.Edge.IEdgeConfigSource>();
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (source.Current.HttpResources.FirstOrDefault(r => r.ResourceId == resource) is not { Access: { ApplyRules: true, Rules.Count: 1 }, Targets.Count: 1 })
        {
            Assert.True(DateTime.UtcNow < deadline, "the edge did not pick up the resource and its rule");
            await Task.Delay(20, Ct);
        }
        while ((await SendAsync("198.51.100.9")).Status is not (HttpStatusCode.OK or HttpStatusCode.Forbidden))
        {
            Assert.True(DateTime.UtcNow < deadline, "the resource was not served");
            await Task.Delay(20, Ct);
        }

        var dropped = await SendAsync("203.0.113.7");
        var other = await SendAsync("198.51.100.9");
        if (trusted)
        {
            Assert.Equal(HttpStatusCode.Forbidden, dropped.Status);
            Assert.Equal((HttpStatusCode.OK, "198.51.100.9"), other);
        }
        else
        {
            // Forged: the rule sees 127.0.0.1, and the target hears of the peer only.
            Assert.Equal((HttpStatusCode.OK, "127.0.0.1"), dropped);
            Assert.Equal((HttpStatusCode.OK, "127.0.0.1"), other);
        }
    }
}

public sealed class TrustedProxyHonouredTests(PostgresServer postgres) : TrustedProxyTests(postgres, trusted: true);

public sealed class UntrustedPeerForgeryTests(PostgresServer postgres) : TrustedProxyTests(postgres, trusted: false);
