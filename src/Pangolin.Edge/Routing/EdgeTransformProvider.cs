using System.Net.Http.Headers;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Pangolin.Edge.Badger;
using Yarp.ReverseProxy.Transforms;
using Yarp.ReverseProxy.Transforms.Builder;

namespace Pangolin.Edge.Routing;

/// <summary>
/// What every request to a target carries: the original Host (or the resource's override), X-Forwarded-For/-Proto/-Host
/// and X-Real-IP set from the client as the edge sees it (incoming ones are never passed on: a client outside the
/// trusted proxies could forge them), the identity headers of the access check (incoming ones stripped), the
/// resource's own headers, and the path rewrite; the edge's session cookies and token parameter never leave it.
/// </summary>
internal sealed class EdgeTransformProvider(EdgeProxyConfigProvider provider, IOptions<EdgeOptions> options) : ITransformProvider
{
    private static readonly string[] Stripped =
    [
        "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Prefix", "X-Forwarded-Port", "Forwarded",
        "X-Real-IP", "Remote-User", "Remote-Email", "Remote-Name", "Remote-Role", "Remote-User-Id", "Remote-Virtual-Api-Key-Id",
        "P-Access-Token", "P-Access-Token-Id",
    ];

    public void ValidateRoute(TransformRouteValidationContext context)
    {
    }

    public void ValidateCluster(TransformClusterValidationContext context)
    {
    }

    public void Apply(TransformBuilderContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        if (provider.RouteFor(context.Route) is not { } route)
        {
            return;
        }
        var resource = route.Resource;
        var cookiePrefix = options.Value.SessionCookieName;
        var tokenParam = options.Value.AccessTokenParam;
        var hostOverride = resource.SetHostHeader;
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var header in resource.RequestHeaders)
        {
            if (string.Equals(header.Key, "Host", StringComparison.OrdinalIgnoreCase))
            {
                hostOverride ??= header.Value;
            }
            else
            {
                headers.Add(header);
            }
        }
        context.UseDefaultForwarders = false;
        context.CopyRequestHeaders = true;
        context.AddOriginalHost(useOriginal: true);
        context.AddRequestTransform(transform =>
        {
            var http = transform.HttpContext;
            var request = transform.ProxyRequest;
            foreach (var name in Stripped)
            {
                request.Headers.Remove(name);
            }
            var client = http.Connection.RemoteIpAddress;
            if (client is not null)
            {
                var ip = (client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client).ToString();
                request.Headers.TryAddWithoutValidation("X-Forwarded-For", ip);
                request.Headers.TryAddWithoutValidation("X-Real-IP", ip);
            }
            request.Headers.TryAddWithoutValidation("X-Forwarded-Proto", http.Request.Scheme);
            request.Headers.TryAddWithoutValidation("X-Forwarded-Host", http.Request.Host.Value);
            if (hostOverride is not null)
            {
                request.Headers.Host = hostOverride;
            }
            if (http.Features.Get<EdgeIdentity>() is { } identity)
            {
                AddIfSet(request.Headers, "Remote-User", identity.Username);
                AddIfSet(request.Headers, "Remote-Email", identity.Email);
                AddIfSet(request.Headers, "Remote-Name", identity.Name);
                AddIfSet(request.Headers, "Remote-Role", identity.Role);
            }
            foreach (var header in headers)
            {
                request.Headers.Remove(header.Key);
                request.Headers.TryAddWithoutValidation(header.Key, header.Value);
            }
            StripSessionCookies(request.Headers, cookiePrefix);
            transform.Query.Collection.Remove(tokenParam);
            if (route.Rewrite is { } rewrite)
            {
                transform.Path = new PathString(rewrite.Rewrite(transform.Path.Value ?? "/"));
            }
            return ValueTask.CompletedTask;
        });
    }

    private static void AddIfSet(HttpRequestHeaders headers, string name, string? value)
    {
        if (!string.IsNullOrEmpty(value))
        {
            headers.TryAddWithoutValidation(name, value);
        }
    }

    /// <summary>Removes the edge's own session cookies (<c>p_session_token…</c>) from the Cookie header, keeping the rest.</summary>
    internal static void StripSessionCookies(HttpRequestHeaders headers, string prefix)
    {
        if (!headers.TryGetValues("Cookie", out var values))
        {
            return;
        }
        var kept = new List<string>();
        var changed = false;
        foreach (var value in values)
        {
            foreach (var part in value.Split(';'))
            {
                var cookie = part.Trim();
                if (cookie.Length == 0)
                {
                    continue;
                }
                if (cookie.StartsWith(prefix, StringComparison.Ordinal))
                {
                    changed = true;
                    continue;
                }
                kept.Add(cookie);
            }
        }
        if (!changed)
        {
            return;
        }
        headers.Remove("Cookie");
        if (kept.Count > 0)
        {
            headers.TryAddWithoutValidation("Cookie", string.Join("; ", kept));
        }
    }
}
