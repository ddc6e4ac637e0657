using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Edge.Badger;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Server.Email;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server.Edge;

public enum SignInStatus
{
    /// <summary>Signed in: <see cref="SignInOutcome.RequestToken"/> is the single-use token to take to the resource.</summary>
    Success,
    Invalid,

    /// <summary>The resource does not offer this method.</summary>
    NotConfigured,
    RateLimited,

    /// <summary>An e-mail code was sent (or, for an address not on the list, looks as if it was).</summary>
    OtpSent,

    /// <summary>A code was asked for, but this server has no e-mail configured: nothing could ever arrive.</summary>
    EmailUnavailable,
}

public sealed record SignInOutcome(SignInStatus Status, string? RequestToken = null, string? RedirectUrl = null, TimeSpan RetryAfter = default)
{
    public static SignInOutcome Invalid { get; } = new(SignInStatus.Invalid);

    public static SignInOutcome NotConfigured { get; } = new(SignInStatus.NotConfigured);
}

/// <summary>
/// Signing in to a resource (PROTOCOL.md §4.3–4.5, upstream's auth/resource endpoints): a password, PIN, e-mail code,
/// share link or platform account is checked here and answered with a <em>request token</em> — a resource session
/// row marked as such that lives 30 seconds. The browser carries it to the resource's own host in the query, where
/// the edge exchanges it once for the host-scoped session cookie. Tokens in URLs are thus short-lived and single-use,
/// and no cookie is ever set for another host.
/// </summary>
public sealed class ResourceSignIn(
    PangolinDbContext db,
    PasswordHasher hasher,
    SecretBudget budget,
    IRateLimiter limiter,
    IOptions<RateLimitOptions> limits,
    EmailOutbox email,
    TimeProvider time,
    IOptions<ServerOptions> server,
    IOptions<FlagsOptions> flags)
{
    public static readonly TimeSpan RequestTokenLifetime = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan OtpLifetime = TimeSpan.FromMinutes(15);
    public const int OtpDigits = 8;
    private const int TokenLength = 48;

    public Task<Resource?> FindByGuidAsync(string resourceGuid, CancellationToken ct) =>
        resourceGuid.Length is > 0 and <= 64
            ? db.Resources.AsNoTracking().FirstOrDefaultAsync(r => r.ResourceGuid == resourceGuid && r.Http, ct)
            : Task.FromResult<Resource?>(null);

    public Task<Resource?> FindByIdAsync(int resourceId, CancellationToken ct) =>
        db.Resources.AsNoTracking().FirstOrDefaultAsync(r => r.ResourceId == resourceId && r.Http, ct);

    /// <summary>Which sign-in methods the resource offers (for the sign-in page and <c>GET /resource/{guid}/auth</c>).</summary>
    public async Task<ResourceMethods> MethodsAsync(Resource resource, CancellationToken ct)
    {
        var id = resource.ResourceId;
        return new ResourceMethods(
            Password: await db.ResourcePasswords.AnyAsync(p => p.ResourceId == id, ct),
            Pincode: await db.ResourcePincodes.AnyAsync(p => p.ResourceId == id, ct),
            HeaderAuth: await db.ResourceHeaderAuths.Where(h => h.ResourceId == id).Select(h => (bool?)h.ExtendedCompatibility).FirstOrDefaultAsync(ct),
            Sso: resource.Sso,
            Whitelist: resource.EmailWhitelistEnabled);
    }

    public async Task<SignInOutcome> PasswordAsync(Resource resource, string password, string client, CancellationToken ct)
    {
        var rows = await db.ResourcePasswords.AsNoTracking().Where(p => p.ResourceId == resource.ResourceId)
            .Select(p => new { p.PasswordId, Hash = p.PasswordHash }).ToListAsync(ct);
        return await CheckSecretAsync(resource, password, client, rows.Select(r => (r.Hash, (Action<ResourceSession>)(s => s.PasswordId = r.PasswordId))), ct);
    }

    public async Task<SignInOutcome> PincodeAsync(Resource resource, string pincode, string client, CancellationToken ct)
    {
        var rows = await db.ResourcePincodes.AsNoTracking().Where(p => p.ResourceId == resource.ResourceId)
            .Select(p => new { p.PincodeId, Hash = p.PincodeHash }).ToListAsync(ct);
        return await CheckSecretAsync(resource, pincode, client, rows.Select(r => (r.Hash, (Action<ResourceSession>)(s => s.PincodeId = r.PincodeId))), ct);
    }

    /// <summary>A typed secret against the resource's hashes: the first that verifies signs in; none counts a failure.</summary>
    private async Task<SignInOutcome> CheckSecretAsync(Resource resource, string secret, string client,
        IEnumerable<(string Hash, Action<ResourceSession> Method)> candidates, CancellationToken ct)
    {
        if (budget.IsSpent(client, out var wait))
        {
            return new SignInOutcome(SignInStatus.RateLimited, RetryAfter: wait);
        }
        var any = false;
        foreach (var (hash, method) in candidates)
        {
            any = true;
            if (await hasher.VerifyAsync(secret, hash, ct))
            {
                return await IssueAsync(resource, method, ct);
            }
        }
        if (!any)
        {
            return SignInOutcome.NotConfigured;
        }
        budget.Fail(client);
        return SignInOutcome.Invalid;
    }

    /// <summary>
    /// Without a code: sends one to the address if it is on the resource's list; the answer is the same either way,
    /// so that the list cannot be read by trying addresses. With a code: checks it and signs in.
    /// </summary>
    public async Task<SignInOutcome> WhitelistAsync(Resource resource, string address, string? otp, string client, CancellationToken ct)
    {
        if (!resource.EmailWhitelistEnabled)
        {
            return SignInOutcome.NotConfigured;
        }
        if (budget.IsSpent(client, out var wait))
        {
            return new SignInOutcome(SignInStatus.RateLimited, RetryAfter: wait);
        }
        var normalized = AccountService.NormalizeEmail(address);
        var entry = await WhitelistEntryAsync(resource.ResourceId, normalized, ct);
        var now = time.GetUtcNow().UtcDateTime;
        if (string.IsNullOrEmpty(otp))
        {
            if (!email.IsConfigured)
            {
                return new SignInOutcome(SignInStatus.EmailUnavailable); // the same for every address: reveals nothing
            }
            // Sending is limited per address too: the list's members must not be flooded with codes.
            var sendKey = $"{resource.ResourceId}|{normalized}";
            if (limits.Value.Enabled && !limiter.TryAcquire("resource-otp-send", sendKey, limits.Value.Secrets, out var sendWait))
            {
                return new SignInOutcome(SignInStatus.RateLimited, RetryAfter: sendWait);
            }
            if (entry is null)
            {
                return new SignInOutcome(SignInStatus.OtpSent);
            }
            var code = Secrets.Digits(OtpDigits);
            await db.ResourceOtps.Where(o => o.ResourceId == resource.ResourceId && o.Email == normalized).ExecuteDeleteAsync(ct);
            db.ResourceOtps.Add(new ResourceOtp
            {
                ResourceId = resource.ResourceId,
                Email = normalized,
                OtpHash = await hasher.HashAsync(code, ct),
                ExpiresAt = now + OtpLifetime,
            });
            await db.SaveChangesAsync(ct);
            email.Enqueue(new EmailMessage(normalized, $"Your code for {resource.Name}",
                $"Your one-time code to open {resource.Name} is {code}.\n\nIt works once, for {OtpLifetime.TotalMinutes:0} minutes. " +
                "If you did not ask for it, ignore this message."));
            return new SignInOutcome(SignInStatus.OtpSent);
        }
        var codes = await db.ResourceOtps.AsNoTracking()
            .Where(o => o.ResourceId == resource.ResourceId && o.Email == normalized && o.ExpiresAt > now)
            .ToListAsync(ct);
        foreach (var row in codes)
        {
            if (entry is not null && await hasher.VerifyAsync(otp, row.OtpHash, ct))
            {
                // Single use: whoever deletes it first signs in.
                if (await db.ResourceOtps.Where(o => o.OtpId == row.OtpId).ExecuteDeleteAsync(ct) == 1)
                {
                    return await IssueAsync(resource, s => s.WhitelistId = entry.WhitelistId, ct);
                }
            }
        }
        if (codes.Count == 0)
        {
            await hasher.DummyVerifyAsync(otp, ct);
        }
        budget.Fail(client);
        return SignInOutcome.Invalid;
    }

    /// <summary>A share link (<c>id.token</c>, or the two parts) for a request token and where it leads.</summary>
    public async Task<SignInOutcome> ShareLinkAsync(int? resourceId, string? tokenId, string token, string client, CancellationToken ct)
    {
        if (budget.IsSpent(client, out var wait))
        {
            return new SignInOutcome(SignInStatus.RateLimited, RetryAfter: wait);
        }
        if (string.IsNullOrEmpty(tokenId))
        {
            var dot = token.IndexOf('.', StringComparison.Ordinal);
            if (dot > 0 && dot < token.Length - 1)
            {
                tokenId = token[..dot];
                token = token[(dot + 1)..];
            }
        }
        var now = time.GetUtcNow().UtcDateTime;
        var row = tokenId is { Length: > 0 and <= 64 }
            ? await db.ResourceAccessTokens.AsNoTracking().FirstOrDefaultAsync(t => t.AccessTokenId == tokenId, ct)
            : null;
        var matches = Secrets.MatchesSha256(token, row?.TokenHash ?? new string('0', 64));
        if (row is null || !matches || (row.ExpiresAt is { } expires && expires <= now) || (resourceId is { } id && row.ResourceId != id))
        {
            budget.Fail(client);
            return SignInOutcome.Invalid;
        }
        var resource = await FindByIdAsync(row.ResourceId, ct);
        if (resource is null)
        {
            return SignInOutcome.Invalid;
        }
        var issued = await IssueAsync(resource, s => s.AccessTokenId = row.AccessTokenId, ct);
        return issued with { RedirectUrl = ResourceUrl(resource, row.Path ?? resource.PostAuthPath) };
    }

    /// <summary>A platform user's way in: a request token tied to their dashboard session, if they may use the resource.</summary>
    public async Task<SignInOutcome> UserAsync(Resource resource, string userId, string sessionId, CancellationToken ct)
    {
        if (!resource.Sso)
        {
            return SignInOutcome.NotConfigured;
        }
        if (await UserIdentityAsync(userId, resource.ResourceId, resource.OrgId, ct) is null)
        {
            return SignInOutcome.Invalid;
        }
        return await IssueAsync(resource, s => s.UserSessionId = sessionId, ct);
    }

    /// <summary>
    /// What the backend learns about a platform user allowed on the resource (Remote-User, -Email, -Name, -Role), or
    /// null if they are not: a member of its org with the admin role, a role granted the resource or a direct grant;
    /// with a verified address when the server requires one.
    /// </summary>
    public async Task<EdgeIdentity?> UserIdentityAsync(string userId, int resourceId, string orgId, CancellationToken ct)
    {
        var user = await db.Users.AsNoTracking().FirstOrDefaultAsync(u => u.UserId == userId, ct);
        if (user is null || (flags.Value.RequireEmailVerification && !user.EmailVerified)
            || !await db.UserOrgs.AnyAsync(m => m.UserId == userId && m.OrgId == orgId, ct))
        {
            return null;
        }
        var roles = await db.UserOrgRoles.AsNoTracking().Where(m => m.UserId == userId && m.OrgId == orgId)
            .Join(db.Roles, m => m.RoleId, r => r.RoleId, (m, r) => new { r.RoleId, r.Name, r.IsAdmin })
            .ToListAsync(ct);
        var roleIds = roles.Select(r => r.RoleId).ToList();
        var allowed = roles.Any(r => r.IsAdmin)
            || await db.RoleResources.AnyAsync(g => g.ResourceId == resourceId && roleIds.Contains(g.RoleId), ct)
            || await db.UserResources.AnyAsync(g => g.ResourceId == resourceId && g.UserId == userId, ct);
        return allowed
            ? new EdgeIdentity(user.UserId, user.Username ?? user.Email, user.Email, user.Name, string.Join(',', roles.Select(r => r.Name).Order(StringComparer.Ordinal)))
            : null;
    }

    /// <summary>
    /// Turns a request token into a resource session (upstream's exchange-session): the token is deleted whether or
    /// not this wins a race for it, and the session takes over how it was made — tied to the platform session (and
    /// its expiry), to the share link (never past it, not extended), or to the password, PIN or e-mail entry.
    /// </summary>
    public async Task<AccessGrant> ExchangeAsync(int resourceId, string requestToken, CancellationToken ct)
    {
        var id = Secrets.Sha256Hex(requestToken);
        var now = time.GetUtcNow().UtcDateTime;
        var row = await db.ResourceSessions.AsNoTracking()
            .FirstOrDefaultAsync(s => s.SessionId == id && s.ResourceId == resourceId && s.IsRequestToken, ct);
        if (row is null || await db.ResourceSessions.Where(s => s.SessionId == id && s.IsRequestToken).ExecuteDeleteAsync(ct) != 1
            || row.ExpiresAt <= now)
        {
            return AccessGrant.Invalid;
        }
        var session = new ResourceSession
        {
            SessionId = "",
            ResourceId = resourceId,
            UserSessionId = row.UserSessionId,
            PasswordId = row.PasswordId,
            PincodeId = row.PincodeId,
            WhitelistId = row.WhitelistId,
            AccessTokenId = row.AccessTokenId,
        };
        DateTimeOffset? cookieExpires;
        var defaultLength = TimeSpan.FromHours(server.Value.ResourceSessionLengthHours);
        if (row.UserSessionId is { } userSessionId)
        {
            var userSession = await db.Sessions.AsNoTracking().FirstOrDefaultAsync(s => s.SessionId == userSessionId && s.ExpiresAt > now, ct);
            if (userSession is null)
            {
                return AccessGrant.Invalid;
            }
            session.ExpiresAt = userSession.ExpiresAt;
            session.SessionLength = (long)(userSession.ExpiresAt - now).TotalMilliseconds;
            cookieExpires = new DateTimeOffset(userSession.ExpiresAt, TimeSpan.Zero);
        }
        else if (row.AccessTokenId is { } accessTokenId)
        {
            var link = await db.ResourceAccessTokens.AsNoTracking().FirstOrDefaultAsync(t => t.AccessTokenId == accessTokenId && t.ResourceId == resourceId, ct);
            if (link is null || (link.ExpiresAt is { } linkEnd && linkEnd <= now))
            {
                return AccessGrant.Invalid;
            }
            (session.ExpiresAt, session.SessionLength, cookieExpires) = ShareLinkSession(link, now, defaultLength);
            session.DoNotExtend = true;
        }
        else
        {
            session.ExpiresAt = now + defaultLength;
            session.SessionLength = (long)defaultLength.TotalMilliseconds;
            cookieExpires = new DateTimeOffset(session.ExpiresAt, TimeSpan.Zero);
        }
        var token = Secrets.Token(TokenLength);
        session.SessionId = Secrets.Sha256Hex(token);
        db.ResourceSessions.Add(session);
        await db.SaveChangesAsync(ct);
        return new AccessGrant(AccessResult.Valid, token, cookieExpires);
    }

    /// <summary>
    /// A share link's session: as long as the link says (or the default), never past the link's own expiry; the cookie
    /// outlives the browser only when the link persists its session or expires itself.
    /// </summary>
    public static (DateTime ExpiresAt, long LengthMs, DateTimeOffset? CookieExpires) ShareLinkSession(ResourceAccessToken link, DateTime now, TimeSpan defaultLength)
    {
        ArgumentNullException.ThrowIfNull(link);
        var length = link.SessionLength is { } ms && ms > 0 ? TimeSpan.FromMilliseconds(ms) : defaultLength;
        var expires = link.ExpiresAt is { } end && end < now + length ? end : now + length;
        return (expires, (long)length.TotalMilliseconds,
            link.PersistSession || link.ExpiresAt is not null ? new DateTimeOffset(expires, TimeSpan.Zero) : null);
    }

    /// <summary>Ends a resource session (sign-out on the resource's host).</summary>
    public Task<int> EndSessionAsync(int resourceId, string sessionToken, CancellationToken ct)
    {
        var id = Secrets.Sha256Hex(sessionToken);
        return db.ResourceSessions.Where(s => s.SessionId == id && s.ResourceId == resourceId && !s.IsRequestToken).ExecuteDeleteAsync(ct);
    }

    /// <summary>The resource's address: <c>http(s)://fullDomain</c> and a path (wildcard resources have none: null).</summary>
    public static string? ResourceUrl(Resource resource, string? path = null)
    {
        if (string.IsNullOrEmpty(resource.FullDomain) || resource.FullDomain.StartsWith('*'))
        {
            return null;
        }
        var tail = string.IsNullOrEmpty(path) ? "/" : path.StartsWith('/') ? path : "/" + path;
        return $"{(resource.Ssl ? "https" : "http")}://{resource.FullDomain}{tail}";
    }

    /// <summary>
    /// The <c>redirect</c> a sign-in page was given, if it is safe to send the browser (and its request token) there:
    /// an absolute http(s) URL without user info whose host is the resource's own (or, for a wildcard resource, one
    /// label under it). Anything else — another host, a relative or scheme-relative path, javascript: — is null.
    /// </summary>
    public static string? SafeRedirect(Resource resource, string? redirect)
    {
        if (string.IsNullOrEmpty(redirect) || redirect.Length > 4096 || string.IsNullOrEmpty(resource.FullDomain)
            || !Uri.TryCreate(redirect, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || uri.UserInfo.Length > 0)
        {
            return null;
        }
        var host = uri.IdnHost.ToLowerInvariant();
        var domain = resource.FullDomain.ToLowerInvariant();
        var matches = domain.StartsWith("*.", StringComparison.Ordinal)
            ? host.EndsWith(domain[1..], StringComparison.Ordinal) && host.Length > domain.Length - 1
                && !host.AsSpan(0, host.Length - domain.Length + 1).Contains('.')
            : host == domain;
        return matches ? uri.AbsoluteUri : null;
    }

    /// <summary>The URL with the request token appended (upstream's <c>resource_session_request_param</c>).</summary>
    public static string WithRequestToken(string url, string param, string token)
    {
        var fragment = url.IndexOf('#', StringComparison.Ordinal);
        var (head, tail) = fragment >= 0 ? (url[..fragment], url[fragment..]) : (url, "");
        var separator = head.Contains('?', StringComparison.Ordinal) ? '&' : '?';
        return $"{head}{separator}{Uri.EscapeDataString(param)}={Uri.EscapeDataString(token)}{tail}";
    }

    private async Task<ResourceWhitelist?> WhitelistEntryAsync(int resourceId, string address, CancellationToken ct)
    {
        var at = address.LastIndexOf('@');
        var wildcard = at > 0 ? "*" + address[at..] : null;
        var entries = await db.ResourceWhitelists.AsNoTracking()
            .Where(w => w.ResourceId == resourceId && (w.Email == address || w.Email == wildcard))
            .ToListAsync(ct);
        return entries.FirstOrDefault(w => w.Email == address) ?? entries.FirstOrDefault();
    }

    private async Task<SignInOutcome> IssueAsync(Resource resource, Action<ResourceSession> method, CancellationToken ct)
    {
        var token = Secrets.Token(TokenLength);
        var session = new ResourceSession
        {
            SessionId = Secrets.Sha256Hex(token),
            ResourceId = resource.ResourceId,
            ExpiresAt = time.GetUtcNow().UtcDateTime + RequestTokenLifetime,
            SessionLength = (long)RequestTokenLifetime.TotalMilliseconds,
            DoNotExtend = true,
            IsRequestToken = true,
        };
        method(session);
        db.ResourceSessions.Add(session);
        await db.SaveChangesAsync(ct);
        return new SignInOutcome(SignInStatus.Success, token, ResourceUrl(resource, resource.PostAuthPath));
    }
}

/// <summary>A resource's sign-in methods; <c>HeaderAuth</c> is null without header auth, else whether it is in extended-compatibility mode.</summary>
public sealed record ResourceMethods(bool Password, bool Pincode, bool? HeaderAuth, bool Sso, bool Whitelist)
{
    /// <summary>Something a person can do on the sign-in page.</summary>
    public bool Interactive => Password || Pincode || Sso || Whitelist;
}
