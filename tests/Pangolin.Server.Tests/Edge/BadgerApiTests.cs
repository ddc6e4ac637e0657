using System.Net;
using System.Text;
using System.Text.Json;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Pangolin.Server.Configuration;
using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Edge;

/// <summary>
/// Upstream's Badger plugin contracts on the internal port, as a Traefik in front would call them: verify-session
/// answers the edge's own decision (sign-in redirect, Basic credentials, session cookies with the user's identity),
/// exchange-session turns a sign-in's request token into a Set-Cookie once.
/// </summary>
public abstract class BadgerApiTests(DatabaseKind kind, PostgresServer postgres) : NewtTestBase(kind, postgres)
{
    protected override bool Kestrel => true;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    [Fact]
    public async Task Verify_and_exchange_answer_as_the_edge_decides_on_the_internal_port_only()
    {
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = await CreateResourceAsync("Traefiked");
        await CreateTargetAsync(resource, site, "127.0.0.1", 9);
        (await Admin.PostJsonAsync($"resource/{resource}/password", new { password = "open sesame" })).Expect(201);
        (await Admin.PostJsonAsync($"resource/{resource}/header-auth", new { user = "robot", password = "beep boop", extendedCompatibility = false })).Expect(201);
        var guid = (await Admin.GetJsonAsync($"resource/{resource}")).Expect(200).Data.GetProperty("resourceGuid").GetString()!;
        var internalPort = Factory.Services.GetRequiredService<IOptions<ServerOptions>>().Value.InternalPort;
        using var badger = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{internalPort}/api/v1/badger/") };
        const string original = "https://traefiked.example.test/app?x=1";

        // Once the edge's routes have the resource with its password and header auth (a moment after the API calls)...
        var source = Factory.Services.GetRequiredService<Pangolin.Edge.IEdgeConfigSource>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (source.Current.HttpResources.FirstOrDefault(r => r.ResourceId == resource) is not { Access: { HasPassword: true, HasHeaderAuth: true } })
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), "the edge did not pick up the resource");
            await Task.Delay(20, Ct);
        }

        // ...nothing shown: the sign-in page, with the way back.
        var denied = await PostAsync(badger, "verify-session", Verify(new Dictionary<string, string>(), new Dictionary<string, string>()));
        Assert.False(denied.GetProperty("valid").GetBoolean());
        Assert.Equal($"http://127.0.0.1:{Factory.ExternalPort}/auth/resource/{guid}?redirect={Uri.EscapeDataString(original)}", denied.GetProperty("redirectUrl").GetString());

        // Basic credentials, right and wrong.
        var basic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("robot:beep boop"));
        Assert.True((await PostAsync(badger, "verify-session", Verify(new Dictionary<string, string>(), new Dictionary<string, string> { ["authorization"] = basic }))).GetProperty("valid").GetBoolean());
        var wrongBasic = "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("robot:wrong"));
        Assert.False((await PostAsync(badger, "verify-session", Verify(new Dictionary<string, string>(), new Dictionary<string, string> { ["Authorization"] = wrongBasic }))).GetProperty("valid").GetBoolean());

        // A password sign-in's request token, exchanged once for the cookie that verify then accepts.
        var token = (await Factory.DashboardClient().PostJsonAsync($"auth/resource/{resource}/password", new { password = "open sesame" })).Expect(200).Data.GetProperty("session").GetString()!;
        var exchanged = await PostAsync(badger, "exchange-session", new { requestToken = token, host = "traefiked.example.test", requestIp = "203.0.113.7:51234" });
        Assert.True(exchanged.GetProperty("valid").GetBoolean());
        var cookie = exchanged.GetProperty("cookie").GetString()!;
        Assert.StartsWith("p_session_token_s=", cookie, StringComparison.Ordinal);
        Assert.Contains("httponly", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("secure", cookie, StringComparison.OrdinalIgnoreCase);
        Assert.False((await PostAsync(badger, "exchange-session", new { requestToken = token, host = "traefiked.example.test" })).GetProperty("valid").GetBoolean());
        var value = cookie.Split(';')[0].Split('=', 2)[1];
        var allowed = await PostAsync(badger, "verify-session", Verify(new Dictionary<string, string> { ["p_session_token_s"] = value }, new Dictionary<string, string>()));
        Assert.True(allowed.GetProperty("valid").GetBoolean());
        Assert.False((await PostAsync(badger, "verify-session", Verify(new Dictionary<string, string> { ["p_session_token_s"] = "forged" }, new Dictionary<string, string>()))).GetProperty("valid").GetBoolean());

        // A platform user's session carries who they are.
        var userToken = (await Admin.PostJsonAsync($"resource/{resource}/get-exchange-token", new { })).Expect(200).Data.GetProperty("requestToken").GetString()!;
        var userCookie = (await PostAsync(badger, "exchange-session", new { requestToken = userToken, host = "traefiked.example.test" })).GetProperty("cookie").GetString()!;
        var user = await PostAsync(badger, "verify-session", Verify(new Dictionary<string, string> { ["p_session_token_s.1700000000"] = userCookie.Split(';')[0].Split('=', 2)[1] }, new Dictionary<string, string>()));
        Assert.True(user.GetProperty("valid").GetBoolean());
        Assert.Equal(AdminEmail, user.GetProperty("email").GetString());
        Assert.Equal("Admin", user.GetProperty("role").GetString());

        // Unknown hosts are refused without a redirect; bad bodies are told; the dashboard port does not serve it.
        var unknown = await PostAsync(badger, "verify-session", new { host = "nowhere.example.test", originalRequestURL = "https://nowhere.example.test/", sessions = new { } });
        Assert.False(unknown.GetProperty("valid").GetBoolean());
        Assert.Equal(JsonValueKind.Null, unknown.GetProperty("redirectUrl").ValueKind);
        using (var bad = await badger.PostAsync("verify-session", new StringContent("{", Encoding.UTF8, "application/json"), Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        }
        using (var missing = await badger.PostAsync("exchange-session", new StringContent("{}", Encoding.UTF8, "application/json"), Ct))
        {
            Assert.Equal(HttpStatusCode.BadRequest, missing.StatusCode);
        }
        using var outside = await new HttpClient().PostAsync($"http://127.0.0.1:{Factory.ExternalPort}/api/v1/badger/verify-session",
            new StringContent("{}", Encoding.UTF8, "application/json"), Ct);
        Assert.Equal(HttpStatusCode.NotFound, outside.StatusCode);

        // Every decision above is in the request log, as the edge's own would be (the unknown host has no org to go to).
        JsonElement[] log = [];
        watch.Restart();
        while (log.Length < 6)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), $"the request log has {log.Length} of the 6 decisions");
            await Task.Delay(100, Ct);
            log = [.. (await Admin.GetJsonAsync($"org/acme/logs/request?resourceId={resource}")).Expect(200).Data.GetProperty("log").EnumerateArray()];
        }
        Assert.Equal(6, log.Length);
        Assert.Equal([204, 103, 204, 104, 204, 104], log.Reverse().Select(e => e.GetProperty("reason").GetInt32()));
        Assert.All(log, e =>
        {
            Assert.Equal("203.0.113.7", e.GetProperty("ip").GetString());
            Assert.Equal("traefiked.example.test", e.GetProperty("host").GetString());
            Assert.Equal("/app", e.GetProperty("path").GetString());
            Assert.Equal("?x=1", e.GetProperty("query").GetString());
            Assert.Equal("https", e.GetProperty("scheme").GetString());
        });
        Assert.Equal(AdminEmail, log[0].GetProperty("actor").GetString());
        Assert.Equal(JsonValueKind.Null, log[1].GetProperty("actor").ValueKind);
    }

    private static object Verify(Dictionary<string, string> sessions, Dictionary<string, string> headers) => new
    {
        sessions,
        originalRequestURL = "https://traefiked.example.test/app?x=1",
        scheme = "https",
        host = "traefiked.example.test",
        path = "/app",
        method = "GET",
        tls = true,
        requestIp = "203.0.113.7",
        headers,
        query = new Dictionary<string, string> { ["x"] = "1" },
        badgerVersion = "1.2.0",
    };

    private static async Task<JsonElement> PostAsync(HttpClient client, string path, object body)
    {
        using var response = await client.PostAsync(path, new StringContent(JsonSerializer.Serialize(body), Encoding.UTF8, "application/json"), Ct);
        var text = await response.Content.ReadAsStringAsync(Ct);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {text}");
        return JsonDocument.Parse(text).RootElement.GetProperty("data").Clone();
    }
}

public sealed class SqliteBadgerApiTests(PostgresServer postgres) : BadgerApiTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresBadgerApiTests(PostgresServer postgres) : BadgerApiTests(DatabaseKind.Postgres, postgres);
