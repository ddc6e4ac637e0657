using System.ComponentModel.DataAnnotations;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;
using Pangolin.Server.Edge;

namespace Pangolin.Server.Apis;

/// <summary>
/// The certificates the edge serves for an org's domains: their state (upstream's getCertificate), a new ACME order
/// (restartCertificate), and certificates an admin uploads, which win over ACME ones for the same name.
/// </summary>
public static class CertificateApi
{
    public sealed record UploadCertificateRequest(
        [property: Required, TextLength(1, 64)] string? DomainId,
        [property: Required, TextLength(1, 255)] string? Domain,
        [property: Required, TextLength(1, 65536)] string? Certificate,
        [property: Required, TextLength(1, 16384)] string? PrivateKey);

    public sealed record CertificateDto(
        int CertId, string Domain, string? DomainId, bool Wildcard, string Status, string Source, DateTime? NotBefore, DateTime? ExpiresAt,
        DateTime? LastRenewalAttempt, string? ErrorMessage, int AttemptCount, int RenewalCount, DateTime CreatedAt, DateTime UpdatedAt);

    public sealed record CertificateList(IReadOnlyList<CertificateDto> Certificates);

    private static IQueryable<CertificateDto> Project(IQueryable<Certificate> certificates) =>
        certificates.Select(c => new CertificateDto(c.CertId, c.Domain, c.DomainId, c.Wildcard, c.Status, c.Source, c.NotBefore, c.NotAfter,
            c.LastAttemptAt, c.LastError, c.AttemptCount, c.RenewalCount, c.CreatedAt, c.UpdatedAt));

