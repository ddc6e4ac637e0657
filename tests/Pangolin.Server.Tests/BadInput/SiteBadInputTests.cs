using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to sites: PUT /org/{orgId}/site, GET|POST|DELETE /site/{siteId} and the site's grants.</summary>
public abstract class SiteBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Creating_a_site_names_each_bad_field_and_refuses_a_taken_nice_id()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var path = $"org/{OrgId}/site";

        Problem(await RawAsync(admin, HttpMethod.Put, path, "{\"name\":\"a\",\"type\":"), 400, "not valid JSON");
        Problem(await RawAsync(admin, HttpMethod.Put, path, "{\"name\":\"a\",\"type\":\"local\"}", "text/plain"), 415, "Content-Type: application/json");
        Problem(await EmptyAsync(admin, HttpMethod.Put, path), 400, "A JSON request body is required");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "local", colour = "red" }), 400, "unknown field \"colour\"");
        Problem(await admin.PutJsonAsync(path, new { type = "local" }), 400, "is required at \"name\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a" }), 400, "is required at \"type\"");
        Problem(await admin.PutJsonAsync(path, new { name = 7, type = "local" }), 400, "expected a string at \"name\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "local", exitNodeId = "1" }), 400, "expected an integer at \"exitNodeId\"");

        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "satellite" }), 400, "must be one of: newt, wireguard, local at \"type\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "Local" }), 400, "\"type\"");
        Problem(await admin.PutJsonAsync(path, new { name = new string('n', 256), type = "local" }), 400, "\"name\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "local", niceId = "bad id!" }), 400, "\"niceId\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "local", address = "999.1.1.1" }), 400, "IPv4 or IPv6 address at \"address\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "local", address = "10.99.0.1" }), 400, "address must lie inside the organization's subnet");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "newt", newtId = "short" }), 400, "\"newtId\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "local", newtId = "abcdefgh12" }), 400, "applies to newt sites only at \"newtId\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "wireguard" }), 400,
            "is required for a wireguard site at \"pubKey\"", "at \"exitNodeId\"", "at \"subnet\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "wireguard", exitNodeId = 0, pubKey = new string('k', 44), subnet = "10.9.0.0/24" }),
            400, "\"exitNodeId\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "wireguard", exitNodeId = 1, pubKey = new string('k', 44), subnet = "10.9.0.1/24" }),
            400, "CIDR", "\"subnet\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", type = "wireguard", exitNodeId = 999999, pubKey = new string('k', 44), subnet = "10.9.0.0/24" }),
            404, "Exit node not found");

        Problem(await admin.PutJsonAsync(path, new { name = "Another", type = "local", niceId = w.SiteNiceId }), 409, "already exists", w.SiteNiceId);
        Problem(await admin.PutJsonAsync("org/nope/site", new { name = "a", type = "local" }), 404, "Organization not found");
        var sites = (await admin.GetJsonAsync(path.Replace("/site", "/sites", StringComparison.Ordinal))).Expect(200).Data.GetProperty("sites");
        Assert.Equal(1, sites.GetArrayLength());
        AssertNoUnhandledExceptions();
    }

    [Fact]
    public async Task Updating_a_site_its_grants_and_missing_sites_refuse_bad_input()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var second = (await admin.PutJsonAsync($"org/{OrgId}/site", new { name = "Second", type = "local" })).Expect(201).Data;
        var site = $"site/{w.SiteId}";

        Problem(await admin.PostJsonAsync(site, new { }), 400, "at least one field is required");
        Problem(await admin.PostJsonAsync(site, new { nome = "x" }), 400, "unknown field \"nome\"");
        Problem(await admin.PostJsonAsync(site, new { name = (string?)null }), 400, "must not be null at \"name\"");
        Problem(await admin.PostJsonAsync(site, new { name = "" }), 400, "\"name\"");
        Problem(await admin.PostJsonAsync(site, new { dockerSocketEnabled = "on" }), 400, "expected true or false at \"dockerSocketEnabled\"");
        Problem(await admin.PostJsonAsync(site, new { dockerSocketEnabled = (bool?)null }), 400, "must not be null at \"dockerSocketEnabled\"");
        Problem(await admin.PostJsonAsync(site, new { niceId = "no spaces allowed" }), 400, "\"niceId\"");
        Problem(await admin.PostJsonAsync(site, new { niceId = second.GetProperty("niceId").GetString() }), 409, "already exists");
        // Its own niceId is no conflict.
        (await admin.PostJsonAsync(site, new { niceId = w.SiteNiceId, name = "Home Lab 2" })).Expect(200);

        Problem(await admin.PostJsonAsync($"{site}/roles", new { }), 400, "is required at \"roleIds\"");
        Problem(await admin.PostJsonAsync($"{site}/roles", new { roleIds = "x" }), 400, "expected an array at \"roleIds\"");
        Problem(await admin.PostJsonAsync($"{site}/roles", new { roleIds = new object[] { "x" } }), 400, "expected an integer at \"roleIds.0\"");
        Problem(await admin.PostJsonAsync($"{site}/roles", new { roleIds = new[] { 999999 } }), 400, "role 999999 is not a role of this organization");
        Problem(await admin.PostJsonAsync($"{site}/users", new { userIds = new[] { "nope" } }), 400, "user nope is not a member of this organization");
        Problem(await admin.PostJsonAsync($"{site}/users", new { userIds = new string?[] { null } }), 400, "must not contain null at \"userIds\"");

        Problem(await admin.GetJsonAsync("site/abc"), 400, "\"siteId\" must be a positive integer");
        Problem(await admin.GetJsonAsync("site/0"), 400, "\"siteId\" must be a positive integer");
        Problem(await admin.PostJsonAsync("site/abc", new { name = "x" }), 400, "\"siteId\" must be a positive integer");
        Problem(await admin.GetJsonAsync("site/999999"), 404, "Site not found");
        Problem(await admin.PostJsonAsync("site/999999", new { name = "x" }), 404, "Site not found");
        Problem(await admin.DeleteJsonAsync("site/999999"), 404, "Site not found");
        Problem(await admin.GetJsonAsync($"org/{OrgId}/site/nope"), 404, "Site not found");
        Problem(await EmptyAsync(admin, HttpMethod.Post, $"{site}/regenerate-secret"), 400, "Only newt sites have a secret");
        Problem(await admin.GetJsonAsync($"org/{OrgId}/sites?sort_by=" + new string('s', 65)), 400, "\"sort_by\"");
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteSiteBadInputTests(PostgresServer postgres) : SiteBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresSiteBadInputTests(PostgresServer postgres) : SiteBadInputTests(DatabaseKind.Postgres, postgres);
