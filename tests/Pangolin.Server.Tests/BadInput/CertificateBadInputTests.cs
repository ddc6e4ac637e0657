using System.Security.Cryptography;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to certificates: uploads that do not fit, and reads, restarts and deletes of what is not there.</summary>
public abstract class CertificateBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Uploads_that_do_not_fit_are_refused_with_a_message_that_says_why()
    {
        var w = await SeedAsync();
        var admin = w.Admin;
        var path = $"org/{OrgId}/certificate";
        var now = Factory.Clock.GetUtcNow();
        var (chain, key, root) = TestCertificates.Create(["shop.custom.example.org"], now.AddDays(-1), now.AddDays(60));
        root.Dispose();
        var (otherChain, otherKey, otherRoot) = TestCertificates.Create(["shop.custom.example.org"], now.AddDays(-1), now.AddDays(60));
        otherRoot.Dispose();
        object Body(string? domain = "shop.custom.example.org", string? certificate = null, string? privateKey = null, string? domainId = null) =>
            new { domainId = domainId ?? w.CustomDomainId, domain, certificate = certificate ?? chain, privateKey = privateKey ?? key };

        Problem(await RawAsync(admin, HttpMethod.Put, path, "{\"domain\":}"), 400, "not valid JSON");
        Problem(await admin.PutJsonAsync(path, new { domainId = w.CustomDomainId, domain = "shop.custom.example.org", certificate = chain }), 400,
            "is required at \"privateKey\"");
        Problem(await admin.PutJsonAsync(path, new { domainId = w.CustomDomainId, domain = "x.custom.example.org", certificate = chain, privateKey = key, status = "valid" }),
            400, "unknown field \"status\"");
        Problem(await admin.PutJsonAsync(path, Body(certificate: new string('c', 70000))), 400, "\"certificate\"");
        Problem(await admin.PutJsonAsync(path, Body(domainId: "nope")), 404, "Domain not found");
        Problem(await admin.PutJsonAsync(path, Body(domain: "shop.example.test")), 400, "domain must be custom.example.org, a name under it");
        Problem(await admin.PutJsonAsync(path, Body(domain: "not a name")), 400, "domain must be custom.example.org");
        Problem(await admin.PutJsonAsync(path, Body(certificate: "hello")), 400, "certificate must be a PEM certificate chain");
        Problem(await admin.PutJsonAsync(path, Body(certificate: "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")), 400,
            "certificate must be a PEM certificate chain");
        Problem(await admin.PutJsonAsync(path, Body(privateKey: "hello")), 400, "privateKey must be a PEM private key");
        Problem(await admin.PutJsonAsync(path, Body(privateKey: chain)), 400, "privateKey must be a PEM private key");
        Problem(await admin.PutJsonAsync(path, Body(privateKey: "-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n")), 400,
            "privateKey is encrypted");
        Problem(await admin.PutJsonAsync(path, Body(privateKey: otherKey)), 400, "The private key does not match the certificate");
        Problem(await admin.PutJsonAsync(path, Body(certificate: otherChain)), 400, "The private key does not match the certificate");
        using (var rsa = RSA.Create(2048))
        {
            Problem(await admin.PutJsonAsync(path, Body(privateKey: rsa.ExportPkcs8PrivateKeyPem())), 400, "does not match the certificate");
        }
        // Names: the certificate must cover exactly what it is uploaded for.
        Problem(await admin.PutJsonAsync(path, Body(domain: "blog.custom.example.org")), 400, "does not cover blog.custom.example.org", "shop.custom.example.org");
        Problem(await admin.PutJsonAsync(path, Body(domain: "*.custom.example.org")), 400, "does not cover *.custom.example.org");
        // Time: expired, or not valid yet, on the server's clock.
        var (expired, expiredKey, r1) = TestCertificates.Create(["shop.custom.example.org"], now.AddDays(-90), now.AddDays(-1));
        r1.Dispose();
        Problem(await admin.PutJsonAsync(path, Body(certificate: expired, privateKey: expiredKey)), 400, "The certificate expired on");
        var (future, futureKey, r2) = TestCertificates.Create(["shop.custom.example.org"], now.AddDays(2), now.AddDays(90));
        r2.Dispose();
        Problem(await admin.PutJsonAsync(path, Body(certificate: future, privateKey: futureKey)), 400, "The certificate is not valid before");

        // What fits is taken; then reads, restarts and deletes of what is not there.
        var certId = (await admin.PutJsonAsync(path, Body())).Expect(201).Data.GetProperty("certId").GetInt32();
        Problem(await EmptyAsync(admin, HttpMethod.Get, $"{path}/{w.CustomDomainId}/other.custom.example.org"), 404, "Certificate for other.custom.example.org not found");
        Problem(await EmptyAsync(admin, HttpMethod.Get, $"{path}/{w.CustomDomainId}/shop.example.test"), 404, "Certificate for shop.example.test not found");
        Problem(await EmptyAsync(admin, HttpMethod.Get, $"{path}/nope/shop.custom.example.org"), 404, "Domain not found");
        Problem(await EmptyAsync(admin, HttpMethod.Post, $"certificate/{certId}/restart"), 400, "Only ACME certificates are ordered");
        Problem(await EmptyAsync(admin, HttpMethod.Post, "certificate/abc/restart"), 400, "\"certId\" must be a positive integer");
        Problem(await EmptyAsync(admin, HttpMethod.Post, "certificate/999999/restart"), 404, "Certificate not found");
        // The self-signed fallback belongs to no org: nobody restarts or deletes it through the API.
        Problem(await EmptyAsync(admin, HttpMethod.Post, "certificate/1/restart"), 404, "Certificate not found");
        Problem(await EmptyAsync(admin, HttpMethod.Delete, $"{path}/1"), 404, "Certificate not found");
        Problem(await EmptyAsync(admin, HttpMethod.Delete, $"{path}/999999"), 404, "Certificate not found");
        Problem(await EmptyAsync(admin, HttpMethod.Delete, $"{path}/x"), 400, "\"certId\" must be a positive integer");
        (await admin.DeleteJsonAsync($"{path}/{certId}")).Expect(200);
        Problem(await EmptyAsync(admin, HttpMethod.Get, $"{path}/{w.CustomDomainId}/shop.custom.example.org"), 404, "Certificate for shop.custom.example.org not found");
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteCertificateBadInputTests(PostgresServer postgres) : CertificateBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresCertificateBadInputTests(PostgresServer postgres) : CertificateBadInputTests(DatabaseKind.Postgres, postgres);