    public static RouteGroupBuilder MapCertificateApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("").WithTags("Certificates");
        g.MapGet("/org/{orgId}/certificate/{domainId}/{domain}", GetAsync).RequireOrgAction(ActionIds.GetCertificate);
        // Not upstream's: every certificate of the org's domains at once (the dashboard's domains page), optionally of one domain.
        g.MapGet("/org/{orgId}/certificates", ListAsync).RequireOrgAction(ActionIds.GetCertificate);
        g.MapPost("/certificate/{certId}/restart", RestartAsync).RequireOrgAction(ActionIds.RestartCertificate);
        // Uploading or deleting a certificate changes how an org domain is served: the domain's own action.
        g.MapPut("/org/{orgId}/certificate", UploadAsync).RequireOrgAction(ActionIds.UpdateOrgDomain);
        g.MapDelete("/org/{orgId}/certificate/{certId}", DeleteAsync).RequireOrgAction(ActionIds.UpdateOrgDomain);
        return api;
    }

    private static async Task<Domain> OrgDomainAsync(PangolinDbContext db, string orgId, string domainId, CancellationToken ct) =>
        await db.Domains.AsNoTracking()
            .Where(d => d.DomainId == domainId && db.OrgDomains.Any(od => od.OrgId == orgId && od.DomainId == d.DomainId))
            .FirstOrDefaultAsync(ct) ?? throw ApiException.NotFound("Domain not found");

    /// <summary>A host or one-label wildcard under the domain, lower case; else a 400 that says what is allowed.</summary>
    private static string NameUnder(Domain domain, string name) => TryNameUnder(domain, name)
        ?? throw ApiException.BadRequest($"Validation error: domain must be {domain.BaseDomain}, a name under it, or *. and such a name");

    private static string? TryNameUnder(Domain domain, string name)
    {
        var lower = name.Trim().ToLowerInvariant();
        var host = lower.StartsWith("*.", StringComparison.Ordinal) ? lower[2..] : lower;
        var baseDomain = domain.BaseDomain.ToLowerInvariant();
        return Syntax.IsDomainName(host) && (host == baseDomain || host.EndsWith("." + baseDomain, StringComparison.Ordinal)) ? lower : null;
    }

    private static async Task<IResult> GetAsync(string orgId, string domainId, string domain, PangolinDbContext db, CancellationToken ct)
    {
        var owner = await OrgDomainAsync(db, orgId, domainId, ct);
        // A name outside the domain has no certificate in it: not found, as upstream answers.
        var name = TryNameUnder(owner, domain) ?? throw ApiException.NotFound($"Certificate for {domain} not found in {owner.BaseDomain}");
        var dot = name.IndexOf('.', StringComparison.Ordinal);
        var wildcard = name.StartsWith("*.", StringComparison.Ordinal) || dot < 0 ? null : "*" + name[dot..];
        // What the edge serves for the name: its own certificate first, then its wildcard; uploaded before ACME.
        var candidates = await Project(db.Certificates.AsNoTracking()
            .Where(c => c.DomainId == domainId && (c.Domain == name || c.Domain == wildcard))).ToListAsync(ct);
        var found = candidates
            .OrderBy(c => c.Domain == name ? 0 : 1)
            .ThenBy(c => c.Source == CertificateSource.Uploaded ? 0 : 1)
            .FirstOrDefault() ?? throw ApiException.NotFound($"Certificate for {name} not found (none issued or uploaded yet)");
        return Api.Ok(found, "Certificate retrieved");
    }

    /// <summary>
    /// The org's certificates: those it uploaded, and the ACME ones of its domains. On a domain the server's configuration
    /// shares between orgs, an ACME certificate of a single name is listed only to the org whose resource has that name,
    /// so that one org does not learn another's host names.
    /// </summary>
    private static async Task<IResult> ListAsync(string orgId, string? domainId, PangolinDbContext db, CancellationToken ct)
    {
        var certificates = db.Certificates.AsNoTracking().Where(c => c.OrgId == orgId
            || (c.OrgId == null && db.OrgDomains.Any(od => od.OrgId == orgId && od.DomainId == c.DomainId)
                && (c.Wildcard
                    || db.Domains.Any(d => d.DomainId == c.DomainId && !d.ConfigManaged)
                    || db.Resources.Any(r => r.OrgId == orgId && r.DomainId == c.DomainId && r.FullDomain == c.Domain))));
        if (domainId is { Length: > 0 })
        {
            certificates = certificates.Where(c => c.DomainId == domainId);
        }
        var list = await Project(certificates.OrderBy(c => c.Domain).ThenBy(c => c.Source)).ToListAsync(ct);
        return Api.Ok(new CertificateList(list), "Certificates retrieved");
    }

    private static async Task<IResult> RestartAsync(int certId, PangolinDbContext db, TimeProvider time, CancellationToken ct)
    {
        var certificate = await db.Certificates.FirstOrDefaultAsync(c => c.CertId == certId, ct) ?? throw ApiException.NotFound("Certificate not found");
        if (certificate.Source != CertificateSource.Acme)
        {
            throw ApiException.BadRequest("Only ACME certificates are ordered; upload a new certificate to replace this one");
        }
        // Pending orders again at once; a certificate that still works keeps serving until the new one is in.
        certificate.Status = CertificateStatus.Pending;
        certificate.AttemptCount = 0;
        certificate.LastAttemptAt = null;
        certificate.LastError = null;
        certificate.UpdatedAt = time.GetUtcNow().UtcDateTime;
        await db.SaveChangesAsync(ct);
        return Api.Ok(await Project(db.Certificates.AsNoTracking().Where(c => c.CertId == certId)).FirstAsync(ct), "Certificate restarted");
    }

    private static async Task<IResult> UploadAsync(string orgId, UploadCertificateRequest request, PangolinDbContext db, SecretProtector protector,
        TimeProvider time, CancellationToken ct)
    {
        var domain = await OrgDomainAsync(db, orgId, request.DomainId!, ct);
        var name = NameUnder(domain, request.Domain!);
        var wildcard = name.StartsWith("*.", StringComparison.Ordinal);
        var now = time.GetUtcNow().UtcDateTime;
        var (chain, keyPem) = ReadChain(request.Certificate!, request.PrivateKey!);
        using var leaf = chain[0];
        try
        {
            if (leaf.NotAfter.ToUniversalTime() <= now)
            {
                throw ApiException.BadRequest($"The certificate expired on {leaf.NotAfter.ToUniversalTime():yyyy-MM-dd HH:mm} UTC");
            }
            if (leaf.NotBefore.ToUniversalTime() > now)
            {
                throw ApiException.BadRequest($"The certificate is not valid before {leaf.NotBefore.ToUniversalTime():yyyy-MM-dd HH:mm} UTC");
            }
            var names = leaf.Extensions.OfType<X509SubjectAlternativeNameExtension>().SelectMany(e => e.EnumerateDnsNames()).ToList();
            var covers = wildcard
                ? names.Any(n => string.Equals(n, name, StringComparison.OrdinalIgnoreCase))
                : leaf.MatchesHostname(name, allowWildcards: true, allowCommonName: false);
            if (!covers)
            {
                throw ApiException.BadRequest($"The certificate does not cover {name}; it names {(names.Count == 0 ? "no DNS name" : string.Join(", ", names))}");
            }

            // A name of another org's resource on a shared domain is theirs to secure.
            var others = await db.Resources.AsNoTracking()
                .Where(r => r.DomainId == domain.DomainId && r.OrgId != orgId && r.FullDomain != null)
                .Select(r => r.FullDomain!).ToListAsync(ct);
            if (others.Any(host => wildcard ? host.EndsWith(name[1..], StringComparison.OrdinalIgnoreCase) && !host[..^(name.Length - 1)].Contains('.', StringComparison.Ordinal)
                : string.Equals(host, name, StringComparison.OrdinalIgnoreCase)))
            {
                throw ApiException.Conflict($"{name} serves a resource of another organization");
            }
            var existing = await db.Certificates.FirstOrDefaultAsync(c => c.Domain == name && c.Source == CertificateSource.Uploaded, ct);
            if (existing is not null && existing.OrgId != orgId)
            {
                throw ApiException.Conflict($"Another organization uploaded a certificate for {name}");
            }
            var row = existing ?? new Certificate
            {
                Domain = name,
                Status = CertificateStatus.Valid,
                Source = CertificateSource.Uploaded,
                CreatedAt = now,
            };
            row.DomainId = domain.DomainId;
            row.OrgId = orgId;
            row.Wildcard = wildcard;
            row.Status = CertificateStatus.Valid;
            row.NotBefore = leaf.NotBefore.ToUniversalTime();
            row.NotAfter = leaf.NotAfter.ToUniversalTime();
            row.ChainPem = CertificatePem.Export(chain);
            row.KeyEncrypted = protector.Protect(keyPem);
            row.LastError = null;
            row.AttemptCount = 0;
            row.UpdatedAt = now;
            if (existing is null)
            {
                db.Certificates.Add(row);
            }
            await db.SaveChangesAsync(ct);
            return Api.Created(await Project(db.Certificates.AsNoTracking().Where(c => c.CertId == row.CertId)).FirstAsync(ct), "Certificate uploaded");
        }
        finally
        {
            for (var i = 1; i < chain.Count; i++)
            {
                chain[i].Dispose();
            }
        }
    }

    /// <summary>The chain (leaf first, its key checked) and the key as PKCS#8 PEM; a 400 naming the field for anything else.</summary>
    private static (X509Certificate2Collection Chain, string KeyPem) ReadChain(string certificatePem, string privateKeyPem)
    {
        var chain = new X509Certificate2Collection();
        try
        {
            chain.ImportFromPem(certificatePem);
        }
        catch (CryptographicException)
        {
            chain.Clear();
        }
        if (chain.Count == 0)
        {
            throw ApiException.BadRequest("Validation error: certificate must be a PEM certificate chain (-----BEGIN CERTIFICATE-----), the server's certificate first");
        }
        if (!PemEncoding.TryFind(privateKeyPem, out var fields) || !privateKeyPem[fields.Label].EndsWith("PRIVATE KEY", StringComparison.Ordinal))
        {
            Dispose(chain);
            throw ApiException.BadRequest("Validation error: privateKey must be a PEM private key (-----BEGIN PRIVATE KEY-----)");
        }
        if (privateKeyPem[fields.Label] == "ENCRYPTED PRIVATE KEY")
        {
            Dispose(chain);
            throw ApiException.BadRequest("Validation error: privateKey is encrypted; upload it without a passphrase (it is stored encrypted)");
        }
        try
        {
            using var withKey = X509Certificate2.CreateFromPem(chain[0].ExportCertificatePem(), privateKeyPem);
            // Stored as PKCS#8 whatever form it came in, so that loading it later needs no guessing.
            using var key = (AsymmetricAlgorithm?)withKey.GetECDsaPrivateKey() ?? withKey.GetRSAPrivateKey()
                ?? throw new CryptographicException("Only RSA and ECDSA keys are supported.");
            return (chain, key.ExportPkcs8PrivateKeyPem());
        }
        catch (Exception e) when (e is CryptographicException or ArgumentException)
        {
            // CopyWithPrivateKey says "does not match" with an ArgumentException; an unreadable key is a CryptographicException.
            Dispose(chain);
            throw ApiException.BadRequest("The private key does not match the certificate (the first certificate of the chain must be the server's)");
        }
    }

    private static void Dispose(X509Certificate2Collection chain)
    {
        foreach (var certificate in chain)
        {
            certificate.Dispose();
        }
    }

    private static async Task<IResult> DeleteAsync(string orgId, int certId, PangolinDbContext db, CancellationToken ct)
    {
        var certificate = await db.Certificates.AsNoTracking()
            .Where(c => c.CertId == certId && (c.OrgId == orgId || (c.OrgId == null && db.OrgDomains.Any(od => od.OrgId == orgId && od.DomainId == c.DomainId))))
            .Select(c => new { c.Source })
            .FirstOrDefaultAsync(ct) ?? throw ApiException.NotFound("Certificate not found");
        if (certificate.Source != CertificateSource.Uploaded)
        {
            throw ApiException.BadRequest("Only uploaded certificates can be deleted; ACME certificates follow their resources");
        }
        await db.Certificates.Where(c => c.CertId == certId).ExecuteDeleteAsync(ct);
        return Api.Done("Certificate deleted");
    }
}
