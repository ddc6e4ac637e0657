using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.Auth;
using Pangolin.Server.ControlChannel;

namespace Pangolin.Server.Apis;

/// <summary>Sites: PUT /org/{orgId}/site, GET /org/{orgId}/sites, GET|POST|DELETE /site/{siteId}, and their grants.</summary>
public static class SiteApi
{
    public sealed record CreateSiteRequest(
        [property: Required, StringLength(255, MinimumLength = 1)] string? Name,
        [property: Required, OneOf("newt", "wireguard", "local")] string? Type,
        [property: Range(1, int.MaxValue)] int? ExitNodeId = null,
        [property: NiceId] string? NiceId = null,
        [property: StringLength(64, MinimumLength = 40)] string? PubKey = null,
        [property: Cidr] string? Subnet = null,
        [property: StringLength(64, MinimumLength = 8), RegularExpression("^[A-Za-z0-9_-]+$", ErrorMessage = "must be letters, digits, '_' or '-'")] string? NewtId = null,
        [property: StringLength(256, MinimumLength = 32)] string? Secret = null,
        [property: IpAddress] string? Address = null) : IValidatableObject
    {
        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (Type == "wireguard")
            {
                if (PubKey is null)
                {
                    yield return new ValidationResult("is required for a wireguard site", [nameof(PubKey)]);
                }
                if (ExitNodeId is null)
                {
                    yield return new ValidationResult("is required for a wireguard site", [nameof(ExitNodeId)]);
                }
                if (Subnet is null)
                {
                    yield return new ValidationResult("is required for a wireguard site", [nameof(Subnet)]);
                }
            }
            if (Type != "newt" && (NewtId is not null || Secret is not null))
            {
                yield return new ValidationResult("applies to newt sites only", [NewtId is not null ? nameof(NewtId) : nameof(Secret)]);
            }
        }
    }

    /// <summary>Absent fields stay as they are; a null is an error (upstream's optional zod fields), not "unchanged".</summary>
    public sealed record UpdateSiteRequest : IValidatableObject
    {
        [NonNull, TextLength(1, 255)]
        public Optional<string> Name { get; init; }

        [NonNull, NiceId]
        public Optional<string> NiceId { get; init; }

        public Optional<bool> DockerSocketEnabled { get; init; }

        public Optional<bool> AutoUpdateEnabled { get; init; }

        public Optional<bool> AutoUpdateOverrideOrg { get; init; }
        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (!(Name.IsSet || NiceId.IsSet || DockerSocketEnabled.IsSet || AutoUpdateEnabled.IsSet || AutoUpdateOverrideOrg.IsSet))
            {
                yield return new ValidationResult("at least one field is required", ["body"]);
            }
        }
    }

    public sealed record SiteDto(
        int SiteId, string OrgId, string NiceId, string Name, string Type, string? Address, int? ExitNodeId, string? Subnet,
        string? PubKey, bool Online, DateTime? LastPing, bool DockerSocketEnabled, string Status, double MegabytesIn, double MegabytesOut,
        string? Endpoint, string? PublicIp, string? NewtId, string? NewtVersion, DateTime CreatedAt);

    public sealed record CreatedSiteDto(
        int SiteId, string OrgId, string NiceId, string Name, string Type, string? Address, int? ExitNodeId, string? Subnet,
        string? PubKey, bool Online, bool DockerSocketEnabled, string Status, double MegabytesIn, double MegabytesOut,
        string? NewtId, string? Secret, DateTime CreatedAt);

    public sealed record SiteList(IReadOnlyList<SiteDto> Sites, Pagination Pagination);

    public sealed record SiteDefaults(string NewtId, string NewtSecret, int? ExitNodeId, string? Address, string? PublicKey,
        string? Name, int? ListenPort, string? Endpoint, string? Subnet);

    public sealed record NewtCredentials(string NewtId, string Secret);

    private static IQueryable<SiteDto> Project(PangolinDbContext db, IQueryable<Site> sites) =>
        sites.Select(s => new SiteDto(
            s.SiteId, s.OrgId, s.NiceId, s.Name, s.Type, s.Address, s.ExitNodeId, s.Subnet, s.PubKey,
            s.Type == "local" || s.Online, s.LastPing, s.DockerSocketEnabled, s.Status, s.MegabytesIn, s.MegabytesOut, s.Endpoint, s.PublicIp,
            db.Newts.Where(n => n.SiteId == s.SiteId).Select(n => n.NewtId).FirstOrDefault(),
            db.Newts.Where(n => n.SiteId == s.SiteId).Select(n => n.Version).FirstOrDefault(),
            s.CreatedAt));

    public static RouteGroupBuilder MapSiteApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("").WithTags("Sites");
        g.MapGet("/org/{orgId}/pick-site-defaults", PickDefaults).RequireOrgAction(ActionIds.CreateSite);
        g.MapPut("/org/{orgId}/site", CreateAsync).RequireOrgAction(ActionIds.CreateSite);
        g.MapGet("/org/{orgId}/sites", ListAsync).RequireOrgAction(ActionIds.ListSites);
        g.MapGet("/org/{orgId}/site/{niceId}", GetByNiceIdAsync).RequireOrgAction(ActionIds.GetSite);
        g.MapGet("/site/{siteId}", GetAsync).RequireOrgAction(ActionIds.GetSite);
        g.MapPost("/site/{siteId}", UpdateAsync).RequireOrgAction(ActionIds.UpdateSite);
        g.MapDelete("/site/{siteId}", DeleteAsync).RequireOrgAction(ActionIds.DeleteSite);
        g.MapPost("/site/{siteId}/regenerate-secret", RegenerateSecretAsync).RequireOrgAction(ActionIds.ReGenerateSecret);
        g.MapGet("/site/{siteId}/roles", ListRolesAsync).RequireOrgAction(ActionIds.ListSiteRoles);
        g.MapPost("/site/{siteId}/roles", SetRolesAsync).RequireOrgAction(ActionIds.UpdateSite);
        g.MapGet("/site/{siteId}/users", ListUsersAsync).RequireOrgAction(ActionIds.ListSiteRoles);
        g.MapPost("/site/{siteId}/users", SetUsersAsync).RequireOrgAction(ActionIds.UpdateSite);
        return api;
    }

    private static ApiResult<SiteDefaults> PickDefaults() =>
        Api.Ok(new SiteDefaults(Secrets.Id(15), Secrets.Token(48), null, null, null, null, null, null, null), "Site defaults chosen");

    private static async Task<IResult> CreateAsync(string orgId, CreateSiteRequest request, Caller caller, PangolinDbContext db,
        PasswordHasher hasher, TimeProvider time, CancellationToken ct)
    {
        var niceId = request.NiceId;
        if (niceId is not null && await db.Sites.AnyAsync(s => s.OrgId == orgId && s.NiceId == niceId, ct))
        {
            throw ApiException.Conflict($"A site with niceId '{niceId}' already exists in this organization");
        }
        niceId ??= await NiceIds.UniqueAsync(request.Name!, n => db.Sites.AnyAsync(s => s.OrgId == orgId && s.NiceId == n, ct));

        var org = await db.Orgs.AsNoTracking().FirstAsync(o => o.OrgId == orgId, ct);
        string? address = null;
        if (request.Address is not null)
        {
            var orgNet = IPNetwork.Parse(org.Subnet);
            var ip = IPAddress.Parse(request.Address);
            if (!orgNet.Contains(ip))
            {
                throw ApiException.BadRequest($"Validation error: address must lie inside the organization's subnet {org.Subnet}");
            }
            address = $"{ip}/{orgNet.PrefixLength}";
            if (await db.Sites.AnyAsync(s => s.OrgId == orgId && s.Address == address, ct))
            {
                throw ApiException.Conflict($"The address {ip} is already used by another site");
            }
        }
        if (request.ExitNodeId is { } exitNodeId)
        {
            var exitNode = await db.ExitNodes.AsNoTracking().FirstOrDefaultAsync(e => e.ExitNodeId == exitNodeId, ct)
                ?? throw ApiException.NotFound("Exit node not found");
            if (request.Subnet is not null && (!Syntax.TryParseInterface(exitNode.Address, out var nodeNet)
                || !nodeNet.Contains(IPNetwork.Parse(request.Subnet).BaseAddress)))
            {
                throw ApiException.BadRequest($"Validation error: subnet must lie inside the exit node's network {exitNode.Address}");
            }
        }

        var newtId = request.NewtId;
        var secret = request.Secret;
        if (request.Type == "newt")
        {
            newtId ??= Secrets.Id(15);
            secret ??= Secrets.Token(48);
            if (await db.Newts.AnyAsync(n => n.NewtId == newtId, ct))
            {
                throw ApiException.Conflict("A newt with that newtId already exists");
            }
        }

        var now = time.GetUtcNow().UtcDateTime;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var site = new Site
        {
            OrgId = orgId,
            NiceId = niceId,
            Name = request.Name!,
            Type = request.Type!,
            ExitNodeId = request.ExitNodeId,
            PubKey = request.PubKey,
            Subnet = request.Subnet,
            Address = address,
            CreatedAt = now,
        };
        db.Sites.Add(site);
        await db.SaveChangesAsync(ct);
        if (newtId is not null)
        {
            db.Newts.Add(new Newt { NewtId = newtId, SecretHash = Secrets.Sha256Hex(secret!), SiteId = site.SiteId, DateCreated = now });
        }
        await Grants.GrantSiteToCreatorAsync(db, caller, site, ct);
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Created(new CreatedSiteDto(site.SiteId, site.OrgId, site.NiceId, site.Name, site.Type, site.Address, site.ExitNodeId,
            site.Subnet, site.PubKey, site.Online, site.DockerSocketEnabled, site.Status, 0, 0, newtId, secret, site.CreatedAt),
            "Site created successfully");
    }

    private static async Task<IResult> ListAsync(string orgId, [AsParameters] ListQuery query, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var sites = Grants.VisibleSites(db, caller, db.Sites.AsNoTracking().Where(s => s.OrgId == orgId));
        if (query.Query is { Length: > 0 } text)
        {
            sites = sites.Where(s => s.Name.Contains(text) || s.NiceId.Contains(text));
        }
        sites = (query.SortBy, query.Descending) switch
        {
            ("megabytesIn", false) => sites.OrderBy(s => s.MegabytesIn),
            ("megabytesIn", true) => sites.OrderByDescending(s => s.MegabytesIn),
            ("megabytesOut", false) => sites.OrderBy(s => s.MegabytesOut),
            ("megabytesOut", true) => sites.OrderByDescending(s => s.MegabytesOut),
            (_, true) => sites.OrderByDescending(s => s.Name).ThenByDescending(s => s.SiteId),
            _ => sites.OrderBy(s => s.Name).ThenBy(s => s.SiteId),
        };
        var (items, pagination) = await query.ApplyAsync(Project(db, sites), ct);
        return Api.Ok(new SiteList(items, pagination), "Sites retrieved");
    }

    private static async Task<IResult> GetByNiceIdAsync(string orgId, string niceId, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var site = await Project(db, Grants.VisibleSites(db, caller, db.Sites.AsNoTracking().Where(s => s.OrgId == orgId && s.NiceId == niceId)))
            .FirstOrDefaultAsync(ct) ?? throw ApiException.NotFound("Site not found");
        return Api.Ok(site, "Site retrieved");
    }

    private static async Task<IResult> GetAsync(int siteId, PangolinDbContext db, CancellationToken ct) =>
        Api.Ok(await Project(db, db.Sites.AsNoTracking().Where(s => s.SiteId == siteId)).FirstAsync(ct), "Site retrieved");

    private static async Task<IResult> UpdateAsync(int siteId, UpdateSiteRequest request, PangolinDbContext db, CancellationToken ct)
    {
        var site = await db.Sites.FirstAsync(s => s.SiteId == siteId, ct);
        var niceId = request.NiceId.Or(site.NiceId);
        if (niceId != site.NiceId && await db.Sites.AnyAsync(s => s.OrgId == site.OrgId && s.NiceId == niceId, ct))
        {
            throw ApiException.Conflict($"A site with niceId '{niceId}' already exists in this organization");
        }
        site.Name = request.Name.Or(site.Name);
        site.NiceId = niceId;
        site.DockerSocketEnabled = request.DockerSocketEnabled.Or(site.DockerSocketEnabled);
        await db.SaveChangesAsync(ct);
        return Api.Ok(await Project(db, db.Sites.AsNoTracking().Where(s => s.SiteId == siteId)).FirstAsync(ct), "Site updated successfully");
    }

    private static async Task<IResult> DeleteAsync(int siteId, PangolinDbContext db, ConnectionRegistry newts, CancellationToken ct)
    {
        var newtIds = await db.Newts.Where(n => n.SiteId == siteId).Select(n => n.NewtId).ToListAsync(ct);
        await db.Sites.Where(s => s.SiteId == siteId).ExecuteDeleteAsync(ct);
        // Its sessions went with the site (cascade); a connected newt is told to stop and cut off.
        foreach (var newtId in newtIds)
        {
            newts.Send(newtId, MessageTypes.NewtWgTerminate, new TerminateData { Reason = "site deleted" }, ProtocolJsonContext.Default.TerminateData);
            newts.Disconnect(newtId, NewtConnection.Revoked, "site deleted");
        }
        return Api.Done("Site deleted successfully");
    }

    private static async Task<IResult> RegenerateSecretAsync(int siteId, PangolinDbContext db, TimeProvider time, ConnectionRegistry newts, CancellationToken ct)
    {
        var site = await db.Sites.AsNoTracking().FirstAsync(s => s.SiteId == siteId, ct);
        if (site.Type != "newt")
        {
            throw ApiException.BadRequest("Only newt sites have a secret");
        }
        var secret = Secrets.Token(48);
        var newt = await db.Newts.FirstOrDefaultAsync(n => n.SiteId == siteId, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (newt is null)
        {
            newt = new Newt { NewtId = Secrets.Id(15), SecretHash = Secrets.Sha256Hex(secret), SiteId = siteId, DateCreated = time.GetUtcNow().UtcDateTime };
            db.Newts.Add(newt);
        }
        else
        {
            newt.SecretHash = Secrets.Sha256Hex(secret);
            // Tokens issued with the old secret stop working at once.
            await db.NewtSessions.Where(s => s.NewtId == newt.NewtId).ExecuteDeleteAsync(ct);
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        // A connected newt proved the old secret; it must prove the new one.
        newts.Disconnect(newt.NewtId, NewtConnection.Revoked, "secret rotated");
        return Api.Ok(new NewtCredentials(newt.NewtId, secret), "Site secret regenerated; update the newt's --secret");
    }

    private static async Task<IResult> ListRolesAsync(int siteId, PangolinDbContext db, CancellationToken ct)
    {
        var roles = await db.RoleSites.Where(g => g.SiteId == siteId)
            .Join(db.Roles, g => g.RoleId, r => r.RoleId, (g, r) => new ResourceApi.GrantRole(r.RoleId, r.Name, r.Description, r.IsAdmin))
            .ToListAsync(ct);
        return Api.Ok(new ResourceApi.GrantRoleList(roles), "Site roles retrieved");
    }

    private static async Task<IResult> SetRolesAsync(int siteId, ResourceApi.SetRolesRequest request, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var roleIds = await Grants.CheckRolesAsync(db, caller.OrgId!, request.RoleIds!, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var adminRoles = await db.Roles.Where(r => r.OrgId == caller.OrgId && r.IsAdmin).Select(r => r.RoleId).ToListAsync(ct);
        await db.RoleSites.Where(g => g.SiteId == siteId).ExecuteDeleteAsync(ct);
        foreach (var roleId in roleIds.Union(adminRoles))
        {
            db.RoleSites.Add(new RoleSite { RoleId = roleId, SiteId = siteId });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Created(Empty.Value, "Site roles set successfully");
    }

    private static async Task<IResult> ListUsersAsync(int siteId, PangolinDbContext db, CancellationToken ct)
    {
        var users = await db.UserSites.Where(g => g.SiteId == siteId)
            .Join(db.Users, g => g.UserId, u => u.UserId, (g, u) => new ResourceApi.GrantUser(u.UserId, u.Email, u.Username, u.Name, u.Type, null))
            .ToListAsync(ct);
        return Api.Ok(new ResourceApi.GrantUserList(users), "Site users retrieved");
    }

    private static async Task<IResult> SetUsersAsync(int siteId, ResourceApi.SetUsersRequest request, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var userIds = await Grants.CheckMembersAsync(db, caller.OrgId!, request.UserIds!, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.UserSites.Where(g => g.SiteId == siteId).ExecuteDeleteAsync(ct);
        foreach (var userId in userIds)
        {
            db.UserSites.Add(new UserSite { UserId = userId, SiteId = siteId });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Created(Empty.Value, "Site users set successfully");
    }
}
