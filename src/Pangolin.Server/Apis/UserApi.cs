using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Server.Email;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server.Apis;

/// <summary>Org members, invitations, and (for server admins) every user of the server.</summary>
public static class UserApi
{
    public sealed record RoleRef(int RoleId, string Name, bool IsAdmin);

    public sealed record OrgUserDto(
        string Id, string UserId, string Email, bool EmailVerified, DateTime DateCreated, string OrgId, string? Username, string? Name,
        string Type, int? IdpId, string? IdpName, int? RoleId, string? RoleName, IReadOnlyList<RoleRef> Roles, bool IsOwner, bool IsAdmin,
        bool TwoFactorEnabled);

    public sealed record OrgUserList(IReadOnlyList<OrgUserDto> Users, Pagination Pagination);

    public sealed record UpdateOrgUserRequest([property: Required, MinLength(1), MaxLength(100)] List<int>? RoleIds);

    public sealed record CreateOrgUserRequest(
        [property: Required, Email, MaxLength(254)] string? Email,
        [property: Range(1, int.MaxValue)] int? RoleId = null,
        [property: MaxLength(100)] List<int>? RoleIds = null,
        [property: MaxLength(1024)] string? Password = null,
        [property: StringLength(255)] string? Name = null,
        [property: OneOf("internal")] string? Type = null,
        [property: StringLength(255)] string? Username = null) : IValidatableObject
    {
        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (RoleId is null && (RoleIds is null || RoleIds.Count == 0))
            {
                yield return new ValidationResult("roleIds (or roleId) is required", [nameof(RoleIds)]);
            }
        }
    }

    public sealed record InviteRequest(
        [property: Required, Email, MaxLength(254)] string? Email,
        [property: Required, Range(0.0001, 168)] double? ValidHours,
        [property: Range(1, int.MaxValue)] int? RoleId = null,
        [property: MaxLength(100)] List<int>? RoleIds = null,
        bool? SendEmail = null,
        bool? Regenerate = null) : IValidatableObject
    {
        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (RoleId is null && (RoleIds is null || RoleIds.Count == 0))
            {
                yield return new ValidationResult("roleIds (or roleId) is required", [nameof(RoleIds)]);
            }
        }
    }

    public sealed record InviteResponse(string InviteLink, long ExpiresAt, string InviteId);

    public sealed record InvitationDto(string InviteId, string OrgId, string Email, long ExpiresAt, IReadOnlyList<RoleRef> Roles, int? RoleId, string? RoleName);

    public sealed record InvitationList(IReadOnlyList<InvitationDto> Invitations, Pagination Pagination);

    public sealed record AcceptInviteRequest(
        [property: Required, StringLength(256, MinimumLength = 1)] string? Token,
        [property: StringLength(64)] string? InviteId = null);

    public sealed record AcceptInviteResponse(bool Accepted, string OrgId);

    public sealed record ServerUserDto(
        string Id, string UserId, string Email, string? Username, string? Name, string Type, bool EmailVerified, bool ServerAdmin,
        bool TwoFactorEnabled, bool TwoFactorSetupRequested, DateTime DateCreated);

    public sealed record ServerUserList(IReadOnlyList<ServerUserDto> Users, Pagination Pagination);

    /// <summary>Upstream's <c>twoFactorSetupRequested</c>, and ours beside it: <c>twoFactorEnabled: false</c> turns off the
    /// user's two-factor authentication (an authenticator and its backup codes lost). Only the user can turn it on.</summary>
    public sealed record UserTwoFactorRequest(bool? TwoFactorSetupRequested, bool? TwoFactorEnabled = null) : IValidatableObject
    {
        public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
        {
            if (TwoFactorSetupRequested is null && TwoFactorEnabled is null)
            {
                yield return new ValidationResult("is required", [nameof(TwoFactorSetupRequested)]);
            }
            if (TwoFactorEnabled == true)
            {
                yield return new ValidationResult("can only be turned off here; the user turns it on", [nameof(TwoFactorEnabled)]);
            }
        }
    }

    public static RouteGroupBuilder MapUserApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("").WithTags("Users");
        g.MapGet("/org/{orgId}/users", ListAsync).RequireOrgAction(ActionIds.ListUsers);
        g.MapPut("/org/{orgId}/user", CreateOrgUserAsync).RequireOrgAction(ActionIds.CreateOrgUser);
        g.MapGet("/org/{orgId}/user/{userId}", GetAsync).RequireOrgAction(ActionIds.GetOrgUser);
        g.MapPost("/org/{orgId}/user/{userId}", UpdateAsync).RequireOrgAction(ActionIds.SetUserOrgRoles);
        g.MapDelete("/org/{orgId}/user/{userId}", RemoveAsync).RequireOrgAction(ActionIds.RemoveUser);

        var invites = api.MapGroup("").WithTags("Invitations");
        invites.MapPost("/org/{orgId}/create-invite", InviteAsync).RequireOrgAction(ActionIds.InviteUser);
        invites.MapGet("/org/{orgId}/invitations", ListInvitationsAsync).RequireOrgAction(ActionIds.ListInvitations);
        invites.MapDelete("/org/{orgId}/invitations/{inviteId}", RemoveInvitationAsync).RequireOrgAction(ActionIds.RemoveInvitation);
        invites.MapPost("/invite/accept", AcceptAsync).RequireAccess(new AccessRule(AccessScope.AnyUser, null));

        var server = api.MapGroup("").WithTags("Server users");
        server.MapGet("/users", ListServerUsersAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.ListUsers));
        server.MapGet("/user/{userId}", GetServerUserAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.GetUser));
        server.MapDelete("/user/{userId}", DeleteServerUserAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.RemoveUser));
        server.MapPost("/user/{userId}/2fa", SetUserTwoFactorAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.UpdateUser));
        return api;
    }

    /// <summary>Members with their roles: one query for the users, one for all their roles.</summary>
    private static async Task<List<OrgUserDto>> LoadAsync(PangolinDbContext db, string orgId, IQueryable<UserOrg> members, CancellationToken ct)
    {
        var rows = await members.Join(db.Users, m => m.UserId, u => u.UserId, (m, u) => new { m.IsOwner, User = u }).ToListAsync(ct);
        var ids = rows.Select(r => r.User.UserId).ToList();
        var roles = (await db.UserOrgRoles.Where(r => r.OrgId == orgId && ids.Contains(r.UserId))
                .Join(db.Roles, r => r.RoleId, role => role.RoleId, (r, role) => new { r.UserId, role.RoleId, role.Name, role.IsAdmin })
                .OrderBy(r => r.RoleId)
                .ToListAsync(ct))
            .ToLookup(r => r.UserId, r => new RoleRef(r.RoleId, r.Name, r.IsAdmin));
        return rows.Select(x =>
        {
            var u = x.User;
            var held = roles[u.UserId].ToList();
            return new OrgUserDto(u.UserId, u.UserId, u.Email, u.EmailVerified, u.DateCreated, orgId, u.Username, u.Name, u.Type, u.IdpId, null,
                held.FirstOrDefault()?.RoleId, held.FirstOrDefault()?.Name, held, x.IsOwner, held.Any(r => r.IsAdmin), u.TwoFactorEnabled);
        }).ToList();
    }

    private static async Task<OrgUserDto?> LoadOneAsync(PangolinDbContext db, string orgId, string userId, CancellationToken ct) =>
        (await LoadAsync(db, orgId, db.UserOrgs.AsNoTracking().Where(m => m.OrgId == orgId && m.UserId == userId), ct)).FirstOrDefault();

    private static async Task<IResult> ListAsync(string orgId, [AsParameters] ListQuery query, PangolinDbContext db, CancellationToken ct)
    {
        var members = db.UserOrgs.AsNoTracking().Where(m => m.OrgId == orgId);
        if (query.Query is { Length: > 0 } text)
        {
            members = members.Where(m => db.Users.Any(u => u.UserId == m.UserId && (u.Email.Contains(text) || (u.Name != null && u.Name.Contains(text)))));
        }
        var (skip, take) = query.Window();
        var total = await members.CountAsync(ct);
        var page = members.OrderBy(m => m.JoinedAt).ThenBy(m => m.UserId).Skip(skip).Take(take);
        var items = await LoadAsync(db, orgId, page, ct);
        return Api.Ok(new OrgUserList(items, new Pagination(total, take, skip, (skip / take) + 1, take)), "Users retrieved");
    }

    private static async Task<IResult> GetAsync(string orgId, string userId, PangolinDbContext db, CancellationToken ct)
    {
        var user = await LoadOneAsync(db, orgId, userId, ct) ?? throw ApiException.NotFound("User not found in this organization");
        return Api.Ok(user, "User retrieved");
    }

    private static async Task<IResult> UpdateAsync(string orgId, string userId, UpdateOrgUserRequest request, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var membership = await db.UserOrgs.FirstOrDefaultAsync(m => m.OrgId == orgId && m.UserId == userId, ct)
            ?? throw ApiException.NotFound("User not found in this organization");
        var roleIds = await Grants.CheckRolesAsync(db, orgId, request.RoleIds!, ct);
        var adminRoles = await db.Roles.Where(r => r.OrgId == orgId && r.IsAdmin).Select(r => r.RoleId).ToListAsync(ct);
        var current = await db.UserOrgRoles.Where(r => r.OrgId == orgId && r.UserId == userId).Select(r => r.RoleId).ToListAsync(ct);
        await Grants.CheckCanAssignRolesAsync(db, caller, roleIds.Except(current).ToList(), ct);
        var adminChange = roleIds.Intersect(adminRoles).Any() != current.Intersect(adminRoles).Any();
        if (adminChange && !caller.MayManageAdmins)
        {
            throw ApiException.Forbidden("Only admins may grant or take away the Admin role");
        }
        if (membership.IsOwner && !roleIds.Intersect(adminRoles).Any())
        {
            throw ApiException.BadRequest("The organization's owner keeps the Admin role");
        }
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.UserOrgRoles.Where(r => r.OrgId == orgId && r.UserId == userId).ExecuteDeleteAsync(ct);
        foreach (var roleId in roleIds)
        {
            db.UserOrgRoles.Add(new UserOrgRole { UserId = userId, OrgId = orgId, RoleId = roleId });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Ok(await LoadOneAsync(db, orgId, userId, ct), "User roles updated successfully");
    }

    private static async Task<IResult> RemoveAsync(string orgId, string userId, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var membership = await db.UserOrgs.FirstOrDefaultAsync(m => m.OrgId == orgId && m.UserId == userId, ct)
            ?? throw ApiException.NotFound("User not found in this organization");
        if (membership.IsOwner)
        {
            throw ApiException.BadRequest("The organization's owner cannot be removed");
        }
        var adminRoles = await db.Roles.Where(r => r.OrgId == orgId && r.IsAdmin).Select(r => r.RoleId).ToListAsync(ct);
        if (!caller.MayManageAdmins && await db.UserOrgRoles.AnyAsync(r => r.OrgId == orgId && r.UserId == userId && adminRoles.Contains(r.RoleId), ct))
        {
            throw ApiException.Forbidden("Only admins may remove an admin");
        }
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var resourceIds = db.Resources.Where(r => r.OrgId == orgId).Select(r => r.ResourceId);
        var siteIds = db.Sites.Where(s => s.OrgId == orgId).Select(s => s.SiteId);
        await db.UserResources.Where(g => g.UserId == userId && resourceIds.Contains(g.ResourceId)).ExecuteDeleteAsync(ct);
        await db.UserSites.Where(g => g.UserId == userId && siteIds.Contains(g.SiteId)).ExecuteDeleteAsync(ct);
        await db.UserActions.Where(a => a.UserId == userId && a.OrgId == orgId).ExecuteDeleteAsync(ct);
        await db.UserOrgs.Where(m => m.OrgId == orgId && m.UserId == userId).ExecuteDeleteAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Done("User removed from organization successfully");
    }

    private static async Task<IResult> CreateOrgUserAsync(string orgId, CreateOrgUserRequest request, Caller caller, PangolinDbContext db,
        AccountService accounts, TimeProvider time, CancellationToken ct)
    {
        var roleIds = await Grants.CheckRolesAsync(db, orgId, request.RoleIds ?? [request.RoleId!.Value], ct);
        await Grants.CheckCanAssignRolesAsync(db, caller, roleIds, ct);
        if (!caller.MayManageAdmins && await db.Roles.AnyAsync(r => roleIds.Contains(r.RoleId) && r.IsAdmin, ct))
        {
            throw ApiException.Forbidden("Only admins may make another user an admin");
        }
        var email = AccountService.NormalizeEmail(request.Email!);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        var user = await db.Users.FirstOrDefaultAsync(u => u.Email == email, ct);
        if (user is null)
        {
            // Creating accounts is a server-wide power: org admins invite instead.
            if (!(caller.IsServerAdmin || caller.IsRootKey))
            {
                throw ApiException.NotFound($"No user with the email {email}; invite them instead (POST /org/{orgId}/create-invite)");
            }
            if (request.Password is null)
            {
                throw ApiException.BadRequest("Validation error: password is required to create a new user");
            }
            user = await accounts.CreateInternalUserAsync(email, request.Password, serverAdmin: false, emailVerified: true, ct);
            user.Name = request.Name;
            if (request.Username is not null)
            {
                user.Username = request.Username;
            }
            await db.SaveChangesAsync(ct);
        }
        else if (await db.UserOrgs.AnyAsync(m => m.UserId == user.UserId && m.OrgId == orgId, ct))
        {
            throw ApiException.Conflict("User is already a member of this organization");
        }
        db.UserOrgs.Add(new UserOrg { UserId = user.UserId, OrgId = orgId, JoinedAt = time.GetUtcNow().UtcDateTime });
        await db.SaveChangesAsync(ct);
        foreach (var roleId in roleIds)
        {
            db.UserOrgRoles.Add(new UserOrgRole { UserId = user.UserId, OrgId = orgId, RoleId = roleId });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return Api.Created(await LoadOneAsync(db, orgId, user.UserId, ct), "User added to organization successfully");
    }

    private static async Task<IResult> InviteAsync(string orgId, InviteRequest request, Caller caller, HttpContext http, PangolinDbContext db,
        IEmailSender email, IRateLimiter limiter, IOptions<RateLimitOptions> limits, IOptions<AppOptions> app, TimeProvider time, CancellationToken ct)
    {
        var address = AccountService.NormalizeEmail(request.Email!);
        var roleIds = await Grants.CheckRolesAsync(db, orgId, request.RoleIds ?? [request.RoleId!.Value], ct);
        await Grants.CheckCanAssignRolesAsync(db, caller, roleIds, ct);
        if (!caller.MayManageAdmins && await db.Roles.AnyAsync(r => roleIds.Contains(r.RoleId) && r.IsAdmin, ct))
        {
            throw ApiException.Forbidden("Only admins may invite another admin");
        }
        if (await db.UserOrgs.AnyAsync(m => m.OrgId == orgId && db.Users.Any(u => u.UserId == m.UserId && u.Email == address), ct))
        {
            throw ApiException.Conflict($"{address} is already a member of this organization");
        }
        var existing = await db.UserInvites.FirstOrDefaultAsync(i => i.OrgId == orgId && i.Email == address, ct);
        if (existing is not null)
        {
            if (request.Regenerate != true)
            {
                throw ApiException.Conflict($"An invitation for {address} already exists; send regenerate: true to issue a new one");
            }
            limiter.Enforce(http, limits.Value, "invite-regenerate", $"{orgId} {address}", new RateLimitWindow { WindowMinutes = 60, MaxRequests = 3 });
        }
        if (request.SendEmail == true && !email.IsConfigured)
        {
            throw ApiException.Unavailable("E-mail is not configured on this server (Email:SmtpHost, Email:NoReply); send the link yourself (sendEmail: false)");
        }
        var token = Secrets.Token(32);
        var now = time.GetUtcNow().UtcDateTime;
        var expires = now.AddHours(request.ValidHours!.Value);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        if (existing is not null)
        {
            db.UserInvites.Remove(existing);
            await db.SaveChangesAsync(ct);
        }
        var invite = new UserInvite
        {
            InviteId = Secrets.Id(10),
            OrgId = orgId,
            Email = address,
            TokenHash = Secrets.Sha256Hex(token),
            ExpiresAt = expires,
            CreatedAt = now,
            InvitedByUserId = caller.UserId,
        };
        db.UserInvites.Add(invite);
        await db.SaveChangesAsync(ct);
        foreach (var roleId in roleIds)
        {
            db.UserInviteRoles.Add(new UserInviteRole { InviteId = invite.InviteId, RoleId = roleId });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        var link = $"{app.Value.DashboardUrl.TrimEnd('/')}/invite?token={invite.InviteId}-{token}&email={Uri.EscapeDataString(address)}";
        if (request.SendEmail == true)
        {
            var orgName = await db.Orgs.Where(o => o.OrgId == orgId).Select(o => o.Name).FirstAsync(ct);
            await email.SendAsync(new EmailMessage(address, $"You are invited to join {orgName} on Pangolin",
                $"You have been invited to join {orgName}.\n\nAccept the invitation here (valid until {expires:u}):\n{link}"), ct);
        }
        return Api.Ok(new InviteResponse(link, new DateTimeOffset(expires).ToUnixTimeMilliseconds(), invite.InviteId), "User invited successfully");
    }

    private static async Task<IResult> ListInvitationsAsync(string orgId, [AsParameters] ListQuery query, PangolinDbContext db, TimeProvider time, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var (rows, pagination) = await query.ApplyAsync(db.UserInvites.AsNoTracking().Where(i => i.OrgId == orgId && i.ExpiresAt > now)
            .OrderBy(i => i.CreatedAt)
            .Select(i => new
            {
                i.InviteId, i.OrgId, i.Email, i.ExpiresAt,
                Roles = db.UserInviteRoles.Where(r => r.InviteId == i.InviteId)
                    .Join(db.Roles, r => r.RoleId, role => role.RoleId, (r, role) => new RoleRef(role.RoleId, role.Name, role.IsAdmin)).ToList(),
            }), ct);
        var items = rows.Select(i => new InvitationDto(i.InviteId, i.OrgId, i.Email, new DateTimeOffset(i.ExpiresAt).ToUnixTimeMilliseconds(), i.Roles,
            i.Roles.FirstOrDefault()?.RoleId, i.Roles.FirstOrDefault()?.Name)).ToList();
        return Api.Ok(new InvitationList(items, pagination), "Invitations retrieved");
    }

    private static async Task<IResult> RemoveInvitationAsync(string orgId, string inviteId, PangolinDbContext db, CancellationToken ct)
    {
        var removed = await db.UserInvites.Where(i => i.OrgId == orgId && i.InviteId == inviteId).ExecuteDeleteAsync(ct);
        return removed == 0 ? throw ApiException.NotFound("Invitation not found") : Api.Done("Invitation removed successfully");
    }

    private static async Task<IResult> AcceptAsync(AcceptInviteRequest request, Caller caller, HttpContext http, PangolinDbContext db,
        InviteService invites, IRateLimiter limiter, IOptions<RateLimitOptions> limits, CancellationToken ct)
    {
        if (caller.Kind != CallerKind.User)
        {
            throw ApiException.BadRequest("Invitations are accepted by a signed-in user");
        }
        limiter.Enforce(http, limits.Value, "invite-accept", caller.UserId!);
        var (inviteId, token) = InviteService.SplitToken(request.InviteId, request.Token);
        var invite = inviteId is null ? null : await invites.FindValidAsync(inviteId, token!, ct);
        if (invite is null)
        {
            throw ApiException.BadRequest("The invitation is invalid or has expired");
        }
        var user = await db.Users.FirstAsync(u => u.UserId == caller.UserId, ct);
        if (invite.Email != user.Email)
        {
            throw ApiException.Forbidden("This invitation was sent to another email address; sign in with that address");
        }
        var orgId = await invites.AcceptAsync(user, invite, ct);
        return Api.Ok(new AcceptInviteResponse(true, orgId), "Invitation accepted");
    }

    private static IQueryable<ServerUserDto> ProjectServer(IQueryable<User> users) =>
        users.Select(u => new ServerUserDto(u.UserId, u.UserId, u.Email, u.Username, u.Name, u.Type, u.EmailVerified, u.ServerAdmin,
            u.TwoFactorEnabled, u.TwoFactorSetupRequested, u.DateCreated));

    private static async Task<IResult> ListServerUsersAsync([AsParameters] ListQuery query, PangolinDbContext db, CancellationToken ct)
    {
        var users = db.Users.AsNoTracking();
        if (query.Query is { Length: > 0 } text)
        {
            users = users.Where(u => u.Email.Contains(text) || (u.Name != null && u.Name.Contains(text)));
        }
        var (items, pagination) = await query.ApplyAsync(ProjectServer(users.OrderBy(u => u.Email)), ct);
        return Api.Ok(new ServerUserList(items, pagination), "Users retrieved");
    }

    private static async Task<IResult> GetServerUserAsync(string userId, PangolinDbContext db, CancellationToken ct)
    {
        var user = await ProjectServer(db.Users.AsNoTracking().Where(u => u.UserId == userId)).FirstOrDefaultAsync(ct)
            ?? throw ApiException.NotFound("User not found");
        return Api.Ok(user, "User retrieved");
    }

    private static async Task<IResult> DeleteServerUserAsync(string userId, Caller caller, PangolinDbContext db, CancellationToken ct)
    {
        var user = await db.Users.FirstOrDefaultAsync(u => u.UserId == userId, ct) ?? throw ApiException.NotFound("User not found");
        if (user.UserId == caller.UserId)
        {
            throw ApiException.BadRequest("You cannot delete your own account here");
        }
        if (user.ServerAdmin && await db.Users.CountAsync(u => u.ServerAdmin, ct) <= 1)
        {
            throw ApiException.BadRequest("The last server admin cannot be deleted");
        }
        var owned = await db.UserOrgs.Where(m => m.UserId == userId && m.IsOwner).Select(m => m.OrgId).ToListAsync(ct);
        if (owned.Count > 0)
        {
            throw ApiException.Conflict($"The user owns {string.Join(", ", owned)}; delete those organizations first");
        }
        db.Users.Remove(user);
        await db.SaveChangesAsync(ct);
        return Api.Done("User deleted successfully");
    }

    private static async Task<IResult> SetUserTwoFactorAsync(string userId, UserTwoFactorRequest request, Caller caller, PangolinDbContext db,
        AccountService accounts, SessionService sessions, CancellationToken ct)
    {
        var user = await db.Users.FirstOrDefaultAsync(u => u.UserId == userId, ct) ?? throw ApiException.NotFound("User not found");
        var turnOff = request.TwoFactorEnabled == false && user.TwoFactorEnabled;
        if (turnOff && caller.UserId == userId)
        {
            // Not with a session alone: a stolen one must not be able to strip its own account's second factor.
            throw ApiException.Forbidden("Turn off your own two-factor authentication on your profile, with a code");
        }
        if (turnOff)
        {
            await accounts.DisableTwoFactorAsync(user, ct);
        }
        if (request.TwoFactorSetupRequested is { } required)
        {
            user.TwoFactorSetupRequested = required && !user.TwoFactorEnabled;
        }
        await db.SaveChangesAsync(ct);
        if (turnOff)
        {
            await sessions.InvalidateAllAsync(userId, null, ct);
            accounts.Notify(user, "Two-factor authentication turned off",
                "An administrator turned off two-factor authentication on your Pangolin account. Set it up again on your profile. If you did not ask for this, contact your administrator.");
        }
        return Api.Done("User two-factor settings updated");
    }
}
