using System.Net;
using System.Runtime.CompilerServices;
using Microsoft.AspNetCore.Http.Extensions;
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
    private readonly IAccessLog _log;
    private readonly TimeProvider _time;
    private readonly ConditionalWeakTable<EdgeHttpResource, RuleSet> _rules = [];

    internal BadgerVerifier(EdgeProxyConfigProvider routes, IGeoLookup geo, IResourceAccess secrets, IOptions<EdgeOptions> options, IAccessLog log, TimeProvider time)
    {
        _routes = routes;
        _geo = geo;
        _secrets = secrets;
        _options = options;
        _log = log;
        _time = time;
    }

    /// <summary>Decides, and writes the decision to the request log as the edge's own check does.</summary>
    public async Task<BadgerVerdict> VerifyAsync(BadgerRequest request, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(request);
        var resource = _routes.Table.FindResource(HostWithoutPort(request.Host));
        if (resource is null)
        {
            return BadgerVerdict.Denied; // no org to log it under, as with unknown hosts at the edge
        }
        var (verdict, reason) = await DecideAsync(resource, request, ct);
        Log(resource, request, verdict, reason);
        return verdict;
    }

    private async Task<(BadgerVerdict Verdict, AccessReason Reason)> DecideAsync(EdgeHttpResource resource, BadgerRequest request, CancellationToken ct)
    {
        var access = resource.Access;
        if (access.Blocked)
        {
            return (BadgerVerdict.Denied, AccessReason.Blocked);
        }
        if (access.ApplyRules)
        {
            var rules = _rules.GetValue(resource, r => RuleSet.Compile(r.Access.Rules));
            switch (rules.Evaluate(request.Client, request.Path, request.Method, _geo))
            {
                case RuleOutcome.Accept:
                    return (BadgerVerdict.Allowed, AccessReason.AllowedByRule);
                case RuleOutcome.Drop:
                    return (BadgerVerdict.Denied, AccessReason.DroppedByRule);
            }
        }
        if (access.IsOpen)
        {
            return (BadgerVerdict.Allowed, AccessReason.AllowedNoAuth);
        }
        var settings = _options.Value;
        var limited = false;
        if (Header(request, TokenIdHeader) is { Length: > 0 } id && Header(request, TokenHeader) is { Length: > 0 } secret)
        {
            var result = (await _secrets.RedeemAccessTokenAsync(resource.ResourceId, id, secret, createSession: false, request.Client, ct)).Result;
            if (result == AccessResult.Valid)
            {
                return (BadgerVerdict.Allowed, AccessReason.ValidAccessToken);
            }
            limited |= result == AccessResult.RateLimited;
        }
        if (request.Query.TryGetValue(settings.AccessTokenParam, out var queryToken) && EdgeAccessMiddleware.SplitToken(queryToken) is var (queryId, querySecret))
        {
            var grant = await _secrets.RedeemAccessTokenAsync(resource.ResourceId, queryId, querySecret, createSession: true, request.Client, ct);
            if (grant.Result == AccessResult.Valid)
            {
                var cookie = grant.SessionToken is { } token ? SessionCookie(resource, token, grant.SessionExpires) : null;
                return (new BadgerVerdict(true, SetCookie: cookie), AccessReason.ValidAccessToken);
            }
            limited |= grant.Result == AccessResult.RateLimited;
        }
        var basic = Header(request, "Authorization") is { } authorization && authorization.StartsWith("Basic ", StringComparison.OrdinalIgnoreCase)
            ? authorization[6..].Trim()
            : null;
        if (access.HasHeaderAuth && basic is { Length: > 0 })
        {
            var result = await _secrets.CheckHeaderAuthAsync(resource.ResourceId, basic, request.Client, ct);
            if (result == AccessResult.Valid)
            {
                return (BadgerVerdict.Allowed, AccessReason.ValidHeaderAuth);
            }
            limited |= result == AccessResult.RateLimited;
        }
        var interactive = access.Sso || access.HasPassword || access.HasPincode || access.EmailWhitelist;
        if (access.HasHeaderAuth && !interactive && !access.HeaderAuthExtendedCompatibility)
        {
            return (BadgerVerdict.Denied, limited ? AccessReason.RateLimited : AccessReason.NoMoreAuthMethods);
        }
        // Upstream's cookies may carry a ".<timestamp>" suffix; every one of ours that the browser sent is tried.
        foreach (var (name, value) in request.Sessions)
        {
            if (name.StartsWith(settings.SessionCookieName, StringComparison.Ordinal) && value.Length is > 0 and <= 256
                && await _secrets.CheckSessionAsync(resource, value, ct) is { Valid: true } session)
            {
                return (new BadgerVerdict(true, Identity: session.Identity), AccessReason.ValidSession);
            }
        }
        var denied = limited ? AccessReason.RateLimited : AccessReason.NoSession;
        if (access.HasHeaderAuth && access.HeaderAuthExtendedCompatibility && basic is null)
        {
            return (new BadgerVerdict(false, HeaderAuthChallenged: true), denied);
        }
        return interactive
            ? (new BadgerVerdict(false, RedirectUrl: $"{settings.DashboardUrl.TrimEnd('/')}/auth/resource/{Uri.EscapeDataString(resource.ResourceGuid)}?redirect={Uri.EscapeDataString(request.OriginalUrl)}"), denied)
            : (BadgerVerdict.Denied, limited ? AccessReason.RateLimited : AccessReason.NoMoreAuthMethods);
    }

    private void Log(EdgeHttpResource resource, BadgerRequest request, BadgerVerdict verdict, AccessReason reason)
    {
        var settings = _options.Value;
        var client = request.Client.IsIPv4MappedToIPv6 ? request.Client.MapToIPv4() : request.Client;
        var query = new QueryBuilder();
        foreach (var (key, value) in request.Query)
        {
            if (!settings.IsSecretQueryParam(key))
            {
                query.Add(key, value);
            }
        }
        var original = Uri.TryCreate(request.OriginalUrl, UriKind.Absolute, out var url) ? url : null;
        var identity = verdict.Identity;
        _log.Record(new AccessDecision(
            _time.GetUtcNow(), resource.ResourceId, resource.OrgId, verdict.Valid, reason,
            client.ToString(), _geo.Country(client),
            Header(request, "User-Agent") is { Length: > 0 } agent ? agent[..Math.Min(agent.Length, 512)] : null,
            original?.Scheme ?? "http", HostWithoutPort(request.Host), request.Path.Length > 0 ? request.Path : "/", request.Method,
            request.Query.Count > 0 ? query.ToQueryString().Value : null,
            identity is null ? null : "user", identity?.Email ?? identity?.Username, identity?.UserId));
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
