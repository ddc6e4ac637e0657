using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Apis;

/// <summary>
/// Domains an org publishes resources under: the server's config-managed domains, and domains the org adds
/// (cname or wildcard), each with the DNS records the admin must create.
/// </summary>
public static class DomainApi
{
    public sealed record CreateDomainRequest(
        [property: Required, OneOf("ns", "cname", "wildcard")] string? Type,
        [property: Required, DomainName] string? BaseDomain,
        [property: StringLength(64)] string? CertResolver = null,
        bool? PreferWildcardCert = null);

    public sealed record UpdateDomainRequest
    {
        [TextLength(0, 64)]
        public Optional<string?> CertResolver { get; init; }

        [NonNull]
        public Optional<bool> PreferWildcardCert { get; init; }
    }

    public sealed record DomainDto(
        string DomainId, string BaseDomain, bool Verified, string Type, bool Failed, int Tries, bool ConfigManaged, string? CertResolver,
        bool PreferWildcardCert);

    public sealed record DomainList(IReadOnlyList<DomainDto> Domains, Pagination Pagination);

    public sealed record RecordDto(string RecordType, string BaseDomain, string Value, bool Verified);

    public sealed record CreatedDomain(
        string DomainId, string BaseDomain, string Type, bool Verified, IReadOnlyList<RecordDto> CnameRecords,
        IReadOnlyList<RecordDto> ARecords, IReadOnlyList<RecordDto> TxtRecords, IReadOnlyList<RecordDto> NsRecords);

    public sealed record RecordList(IReadOnlyList<RecordDto> Records);

    private static IQueryable<Domain> OrgDomains(PangolinDbContext db, string orgId) =>
        db.Domains.Where(d => db.OrgDomains.Any(od => od.OrgId == orgId && od.DomainId == d.DomainId));

    private static IQueryable<DomainDto> Project(IQueryable<Domain> domains) =>
        domains.Select(d => new DomainDto(d.DomainId, d.BaseDomain, d.Verified, d.Type, d.Failed, d.Tries, d.ConfigManaged, d.CertResolver, d.PreferWildcardCert));

