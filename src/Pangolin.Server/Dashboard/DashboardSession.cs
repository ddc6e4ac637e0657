using Microsoft.AspNetCore.Components.Server.Circuits;
using Microsoft.Extensions.Options;
using Pangolin.Server.Configuration;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server.Dashboard;

/// <summary>
/// The browser a dashboard page acts for: its session cookie and address, taken from the request that rendered the
/// page, or, for an interactive page, from the request that opened its circuit (the only moment a circuit sees the
/// browser's cookies). Kept on the server for the circuit's lifetime; never written into the page.
/// </summary>
public sealed class DashboardSession
{
    public bool Captured { get; private set; }

    public string? SessionToken { get; private set; }

    public string? ClientIp { get; private set; }

    public bool HasSession => SessionToken is { Length: > 0 };

    /// <summary>For a page rendered without a circuit (static, or prerendered): its session is the request's own.</summary>
    internal void EnsureCaptured(IHttpContextAccessor accessor, string cookieName)
    {
        if (!Captured && accessor.HttpContext is { } context)
        {
            Capture(context, cookieName);
        }
    }

    /// <summary>A session known without a request (component tests).</summary>
    internal void UseToken(string token)
    {
        SessionToken = token;
        Captured = true;
    }

    internal void Capture(HttpContext context, string cookieName)
    {
        SessionToken = context.Request.Cookies[cookieName];
        ClientIp = context.ClientIp();
        Captured = true;
    }
}

/// <summary>Fills the circuit's <see cref="DashboardSession"/> when the circuit opens, before its first render.</summary>
internal sealed class DashboardCircuitCapture(DashboardSession session, IHttpContextAccessor accessor, IOptions<ServerOptions> server) : CircuitHandler
{
    public override Task OnCircuitOpenedAsync(Circuit circuit, CancellationToken cancellationToken)
    {
        if (accessor.HttpContext is { } http)
        {
            session.Capture(http, server.Value.SessionCookieName);
        }
        return Task.CompletedTask;
    }
}
