using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>
/// The integration API (/v1, an org API key) answers bad input exactly as the dashboard API does: the same
/// status and the same message for the same mistake.
/// </summary>
public abstract class IntegrationApiBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task An_org_api_key_gets_the_same_status_and_message_as_the_dashboard_for_each_bad_request()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        string[] actions =
        [
            "createSite", "getSite", "updateSite", "createResource", "updateResource", "getResource", "createTarget", "updateTarget",
            "createResourceRule", "updateResourceRule", "createRole", "updateRole", "createOrgDomain", "deleteAcessToken", "generateAccessToken",
            "setResourcePincode", "setResourceWhitelist", "inviteUser", "viewLogs", "getApiKey",
        ];
        (await admin.PostJsonAsync($"org/{OrgId}/api-key/{w.ApiKeyId}/actions", new { actionIds = actions })).Expect(200);
        var key = Factory.IntegrationClient($"{w.ApiKeyId}.{w.ApiKey}");

        var requests = new (HttpMethod Method, string Path, object? Body, string? Raw, int Status, string Fragment)[]
        {
            (HttpMethod.Put, $"org/{OrgId}/site", null, "{\"name\":\"a\",\"type\":", 400, "not valid JSON"),
            (HttpMethod.Put, $"org/{OrgId}/site", null, "", 400, "A JSON request body is required"),
            (HttpMethod.Put, $"org/{OrgId}/site", new { name = "a", type = "satellite" }, null, 400, "must be one of: newt, wireguard, local at \"type\""),
            (HttpMethod.Put, $"org/{OrgId}/site", new { name = "a", type = "local", niceId = w.SiteNiceId }, null, 409, "already exists"),
            (HttpMethod.Post, $"site/{w.SiteId}", new { name = (string?)null }, null, 400, "must not be null at \"name\""),
            (HttpMethod.Get, "site/abc", null, null, 400, "\"siteId\" must be a positive integer"),
            (HttpMethod.Get, "site/999999", null, null, 404, "Site not found"),
            (HttpMethod.Put, $"org/{OrgId}/resource", new { name = "a" }, null, 400, "http field is required"),
            (HttpMethod.Put, $"org/{OrgId}/resource", new { name = "a", http = false, protocol = "tcp", proxyPort = 70000 }, null, 400, "between 1 and 65535 at \"proxyPort\""),
            (HttpMethod.Put, $"org/{OrgId}/resource", new { name = "a", http = false, protocol = "tcp", proxyPort = 7000 }, null, 409, "already uses port 7000"),
            (HttpMethod.Put, $"org/{OrgId}/resource", new { name = "a", http = true, domainId = "main", subdomain = "app" }, null, 409, "already exists"),
            (HttpMethod.Post, $"resource/{w.ResourceId}", new { ssl = "yes" }, null, 400, "expected true or false at \"ssl\""),
            (HttpMethod.Post, $"resource/{w.ResourceId}/pincode", new { pincode = "1234567" }, null, 400, "exactly 6 digits"),
            (HttpMethod.Put, $"resource/{w.ResourceId}/target", new { siteId = w.SiteId, ip = "10.0.0.1", port = "80" }, null, 400, "expected an integer at \"port\""),
            (HttpMethod.Put, $"resource/{w.ResourceId}/target", new { siteId = w.SiteId, ip = "10.0.0.1", port = 80, priority = 1001 }, null, 400, "between 1 and 1000 at \"priority\""),
            (HttpMethod.Post, "target/999999", new { port = 80 }, null, 404, "Target not found"),
            (HttpMethod.Put, $"resource/{w.RawResourceId}/rule", new { action = "ACCEPT", match = "IP", value = "192.0.2.9", priority = 2 }, null, 400,
                "Cannot create rule for non-http resource"),
            (HttpMethod.Post, $"resource/{w.ResourceId}/rule/999999", new { enabled = false }, null, 404, "Resource rule not found"),
            (HttpMethod.Put, $"org/{OrgId}/role", new { name = "Ops" }, null, 409, "Role with that name already exists"),
            (HttpMethod.Put, $"org/{OrgId}/role", new { name = "Dev", unknown = 1 }, null, 400, "unknown field \"unknown\""),
            (HttpMethod.Get, "role/999999", null, null, 404, "Role not found"),
            (HttpMethod.Put, $"org/{OrgId}/domain", new { type = "cname", baseDomain = "custom.example.org" }, null, 409, "already in use"),
            (HttpMethod.Put, $"org/{OrgId}/domain", new { type = "cname", baseDomain = "not a domain" }, null, 400, "\"baseDomain\""),
            (HttpMethod.Post, $"org/{OrgId}/create-invite", new { email = "bad", validHours = 1, roleIds = new[] { w.MemberRoleId } }, null, 400, "e-mail address at \"email\""),
            (HttpMethod.Post, $"resource/{w.ResourceId}/access-token", new { validForSeconds = 0 }, null, 400, "\"validForSeconds\""),
            (HttpMethod.Delete, "access-token/nope", null, null, 404, "Access token not found"),
            (HttpMethod.Get, $"org/{OrgId}/logs/action?limit=abc", null, null, 400, "\"limit\" must be an integer"),
            (HttpMethod.Get, $"org/{OrgId}/api-key/nope", null, null, 404, "API key not found"),
        };
        foreach (var (method, path, body, raw, status, fragment) in requests)
        {
            async Task<ApiReply> Send(HttpClient client) => raw is not null ? await RawAsync(client, method, path, raw) : await client.SendAsync(method, path, body);
            var dashboard = Problem(await Send(admin), status, fragment);
            var integration = Problem(await Send(key), status, fragment);
            Assert.Equal(dashboard.Message, integration.Message);
        }
        // A wrong content type is refused the same way on the integration port.
        Problem(await RawAsync(key, HttpMethod.Put, $"org/{OrgId}/site", "{\"name\":\"a\",\"type\":\"local\"}", "text/plain"), 415, "Content-Type: application/json");
        // None of the refused requests changed the site.
        Assert.Equal("Home Lab", (await key.GetJsonAsync($"site/{w.SiteId}")).Expect(200).Data.GetProperty("name").GetString());
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteIntegrationApiBadInputTests(PostgresServer postgres) : IntegrationApiBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresIntegrationApiBadInputTests(PostgresServer postgres) : IntegrationApiBadInputTests(DatabaseKind.Postgres, postgres);
