using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to organizations: PUT /org, POST|GET|DELETE /org/{orgId}, GET /orgs, GET /user/{userId}/orgs.</summary>
public abstract class OrgBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Creating_an_org_names_each_bad_field_and_refuses_a_taken_org_id()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, OrgId);

        Problem(await RawAsync(admin, HttpMethod.Put, "org", "{\"orgId\":\"x1\",\"name\":\"X\""), 400, "not valid JSON");
        Problem(await RawAsync(admin, HttpMethod.Put, "org", "orgId=x1"), 400, "not valid JSON");
        Problem(await RawAsync(admin, HttpMethod.Put, "org", ""), 400, "A JSON request body is required");
        Problem(await RawAsync(admin, HttpMethod.Put, "org", "null"), 400, "A JSON request body is required");
        Problem(await RawAsync(admin, HttpMethod.Put, "org", "[\"x1\"]"), 400, "the request body must be a JSON object");
        Problem(await RawAsync(admin, HttpMethod.Put, "org", Json(new { orgId = "x1", name = "X" }), "text/plain"), 415, "Content-Type: application/json");

        Problem(await admin.PutJsonAsync("org", new { orgId = "x1", name = "X", color = "red" }), 400, "unknown field \"color\"");
        Problem(await RawAsync(admin, HttpMethod.Put, "org", "{\"OrgId\":\"x1\",\"name\":\"X\"}"), 400, "unknown field \"OrgId\"");
        Problem(await admin.PutJsonAsync("org", new { name = "X" }), 400, "is required at \"orgId\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = (string?)null, name = "X" }), 400, "is required at \"orgId\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = 5, name = "X" }), 400, "expected a string at \"orgId\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = "x1", name = false }), 400, "expected a string at \"name\"");

        Problem(await admin.PutJsonAsync("org", new { orgId = "Bad Id!", name = "X" }), 400, "lowercase", "\"orgId\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = "-x1", name = "X" }), 400, "\"orgId\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = new string('a', 33), name = "X" }), 400, "1–32", "\"orgId\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = "x1", name = "" }), 400, "\"name\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = "x1", name = new string('n', 256) }), 400, "255", "\"name\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = "x1", name = "X", subnet = "not-a-network" }), 400, "CIDR", "\"subnet\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = "x1", name = "X", subnet = "100.91.0.1/24" }), 400, "CIDR", "\"subnet\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = "x1", name = "X", subnet = "2001:db8::/64" }), 400, "\"subnet\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = "x1", name = "X", utilitySubnet = "100.96.0.0/33" }), 400, "\"utilitySubnet\"");
        Problem(await admin.PutJsonAsync("org", new { orgId = "x1", name = "X", subnet = "100.91.0.0/24", utilitySubnet = "100.91.0.0/25" }),
            400, "utilitySubnet must not overlap subnet");

        Problem(await admin.PutJsonAsync("org", new { orgId = OrgId, name = "Again" }), 409, "already exists", "'acme'");
        // Nothing above created an org.
        var orgs = (await admin.GetJsonAsync("orgs")).Expect(200).Data.GetProperty("orgs");
        Assert.Equal(1, orgs.GetArrayLength());
        AssertNoUnhandledExceptions();
    }

    [Fact]
    public async Task Updating_reading_listing_and_deleting_orgs_refuse_bad_input()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, OrgId);

        Problem(await EmptyAsync(admin, HttpMethod.Post, $"org/{OrgId}"), 400, "A JSON request body is required");
        Problem(await admin.PostJsonAsync($"org/{OrgId}", new { }), 400, "at least one field is required");
        Problem(await admin.PostJsonAsync($"org/{OrgId}", new { title = "x" }), 400, "unknown field \"title\"");
        Problem(await admin.PostJsonAsync($"org/{OrgId}", new { name = (string?)null }), 400, "must not be null at \"name\"");
        Problem(await admin.PostJsonAsync($"org/{OrgId}", new { name = "" }), 400, "\"name\"");
        Problem(await admin.PostJsonAsync($"org/{OrgId}", new { requireTwoFactor = "yes" }), 400, "expected true or false at \"requireTwoFactor\"");
        Problem(await admin.PostJsonAsync($"org/{OrgId}", new { requireTwoFactor = (bool?)null }), 400, "must not be null at \"requireTwoFactor\"");
        Problem(await admin.PostJsonAsync($"org/{OrgId}", new { maxSessionLengthHours = 0 }), 400, "between 1 and 8760", "\"maxSessionLengthHours\"");
        Problem(await admin.PostJsonAsync($"org/{OrgId}", new { maxSessionLengthHours = "5" }), 400, "expected an integer at \"maxSessionLengthHours\"");
        Problem(await admin.PostJsonAsync($"org/{OrgId}", new { passwordExpiryDays = 1.5 }), 400, "expected an integer at \"passwordExpiryDays\"");
        Problem(await admin.PostJsonAsync($"org/{OrgId}", new { passwordExpiryDays = 3651 }), 400, "between 1 and 3650", "\"passwordExpiryDays\"");
        // A good update still works, and the bad ones above changed nothing.
        var org = (await admin.PostJsonAsync($"org/{OrgId}", new { maxSessionLengthHours = 12 })).Expect(200).Data;
        Assert.Equal("ACME", org.GetProperty("name").GetString());
        Assert.False(org.GetProperty("requireTwoFactor").GetBoolean());

        Problem(await admin.GetJsonAsync("org/nope"), 404, "Organization not found");
        Problem(await admin.PostJsonAsync("org/nope", new { name = "X" }), 404, "Organization not found");
        Problem(await admin.DeleteJsonAsync("org/nope"), 404, "Organization not found");
        Problem(await admin.GetJsonAsync("user/nope/orgs"), 404, "User not found");
        Problem(await admin.GetJsonAsync("orgs?limit=abc"), 400, "\"limit\" must be an integer");
        Problem(await admin.GetJsonAsync("orgs?limit=0"), 400, "between 1 and 10000", "\"limit\"");
        Problem(await admin.GetJsonAsync("orgs?offset=-1"), 400, "\"offset\"");
        Problem(await admin.GetJsonAsync("orgs?page=0"), 400, "\"page\"");
        Problem(await admin.GetJsonAsync("orgs?order=sideways"), 400, "one of: asc, desc", "\"order\"");
        Problem(await admin.GetJsonAsync("orgs?query=" + new string('q', 256)), 400, "\"query\"");
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteOrgBadInputTests(PostgresServer postgres) : OrgBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresOrgBadInputTests(PostgresServer postgres) : OrgBadInputTests(DatabaseKind.Postgres, postgres);
