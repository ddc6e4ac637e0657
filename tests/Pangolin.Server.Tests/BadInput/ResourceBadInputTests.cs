using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to resources: PUT /org/{orgId}/resource, GET|POST|DELETE /resource/{resourceId}.</summary>
public abstract class ResourceBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Creating_a_resource_names_each_bad_field_and_refuses_taken_domains_ports_and_nice_ids()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var path = $"org/{OrgId}/resource";

        Problem(await RawAsync(admin, HttpMethod.Put, path, "{\"name\":\"a\",\"http\":tru}"), 400, "not valid JSON");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = true, domainId = "main", subdomain = "x", sso = true }), 400, "unknown field \"sso\"");
        // Upstream's literal message for a missing http.
        Problem(await admin.PutJsonAsync(path, new { name = "a" }), 400, "http field is required");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = "yes" }), 400, "expected true or false at \"http\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = 1 }), 400, "expected true or false at \"http\"");
        Problem(await admin.PutJsonAsync(path, new { http = true, domainId = "main" }), 400, "is required at \"name\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = true }), 400, "is required for an HTTP resource at \"domainId\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = true, domainId = "main", subdomain = "-bad_" }), 400, "\"subdomain\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = true, domainId = "main", subdomain = "x", proxyPort = 8080 }),
            400, "applies to raw TCP/UDP resources only", "\"proxyPort\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = true, domainId = "main", subdomain = "x", postAuthPath = "" }), 400, "\"postAuthPath\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = true, domainId = "main", subdomain = "x", redirectDomains = new string?[] { null } }),
            400, "must not contain null at \"redirectDomains\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = true, domainId = "nope", subdomain = "x" }), 404, "Domain 'nope' not found");

        Problem(await admin.PutJsonAsync(path, new { name = "a", http = false, protocol = "tcp", proxyPort = 0 }), 400, "between 1 and 65535 at \"proxyPort\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = false, protocol = "tcp", proxyPort = 70000 }), 400, "between 1 and 65535 at \"proxyPort\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = false, protocol = "tcp", proxyPort = "7001" }), 400, "expected an integer at \"proxyPort\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = false, protocol = "sctp", proxyPort = 7001 }), 400, "must be one of: tcp, udp at \"protocol\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = false, proxyPort = 7001 }), 400, "is required for a raw resource", "\"protocol\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = false, protocol = "tcp" }), 400, "is required for a raw resource at \"proxyPort\"");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = false, protocol = "tcp", proxyPort = 7001, domainId = "main" }),
            400, "applies to HTTP resources only at \"domainId\"");

        // Duplicates: the full domain, the proxy port of the same protocol, the server's own ports, the niceId.
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = true, domainId = "main", subdomain = "app" }), 409,
            "Resource with domain app.example.test already exists");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = true, domainId = "main", subdomain = "APP" }), 409, "app.example.test already exists");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = false, protocol = "tcp", proxyPort = 7000 }), 409, "already uses port 7000");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = false, protocol = "tcp", proxyPort = 3000 }), 409, "Port 3000 is used by the server itself");
        Problem(await admin.PutJsonAsync(path, new { name = "a", http = true, domainId = "main", subdomain = "other", niceId = w.ResourceNiceId }), 409,
            "already exists", w.ResourceNiceId);
        // The same port with the other protocol is no duplicate.
        (await admin.PutJsonAsync(path, new { name = "Udp", http = false, protocol = "udp", proxyPort = 7000 })).Expect(201);
        AssertNoUnhandledExceptions();
    }

    [Fact]
    public async Task Updating_reading_and_deleting_a_resource_refuse_bad_input()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var second = (await admin.PutJsonAsync($"org/{OrgId}/resource", new { name = "Second", http = true, domainId = "main", subdomain = "second" }))
            .Expect(201).Data;
        var resource = $"resource/{w.ResourceId}";
        var other = $"resource/{second.GetProperty("resourceId").GetInt32()}";
        var raw = $"resource/{w.RawResourceId}";

        Problem(await EmptyAsync(admin, HttpMethod.Post, resource), 400, "A JSON request body is required");
        Problem(await admin.PostJsonAsync(resource, new { }), 400, "at least one field is required");
        Problem(await admin.PostJsonAsync(resource, new { http = false }), 400, "unknown field \"http\"");
        Problem(await admin.PostJsonAsync(resource, new { name = (string?)null }), 400, "must not be null at \"name\"");
        Problem(await admin.PostJsonAsync(resource, new { ssl = "yes" }), 400, "expected true or false at \"ssl\"");
        Problem(await admin.PostJsonAsync(resource, new { enabled = (bool?)null }), 400, "must not be null at \"enabled\"");
        Problem(await admin.PostJsonAsync(resource, new { proxyPort = 8080 }), 400, "\"proxyPort\" does not apply to an HTTP resource");
        Problem(await admin.PostJsonAsync(raw, new { ssl = true }), 400, "\"ssl\" does not apply to a raw TCP/UDP resource");
        Problem(await admin.PostJsonAsync(raw, new { proxyPort = 70000 }), 400, "between 1 and 65535 at \"proxyPort\"");
        Problem(await admin.PostJsonAsync(raw, new { proxyProtocolVersion = 3 }), 400, "\"proxyProtocolVersion\"");
        Problem(await admin.PostJsonAsync(resource, new { maintenanceModeType = "sometimes" }), 400, "must be one of: forced, automatic at \"maintenanceModeType\"");
        Problem(await admin.PostJsonAsync(resource, new { tlsServerName = "not a host" }), 400, "\"tlsServerName\"");
        Problem(await admin.PostJsonAsync(resource, new { skipToIdpId = 0 }), 400, "\"skipToIdpId\"");
        Problem(await admin.PostJsonAsync(resource, new { headers = new[] { new { name = "bad name", value = "x" } } }), 400, "RFC 7230", "\"headers.0\"");
        Problem(await admin.PostJsonAsync(resource, new { headers = new[] { new { name = "X-Ok" } } }), 400, "value is required at \"headers.0\"");
        Problem(await admin.PostJsonAsync(resource, new { headers = new object?[] { null } }), 400, "\"headers.0\"");
        Problem(await admin.PostJsonAsync(resource, new { headers = new[] { new { name = "X-Ok", value = "y", extra = 1 } } }), 400,
            "unknown field \"headers.0.extra\"");
        Problem(await admin.PostJsonAsync(resource, new { headers = new[] { new { name = "X-Ok", value = 5 } } }), 400, "expected a string at \"headers.0.value\"");

        Problem(await admin.PostJsonAsync(other, new { subdomain = "app" }), 409, "Resource with domain app.example.test already exists");
        Problem(await admin.PostJsonAsync(other, new { niceId = w.ResourceNiceId }), 409, "already exists");
        Problem(await admin.PostJsonAsync(other, new { domainId = "nope" }), 404, "Domain 'nope' not found");

        Problem(await admin.GetJsonAsync("resource/abc"), 400, "\"resourceId\" must be a positive integer");
        Problem(await admin.DeleteJsonAsync("resource/-5"), 400, "\"resourceId\" must be a positive integer");
        Problem(await admin.GetJsonAsync("resource/999999"), 404, "Resource not found");
        Problem(await admin.PostJsonAsync("resource/999999", new { name = "x" }), 404, "Resource not found");
        Problem(await admin.DeleteJsonAsync("resource/999999"), 404, "Resource not found");
        Problem(await admin.GetJsonAsync($"org/{OrgId}/resource/nope"), 404, "Resource not found");
        Problem(await admin.GetJsonAsync($"site/{w.SiteId}/resources?pageSize=0"), 400, "\"pageSize\"");
        // The resource is unchanged.
        var app = (await admin.GetJsonAsync(resource)).Expect(200).Data;
        Assert.Equal("App", app.GetProperty("name").GetString());
        Assert.True(app.GetProperty("ssl").GetBoolean());
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteResourceBadInputTests(PostgresServer postgres) : ResourceBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresResourceBadInputTests(PostgresServer postgres) : ResourceBadInputTests(DatabaseKind.Postgres, postgres);
