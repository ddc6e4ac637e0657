namespace Pangolin.Server.Dashboard;

/// <summary>
/// Headers for the control plane's own responses (resource hosts are the edge's, before this): no framing anywhere
/// (clickjacking on the dashboard's destructive buttons), no MIME sniffing, no full referrers to other sites, and for
/// the dashboard's pages a content security policy that allows only its own scripts. A response that set its own
/// policy (the resource sign-in pages) keeps it.
/// </summary>
public sealed class DashboardSecurityHeaders(RequestDelegate next)
{
    // MudBlazor styles elements inline; the QR code is a data: image; the circuit is a same-origin WebSocket. No
    // form-action: with it, Chromium stopped an interactive form's navigation (the request log's Clear never arrived).
    internal const string PagePolicy =
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; font-src 'self' data:; " +
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; object-src 'none'";

    public Task InvokeAsync(HttpContext context)
    {
        var path = context.Request.Path;
        // The API reference page (Scalar) runs inline scripts of its own; API answers are JSON.
        var page = !path.StartsWithSegments("/api", StringComparison.OrdinalIgnoreCase) && !path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase);
        context.Response.OnStarting(() =>
        {
            var headers = context.Response.Headers;
            headers.XFrameOptions = "DENY";
            headers.XContentTypeOptions = "nosniff";
            if (!headers.ContainsKey("Referrer-Policy"))
            {
                headers["Referrer-Policy"] = "same-origin";
            }
            if (page && !headers.ContainsKey("Content-Security-Policy"))
            {
                headers.ContentSecurityPolicy = PagePolicy;
            }
            return Task.CompletedTask;
        });
        return next(context);
    }
}
