using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Scenarios;

/// <summary>The issue's "done when" walk-through, as a new user would do it with curl, on both databases.</summary>
public abstract class DoneWhenTests(DatabaseKind kind, PostgresServer postgres) : ServerTestBase(kind, postgres)
{
    [Fact]
    public async Task A_new_user_sets_up_the_server_publishes_a_resource_and_lists_it_with_an_api_key()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");

        var site = (await admin.PutJsonAsync("org/acme/site", new { name = "Home Lab", type = "newt" })).Expect(201).Data;
        Assert.Equal(15, site.GetProperty("newtId").GetString()!.Length);
        Assert.Equal(48, site.GetProperty("secret").GetString()!.Length);
        var siteId = site.GetProperty("siteId").GetInt32();

        var domains = (await admin.GetJsonAsync("org/acme/domains")).Expect(200).Data.GetProperty("domains");
        var domainId = domains[0].GetProperty("domainId").GetString();
        var resource = (await admin.PutJsonAsync("org/acme/resource", new { name = "Grafana", http = true, protocol = "tcp", domainId, subdomain = "grafana" }))
            .Expect(201).Data;
        Assert.Equal("grafana.example.test", resource.GetProperty("fullDomain").GetString());
        var resourceId = resource.GetProperty("resourceId").GetInt32();
        (await admin.PutJsonAsync($"resource/{resourceId}/target", new { siteId, ip = "10.0.0.5", port = 3000, method = "http" })).Expect(201);
        (await admin.PostJsonAsync($"resource/{resourceId}/password", new { password = "open-sesame" })).Expect(201);

        var key = (await admin.PutJsonAsync("org/acme/api-key", new { name = "ci" })).Expect(201).Data;
        var bearer = $"{key.GetProperty("apiKeyId").GetString()}.{key.GetProperty("apiKey").GetString()}";
        (await admin.PostJsonAsync($"org/acme/api-key/{key.GetProperty("apiKeyId").GetString()}/actions", new { actionIds = new[] { "listResources" } })).Expect(200);

        var listed = (await Factory.IntegrationClient(bearer).GetJsonAsync("org/acme/resources")).Expect(200);
        var item = Assert.Single(listed.Data.GetProperty("resources").EnumerateArray());
        Assert.Equal("Grafana", item.GetProperty("name").GetString());
        Assert.True(item.GetProperty("password").GetBoolean());
        var listedTarget = Assert.Single(item.GetProperty("targets").EnumerateArray());
        // Each target names its site (the dashboard's list shows where a resource runs).
        Assert.Equal(siteId, listedTarget.GetProperty("siteId").GetInt32());
        Assert.Equal("Home Lab", listedTarget.GetProperty("siteName").GetString());
        Assert.True(listed.Body.GetProperty("success").GetBoolean());

        // A wrong key, a member without the right, and a bad body each get the right 4xx.
        var wrongKey = bearer[..^1] + (bearer[^1] == 'x' ? 'y' : 'x');
        var wrong = (await Factory.IntegrationClient(wrongKey).GetJsonAsync("org/acme/resources")).Expect(401);
        Assert.Equal("Invalid API key", wrong.Message);
        Assert.Equal("application/problem+json", wrong.Response.Content.Headers.ContentType?.MediaType);

        var member = await SignUpAsync("member@example.com");
        var memberId = await UserIdAsync(member);
        var roles = (await admin.GetJsonAsync("org/acme/roles")).Expect(200).Data.GetProperty("roles");
        var memberRole = roles.EnumerateArray().First(r => r.GetProperty("name").GetString() == "Member").GetProperty("roleId").GetInt32();
        (await admin.PutJsonAsync("org/acme/user", new { email = "member@example.com", roleIds = new[] { memberRole } })).Expect(201);
        Assert.Contains(memberId, (await admin.GetJsonAsync("org/acme/users")).Expect(200).Body.ToString(), StringComparison.Ordinal);
        var denied = (await member.PutJsonAsync("org/acme/site", new { name = "Sneaky", type = "local" })).Expect(403);
        Assert.Contains("createSite", denied.Message, StringComparison.Ordinal);

        var bad = (await admin.PutJsonAsync("org/acme/site", new { name = "", type = "satellite" })).Expect(400);
        Assert.Contains("type", bad.Message, StringComparison.Ordinal);
        Assert.False(bad.Body.GetProperty("success").GetBoolean());
        Assert.True(bad.Body.GetProperty("error").GetBoolean());
    }
}

public sealed class SqliteDoneWhenTests(PostgresServer postgres) : DoneWhenTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresDoneWhenTests(PostgresServer postgres) : DoneWhenTests(DatabaseKind.Postgres, postgres);
