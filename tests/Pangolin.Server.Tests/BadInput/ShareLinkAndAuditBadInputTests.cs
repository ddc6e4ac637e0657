using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to share links (access tokens) and to the action audit log's query.</summary>
public abstract class ShareLinkAndAuditBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Share_links_refuse_bad_input_and_missing_resources_and_tokens()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var path = $"resource/{w.ResourceId}/access-token";

        Problem(await EmptyAsync(admin, HttpMethod.Post, path), 400, "A JSON request body is required");
        Problem(await RawAsync(admin, HttpMethod.Post, path, "{\"title\":\"x\"", "application/json"), 400, "not valid JSON");
        Problem(await admin.PostJsonAsync(path, new { title = "x", expires = 5 }), 400, "unknown field \"expires\"");
        Problem(await admin.PostJsonAsync(path, new { validForSeconds = 0 }), 400, "between 1 and 315360000", "\"validForSeconds\"");
        Problem(await admin.PostJsonAsync(path, new { validForSeconds = 315360001L }), 400, "\"validForSeconds\"");
        Problem(await admin.PostJsonAsync(path, new { validForSeconds = "60" }), 400, "expected an integer at \"validForSeconds\"");
        Problem(await admin.PostJsonAsync(path, new { title = new string('t', 256) }), 400, "\"title\"");
        Problem(await admin.PostJsonAsync(path, new { persistSession = "yes" }), 400, "expected true or false at \"persistSession\"");
        Problem(await admin.PostJsonAsync(path, new { path = "no-slash" }), 400, "path must start with '/'");
        Problem(await admin.PostJsonAsync(path, new { userId = "nope" }), 400, "userId must be a member of this organization");
        Problem(await admin.PostJsonAsync("resource/999999/access-token", new { }), 404, "Resource not found");
        Problem(await admin.PostJsonAsync("resource/abc/access-token", new { }), 400, "\"resourceId\" must be a positive integer");
        Problem(await admin.DeleteJsonAsync("access-token/nope"), 404, "Access token not found");
        Problem(await admin.GetJsonAsync($"org/{OrgId}/access-tokens?page=0"), 400, "\"page\"");
        var tokens = (await admin.GetJsonAsync($"{path}s")).Expect(200).Data.GetProperty("accessTokens");
        Assert.Equal(w.AccessTokenId, Assert.Single(tokens.EnumerateArray()).GetProperty("accessTokenId").GetString());
        AssertNoUnhandledExceptions();
    }

    [Fact]
    public async Task The_request_log_query_refuses_bad_values_and_names_the_parameter()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var log = $"org/{OrgId}/logs/request";

        Problem(await admin.GetJsonAsync($"{log}?timeStart=yesterday"), 400, "\"timeStart\" must be a date and time");
        Problem(await admin.GetJsonAsync($"{log}?resourceId=abc"), 400, "\"resourceId\" must be an integer");
        Problem(await admin.GetJsonAsync($"{log}?action=maybe"), 400, "\"action\"");
        Problem(await admin.GetJsonAsync($"{log}?reason=42"), 400, "\"reason\"");
        Problem(await admin.GetJsonAsync($"{log}?host=" + new string('a', 254)), 400, "\"host\"");
        Problem(await admin.GetJsonAsync($"{log}?limit=0"), 400, "between 1 and 10000", "\"limit\"");
        Problem(await admin.GetJsonAsync("org/nope/logs/request"), 404, "Organization not found");
        Assert.Equal(0, (await admin.GetJsonAsync($"{log}?action=false&reason=203")).Expect(200).Data.GetProperty("log").GetArrayLength());
        AssertNoUnhandledExceptions();
    }

    [Fact]
    public async Task The_audit_log_query_refuses_bad_values_and_names_the_parameter()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var log = $"org/{OrgId}/logs/action";

        Problem(await admin.GetJsonAsync($"{log}?timeStart=yesterday"), 400, "\"timeStart\" must be a date and time");
        Problem(await admin.GetJsonAsync($"{log}?timeEnd=2026-13-45"), 400, "\"timeEnd\" must be a date and time");
        Problem(await admin.GetJsonAsync($"{log}?limit=abc"), 400, "\"limit\" must be an integer");
        Problem(await admin.GetJsonAsync($"{log}?limit=0"), 400, "between 1 and 10000", "\"limit\"");
        Problem(await admin.GetJsonAsync($"{log}?limit=10001"), 400, "between 1 and 10000", "\"limit\"");
        Problem(await admin.GetJsonAsync($"{log}?offset=-1"), 400, "\"offset\"");
        Problem(await admin.GetJsonAsync($"{log}?page=1.5"), 400, "\"page\" must be an integer");
        Problem(await admin.GetJsonAsync($"{log}?order=newest"), 400, "must be one of: asc, desc at \"order\"");
        Problem(await admin.GetJsonAsync($"{log}?action=" + new string('a', 101)), 400, "at most 100", "\"action\"");
        Problem(await admin.GetJsonAsync($"{log}?actorId=" + new string('a', 65)), 400, "\"actorId\"");
        Problem(await admin.GetJsonAsync("org/nope/logs/action"), 404, "Organization not found");
        // A good query works, and the refused requests above were not logged as changes.
        var entries = (await admin.GetJsonAsync($"{log}?timeStart=2026-01-01T00:00:00Z&limit=500&order=desc")).Expect(200).Data.GetProperty("log");
        Assert.True(entries.GetArrayLength() > 0);
        Assert.All(entries.EnumerateArray(), e => Assert.True(e.GetProperty("status").GetInt32() < 400));
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteShareLinkAndAuditBadInputTests(PostgresServer postgres) : ShareLinkAndAuditBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresShareLinkAndAuditBadInputTests(PostgresServer postgres) : ShareLinkAndAuditBadInputTests(DatabaseKind.Postgres, postgres);
