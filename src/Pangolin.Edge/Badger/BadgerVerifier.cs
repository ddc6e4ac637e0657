using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Pangolin.Edge.Routing;
using Pangolin.Edge.Rules;

namespace Pangolin.Edge.Badger;

/// <summary>
/// A request as upstream's Badger plugin describes it to <c>POST /api/v1/badger/verify-session</c> (PROTOCOL.md §4.3):
/// for users who keep Traefik in front and ask this server for the decision.
/// </summary>
/// <param name="Sessions">The cookies whose names start with the session cookie's name.</param>
/// <param name="Headers">First value of each request header (names compared without case).</param>
/// <param name="Query">First value of each query parameter.</param>
public sealed record BadgerRequest(
    string Host, string Path, string Method, string OriginalUrl, IPAddress Client,
    IReadOnlyDictionary<string, string> Sessions, IReadOnlyDictionary<string, string> Headers, IReadOnlyDictionary<string, string> Query);

/// <summary>The answer, in upstream's fields (<c>valid</c>, <c>redirectUrl</c>, <c>headerAuthChallenged</c>, the user's identity).</summary>
/// <param name="SetCookie">A session cookie the plugin passes on (a share link in the query opened one).</param>
public sealed record BadgerVerdict(bool Valid, string? RedirectUrl = null, bool HeaderAuthChallenged = false, EdgeIdentity? Identity = null, string? SetCookie = null)
{
    public static BadgerVerdict Denied { get; } = new(false);

    public static BadgerVerdict Allowed { get; } = new(true);
}

/// <summary>
/// The access decision of PROTOCOL.md §4.4 for requests that another proxy holds (upstream's verify-session and
/// exchange-session contracts), on the same routes, rules and secrets as the edge's own check.
/// </summary>
public sealed class BadgerVerifier
{
    private const string TokenIdHeader = "P-Access-Token-Id";
    private const string TokenHeader = "P-Access-Token";
    private readonly EdgeProxyConfigProvider _routes;
    private readonly IGeoLookup _geo;
    private readonly IResourceAccess _secrets;
    private readonly IOptions<EdgeOptions> _options;
    private readonly ConditionalWeakTable<EdgeHttpResource, RuleSet> _rules = [];

    internal BadgerVerifier(EdgeProxyConfigProvider routes, IGeoLookup geo, IResourceAccess secrets, IOptions<EdgeOptions> options)
    {
        _routes = routes;
        _geo = geo;
        _secrets = secrets;
        _options = options;
    }

    public async Task<BadgerVerdict> VerifyAsync(BadgerRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var resource = _routes.Table.FindResource(HostWithoutPort(request.Host));
        if (resource is null || resource.Access.Blocked)
        {
            return BadgerVerdict.Denied;
        }
        var access = resource.Access;
        if (access.ApplyRules)
        {
            var rules = _rules.GetValue(resource, r => RuleSet.Compile(r.Access.Rules));
            switch (rules.Evaluate(request.Client, request.Path, request.Method, _geo))
            {
                case RuleOutcome.Accept:
                    return BadgerVerdict.Allowed;
                case RuleOutcome.Drop:
                    return BadgerVerdict.Denied;
            }
        }
        if (access.IsOpen)
        {
            return BadgerVerdict.Allowed;
        }
        var settings = _options.Value;
        if (Header(request, TokenIdHeader) is { Length: > 0 } id && Header(request, TokenHeader) is { Length: > 0 } secret
            && (await _secrets.RedeemAccessTokenAsync(resource.ResourceId, id, secret, createSession: false, request.Client, ct)).Result == AccessResult.Valid)
        {
            return BadgerVerdict.Allowed;
        }
        if (request.Query.TryGetValue(settings.AccessTokenParam, out var queryToken) && EdgeAccessMiddleware.SplitToken(queryToken) is var (queryId, querySecret))
        {
            var grant = await _secrets.RedeemAccessTokenAsync(resource.ResourceId, queryId, querySecret, createSession: true, request.Client, ct);
            if (grant.Result == AccessResult.Valid)
            {
                return new BadgerVerdict(true, SetCookie: grant.SessionToken is { } token ? SessionCookie(resource, token, grant.SessionExpires) : null);
            }
        }
        var basic = Header(request, "Authorization") is { } authorization && authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)
            ? authorization[6..].Trim()
            : null;
        if (access.HasHeaderAuth && basic is { Length: > 0 }
            && await _secrets.CheckHeaderAuthAsync(resource.ResourceId, basic, request.Client, ct) == AccessResult.Valid)
        {
            return BadgerVerdict.Allowed;
        }
        var interactive = access.Sso || access.HasPassword || access.HasPincode || access.EmailWhitelist;
        if (access.HasHeaderAuth && !interactive && !access.HeaderAuthExtendedCompatibility)
        {
            return BadgerVerdict.Denied;
        }
        // Upstream's cookies may carry a ".<timestamp>" suffix; every one of ours that the browser sent is tried.
        foreach (var (name, value) in request.Sessions)
        {
            if (name.StartsWith(settings.SessionCookieName, StringComparison.Ordinal) && value.Length is > 0 and <= 256
                && await _secrets.CheckSessionAsync(resource, value, ct) is { Valid: true } session)
            {
                return new BadgerVerdict(true, Identity: session.Identity);
            }
        }
        if (access.HasHeaderAuth && access.HeaderAuthExtendedCompatibility && basic is null)
        {
            return new BadgerVerdict(false, HeaderAuthChallenged: true);
        }
        return interactive
            ? new BadgerVerdict(false, RedirectUrl: $"{settings.DashboardUrl.TrimEnd('/')}/auth/resource/{Uri.EscapeDataString(resource.ResourceGuid)}?redirect={Uri.EscapeDataString(request.OriginalUrl)}")
            : BadgerVerdict.Denied;
    }

    /// <summary>Upstream's exchange-session: a sign-in's request token for the Set-Cookie of a session on this host.</summary>
    public async Task<string?> ExchangeAsync(string host, string requestToken, IPAddress client, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(host);
        ArgumentNullException.ThrowIfNull(requestToken);
        if (_routes.Table.FindResource(HostWithoutPort(host)) is not { } resource)
        {
            return null;
        }
        var grant = await _secrets.ExchangeRequestTokenAsync(resource.ResourceId, requestToken, client, ct);
        return grant is { Result: AccessResult.Valid, SessionToken: { } token } ? SessionCookie(resource, token, grant.SessionExpires) : null;
    }

    private string SessionCookie(EdgeHttpResource resource, string token, DateTimeOffset? expires) =>
        new SetCookieHeaderValue(_options.Value.SessionCookieName + (resource.Ssl ? "_s" : ""), token)
        {
            Path = "/",
            HttpOnly = true,
            Secure = resource.Ssl,
            SameSite = Microsoft.Net.Http.Headers.SameSiteMode.Lax,
            Expires = expires,
        }.ToString();

    private static string? Header(BadgerRequest request, string name) =>
        request.Headers.TryGetValue(name, out var value) ? value : null;

    private static string HostWithoutPort(string host)
    {
        var colon = host.LastIndexOf(':');
        return (colon > 0 && !host.EndsWith(']') ? host[..colon] : host).ToLowerInvariant();
    }
}
