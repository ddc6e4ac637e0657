using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to domains: PUT /org/{orgId}/domain and /org/{orgId}/domain/{domainId}.</summary>
public abstract class DomainBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Domains_refuse_bad_names_types_duplicates_and_missing_domains()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var path = $"org/{OrgId}/domain";

        Problem(await RawAsync(admin, HttpMethod.Put, path, "{\"type\":\"cname\",\"baseDomain\":}"), 400, "not valid JSON");
        Problem(await admin.PutJsonAsync(path, new { type = "cname", baseDomain = "x.example.org", verified = true }), 400, "unknown field \"verified\"");
        Problem(await admin.PutJsonAsync(path, new { type = "cname" }), 400, "is required at \"baseDomain\"");
        Problem(await admin.PutJsonAsync(path, new { baseDomain = "x.example.org" }), 400, "is required at \"type\"");
        Problem(await admin.PutJsonAsync(path, new { type = "a", baseDomain = "x.example.org" }), 400, "must be one of: ns, cname, wildcard at \"type\"");
        Problem(await admin.PutJsonAsync(path, new { type = "cname", baseDomain = "not a domain" }), 400, "domain name", "\"baseDomain\"");
        Problem(await admin.PutJsonAsync(path, new { type = "cname", baseDomain = "-bad.example.org" }), 400, "\"baseDomain\"");
        Problem(await admin.PutJsonAsync(path, new { type = "cname", baseDomain = "localhost" }), 400, "baseDomain must have at least two labels");
        Problem(await admin.PutJsonAsync(path, new { type = "cname", baseDomain = 5 }), 400, "expected a string at \"baseDomain\"");
        Problem(await admin.PutJsonAsync(path, new { type = "cname", baseDomain = "x.example.org", preferWildcardCert = "yes" }), 400,
            "expected true or false at \"preferWildcardCert\"");
        Problem(await admin.PutJsonAsync(path, new { type = "cname", baseDomain = "x.example.org", certResolver = new string('c', 65) }), 400, "\"certResolver\"");
        Problem(await admin.PutJsonAsync(path, new { type = "ns", baseDomain = "x.example.org" }), 400, "use 'cname' or 'wildcard'");
        Problem(await admin.PutJsonAsync(path, new { type = "cname", baseDomain = "custom.example.org" }), 409, "The domain custom.example.org is already in use");
        Problem(await admin.PutJsonAsync(path, new { type = "wildcard", baseDomain = "CUSTOM.example.org" }), 409, "custom.example.org is already in use");
        Problem(await admin.PutJsonAsync(path, new { type = "cname", baseDomain = "example.test" }), 409, "example.test is already in use");

        var custom = $"{path}/{w.CustomDomainId}";
        Problem(await admin.PostJsonAsync(custom, new { }), 400, "at least one field is required");
        Problem(await admin.PatchJsonAsync(custom, new { preferWildcardCert = (bool?)null }), 400, "must not be null at \"preferWildcardCert\"");
        Problem(await admin.PostJsonAsync(custom, new { baseDomain = "other.example.org" }), 400, "unknown field \"baseDomain\"");
        Problem(await admin.PostJsonAsync($"{path}/main", new { preferWildcardCert = true }), 400, "managed in the server's configuration");
        Problem(await admin.DeleteJsonAsync($"{path}/main"), 400, "managed in the server's configuration");
        Problem(await EmptyAsync(admin, HttpMethod.Post, $"{path}/main/restart"), 400, "managed in the server's configuration");

        foreach (var (method, suffix) in new[] { (HttpMethod.Get, ""), (HttpMethod.Delete, ""), (HttpMethod.Get, "/dns-records"), (HttpMethod.Post, "/restart") })
        {
            Problem(await EmptyAsync(admin, method, $"{path}/nope{suffix}"), 404, "Domain not found");
        }
        Problem(await admin.PostJsonAsync($"{path}/nope", new { preferWildcardCert = true }), 404, "Domain not found");
        Problem(await admin.PatchJsonAsync($"{path}/nope", new { preferWildcardCert = true }), 404, "Domain not found");

        // A domain in use by a resource is a conflict, not a silent delete.
        (await admin.PutJsonAsync($"org/{OrgId}/resource", new { name = "Shop", http = true, domainId = w.CustomDomainId, subdomain = "shop" })).Expect(201);
        Problem(await admin.DeleteJsonAsync(custom), 409, "used by 1 resource(s)");
        Assert.Equal(2, (await admin.GetJsonAsync($"org/{OrgId}/domains")).Expect(200).Data.GetProperty("domains").GetArrayLength());
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteDomainBadInputTests(PostgresServer postgres) : DomainBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresDomainBadInputTests(PostgresServer postgres) : DomainBadInputTests(DatabaseKind.Postgres, postgres);
