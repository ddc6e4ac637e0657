using System.ComponentModel.DataAnnotations;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Mvc.ModelBinding;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Apis;

/// <summary>Roles: the built-in Admin and Member, and custom roles with chosen actions.</summary>
public static class RoleApi
{
    public sealed record CreateRoleRequest(
        [property: Required, StringLength(255, MinimumLength = 1)] string? Name,
        [property: MaxLength(1024)] string? Description = null,
        bool? RequireDeviceApproval = null,
        [property: MaxLength(200), NonNullItems] List<string>? ActionIds = null);

    public sealed record UpdateRoleRequest
    {
        [NonNull, TextLength(1, 255)]
        public Optional<string> Name { get; init; }

        [TextLength(0, 1024)]
        public Optional<string?> Description { get; init; }

        [NonNull]
        public Optional<bool> RequireDeviceApproval { get; init; }
    }

    public sealed record DeleteRoleRequest([property: Range(1, int.MaxValue)] int? RoleId = null);

    public sealed record SetActionsRequest([property: Required, MaxLength(200), NonNullItems] List<string>? ActionIds);

    public sealed record RoleDto(int RoleId, string OrgId, bool IsAdmin, string Name, string? Description, bool RequireDeviceApproval);

    public sealed record RoleListItem(int RoleId, string OrgId, bool IsAdmin, string Name, string? Description, string OrgName);

    public sealed record RoleList(IReadOnlyList<RoleListItem> Roles, Pagination Pagination);

    public sealed record ActionItem(string ActionId);

    public sealed record ActionList(IReadOnlyList<ActionItem> Actions, Pagination Pagination);

    private static RoleDto ToDto(Role r) => new(r.RoleId, r.OrgId, r.IsAdmin, r.Name, r.Description, r.RequireDeviceApproval);

