using Microsoft.AspNetCore.Antiforgery;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Dashboard;

/// <summary>The dashboard's routes: its pages and assets, and the form posts that are not pages.</summary>
public static class DashboardEndpoints
{
    public static WebApplication MapDashboard(this WebApplication app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapStaticAssets();
        // No frame-ancestors policy of Blazor's own ('self'): DashboardSecurityHeaders sends the whole policy, with 'none'.
        app.MapRazorComponents<App>().AddInteractiveServerRenderMode(o => o.ContentSecurityFrameAncestorsPolicy = null);
        // Sign-out is a form post with Blazor's antiforgery token (a link would let any site sign people out).
        app.MapPost("/auth/sign-out", SignOutAsync).WithMetadata(new RequireAntiforgeryTokenAttribute()).ExcludeFromDescription().AllowAnonymous();
        return app;
    }

    private static async Task<IResult> SignOutAsync(HttpContext http, SessionService sessions, CancellationToken ct)
    {
        if (http.Features.Get<IAntiforgeryValidationFeature>() is { IsValid: false })
        {
            return Results.BadRequest();
        }
        if (http.Features.Get<Caller>()?.SessionId is { } sessionId)
        {
            await sessions.InvalidateAsync(sessionId, ct);
        }
        sessions.ClearCookie(http);
        return Results.Redirect("/auth/login", permanent: false, preserveMethod: false);
    }
}
