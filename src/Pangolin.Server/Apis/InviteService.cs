using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Apis;

/// <summary>Invitations: a link carries "&lt;inviteId&gt;-&lt;token&gt;"; the token is stored as SHA-256.</summary>
public sealed class InviteService(PangolinDbContext db, TimeProvider time)
{
    /// <summary>Accepts the two upstream forms: separate inviteId and token, or the link's combined "id-token".</summary>
    public static (string? InviteId, string? Token) SplitToken(string? inviteId, string? token)
    {
        if (token is null)
        {
            return (null, null);
        }
        if (inviteId is not null)
        {
            var prefix = inviteId + "-";
            return (inviteId, token.StartsWith(prefix, StringComparison.Ordinal) ? token[prefix.Length..] : token);
        }
        var dash = token.IndexOf('-', StringComparison.Ordinal);
        return dash > 0 ? (token[..dash], token[(dash + 1)..]) : (null, null);
    }

    public async Task<UserInvite?> FindValidAsync(string inviteId, string token, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var invite = await db.UserInvites.FirstOrDefaultAsync(i => i.InviteId == inviteId && i.ExpiresAt > now, ct);
        return invite is not null && Secrets.MatchesSha256(token, invite.TokenHash) ? invite : null;
    }

    /// <summary>Makes the user a member with the invitation's roles and removes the invitation; returns the org id.</summary>
    public async Task<string> AcceptAsync(User user, UserInvite invite, CancellationToken ct)
    {
        var roleIds = await db.UserInviteRoles.Where(r => r.InviteId == invite.InviteId).Select(r => r.RoleId).ToListAsync(ct);
        if (!await db.UserOrgs.AnyAsync(m => m.UserId == user.UserId && m.OrgId == invite.OrgId, ct))
        {
            db.UserOrgs.Add(new UserOrg { UserId = user.UserId, OrgId = invite.OrgId, JoinedAt = time.GetUtcNow().UtcDateTime });
            await db.SaveChangesAsync(ct);
        }
        var held = await db.UserOrgRoles.Where(r => r.UserId == user.UserId && r.OrgId == invite.OrgId).Select(r => r.RoleId).ToListAsync(ct);
        foreach (var roleId in roleIds.Except(held))
        {
            db.UserOrgRoles.Add(new UserOrgRole { UserId = user.UserId, OrgId = invite.OrgId, RoleId = roleId });
        }
        db.UserInvites.Remove(invite);
        await db.SaveChangesAsync(ct);
        return invite.OrgId;
    }
}