    public static RouteGroupBuilder MapRoleApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("").WithTags("Roles");
        g.MapPut("/org/{orgId}/role", CreateAsync).RequireOrgAction(ActionIds.CreateRole);
        g.MapGet("/org/{orgId}/roles", ListAsync).RequireOrgAction(ActionIds.ListRoles);
        g.MapGet("/role/{roleId}", GetAsync).RequireOrgAction(ActionIds.GetRole);
        g.MapPost("/role/{roleId}", UpdateAsync).RequireOrgAction(ActionIds.UpdateRole);
        g.MapDelete("/role/{roleId}", DeleteAsync).RequireOrgAction(ActionIds.DeleteRole);
        g.MapGet("/role/{roleId}/actions", ListActionsAsync).RequireOrgAction(ActionIds.GetRole);
        g.MapPost("/role/{roleId}/actions", SetActionsAsync).RequireOrgAction(ActionIds.UpdateRole);
        g.MapGet("/role/{roleId}/resources", ListResourcesAsync).RequireOrgAction(ActionIds.ListRoleResources);
        g.MapPost("/role/{roleId}/add/{userId}", AddUserAsync).RequireOrgAction(ActionIds.AddUserRole);
        g.MapPost("/role/{roleId}/remove/{userId}", RemoveUserAsync).RequireOrgAction(ActionIds.RemoveUserRole);
        return api;
    }

    private static async Task<IResult> CreateAsync(string orgId, CreateRoleRequest request, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        if (await db.Roles.AnyAsync(r => r.OrgId == orgId && r.Name == request.Name, ct))
        {
            throw ApiException.Conflict("Role with that name already exists");
        }
        var actions = (request.ActionIds ?? [.. Auth.ActionIds.MemberDefaults]).Distinct(StringComparer.Ordinal).ToList();
        await Grants.CheckCanGrantAsync(db, caller, actions, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var role = new Role { OrgId = orgId, Name = request.Name!, Description = request.Description, RequireDeviceApproval = request.RequireDeviceApproval ?? false };
        db.Roles.Add(role);
        await db.SaveChangesAsync(ct);
        foreach (var action in actions)
        {
            db.RoleActions.Add(new RoleAction { RoleId = role.RoleId, ActionId = action, OrgId = orgId });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Created(ToDto(role), "Role created successfully");
    }

    private static async Task<IResult> ListAsync(string orgId, [AsParameters] ListQuery query, PangolinDbContext db, CancellationToken ct)
    {
        var roles = db.Roles.AsNoTracking().Where(r => r.OrgId == orgId).OrderBy(r => r.RoleId)
            .Join(db.Orgs, r => r.OrgId, o => o.OrgId, (r, o) => new RoleListItem(r.RoleId, r.OrgId, r.IsAdmin, r.Name, r.Description, o.Name));
        var (items, pagination) = await query.ApplyAsync(roles, ct);
        return Api.Ok(new RoleList(items, pagination), "Roles retrieved");
    }

    private static async Task<IResult> GetAsync(int roleId, PangolinDbContext db, CancellationToken ct) =>
        Api.Ok(ToDto(await db.Roles.AsNoTracking().FirstAsync(r => r.RoleId == roleId, ct)), "Role retrieved");

    private static async Task<IResult> UpdateAsync(int roleId, UpdateRoleRequest request, PangolinDbContext db, CancellationToken ct)
    {
        if (!(request.Name.IsSet || request.Description.IsSet || request.RequireDeviceApproval.IsSet))
        {
            throw ApiException.BadRequest("Validation error: at least one field is required");
        }
        var role = await db.Roles.FirstAsync(r => r.RoleId == roleId, ct);
        if (role.IsAdmin && request.Name.IsSet && request.Name.Value != role.Name)
        {
            throw ApiException.BadRequest("The Admin role cannot be renamed");
        }
        if (request.Name.IsSet && request.Name.Value != role.Name && await db.Roles.AnyAsync(r => r.OrgId == role.OrgId && r.Name == request.Name.Value, ct))
        {
            throw ApiException.Conflict("Role with that name already exists");
        }
        role.Name = request.Name.Or(role.Name);
        role.Description = request.Description.Or(role.Description);
        role.RequireDeviceApproval = request.RequireDeviceApproval.Or(role.RequireDeviceApproval);
        await db.SaveChangesAsync(ct);
        return Api.Ok(ToDto(role), "Role updated successfully");
    }

    /// <summary>Deletes a custom role; its members move to the role named in the body, else to Member.</summary>
    private static async Task<IResult> DeleteAsync(int roleId, [FromBody(EmptyBodyBehavior = EmptyBodyBehavior.Allow)] DeleteRoleRequest? request, PangolinDbContext db, CancellationToken ct)
    {
        var role = await db.Roles.FirstAsync(r => r.RoleId == roleId, ct);
        if (role.IsAdmin)
        {
            throw ApiException.BadRequest("The Admin role cannot be deleted");
        }
        var replacementId = request?.RoleId;
        Role? replacement = replacementId is null
            ? await db.Roles.FirstOrDefaultAsync(r => r.OrgId == role.OrgId && r.Name == "Member" && r.RoleId != roleId, ct)
            : await db.Roles.FirstOrDefaultAsync(r => r.OrgId == role.OrgId && r.RoleId == replacementId, ct)
                ?? throw ApiException.BadRequest("Validation error: roleId must be another role of this organization");
        if (replacement?.RoleId == roleId)
        {
            throw ApiException.BadRequest("Validation error: the replacement role must differ from the role being deleted");
        }
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (replacement is not null)
        {
            var members = await db.UserOrgRoles.Where(r => r.RoleId == roleId).ToListAsync(ct);
            foreach (var m in members)
            {
                if (!await db.UserOrgRoles.AnyAsync(r => r.UserId == m.UserId && r.OrgId == m.OrgId && r.RoleId == replacement.RoleId, ct))
                {
                    db.UserOrgRoles.Add(new UserOrgRole { UserId = m.UserId, OrgId = m.OrgId, RoleId = replacement.RoleId });
                }
            }
            await db.SaveChangesAsync(ct);
        }
        await db.Roles.Where(r => r.RoleId == roleId).ExecuteDeleteAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Done("Role deleted successfully");
    }

    private static async Task<IResult> ListActionsAsync(int roleId, PangolinDbContext db, CancellationToken ct)
    {
        var role = await db.Roles.AsNoTracking().FirstAsync(r => r.RoleId == roleId, ct);
        var actions = role.IsAdmin
            ? [.. Auth.ActionIds.All]
            : await db.RoleActions.Where(a => a.RoleId == roleId).OrderBy(a => a.ActionId).Select(a => a.ActionId).ToListAsync(ct);
        return Api.Ok(new ActionList(actions.Select(a => new ActionItem(a)).ToList(), new Pagination(actions.Count, actions.Count, 0, 1, actions.Count)),
            "Role actions retrieved");
    }

    private static async Task<IResult> SetActionsAsync(int roleId, SetActionsRequest request, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var role = await db.Roles.FirstAsync(r => r.RoleId == roleId, ct);
        if (role.IsAdmin)
        {
            throw ApiException.BadRequest("The Admin role holds every action; its actions cannot be changed");
        }
        var actions = request.ActionIds!.Distinct(StringComparer.Ordinal).ToList();
        await Grants.CheckCanGrantAsync(db, caller, actions, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.RoleActions.Where(a => a.RoleId == roleId).ExecuteDeleteAsync(ct);
        foreach (var action in actions)
        {
            db.RoleActions.Add(new RoleAction { RoleId = roleId, ActionId = action, OrgId = role.OrgId });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Ok(Empty.Value, "Role actions set successfully");
    }

    private static async Task<IResult> ListResourcesAsync(int roleId, PangolinDbContext db, CancellationToken ct)
    {
        var resources = await db.RoleResources.Where(g => g.RoleId == roleId)
            .Join(db.Resources, g => g.ResourceId, r => r.ResourceId, (g, r) => new { r.ResourceId, r.Name, r.NiceId, r.FullDomain })
            .OrderBy(r => r.ResourceId).ToListAsync(ct);
        return Api.Ok(new { resources }, "Role resources retrieved");
    }

    private static async Task<IResult> AddUserAsync(int roleId, string userId, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        await Grants.CheckMembersAsync(db, caller.OrgId!, [userId], ct);
        var role = await db.Roles.AsNoTracking().FirstAsync(r => r.RoleId == roleId, ct);
        if (role.IsAdmin && !caller.MayManageAdmins)
        {
            throw ApiException.Forbidden("Only admins may make another user an admin");
        }
        await Grants.CheckCanAssignRolesAsync(db, caller, [roleId], ct);
        if (!await db.UserOrgRoles.AnyAsync(r => r.UserId == userId && r.OrgId == role.OrgId && r.RoleId == roleId, ct))
        {
            db.UserOrgRoles.Add(new UserOrgRole { UserId = userId, OrgId = role.OrgId, RoleId = roleId });
            await db.SaveChangesAsync(ct);
        }
        return Api.Ok(Empty.Value, "Role added to user");
    }

    private static async Task<IResult> RemoveUserAsync(int roleId, string userId, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        await Grants.CheckMembersAsync(db, caller.OrgId!, [userId], ct);
        var role = await db.Roles.AsNoTracking().FirstAsync(r => r.RoleId == roleId, ct);
        if (role.IsAdmin && !caller.MayManageAdmins)
        {
            throw ApiException.Forbidden("Only admins may take away the Admin role");
        }
        if (role.IsAdmin && await db.UserOrgs.AnyAsync(m => m.UserId == userId && m.OrgId == role.OrgId && m.IsOwner, ct))
        {
            throw ApiException.BadRequest("The organization's owner keeps the Admin role");
        }
        if (await db.UserOrgRoles.CountAsync(r => r.UserId == userId && r.OrgId == role.OrgId, ct) <= 1)
        {
            throw ApiException.BadRequest("A member needs at least one role; add another before removing this one");
        }
        await db.UserOrgRoles.Where(r => r.UserId == userId && r.OrgId == role.OrgId && r.RoleId == roleId).ExecuteDeleteAsync(ct);
        return Api.Ok(Empty.Value, "Role removed from user");
    }
}
