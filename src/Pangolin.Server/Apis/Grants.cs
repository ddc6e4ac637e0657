using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Apis;

/// <summary>Role and user grants on sites and resources: who sees what inside an org.</summary>
public static class Grants
{
    /// <summary>Admins and API keys see every site; members only those granted to their roles or to them.</summary>
    public static IQueryable<Site> VisibleSites(PangolinDbContext db, Caller caller, IQueryable<Site> sites)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(caller);
        if (caller.SeesWholeOrg)
        {
            return sites;
        }
        var roleIds = caller.RoleIds.ToList();
        var userId = caller.UserId;
        return sites.Where(s => db.RoleSites.Any(g => g.SiteId == s.SiteId && roleIds.Contains(g.RoleId))
            || db.UserSites.Any(g => g.SiteId == s.SiteId && g.UserId == userId));
    }

    public static IQueryable<Resource> VisibleResources(PangolinDbContext db, Caller caller, IQueryable<Resource> resources)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(caller);
        if (caller.SeesWholeOrg)
        {
            return resources;
        }
        var roleIds = caller.RoleIds.ToList();
        var userId = caller.UserId;
        return resources.Where(r => db.RoleResources.Any(g => g.ResourceId == r.ResourceId && roleIds.Contains(g.RoleId))
            || db.UserResources.Any(g => g.ResourceId == r.ResourceId && g.UserId == userId));
    }

    /// <summary>The org's admin roles get the new site; so does its creator when not an admin (upstream).</summary>
    public static async Task GrantSiteToCreatorAsync(PangolinDbContext db, Caller caller, Site site, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(site);
        foreach (var roleId in await db.Roles.Where(r => r.OrgId == site.OrgId && r.IsAdmin).Select(r => r.RoleId).ToListAsync(ct))
        {
            db.RoleSites.Add(new RoleSite { RoleId = roleId, SiteId = site.SiteId });
        }
        if (caller.Kind == CallerKind.User && !caller.IsOrgAdmin)
        {
            db.UserSites.Add(new UserSite { UserId = caller.UserId!, SiteId = site.SiteId });
        }
    }

    public static async Task GrantResourceToCreatorAsync(PangolinDbContext db, Caller caller, Resource resource, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(caller);
        ArgumentNullException.ThrowIfNull(resource);
        foreach (var roleId in await db.Roles.Where(r => r.OrgId == resource.OrgId && r.IsAdmin).Select(r => r.RoleId).ToListAsync(ct))
        {
            db.RoleResources.Add(new RoleResource { RoleId = roleId, ResourceId = resource.ResourceId });
        }
        if (caller.Kind == CallerKind.User && !caller.IsOrgAdmin)
        {
            db.UserResources.Add(new UserResource { UserId = caller.UserId!, ResourceId = resource.ResourceId });
        }
    }

    /// <summary>De-duplicates role ids and checks that each is a role of the org.</summary>
    public static async Task<List<int>> CheckRolesAsync(PangolinDbContext db, string orgId, IEnumerable<int> roleIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        var wanted = roleIds.Distinct().ToList();
        var found = await db.Roles.Where(r => r.OrgId == orgId && wanted.Contains(r.RoleId)).Select(r => r.RoleId).ToListAsync(ct);
        var missing = wanted.Except(found).ToList();
        if (missing.Count > 0)
        {
            throw ApiException.BadRequest($"Validation error: role {string.Join(", ", missing)} is not a role of this organization");
        }
        return wanted;
    }

    /// <summary>De-duplicates user ids and checks that each is a member of the org.</summary>
    public static async Task<List<string>> CheckMembersAsync(PangolinDbContext db, string orgId, IEnumerable<string> userIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        var wanted = userIds.Distinct(StringComparer.Ordinal).ToList();
        var found = await db.UserOrgs.Where(m => m.OrgId == orgId && wanted.Contains(m.UserId)).Select(m => m.UserId).ToListAsync(ct);
        var missing = wanted.Except(found, StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            throw ApiException.BadRequest($"Validation error: user {string.Join(", ", missing)} is not a member of this organization");
        }
        return wanted;
    }

    /// <summary>
    /// Assigning roles hands on their actions, so a caller who is not an admin may only assign roles whose actions
    /// they hold themselves (a member with addUserRole must not be able to promote themselves to a stronger role).
    /// </summary>
    public static async Task CheckCanAssignRolesAsync(PangolinDbContext db, Caller caller, IReadOnlyCollection<int> roleIds, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(caller);
        if (caller.MayManageAdmins)
        {
            return;
        }
        if (await db.Roles.AnyAsync(r => roleIds.Contains(r.RoleId) && r.IsAdmin, ct))
        {
            throw ApiException.Forbidden("Only admins may grant the Admin role");
        }
        var actions = await db.RoleActions.Where(a => roleIds.Contains(a.RoleId)).Select(a => a.ActionId).Distinct().ToListAsync(ct);
        await CheckCanGrantAsync(db, caller, actions, ct);
    }

    /// <summary>
    /// The actions a caller may hand on (to a role or an API key): admins and root keys any, everyone else only
    /// those they hold, so that nobody can mint rights they lack.
    /// </summary>
    public static async Task CheckCanGrantAsync(PangolinDbContext db, Caller caller, IReadOnlyCollection<string> actions, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(db);
        ArgumentNullException.ThrowIfNull(caller);
        var unknown = actions.Where(a => !ActionIds.IsKnown(a)).ToList();
        if (unknown.Count > 0)
        {
            throw ApiException.BadRequest($"Validation error: unknown action {string.Join(", ", unknown.Select(a => $"'{a}'"))}");
        }
        if (caller.IsServerAdmin || caller.IsOrgAdmin || caller.IsRootKey)
        {
            return;
        }
        List<string> held;
        if (caller.Kind == CallerKind.ApiKey)
        {
            held = await db.ApiKeyActions.Where(a => a.ApiKeyId == caller.ApiKeyId).Select(a => a.ActionId).ToListAsync(ct);
        }
        else
        {
            var roleIds = caller.RoleIds.ToList();
            held = await db.RoleActions.Where(a => roleIds.Contains(a.RoleId)).Select(a => a.ActionId)
                .Union(db.UserActions.Where(a => a.UserId == caller.UserId && a.OrgId == caller.OrgId).Select(a => a.ActionId))
                .ToListAsync(ct);
        }
        var beyond = actions.Except(held, StringComparer.Ordinal).ToList();
        if (beyond.Count > 0)
        {
            throw ApiException.Forbidden($"You cannot grant actions you do not hold: {string.Join(", ", beyond)}");
        }
    }
}
