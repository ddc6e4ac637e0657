using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Extensions;
using Microsoft.Extensions.Options;
using Pangolin.Edge.Routing;
using Pangolin.Edge.Rules;

namespace Pangolin.Edge.Badger;

/// <summary>
/// The access check, run on every request after its route is chosen and before a target is, in PROTOCOL.md §4.4's
/// order: blocked; the resource's rules; no sign-in method; a request token back from the sign-in page; a share-link
/// token (headers, then <c>p_token</c>); HTTP Basic credentials; the resource session cookie (password, PIN, e-mail,
/// share-link or platform session); otherwise a redirect to the resource's sign-in page (or a refusal when it has none
/// a person can use). It fails closed: what it cannot decide is refused. Secrets are checked by the host's
/// <see cref="IResourceAccess"/>.
/// </summary>
internal sealed class EdgeAccessMiddleware(RequestDelegate next, EdgeProxyConfigProvider provider, IGeoLookup geo, IResourceAccess secrets,
    IAccessLog log, TimeProvider time, IOptions<EdgeOptions> options)
{
    private const string TokenIdHeader = "P-Access-Token-Id";
    private const string TokenHeader = "P-Access-Token";

    public async Task InvokeAsync(HttpContext context)
    {
        var route = provider.RouteFor(context.GetReverseProxyFeature().Route.Config);
        if (route is null)
        {
            await EdgePages.WriteAsync(context, StatusCodes.Status404NotFound, "Not found", "Nothing is published here.");
            return;
        }
        var resource = route.Resource;
        var access = resource.Access;
        var settings = options.Value;
        if (settings.SignOutPath.Length > 0 && string.Equals(context.Request.Path.Value, settings.SignOutPath, StringComparison.Ordinal))
        {
            await SignOutAsync(context, resource);
            return;
        }
        if (access.Blocked)
        {
            Log(context, resource, false, AccessReason.Blocked);
            await EdgePages.WriteAsync(context, StatusCodes.Status403Forbidden, "Access blocked", "Access to this resource is blocked.");
            return;
        }
        var client = context.Connection.RemoteIpAddress ?? IPAddress.None;
        if (access.ApplyRules)
        {
            switch (route.Rules.Evaluate(client, context.Request.Path.Value, context.Request.Method, geo))
            {
                case RuleOutcome.Accept:
                    Log(context, resource, true, AccessReason.AllowedByRule);
                    await next(context);
                    return;
                case RuleOutcome.Drop:
                    Log(context, resource, false, AccessReason.DroppedByRule);
                    await EdgePages.WriteAsync(context, StatusCodes.Status403Forbidden, "Access denied", "Your request is not allowed by this resource's rules.");
                    return;
            }
        }
        if (access.IsOpen)
        {
            Log(context, resource, true, AccessReason.AllowedNoAuth);
            await next(context);
            return;
        }
        var ct = context.RequestAborted;
        var request = context.Request;

        // Back from the sign-in page with a single-use request token: exchanged for the session cookie, then the clean address.
        if (request.Query.TryGetValue(settings.SessionRequestParam, out var requestToken) && requestToken.ToString() is { Length: > 0 } exchange)
        {
            var grant = await secrets.ExchangeRequestTokenAsync(resource.ResourceId, exchange, client, ct);
            if (grant.Result == AccessResult.RateLimited)
            {
                await DecidedAsync(context, resource, grant.Result, AccessReason.ValidSession);
                return;
            }
            if (grant is { Result: AccessResult.Valid, SessionToken: { } exchanged })
            {
                SetSessionCookie(context, resource, exchanged, grant.SessionExpires);
                Log(context, resource, true, AccessReason.ValidSession);
                RedirectToCleanUrl(context);
                return;
            }
            // A used or stale token: the request goes on as if it had none (a valid cookie still lets it in).
        }

        // A share link: in headers for programs, in the query for browsers (which then get a session cookie).
        if (request.Headers.TryGetValue(TokenIdHeader, out var headerId) && request.Headers.TryGetValue(TokenHeader, out var headerToken)
            && headerId.ToString() is { Length: > 0 } id && headerToken.ToString() is { Length: > 0 } secret)
        {
            var grant = await secrets.RedeemAccessTokenAsync(resource.ResourceId, id, secret, createSession: false, client, ct);
            if (await DecidedAsync(context, resource, grant.Result, AccessReason.ValidAccessToken))
            {
                return;
            }
        }
        var tokenParam = settings.AccessTokenParam;
        if (request.Query.TryGetValue(tokenParam, out var queryToken) && SplitToken(queryToken.ToString()) is var (queryId, querySecret))
        {
            var grant = await secrets.RedeemAccessTokenAsync(resource.ResourceId, queryId, querySecret, createSession: true, client, ct);
            if (grant.Result == AccessResult.Valid)
            {
                Log(context, resource, true, AccessReason.ValidAccessToken);
                if (grant.SessionToken is { } sessionToken)
                {
                    SetSessionCookie(context, resource, sessionToken, grant.SessionExpires);
                    if (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method))
                    {
                        RedirectToCleanUrl(context);
                        return;
                    }
                }
                await next(context);
                return;
            }
            if (await DecidedAsync(context, resource, grant.Result, AccessReason.ValidAccessToken))
            {
                return;
            }
        }

        // HTTP Basic credentials.
        var basic = BasicCredential(request);
        if (access.HasHeaderAuth && basic is not null)
        {
            var result = await secrets.CheckHeaderAuthAsync(resource.ResourceId, basic, client, ct);
            if (await DecidedAsync(context, resource, result, AccessReason.ValidHeaderAuth))
            {
                return;
            }
        }
        var onlyHeaderAuth = access.HasHeaderAuth && !access.Sso && !access.HasPassword && !access.HasPincode && !access.EmailWhitelist;
        if (onlyHeaderAuth && !access.HeaderAuthExtendedCompatibility)
        {
            Log(context, resource, false, AccessReason.NoMoreAuthMethods);
            await EdgePages.WriteAsync(context, StatusCodes.Status401Unauthorized, "Credentials required", "This resource takes HTTP Basic credentials.");
            return;
        }

        // The resource session cookie, scoped to this host.
        if (request.Cookies.TryGetValue(SessionCookieName(resource), out var cookie) && cookie.Length > 0)
        {
            var session = await secrets.CheckSessionAsync(resource, cookie, ct);
            if (session.Valid)
            {
                if (session.Identity is { } identity)
                {
                    context.Features.Set(identity);
                }
                Log(context, resource, true, AccessReason.ValidSession, session.Identity);
                await next(context);
                return;
            }
        }

        if (access.HasHeaderAuth && access.HeaderAuthExtendedCompatibility && basic is null)
        {
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"pangolin\"";
            Log(context, resource, false, AccessReason.NoSession);
            await EdgePages.WriteAsync(context, StatusCodes.Status401Unauthorized, "Credentials required", "This resource takes HTTP Basic credentials.");
            return;
        }
        Log(context, resource, false, AccessReason.NoSession);
        if (access.Sso || access.HasPassword || access.HasPincode || access.EmailWhitelist)
        {
            // The sign-in page gets the whole address back, so that the person lands where they were going.
            context.Response.StatusCode = StatusCodes.Status302Found;
            context.Response.Headers.Location = SignInUrl(resource, OriginalUrl(request));
            context.Response.Headers.CacheControl = "no-store";
            return;
        }
        await EdgePages.WriteAsync(context, StatusCodes.Status401Unauthorized, "Sign-in required", "This resource needs a sign-in.");
    }

    /// <summary>Where a person signs in to the resource: <c>&lt;dashboard&gt;/auth/resource/&lt;guid&gt;?redirect=&lt;url&gt;</c>, as upstream.</summary>
    internal string SignInUrl(EdgeHttpResource resource, string originalUrl) =>
        $"{options.Value.DashboardUrl.TrimEnd('/')}/auth/resource/{Uri.EscapeDataString(resource.ResourceGuid)}?redirect={Uri.EscapeDataString(originalUrl)}";

    /// <summary>The request's address without the edge's own parameters (tokens must not travel on).</summary>
    private string OriginalUrl(HttpRequest request) =>
        UriHelper.BuildAbsolute(request.Scheme, request.Host, request.PathBase, request.Path, WithoutParams(request.Query));

    /// <summary>The same address without the edge's parameters, on this host (a relative redirect, never elsewhere).</summary>
    private void RedirectToCleanUrl(HttpContext context)
    {
        var request = context.Request;
        context.Response.StatusCode = StatusCodes.Status302Found;
        context.Response.Headers.Location = SameHostLocation(UriHelper.BuildRelative(request.PathBase, request.Path, WithoutParams(request.Query)));
        context.Response.Headers.CacheControl = "no-store";
    }

    private async Task SignOutAsync(HttpContext context, EdgeHttpResource resource)
    {
        var name = SessionCookieName(resource);
        if (context.Request.Cookies.TryGetValue(name, out var cookie) && cookie.Length is > 0 and <= 256)
        {
            await secrets.EndSessionAsync(resource.ResourceId, cookie, context.RequestAborted);
        }
        context.Response.Cookies.Delete(name, new CookieOptions { Path = "/", Secure = resource.Ssl, HttpOnly = true, SameSite = SameSiteMode.Lax });
        await EdgePages.WriteAsync(context, StatusCodes.Status200OK, "Signed out", "You are signed out of this resource.");
    }

    private void Log(HttpContext context, EdgeHttpResource resource, bool allowed, AccessReason reason, EdgeIdentity? user = null)
    {
        var request = context.Request;
        var ip = context.Connection.RemoteIpAddress;
        log.Record(new AccessDecision(
            time.GetUtcNow(), resource.ResourceId, resource.OrgId, allowed, reason,
            ip is null ? null : (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString(),
            ip is null ? null : geo.Country(ip),
            request.Headers.UserAgent.ToString() is { Length: > 0 } agent ? agent[..Math.Min(agent.Length, 512)] : null,
            request.Scheme, request.Host.Host, request.Path.Value ?? "/", request.Method,
            request.QueryString.HasValue ? WithoutParams(request.Query).Value : null,
            user is null ? null : "user", user?.Email ?? user?.Username, user?.UserId));
    }

    /// <summary>The resource's session cookie: <c>p_session_token</c>, with <c>_s</c> for an SSL resource (upstream's names).</summary>
    internal string SessionCookieName(EdgeHttpResource resource) => options.Value.SessionCookieName + (resource.Ssl ? "_s" : "");

    private void SetSessionCookie(HttpContext context, EdgeHttpResource resource, string token, DateTimeOffset? expires) =>
        context.Response.Cookies.Append(SessionCookieName(resource), token, new CookieOptions
        {
            HttpOnly = true,
            Secure = resource.Ssl,
            SameSite = SameSiteMode.Lax,
            Path = "/",
            Expires = expires,
            IsEssential = true,
        });

    /// <summary>Ends the request for a valid secret (forwarded) or a client over its budget (429); false to go on.</summary>
    private async Task<bool> DecidedAsync(HttpContext context, EdgeHttpResource resource, AccessResult result, AccessReason reason)
    {
        switch (result)
        {
            case AccessResult.Valid:
                Log(context, resource, true, reason);
                await next(context);
                return true;
            case AccessResult.RateLimited:
                Log(context, resource, false, AccessReason.RateLimited);
                await EdgePages.WriteAsync(context, StatusCodes.Status429TooManyRequests, "Too many attempts",
                    "Too many wrong credentials came from your address. Wait a few minutes, then try again.");
                return true;
            default:
                return false;
        }
    }

    /// <summary>
    /// A relative location that stays on this host: a path that starts with <c>//</c> or <c>/\</c> would be read by
    /// browsers as another host (<c>//evil.example/</c>), so its leading slashes fold into one.
    /// </summary>
    internal static string SameHostLocation(string location)
    {
        if (location.Length > 1 && location[0] == '/' && (location[1] == '/' || location[1] == '\\'))
        {
            return "/" + location.TrimStart('/', '\\');
        }
        return location.StartsWith('/') ? location : "/" + location;
    }

    /// <summary><c>&lt;id&gt;.&lt;token&gt;</c> as upstream's share links carry it.</summary>
    internal static (string Id, string Token)? SplitToken(string value)
    {
        var dot = value.IndexOf('.', StringComparison.Ordinal);
        return dot > 0 && dot < value.Length - 1 ? (value[..dot], value[(dot + 1)..]) : null;
    }

    private static string? BasicCredential(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        return header.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase) && header.Length > 6 ? header[6..].Trim() : null;
    }

    /// <summary>The query without the share-link token and the request token.</summary>
    private QueryString WithoutParams(IQueryCollection query)
    {
        var settings = options.Value;
        var builder = new QueryBuilder();
        foreach (var (key, values) in query)
        {
            if (!settings.IsSecretQueryParam(key))
            {
                foreach (var value in values)
                {
                    builder.Add(key, value ?? "");
                }
            }
        }
        return builder.ToQueryString();
    }
}
