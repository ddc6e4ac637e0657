using System.Globalization;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;
using Pangolin.Edge.Routing;
using Pangolin.Edge.Tls.Acme;

namespace Pangolin.Edge.Tls;

/// <summary>
/// What the edge does about TLS before a request is routed: answers ACME http-01 challenges on plain HTTP for any host
/// (RFC 8555 §8.3: the CA asks on port 80, before any redirect or access check could refuse it), sends plain-HTTP
/// requests for SSL resources to HTTPS, and adds HSTS (RFC 6797) to their HTTPS responses.
/// </summary>
internal sealed class EdgeTlsMiddleware(RequestDelegate next, EdgeProxyConfigProvider routes, Http01ChallengeStore http01, IOptionsMonitor<EdgeOptions> options)
{
    private static readonly PathString ChallengePath = new(AcmeHttp01EndpointRouteBuilderExtensions.PathPrefix.TrimEnd('/'));

    // The header for the current settings, built once per settings value rather than per response.
    private HstsCache? _hsts;

    public Task InvokeAsync(HttpContext context)
    {
        var request = context.Request;
        if (!request.IsHttps)
        {
            if (request.Path.StartsWithSegments(ChallengePath, StringComparison.Ordinal, out var rest)
                && (HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)))
            {
                return AnswerChallengeAsync(context, rest);
            }
            var edge = options.CurrentValue;
            if (edge.HttpsPort > 0 && routes.Table.FindResource(request.Host.Host) is { Ssl: true })
            {
                Redirect(context, edge.RedirectHttpsPort);
                return Task.CompletedTask;
            }
        }
        else if (options.CurrentValue.Hsts is { MaxAgeSeconds: > 0 } hsts && routes.Table.FindResource(request.Host.Host) is { Ssl: true })
        {
            var value = HstsHeader(hsts);
            // Set when the response starts, so that a target's own header cannot take its place.
            context.Response.OnStarting(static state =>
            {
                var (response, header) = ((HttpResponse, string))state;
                response.Headers.StrictTransportSecurity = header;
                return Task.CompletedTask;
            }, (context.Response, value));
        }
        return next(context);
    }

    private string HstsHeader(EdgeHstsOptions hsts)
    {
        if (Volatile.Read(ref _hsts) is { } cached && ReferenceEquals(cached.Options, hsts))
        {
            return cached.Header;
        }
        var header = "max-age=" + hsts.MaxAgeSeconds.ToString(CultureInfo.InvariantCulture) + (hsts.IncludeSubDomains ? "; includeSubDomains" : "");
        Volatile.Write(ref _hsts, new HstsCache(hsts, header));
        return header;
    }

    private sealed record HstsCache(EdgeHstsOptions Options, string Header);

    private Task AnswerChallengeAsync(HttpContext context, PathString rest)
    {
        var token = rest.HasValue ? rest.Value![1..] : "";
        if (!http01.TryGetResponse(token, out var keyAuthorization))
        {
            context.Response.StatusCode = StatusCodes.Status404NotFound;
            return Task.CompletedTask;
        }
        context.Response.ContentType = "application/octet-stream";
        return context.Response.WriteAsync(keyAuthorization, context.RequestAborted);
    }

    /// <summary>
    /// 301 for GET and HEAD, 308 otherwise (RFC 9110 §15.4.9: the method and body are kept). The Location names the
    /// host the resource matched, never anything else the request carried, so the redirect cannot be pointed elsewhere.
    /// </summary>
    private static void Redirect(HttpContext context, int httpsPort)
    {
        var request = context.Request;
        // The table matched this host (exactly or by its wildcard), so it is a resource's name; lower-cased, no port.
        var host = request.Host.Host.ToLowerInvariant();
        if (!IsHostName(host))
        {
            context.Response.StatusCode = StatusCodes.Status400BadRequest;
            return;
        }
        var authority = httpsPort == 443 ? host : host + ":" + httpsPort.ToString(CultureInfo.InvariantCulture);
        var location = "https://" + authority + request.PathBase.ToUriComponent() + request.Path.ToUriComponent() + request.QueryString.ToUriComponent();
        context.Response.StatusCode = HttpMethods.IsGet(request.Method) || HttpMethods.IsHead(request.Method)
            ? StatusCodes.Status301MovedPermanently
            : StatusCodes.Status308PermanentRedirect;
        context.Response.Headers[HeaderNames.Location] = location;
    }

    private static bool IsHostName(string host)
    {
        foreach (var c in host)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '.'))
            {
                return false;
            }
        }
        return host.Length is > 0 and <= 253;
    }
}
