using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to resource rules: PUT /resource/{resourceId}/rule, POST|DELETE /resource/{resourceId}/rule/{ruleId}.</summary>
public abstract class RuleBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Rules_name_each_bad_field_and_value()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var path = $"resource/{w.ResourceId}/rule";

        Problem(await RawAsync(admin, HttpMethod.Put, path, "{\"action\":\"ACCEPT\",}"), 400, "not valid JSON");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "IP", value = "192.0.2.9", priority = 2, note = "x" }), 400, "unknown field \"note\"");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT" }), 400,
            "is required at \"match\"", "is required at \"value\"", "is required at \"priority\"");
        Problem(await admin.PutJsonAsync(path, new { action = "ALLOW", match = "IP", value = "192.0.2.9", priority = 2 }), 400,
            "must be one of: ACCEPT, DROP, PASS at \"action\"");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "REGION", value = "EU", priority = 2 }), 400,
            "must be one of: CIDR, IP, PATH, COUNTRY, ASN at \"match\"");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "IP", value = "192.0.2.9", priority = "2" }), 400, "expected an integer at \"priority\"");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "IP", value = "192.0.2.9", priority = 1.5 }), 400, "expected an integer at \"priority\"");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "IP", value = "192.0.2.9", priority = 2, enabled = "true" }), 400,
            "expected true or false at \"enabled\"");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "IP", value = "192.0.2.9", priority = 2, method = "FETCH" }), 400, "\"method\"");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "IP", value = "", priority = 2 }), 400, "\"value\"");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "CIDR", value = "192.0.2.0/99", priority = 2 }), 400, "value must be a network in CIDR notation");
        var cidr = Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "CIDR", value = "not-a-cidr", priority = 2 }), 400, "value must be a network in CIDR notation");
        // The value is to blame, by name, for forms that show errors at the field.
        Assert.Equal("must be a network in CIDR notation, such as 10.0.0.0/8", cidr.Body.GetProperty("errors").GetProperty("value")[0].GetString());
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "IP", value = "999.0.0.1", priority = 2 }), 400, "value must be an IPv4 or IPv6 address");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "PATH", value = "/a b", priority = 2 }), 400, "value must be a URL path");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "COUNTRY", value = "ZZZ", priority = 2 }), 400, "two-letter");
        Problem(await admin.PutJsonAsync(path, new { action = "ACCEPT", match = "ASN", value = "ASX", priority = 2 }), 400, "autonomous system number");
        // Upstream's literal message.
        Problem(await admin.PutJsonAsync($"resource/{w.RawResourceId}/rule", new { action = "ACCEPT", match = "IP", value = "192.0.2.9", priority = 2 }), 400,
            "Cannot create rule for non-http resource");

        var rule = $"{path}/{w.RuleId}";
        Problem(await admin.PostJsonAsync(rule, new { }), 400, "at least one field is required");
        Problem(await admin.PostJsonAsync(rule, new { priority = (int?)null }), 400, "must not be null at \"priority\"");
        Problem(await admin.PostJsonAsync(rule, new { action = (string?)null }), 400, "must not be null at \"action\"");
        Assert.True(Problem(await admin.PostJsonAsync(rule, new { match = "CIDR" }), 400, "value must be a network in CIDR notation").Body
            .GetProperty("errors").TryGetProperty("value", out _));
        Problem(await admin.PostJsonAsync($"{path}/999999", new { enabled = false }), 404, "Resource rule not found");
        Problem(await admin.PostJsonAsync($"resource/{w.RawResourceId}/rule/{w.RuleId}", new { enabled = false }), 404, "Resource rule not found");
        Problem(await admin.PostJsonAsync($"{path}/abc", new { enabled = false }), 400, "\"ruleId\" must be a positive integer");
        Problem(await admin.PostJsonAsync($"{path}/0", new { enabled = false }), 400, "\"ruleId\" must be a positive integer");
        Problem(await admin.DeleteJsonAsync($"{path}/999999"), 404, "Resource rule not found");
        Problem(await admin.PutJsonAsync("resource/999999/rule", new { action = "ACCEPT", match = "IP", value = "192.0.2.9", priority = 2 }), 404, "Resource not found");

        var rules = (await admin.GetJsonAsync($"resource/{w.ResourceId}/rules")).Expect(200).Data.GetProperty("rules");
        var only = Assert.Single(rules.EnumerateArray());
        Assert.Equal("IP", only.GetProperty("match").GetString());
        Assert.Equal(1, only.GetProperty("priority").GetInt32());
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteRuleBadInputTests(PostgresServer postgres) : RuleBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresRuleBadInputTests(PostgresServer postgres) : RuleBadInputTests(DatabaseKind.Postgres, postgres);
