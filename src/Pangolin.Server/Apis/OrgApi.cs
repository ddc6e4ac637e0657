using System.ComponentModel.DataAnnotations;
using System.Net;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using OrgEntity = Pangolin.Data.Entities.Org;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Server.Sites;

namespace Pangolin.Server.Apis;

/// <summary>Organizations: PUT /org, GET /orgs, GET|POST|DELETE /org/{orgId}, GET /user/{userId}/orgs.</summary>
public static class OrgApi
{
    public sealed record CreateOrgRequest(
        [property: Required, OrgId] string? OrgId,
        [property: Required, StringLength(255, MinimumLength = 1)] string? Name,
        [property: Cidr(IPv4Only = true)] string? Subnet = null,
        [property: Cidr(IPv4Only = true)] string? UtilitySubnet = null);

    /// <summary>Absent fields stay as they are; a null is an error (upstream's optional zod fields), not "unchanged".</summary>
    public sealed record UpdateOrgRequest : IValidatableObject
    {
        [NonNull, TextLength(1, 255)]
        public Optional<string> Name { get; init; }

        public Optional<bool> RequireTwoFactor { get; init; }

        [IntRange(1, 24 * 365)]
        public Optional<int> MaxSessionLengthHours { get; init; }

        [IntRange(1, 3650)]
        public Optional<int> PasswordExpiryDays { get; init; }
        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (!(Name.IsSet || RequireTwoFactor.IsSet || MaxSessionLengthHours.IsSet || PasswordExpiryDays.IsSet))
            {
                yield return new ValidationResult("at least one field is required", ["body"]);
            }
        }
    }

    public sealed record OrgDto(
        string OrgId, string Name, string Subnet, string UtilitySubnet, DateTime CreatedAt, bool RequireTwoFactor,
        int? MaxSessionLengthHours, int? PasswordExpiryDays);

    public sealed record OrgEnvelope(OrgDto Org);

    public sealed record OrgListItem(
        string OrgId, string Name, string Subnet, string UtilitySubnet, DateTime CreatedAt, bool? IsOwner, bool? IsAdmin);

    public sealed record OrgList(IReadOnlyList<OrgListItem> Orgs, Pagination Pagination);

    internal static OrgDto ToDto(OrgEntity o) =>
        new(o.OrgId, o.Name, o.Subnet, o.UtilitySubnet, o.CreatedAt, o.RequireTwoFactor, o.MaxSessionLengthHours, o.PasswordExpiryDays);

    public static RouteGroupBuilder MapOrgApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("").WithTags("Organizations");
        g.MapPut("/org", CreateAsync).RequireAccess(new AccessRule(AccessScope.AnyUser, ActionIds.CreateOrg));
        g.MapGet("/orgs", ListAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.ListOrgs));
        g.MapGet("/user/{userId}/orgs", ListForUserAsync).RequireAccess(new AccessRule(AccessScope.Self, ActionIds.ListUserOrgs));
        g.MapGet("/org/{orgId}", GetAsync).RequireOrgAction(ActionIds.GetOrg);
        g.MapPost("/org/{orgId}", UpdateAsync).RequireOrgAction(ActionIds.UpdateOrg);
        g.MapDelete("/org/{orgId}", DeleteAsync).RequireOrgAction(ActionIds.DeleteOrg);
        return api;
    }

    private static async Task<IResult> CreateAsync(
        CreateOrgRequest request, Caller caller, PangolinDbContext db, IOptions<FlagsOptions> flags,
        IOptions<OrgOptions> orgOptions, IOptions<DomainsOptions> domains, TimeProvider time, CancellationToken ct)
    {
        if (caller.Kind == CallerKind.User && flags.Value.DisableUserCreateOrg && !caller.IsServerAdmin)
        {
            throw ApiException.Forbidden("Only server admins may create organizations on this server");
        }
        if (await db.Orgs.AnyAsync(o => o.OrgId == request.OrgId, ct))
        {
            throw ApiException.Conflict($"Organization with ID '{request.OrgId}' already exists; choose another orgId");
        }
        var existing = await db.Orgs.Select(o => new { o.Subnet, o.UtilitySubnet }).ToListAsync(ct);
        var subnet = request.Subnet ?? SubnetAllocator.Next(orgOptions.Value.SubnetGroup, orgOptions.Value.BlockSize, existing.Select(e => e.Subnet))
            ?? throw ApiException.Conflict($"No free subnet is left in Orgs:SubnetGroup {orgOptions.Value.SubnetGroup}; pass a subnet");
        var utility = request.UtilitySubnet ?? SubnetAllocator.Next(orgOptions.Value.UtilitySubnetGroup, orgOptions.Value.BlockSize, existing.Select(e => e.UtilitySubnet))
            ?? throw ApiException.Conflict($"No free subnet is left in Orgs:UtilitySubnetGroup {orgOptions.Value.UtilitySubnetGroup}; pass a utilitySubnet");
        if (Syntax.Overlaps(IPNetwork.Parse(subnet), IPNetwork.Parse(utility)))
        {
            throw ApiException.BadRequest("Validation error: utilitySubnet must not overlap subnet");
        }

        var ownerId = caller.Kind == CallerKind.User
            ? caller.UserId!
            : await db.Users.Where(u => u.ServerAdmin).OrderBy(u => u.DateCreated).Select(u => u.UserId).FirstOrDefaultAsync(ct)
                ?? throw ApiException.BadRequest("The server has no admin to own the organization; finish setup first");

        var now = time.GetUtcNow().UtcDateTime;
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var org = new OrgEntity { OrgId = request.OrgId!, Name = request.Name!, Subnet = subnet, UtilitySubnet = utility, CreatedAt = now };
        db.Orgs.Add(org);
        var admin = new Role { OrgId = org.OrgId, Name = "Admin", Description = "Admin role with the most permissions", IsAdmin = true };
        var member = new Role { OrgId = org.OrgId, Name = "Member", Description = "Members can only view resources" };
        db.Roles.AddRange(admin, member);
        await db.SaveChangesAsync(ct);
        foreach (var action in ActionIds.MemberDefaults)
        {
            db.RoleActions.Add(new RoleAction { RoleId = member.RoleId, ActionId = action, OrgId = org.OrgId });
        }
        foreach (var domainId in domains.Value.Domains.Keys)
        {
            db.OrgDomains.Add(new OrgDomain { OrgId = org.OrgId, DomainId = domainId });
        }
        db.UserOrgs.Add(new UserOrg { UserId = ownerId, OrgId = org.OrgId, IsOwner = true, JoinedAt = now });
        db.UserOrgRoles.Add(new UserOrgRole { UserId = ownerId, OrgId = org.OrgId, RoleId = admin.RoleId });
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        caller.OrgId = org.OrgId;
        return Api.Created(ToDto(org), "Organization created successfully");
    }

    private static async Task<IResult> ListAsync([AsParameters] ListQuery query, PangolinDbContext db, CancellationToken ct)
    {
        var q = db.Orgs.AsNoTracking();
        if (query.Query is { Length: > 0 } s)
        {
            q = q.Where(o => o.OrgId.Contains(s) || o.Name.Contains(s));
        }
        var (items, pagination) = await query.ApplyAsync(
            q.OrderBy(o => o.OrgId).Select(o => new OrgListItem(o.OrgId, o.Name, o.Subnet, o.UtilitySubnet, o.CreatedAt, null, null)), ct);
        return Api.Ok(new OrgList(items, pagination), "Organizations retrieved");
    }

    private static async Task<IResult> ListForUserAsync(string userId, [AsParameters] ListQuery query, PangolinDbContext db, CancellationToken ct)
    {
        if (!await db.Users.AnyAsync(u => u.UserId == userId, ct))
        {
            throw ApiException.NotFound("User not found");
        }
        var q = db.UserOrgs.AsNoTracking().Where(m => m.UserId == userId).OrderBy(m => m.OrgId)
            .Join(db.Orgs, m => m.OrgId, o => o.OrgId, (m, o) => new OrgListItem(
                o.OrgId, o.Name, o.Subnet, o.UtilitySubnet, o.CreatedAt, m.IsOwner,
                db.UserOrgRoles.Where(r => r.UserId == m.UserId && r.OrgId == m.OrgId).Join(db.Roles, r => r.RoleId, x => x.RoleId, (r, x) => x.IsAdmin).Any(a => a)));
        var (items, pagination) = await query.ApplyAsync(q, ct);
        return Api.Ok(new OrgList(items, pagination), "Organizations retrieved");
    }

    private static async Task<IResult> GetAsync(string orgId, PangolinDbContext db, CancellationToken ct)
    {
        var org = await db.Orgs.AsNoTracking().FirstAsync(o => o.OrgId == orgId, ct);
        return Api.Ok(new OrgEnvelope(ToDto(org)), "Organization retrieved");
    }

    private static async Task<IResult> UpdateAsync(string orgId, UpdateOrgRequest request, PangolinDbContext db, CancellationToken ct)
    {
        var org = await db.Orgs.FirstAsync(o => o.OrgId == orgId, ct);
        org.Name = request.Name.Or(org.Name);
        org.RequireTwoFactor = request.RequireTwoFactor.Or(org.RequireTwoFactor);
        org.MaxSessionLengthHours = request.MaxSessionLengthHours.IsSet ? request.MaxSessionLengthHours.Value : org.MaxSessionLengthHours;
        org.PasswordExpiryDays = request.PasswordExpiryDays.IsSet ? request.PasswordExpiryDays.Value : org.PasswordExpiryDays;
        await db.SaveChangesAsync(ct);
        return Api.Ok(ToDto(org), "Organization updated successfully");
    }

    private static async Task<IResult> DeleteAsync(string orgId, Caller caller, PangolinDbContext db, ApiKeyCache keys, CancellationToken ct)
    {
        // Upstream: only the owner deletes an org; a server admin or a root key may as well.
        if (caller.Kind == CallerKind.User && !caller.IsOrgOwner && !caller.IsServerAdmin)
        {
            throw ApiException.Forbidden("Only the organization's owner may delete it");
        }
        if (caller.Kind == CallerKind.ApiKey && !caller.IsRootKey)
        {
            throw ApiException.Forbidden("Deleting an organization needs a root API key");
        }
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        // Resources hold a restricting key to domains; org-owned rows go with the org by cascade.
        // The org's own keys go with it; a key linked to other orgs as well keeps those.
        await db.ApiKeys.Where(k => !k.IsRoot && db.ApiKeyOrgs.Any(o => o.ApiKeyId == k.ApiKeyId && o.OrgId == orgId)
            && !db.ApiKeyOrgs.Any(o => o.ApiKeyId == k.ApiKeyId && o.OrgId != orgId)).ExecuteDeleteAsync(ct);
        await db.Orgs.Where(o => o.OrgId == orgId).ExecuteDeleteAsync(ct);
        await db.Domains.Where(d => !d.ConfigManaged && !db.OrgDomains.Any(od => od.DomainId == d.DomainId)).ExecuteDeleteAsync(ct);
        await tx.CommitAsync(ct);
        keys.Clear();
        return Api.Done("Organization deleted successfully");
    }
}
