using Microsoft.Extensions.Options;
using Pangolin.Server.Apis;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Operations;

/// <summary>
/// Keeps each API on its own listener, as upstream's separate servers do: the dashboard API (/api/v1) on the
/// external port, the integration API (/v1) on the integration port when enabled, the exit-node API
/// (/api/v1/gerbil) on the internal port only. The dashboard's pages on the external port, and on the edge's ports
/// only for the dashboard's own host name (a host whose resource was deleted must not turn into the dashboard).
/// Health endpoints answer everywhere.
/// </summary>
internal sealed class SurfaceMiddleware(
    RequestDelegate next, IOptionsMonitor<ServerOptions> server, IOptionsMonitor<FlagsOptions> flags, IOptionsMonitor<AppOptions> app)
{
    /// <summary>The exit-node API (upstream's internal router): gerbils call it without a session or key.</summary>
    public const string InternalPrefix = "/api/v1/gerbil";

    /// <summary>Upstream's Badger plugin contracts, also on the internal router.</summary>
    public const string BadgerPrefix = "/api/v1/badger";

    public static bool IsInternal(PathString path) =>
        path.StartsWithSegments(InternalPrefix, StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments(BadgerPrefix, StringComparison.OrdinalIgnoreCase);

    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        var port = context.Connection.LocalPort;
        var s = server.CurrentValue;
        if (path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase))
        {
            if (!flags.CurrentValue.EnableIntegrationApi)
            {
                return Problems.WriteAsync(context, StatusCodes.Status404NotFound, "The integration API is disabled (Flags:EnableIntegrationApi)").AsTask();
            }
            if (port != s.IntegrationPort)
            {
                return NotHere(context, $"The integration API is served on port {s.IntegrationPort}");
            }
        }
        else if (IsInternal(path))
        {
            if (port != s.InternalPort)
            {
                return NotHere(context, "The exit-node and Badger APIs are served on the internal port only");
            }
        }
        else if (path.StartsWithSegments("/api/v1", StringComparison.OrdinalIgnoreCase) && port != s.ExternalPort)
        {
            return NotHere(context, $"The dashboard API is served on port {s.ExternalPort}");
        }
        else if (port != s.ExternalPort && !IsProbe(path) && !path.StartsWithSegments("/api/v1", StringComparison.OrdinalIgnoreCase)
            && (port == s.IntegrationPort || port == s.InternalPort || !IsDashboardHost(context)))
        {
            // The dashboard's pages, assets and circuit belong to the external port, not to the machine-facing ones.
            return NotHere(context, $"The dashboard is served on port {s.ExternalPort}");
        }
        return next(context);
    }

    private bool IsDashboardHost(HttpContext context) =>
        Uri.TryCreate(app.CurrentValue.DashboardUrl, UriKind.Absolute, out var dashboard)
        && string.Equals(context.Request.Host.Host, dashboard.Host, StringComparison.OrdinalIgnoreCase);

    private static bool IsProbe(PathString path) =>
        path.Equals("/healthz", StringComparison.OrdinalIgnoreCase) || path.Equals("/readyz", StringComparison.OrdinalIgnoreCase);

    private static Task NotHere(HttpContext context, string message) =>
        Problems.WriteAsync(context, StatusCodes.Status404NotFound, message).AsTask();
}

/// <summary>
/// Upstream's CSRF defence for cookie-authenticated state changes: every non-GET request to /api/v1 must carry
/// <c>X-CSRF-Token: x-csrf-protection</c>. Browsers cannot add that header cross-site without a CORS preflight,
/// which this server refuses unless an origin is configured.
/// </summary>
internal sealed class CsrfMiddleware(RequestDelegate next)
{
    public const string HeaderName = "X-CSRF-Token";
    public const string HeaderValue = "x-csrf-protection";

    public Task InvokeAsync(HttpContext context)
    {
        var method = context.Request.Method;
        // The internal APIs are not cookie-authenticated (and gerbil and Badger send no CSRF header): nothing to forge.
        if (HttpMethods.IsGet(method) || HttpMethods.IsHead(method) || HttpMethods.IsOptions(method)
            || !context.Request.Path.StartsWithSegments("/api/v1", StringComparison.OrdinalIgnoreCase)
            || SurfaceMiddleware.IsInternal(context.Request.Path))
        {
            return next(context);
        }
        if (context.Request.Headers[HeaderName] != HeaderValue)
        {
            return Problems.WriteAsync(context, StatusCodes.Status403Forbidden, "CSRF token missing or invalid").AsTask();
        }
        return next(context);
    }
}
