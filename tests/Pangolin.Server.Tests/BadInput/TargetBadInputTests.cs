using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to targets: PUT /resource/{resourceId}/target, GET|POST|DELETE /target/{targetId}.</summary>
public abstract class TargetBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Creating_a_target_names_each_bad_field()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var path = $"resource/{w.ResourceId}/target";
        var siteId = w.SiteId;

        Problem(await RawAsync(admin, HttpMethod.Put, path, "{\"siteId\":1,\"ip\":\"10.0.0.1\",\"port\":80"), 400, "not valid JSON");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, weight = 5 }), 400, "unknown field \"weight\"");
        Problem(await admin.PutJsonAsync(path, new { ip = "10.0.0.1" }), 400, "siteId is required at \"siteId\"", "port is required at \"port\"");
        Problem(await admin.PutJsonAsync(path, new { siteId = (int?)null, ip = "10.0.0.1", port = 80 }), 400, "must not be null at \"siteId\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = (string?)null, port = 80 }), 400, "must not be null at \"ip\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = "80" }), 400, "expected an integer at \"port\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80.5 }), 400, "expected an integer at \"port\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, enabled = 1 }), 400, "expected true or false at \"enabled\"");

        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 0 }), 400, "between 1 and 65535 at \"port\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 70000 }), 400, "between 1 and 65535 at \"port\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, priority = 0 }), 400, "between 1 and 1000 at \"priority\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, priority = 1001 }), 400, "between 1 and 1000 at \"priority\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "bad host!", port = 80 }), 400, "host name or an IP address at \"ip\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, method = "ftp" }), 400, "must be one of: http, https, h2c at \"method\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, path = "/api", pathMatchType = "glob" }), 400,
            "must be one of: exact, prefix, regex at \"pathMatchType\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, path = "([a-", pathMatchType = "regex" }), 400,
            "path is not a valid regular expression");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, path = "/api" }), 400, "path and pathMatchType go together");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, path = "api", pathMatchType = "prefix" }), 400, "path must start with '/'");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, rewritePath = "/", rewritePathType = "exact" }), 400,
            "a rewrite needs a path match");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, hcInterval = 0 }), 400, "between 1 and 86400 at \"hcInterval\"");
        var timeout = Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, hcEnabled = true, hcInterval = 5, hcTimeout = 10 }), 400,
            "hcTimeout must not exceed hcInterval");
        // Checks across fields still name the field to blame, for forms that show errors at the field.
        Assert.Equal("must not exceed hcInterval", timeout.Body.GetProperty("errors").GetProperty("hcTimeout")[0].GetString());
        var prefix = Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, path = "api", pathMatchType = "exact" }), 400, "path must start with '/'");
        Assert.Equal("must start with '/'", prefix.Body.GetProperty("errors").GetProperty("path")[0].GetString());
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, hcStatus = 600 }), 400, "between 100 and 599 at \"hcStatus\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, hcHeaders = new object?[] { null } }), 400, "\"hcHeaders.0\"");
        Problem(await admin.PutJsonAsync(path, new { siteId, ip = "10.0.0.1", port = 80, hcFollowRedirects = "yes" }), 400,
            "expected true or false at \"hcFollowRedirects\"");

        Problem(await admin.PutJsonAsync(path, new { siteId = 999999, ip = "10.0.0.1", port = 80 }), 404, "Site not found");
        Problem(await admin.PutJsonAsync($"resource/{w.RawResourceId}/target", new { siteId, ip = "10.0.0.1", port = 80, method = "http" }), 400,
            "method applies to HTTP resources only");
        Problem(await admin.PutJsonAsync("resource/999999/target", new { siteId, ip = "10.0.0.1", port = 80 }), 404, "Resource not found");
        Problem(await admin.PutJsonAsync("resource/abc/target", new { siteId, ip = "10.0.0.1", port = 80 }), 400, "\"resourceId\" must be a positive integer");
        Assert.Equal(1, (await admin.GetJsonAsync($"resource/{w.ResourceId}/targets")).Expect(200).Data.GetProperty("targets").GetArrayLength());
        AssertNoUnhandledExceptions();
    }

    [Fact]
    public async Task Updating_reading_and_deleting_targets_refuse_bad_input()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var target = $"target/{w.TargetId}";

        Problem(await EmptyAsync(admin, HttpMethod.Post, target), 400, "A JSON request body is required");
        Problem(await admin.PostJsonAsync(target, new { }), 400, "at least one field is required");
        Problem(await admin.PostJsonAsync(target, new { prot = 80 }), 400, "unknown field \"prot\"");
        Problem(await admin.PostJsonAsync(target, new { port = (int?)null }), 400, "must not be null at \"port\"");
        Problem(await admin.PostJsonAsync(target, new { port = 65536 }), 400, "between 1 and 65535 at \"port\"");
        Problem(await admin.PostJsonAsync(target, new { priority = 5000 }), 400, "between 1 and 1000 at \"priority\"");
        Problem(await admin.PostJsonAsync(target, new { siteId = "1" }), 400, "expected an integer at \"siteId\"");
        Problem(await admin.PostJsonAsync(target, new { siteId = 999999 }), 404, "Site not found");
        Problem(await admin.PostJsonAsync(target, new { path = "/a" }), 400, "path and pathMatchType go together");

        Problem(await admin.GetJsonAsync("target/abc"), 400, "\"targetId\" must be a positive integer");
        Problem(await admin.PostJsonAsync("target/0", new { port = 80 }), 400, "\"targetId\" must be a positive integer");
        Problem(await admin.GetJsonAsync("target/999999"), 404, "Target not found");
        Problem(await admin.PostJsonAsync("target/999999", new { port = 80 }), 404, "Target not found");
        Problem(await admin.DeleteJsonAsync("target/999999"), 404, "Target not found");
        Problem(await admin.GetJsonAsync($"resource/{w.ResourceId}/targets?limit=x"), 400, "\"limit\" must be an integer");
        var unchanged = (await admin.GetJsonAsync(target)).Expect(200).Data;
        Assert.Equal(3000, unchanged.GetProperty("port").GetInt32());
        Assert.Equal(w.SiteId, unchanged.GetProperty("siteId").GetInt32());
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteTargetBadInputTests(PostgresServer postgres) : TargetBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresTargetBadInputTests(PostgresServer postgres) : TargetBadInputTests(DatabaseKind.Postgres, postgres);
