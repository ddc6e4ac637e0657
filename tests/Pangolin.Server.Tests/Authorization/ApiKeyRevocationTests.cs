using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Data;
using Pangolin.Server.Auth;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Authorization;

/// <summary>
/// Keys are held in memory for speed: a change through the API takes effect on the next request, a change made
/// behind the server's back (another node, the CLI) within the cache lifetime.
/// </summary>
public abstract class ApiKeyRevocationTests(DatabaseKind kind, PostgresServer postgres) : ServerTestBase(kind, postgres)
{
    [Fact]
    public async Task Deleting_a_key_or_taking_an_action_away_takes_effect_on_the_next_request()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        var key = (await admin.PutJsonAsync("org/acme/api-key", new { name = "ci", actionIds = new[] { "listResources", "listSites" } })).Expect(201).Data;
        var id = key.GetProperty("apiKeyId").GetString();
        using var client = Factory.IntegrationClient($"{id}.{key.GetProperty("apiKey").GetString()}");

        (await client.GetJsonAsync("org/acme/sites")).Expect(200);
        (await admin.PostJsonAsync($"org/acme/api-key/{id}/actions", new { actionIds = new[] { "listResources" } })).Expect(200);
        (await client.GetJsonAsync("org/acme/sites")).Expect(403);
        (await client.GetJsonAsync("org/acme/resources")).Expect(200);

        (await admin.DeleteJsonAsync($"org/acme/api-key/{id}")).Expect(200);
        Assert.Equal("Invalid API key", (await client.GetJsonAsync("org/acme/resources")).Expect(401).Message);
    }

    [Fact]
    public async Task A_change_made_behind_the_servers_back_applies_within_the_cache_lifetime()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        var key = (await admin.PutJsonAsync("org/acme/api-key", new { name = "ci", actionIds = new[] { "listResources" } })).Expect(201).Data;
        var id = key.GetProperty("apiKeyId").GetString();
        using var client = Factory.IntegrationClient($"{id}.{key.GetProperty("apiKey").GetString()}");
        (await client.GetJsonAsync("org/acme/resources")).Expect(200);

        await using (var scope = Factory.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
            await db.ApiKeys.Where(k => k.ApiKeyId == id).ExecuteDeleteAsync();
        }
        Factory.Clock.Advance(ApiKeyCache.Lifetime);
        (await client.GetJsonAsync("org/acme/resources")).Expect(401);
    }

    [Fact]
    public async Task Deleting_an_org_ends_its_keys_at_once()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        var key = (await admin.PutJsonAsync("org/acme/api-key", new { name = "ci", actionIds = new[] { "getOrg" } })).Expect(201).Data;
        using var client = Factory.IntegrationClient($"{key.GetProperty("apiKeyId").GetString()}.{key.GetProperty("apiKey").GetString()}");
        (await client.GetJsonAsync("org/acme")).Expect(200);
        (await admin.DeleteJsonAsync("org/acme")).Expect(200);
        // The key is gone with its org (cascade), and a new org of the same name is not reachable with it.
        await CreateOrgAsync(admin, "acme");
        (await client.GetJsonAsync("org/acme")).Expect(401);
    }
}

public sealed class SqliteApiKeyRevocationTests(PostgresServer postgres) : ApiKeyRevocationTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresApiKeyRevocationTests(PostgresServer postgres) : ApiKeyRevocationTests(DatabaseKind.Postgres, postgres);
