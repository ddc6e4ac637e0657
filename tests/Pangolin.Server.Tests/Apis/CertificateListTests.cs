using Microsoft.Extensions.DependencyInjection;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Apis;

/// <summary>GET /org/{orgId}/certificates: an org's uploaded certificates and its domains' ACME ones, not another org's names.</summary>
public sealed class CertificateListTests(PostgresServer postgres) : ServerTestBase(DatabaseKind.Sqlite, postgres)
{
    private async Task AcmeAsync(string name, string domainId, string status = CertificateStatus.Pending, string? error = null)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var now = Factory.Clock.GetUtcNow().UtcDateTime;
        db.Certificates.Add(new Certificate
        {
            Domain = name, DomainId = domainId, Wildcard = name.StartsWith("*.", StringComparison.Ordinal), Status = status,
            Source = CertificateSource.Acme, LastError = error, CreatedAt = now, UpdatedAt = now,
        });
        await db.SaveChangesAsync();
    }

    private static List<string> Names(ApiReply reply) =>
        reply.Expect(200).Data.GetProperty("certificates").EnumerateArray().Select(c => $"{c.GetProperty("domain").GetString()} {c.GetProperty("source").GetString()}").ToList();

    [Fact]
    public async Task An_org_sees_its_uploaded_and_its_own_acme_certificates_but_not_another_orgs_names_on_a_shared_domain()
    {
        using var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await CreateOrgAsync(admin, "beta");
        (await admin.PutJsonAsync("org/acme/resource", new { name = "App", http = true, domainId = "main", subdomain = "app" })).Expect(201);
        (await admin.PutJsonAsync("org/beta/resource", new { name = "Shop", http = true, domainId = "main", subdomain = "shop" })).Expect(201);
        var own = (await admin.PutJsonAsync("org/acme/domain", new { type = "cname", baseDomain = "own.example.org" })).Expect(201).Data.GetProperty("domainId").GetString()!;
        await AcmeAsync("app.example.test", "main", CertificateStatus.Valid);
        await AcmeAsync("shop.example.test", "main");
        await AcmeAsync("*.example.test", "main");
        await AcmeAsync("own.example.org", own, CertificateStatus.Failed, "DNS problem: NXDOMAIN");
        var now = Factory.Clock.GetUtcNow();
        var (chain, key, root) = TestCertificates.Create(["up.example.test"], now.AddDays(-1), now.AddDays(90));
        root.Dispose();
        (await admin.PutJsonAsync("org/acme/certificate", new { domainId = "main", domain = "up.example.test", certificate = chain, privateKey = key })).Expect(201);

        Assert.Equal(["*.example.test acme", "app.example.test acme", "own.example.org acme", "up.example.test uploaded"],
            Names(await admin.GetJsonAsync("org/acme/certificates")));
        Assert.Equal(["*.example.test acme", "shop.example.test acme"], Names(await admin.GetJsonAsync("org/beta/certificates")));
        Assert.Equal(["own.example.org acme"], Names(await admin.GetJsonAsync($"org/acme/certificates?domainId={own}")));

        var failed = (await admin.GetJsonAsync($"org/acme/certificates?domainId={own}")).Data.GetProperty("certificates")[0];
        Assert.Equal(("failed", "DNS problem: NXDOMAIN"), (failed.GetProperty("status").GetString(), failed.GetProperty("errorMessage").GetString()));
        var uploaded = (await admin.GetJsonAsync("org/acme/certificates")).Data.GetProperty("certificates")[3];
        Assert.Equal(now.AddDays(90).UtcDateTime, uploaded.GetProperty("expiresAt").GetDateTime(), TimeSpan.FromSeconds(1));
    }
}
