using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Auth;

/// <summary>A session that passed validation, with the user fields the request needs.</summary>
public sealed record ValidatedSession(string SessionId, string UserId, string Email, bool ServerAdmin, DateTime ExpiresAt, bool Renewed);

/// <summary>
/// Dashboard sessions: a random token in an HttpOnly cookie, stored as hex(SHA-256(token)). A session slides:
/// once less than half its length is left, its expiry moves forward and the cookie is re-issued.
/// </summary>
public sealed class SessionService(PangolinDbContext db, TimeProvider time, IOptions<ServerOptions> server)
{
    private const int TokenLength = 40;

    private TimeSpan Length => TimeSpan.FromHours(server.Value.DashboardSessionLengthHours);

    public string CookieName => server.Value.SessionCookieName;

    public async Task<(string Token, Session Session)> CreateAsync(string userId, HttpContext? context, CancellationToken cancellationToken)
    {
        var token = Secrets.Token(TokenLength);
        var now = time.GetUtcNow().UtcDateTime;
        var session = new Session
        {
            SessionId = Secrets.Sha256Hex(token),
            UserId = userId,
            CreatedAt = now,
            LastSeenAt = now,
            ExpiresAt = now + Length,
            Ip = context?.Connection.RemoteIpAddress?.ToString(),
            UserAgent = Truncate(context?.Request.Headers.UserAgent.ToString(), 512),
        };
        db.Sessions.Add(session);
        await db.SaveChangesAsync(cancellationToken);
        return (token, session);
    }

    public async Task<ValidatedSession?> ValidateAsync(string token, CancellationToken cancellationToken)
    {
        if (token.Length != TokenLength)
        {
            return null;
        }
        var id = Secrets.Sha256Hex(token);
        var row = await db.Sessions.AsNoTracking()
            .Where(s => s.SessionId == id)
            .Join(db.Users, s => s.UserId, u => u.UserId, (s, u) => new { s.SessionId, s.UserId, s.ExpiresAt, u.Email, u.ServerAdmin })
            .FirstOrDefaultAsync(cancellationToken);
        if (row is null)
        {
            return null;
        }
        var now = time.GetUtcNow().UtcDateTime;
        if (row.ExpiresAt <= now)
        {
            await db.Sessions.Where(s => s.SessionId == id).ExecuteDeleteAsync(cancellationToken);
            return null;
        }
        if (row.ExpiresAt - now < Length / 2)
        {
            var expires = now + Length;
            await db.Sessions.Where(s => s.SessionId == id)
                .ExecuteUpdateAsync(u => u.SetProperty(s => s.ExpiresAt, expires).SetProperty(s => s.LastSeenAt, now), cancellationToken);
            return new ValidatedSession(row.SessionId, row.UserId, row.Email, row.ServerAdmin, expires, Renewed: true);
        }
        return new ValidatedSession(row.SessionId, row.UserId, row.Email, row.ServerAdmin, row.ExpiresAt, Renewed: false);
    }

    public Task InvalidateAsync(string sessionId, CancellationToken cancellationToken) =>
        db.Sessions.Where(s => s.SessionId == sessionId).ExecuteDeleteAsync(cancellationToken);

    /// <summary>Ends every session of a user but (optionally) the one in use, e.g. after a password change.</summary>
    public Task InvalidateAllAsync(string userId, string? exceptSessionId, CancellationToken cancellationToken) =>
        db.Sessions.Where(s => s.UserId == userId && s.SessionId != exceptSessionId).ExecuteDeleteAsync(cancellationToken);

    public void WriteCookie(HttpContext context, string token, DateTime expiresAt)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Cookies.Append(CookieName, token, CookieOptions(context, expiresAt));
    }

    /// <summary>Re-issues the cookie with a later expiry; the token is the one the request presented.</summary>
    public void RenewCookie(HttpContext context, DateTime expiresAt)
    {
        ArgumentNullException.ThrowIfNull(context);
        var token = context.Request.Cookies[CookieName];
        if (token is not null)
        {
            WriteCookie(context, token, expiresAt);
        }
    }

    public void ClearCookie(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        context.Response.Cookies.Append(CookieName, "", CookieOptions(context, DateTime.UnixEpoch));
    }

    private static CookieOptions CookieOptions(HttpContext context, DateTime expiresAt) => new()
    {
        HttpOnly = true,
        // Lax keeps top-level links from e-mails working; state changes also need the X-CSRF-Token header.
        SameSite = SameSiteMode.Lax,
        Secure = context.Request.IsHttps,
        Path = "/",
        Expires = new DateTimeOffset(expiresAt, TimeSpan.Zero),
    };

    private static string? Truncate(string? value, int max) =>
        string.IsNullOrEmpty(value) ? null : value.Length <= max ? value : value[..max];
}