    public static RouteGroupBuilder MapDomainApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("/org/{orgId}").WithTags("Domains");
        g.MapGet("/domains", ListAsync).RequireOrgAction(ActionIds.ListOrgDomains);
        g.MapPut("/domain", CreateAsync).RequireOrgAction(ActionIds.CreateOrgDomain);
        g.MapGet("/domain/{domainId}", GetAsync).RequireOrgAction(ActionIds.GetDomain);
        g.MapPost("/domain/{domainId}", UpdateAsync).RequireOrgAction(ActionIds.UpdateOrgDomain);
        g.MapPatch("/domain/{domainId}", UpdateAsync).RequireOrgAction(ActionIds.UpdateOrgDomain);
        g.MapDelete("/domain/{domainId}", DeleteAsync).RequireOrgAction(ActionIds.DeleteOrgDomain);
        g.MapGet("/domain/{domainId}/dns-records", RecordsAsync).RequireOrgAction(ActionIds.GetDnsRecords);
        g.MapPost("/domain/{domainId}/restart", RestartAsync).RequireOrgAction(ActionIds.RestartOrgDomain);
        return api;
    }

    private static async Task<IResult> ListAsync(string orgId, [AsParameters] ListQuery query, PangolinDbContext db, CancellationToken ct)
    {
        var (items, pagination) = await query.ApplyAsync(Project(OrgDomains(db, orgId).OrderBy(d => d.BaseDomain)), ct);
        return Api.Ok(new DomainList(items, pagination), "Domains retrieved");
    }

    private static async Task<IResult> CreateAsync(string orgId, CreateDomainRequest request, PangolinDbContext db, IOptions<AppOptions> app,
        TimeProvider time, CancellationToken ct)
    {
        if (request.Type == "ns")
        {
            throw ApiException.BadRequest("Domains of type 'ns' need Pangolin Cloud's name servers; use 'cname' or 'wildcard' on a self-hosted server");
        }
        var baseDomain = request.BaseDomain!.ToLowerInvariant();
        if (!baseDomain.Contains('.', StringComparison.Ordinal))
        {
            throw ApiException.BadRequest("Validation error: baseDomain must have at least two labels, such as example.com");
        }
        if (await db.Domains.AnyAsync(d => d.BaseDomain == baseDomain, ct))
        {
            throw ApiException.Conflict($"The domain {baseDomain} is already in use");
        }
        var target = new Uri(app.Value.DashboardUrl).Host;
        var domain = new Domain
        {
            DomainId = Secrets.Id(15),
            BaseDomain = baseDomain,
            Type = request.Type!,
            CertResolver = request.CertResolver,
            PreferWildcardCert = request.PreferWildcardCert ?? request.Type == "wildcard",
            CreatedAt = time.GetUtcNow().UtcDateTime,
        };
        // The records that point the domain at this server; verification (a DNS lookup) comes with certificates.
        var records = request.Type == "wildcard"
            ? new[] { new DnsRecord { DomainId = domain.DomainId, RecordType = "CNAME", BaseDomain = $"*.{baseDomain}", Value = target } }
            : [new DnsRecord { DomainId = domain.DomainId, RecordType = "CNAME", BaseDomain = baseDomain, Value = target }];
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        db.Domains.Add(domain);
        db.OrgDomains.Add(new OrgDomain { OrgId = orgId, DomainId = domain.DomainId });
        db.DnsRecords.AddRange(records);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        var dtos = records.Select(r => new RecordDto(r.RecordType, r.BaseDomain, r.Value, r.Verified)).ToList();
        return Api.Created(new CreatedDomain(domain.DomainId, domain.BaseDomain, domain.Type, domain.Verified, dtos, [], [], []), "Domain created successfully");
    }

    private static async Task<DomainDto> FindAsync(PangolinDbContext db, string orgId, string domainId, CancellationToken ct) =>
        await Project(OrgDomains(db, orgId).Where(d => d.DomainId == domainId)).FirstOrDefaultAsync(ct) ?? throw ApiException.NotFound("Domain not found");

    private static async Task<IResult> GetAsync(string orgId, string domainId, PangolinDbContext db, CancellationToken ct) =>
        Api.Ok(await FindAsync(db, orgId, domainId, ct), "Domain retrieved");

    private static async Task<IResult> UpdateAsync(string orgId, string domainId, UpdateDomainRequest request, PangolinDbContext db, CancellationToken ct)
    {
        var dto = await FindAsync(db, orgId, domainId, ct);
        if (dto.ConfigManaged)
        {
            throw ApiException.BadRequest("This domain is managed in the server's configuration (Domains section)");
        }
        if (!(request.CertResolver.IsSet || request.PreferWildcardCert.IsSet))
        {
            throw ApiException.BadRequest("Validation error: at least one field is required");
        }
        var domain = await db.Domains.FirstAsync(d => d.DomainId == domainId, ct);
        domain.CertResolver = request.CertResolver.Or(domain.CertResolver);
        domain.PreferWildcardCert = request.PreferWildcardCert.Or(domain.PreferWildcardCert);
        await db.SaveChangesAsync(ct);
        return Api.Ok(await FindAsync(db, orgId, domainId, ct), "Domain updated successfully");
    }

    private static async Task<IResult> DeleteAsync(string orgId, string domainId, PangolinDbContext db, CancellationToken ct)
    {
        var dto = await FindAsync(db, orgId, domainId, ct);
        if (dto.ConfigManaged)
        {
            throw ApiException.BadRequest("This domain is managed in the server's configuration (Domains section) and cannot be deleted here");
        }
        var inUse = await db.Resources.CountAsync(r => r.DomainId == domainId, ct);
        if (inUse > 0)
        {
            throw ApiException.Conflict($"The domain is used by {inUse} resource(s); move or delete them first");
        }
        await db.Domains.Where(d => d.DomainId == domainId).ExecuteDeleteAsync(ct);
        return Api.Done("Domain deleted successfully");
    }

    private static async Task<IResult> RecordsAsync(string orgId, string domainId, PangolinDbContext db, CancellationToken ct)
    {
        await FindAsync(db, orgId, domainId, ct);
        var records = await db.DnsRecords.Where(r => r.DomainId == domainId)
            .Select(r => new RecordDto(r.RecordType, r.BaseDomain, r.Value, r.Verified)).ToListAsync(ct);
        return Api.Ok(new RecordList(records), "DNS records retrieved");
    }

    private static async Task<IResult> RestartAsync(string orgId, string domainId, PangolinDbContext db, CancellationToken ct)
    {
        var dto = await FindAsync(db, orgId, domainId, ct);
        if (dto.ConfigManaged)
        {
            throw ApiException.BadRequest("This domain is managed in the server's configuration and needs no verification");
        }
        await db.Domains.Where(d => d.DomainId == domainId)
            .ExecuteUpdateAsync(u => u.SetProperty(d => d.Tries, 0).SetProperty(d => d.Failed, false), ct);
        return Api.Done("Domain verification restarted");
    }
}
