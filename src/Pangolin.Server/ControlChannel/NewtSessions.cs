using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.ControlChannel;

/// <summary>The newt a WebSocket token belongs to.</summary>
public sealed record NewtIdentity(string NewtId, int SiteId);

/// <summary>
/// Newt session tokens: random, stored as SHA-256, short-lived (a newt fetches a fresh one for every connection),
/// and gone with the newt's secret or site.
/// </summary>
public sealed class NewtSessions(PangolinDbContext db, TimeProvider time, IOptions<NewtOptions> options)
{
    public async Task<string> IssueAsync(string newtId, CancellationToken ct)
    {
        var token = Secrets.Token(48);
        db.NewtSessions.Add(new NewtSession
        {
            SessionId = Secrets.Sha256Hex(token),
            NewtId = newtId,
            ExpiresAt = time.GetUtcNow().UtcDateTime.AddMinutes(options.Value.TokenLifetimeMinutes),
        });
        await db.SaveChangesAsync(ct);
        return token;
    }

    /// <summary>The newt of a live token; null for an unknown, expired or orphaned one.</summary>
    public async Task<NewtIdentity?> ValidateAsync(string token, CancellationToken ct)
    {
        if (token.Length is 0 or > 256)
        {
            return null;
        }
        // The digest is the lookup key, so the comparison happens in the index, not on the secret itself.
        var digest = Secrets.Sha256Hex(token);
        var now = time.GetUtcNow().UtcDateTime;
        var row = await (
            from s in db.NewtSessions.AsNoTracking()
            join n in db.Newts.AsNoTracking() on s.NewtId equals n.NewtId
            where s.SessionId == digest && s.ExpiresAt > now && n.SiteId != null
            select new { n.NewtId, n.SiteId })
            .FirstOrDefaultAsync(ct);
        return row is null ? null : new NewtIdentity(row.NewtId, row.SiteId!.Value);
    }
}
