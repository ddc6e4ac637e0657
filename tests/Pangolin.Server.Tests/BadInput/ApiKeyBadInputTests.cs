using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to API keys: org keys under /org/{orgId}/api-key and root keys under /api-key.</summary>
public abstract class ApiKeyBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Org_and_root_api_keys_refuse_bad_input_and_missing_keys()
    {
        var w = await SeedAsync();
        var admin = w.Admin;

        foreach (var create in new[] { $"org/{OrgId}/api-key", "api-key" })
        {
            Problem(await RawAsync(admin, HttpMethod.Put, create, "{\"name\":\"ci\""), 400, "not valid JSON");
            Problem(await RawAsync(admin, HttpMethod.Put, create, "{\"name\":\"ci\"}", "text/plain"), 415, "Content-Type: application/json");
            Problem(await admin.PutJsonAsync(create, new { }), 400, "is required at \"name\"");
            Problem(await admin.PutJsonAsync(create, new { name = "" }), 400, "\"name\"");
            Problem(await admin.PutJsonAsync(create, new { name = new string('k', 256) }), 400, "\"name\"");
            Problem(await admin.PutJsonAsync(create, new { name = 42 }), 400, "expected a string at \"name\"");
            Problem(await admin.PutJsonAsync(create, new { name = "ci", expiresAt = "2030-01-01" }), 400, "unknown field \"expiresAt\"");
            Problem(await admin.PutJsonAsync(create, new { name = "ci", actionIds = new[] { "fly" } }), 400, "unknown action 'fly'");
            Problem(await admin.PutJsonAsync(create, new { name = "ci", actionIds = new string?[] { null } }), 400, "must not contain null at \"actionIds\"");
            Problem(await admin.PutJsonAsync(create, new { name = "ci", actionIds = Enumerable.Repeat("getOrg", 201).ToArray() }), 400,
                "at most 200", "\"actionIds\"");
        }

        var orgKey = $"org/{OrgId}/api-key/{w.ApiKeyId}";
        Problem(await admin.PostJsonAsync($"{orgKey}/actions", new { }), 400, "is required at \"actionIds\"");
        Problem(await admin.PostJsonAsync($"{orgKey}/actions", new { actionIds = "listSites" }), 400, "expected an array at \"actionIds\"");
        Problem(await admin.PostJsonAsync($"{orgKey}/actions", new { actionIds = new[] { "listSites", "fly" } }), 400, "unknown action 'fly'");
        foreach (var missing in new[] { $"org/{OrgId}/api-key/nope", "api-key/nope", $"api-key/{w.ApiKeyId}" })
        {
            // An org key is not a root key, so the root routes do not find it.
            Problem(await admin.GetJsonAsync(missing), 404, "API key not found");
            Problem(await admin.GetJsonAsync($"{missing}/actions"), 404, "API key not found");
            Problem(await admin.PostJsonAsync($"{missing}/actions", new { actionIds = Array.Empty<string>() }), 404, "API key not found");
            Problem(await admin.DeleteJsonAsync(missing), 404, "API key not found");
        }
        Problem(await admin.GetJsonAsync("org/nope/api-keys"), 404, "Organization not found");
        Problem(await admin.GetJsonAsync("api-keys?limit=-1"), 400, "\"limit\"");

        var keys = (await admin.GetJsonAsync($"org/{OrgId}/api-keys")).Expect(200).Data.GetProperty("apiKeys");
        Assert.Equal(w.ApiKeyId, Assert.Single(keys.EnumerateArray()).GetProperty("apiKeyId").GetString());
        Assert.Equal(0, (await admin.GetJsonAsync("api-keys")).Expect(200).Data.GetProperty("apiKeys").GetArrayLength());
        Assert.Equal(0, (await admin.GetJsonAsync($"{orgKey}/actions")).Expect(200).Data.GetProperty("actions").GetArrayLength());
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteApiKeyBadInputTests(PostgresServer postgres) : ApiKeyBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresApiKeyBadInputTests(PostgresServer postgres) : ApiKeyBadInputTests(DatabaseKind.Postgres, postgres);
