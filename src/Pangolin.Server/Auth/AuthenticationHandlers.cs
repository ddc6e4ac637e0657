using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Server.Configuration;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server.Auth;

public static class AuthSchemes
{
    /// <summary>Picks the scheme by API surface: API keys under /v1, the session cookie elsewhere.</summary>
    public const string Default = "pangolin";
    public const string Session = "session";
    public const string ApiKey = "apikey";

    public const string IntegrationPrefix = "/v1";

    public static bool IsIntegrationPath(PathString path) => path.StartsWithSegments(IntegrationPrefix, StringComparison.OrdinalIgnoreCase);
}

/// <summary>Authenticates the dashboard API by the session cookie, sliding the session as it is used.</summary>
internal sealed class SessionAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    SessionService sessions) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var token = Request.Cookies[sessions.CookieName];
        if (string.IsNullOrEmpty(token))
        {
            return AuthenticateResult.NoResult();
        }
        var session = await sessions.ValidateAsync(token, Context.RequestAborted);
        if (session is null)
        {
            // A stale cookie is not an error: the request proceeds as anonymous and the cookie is dropped.
            sessions.ClearCookie(Context);
            return AuthenticateResult.NoResult();
        }
        if (session.Renewed)
        {
            sessions.WriteCookie(Context, token, session.ExpiresAt);
        }
        Context.Features.Set(new Caller
        {
            Kind = CallerKind.User,
            UserId = session.UserId,
            Email = session.Email,
            SessionId = session.SessionId,
            IsServerAdmin = session.ServerAdmin,
        });
        var identity = new ClaimsIdentity(
            [new Claim(ClaimTypes.NameIdentifier, session.UserId), new Claim(ClaimTypes.Email, session.Email)],
            Scheme.Name);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
    }
}

/// <summary>
/// Authenticates the integration API by <c>Authorization: Bearer &lt;apiKeyId&gt;.&lt;secret&gt;</c>. The secret is random,
/// so it is stored as SHA-256 and compared in constant time; failed attempts are rate limited per client IP.
/// </summary>
internal sealed class ApiKeyAuthenticationHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options,
    ILoggerFactory logger,
    UrlEncoder encoder,
    PangolinDbContext db,
    ApiKeyCache keys,
    IRateLimiter limiter,
    IOptions<RateLimitOptions> limits,
    TimeProvider time) : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    internal const string RequiredMessage = "API key required";
    internal const string InvalidMessage = "Invalid API key";
    internal const string TooManyMessage = "Too many invalid API keys from this address; try again later";
    internal const string FailureKey = "pangolin.apikey-failure";

    protected override async Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        var header = Request.Headers.Authorization.ToString();
        if (string.IsNullOrEmpty(header) || !header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase))
        {
            return AuthenticateResult.NoResult();
        }
        var ip = Context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        if (limits.Value.Enabled && IsBlocked(ip))
        {
            return Fail(TooManyMessage);
        }
        var value = header["Bearer ".Length..].Trim();
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0 || dot == value.Length - 1)
        {
            return Failed(ip);
        }
        var id = value[..dot];
        var secret = value[(dot + 1)..];
        var key = await keys.GetAsync(db, id, Context.RequestAborted);
        // Hash even when the id is unknown, so timing does not tell ids apart.
        var matches = Secrets.MatchesSha256(secret, key?.Hash ?? new string('0', 64));
        if (key is null || !matches)
        {
            return Failed(ip);
        }
        var now = time.GetUtcNow().UtcDateTime;
        if (key.LastUsedAt is null || now - key.LastUsedAt.Value > TimeSpan.FromMinutes(1))
        {
            await db.ApiKeys.Where(k => k.ApiKeyId == id).ExecuteUpdateAsync(u => u.SetProperty(k => k.LastUsedAt, now), Context.RequestAborted);
            keys.Touched(id, now);
        }
        Context.Features.Set(new Caller { Kind = CallerKind.ApiKey, ApiKeyId = key.ApiKeyId, IsRootKey = key.IsRoot, Key = key });
        var identity = new ClaimsIdentity([new Claim(ClaimTypes.NameIdentifier, key.ApiKeyId)], Scheme.Name);
        return AuthenticateResult.Success(new AuthenticationTicket(new ClaimsPrincipal(identity), Scheme.Name));
    }

    private bool IsBlocked(string ip)
    {
        // Peek: a zero-cost probe of the failure window without counting this request.
        var window = limits.Value.Secrets;
        return !limiter.TryPeek("apikey-failures", ip, window, out _);
    }

    private AuthenticateResult Failed(string ip)
    {
        if (limits.Value.Enabled)
        {
            limiter.TryAcquire("apikey-failures", ip, limits.Value.Secrets, out _);
        }
        return Fail(InvalidMessage);
    }

    // The authentication middleware keeps only successful results, so the reason travels in the request items.
    private AuthenticateResult Fail(string message)
    {
        Context.Items[FailureKey] = message;
        return AuthenticateResult.Fail(message);
    }
}
