using Microsoft.Extensions.Options;
using Pangolin.Server.Apis;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.RateLimiting;

/// <summary>Upstream's blanket limits: every API request per client IP and path, and /auth requests on their own budget.</summary>
internal sealed class RequestRateLimitMiddleware(RequestDelegate next, IRateLimiter limiter, IOptionsMonitor<RateLimitOptions> options)
{
    public Task InvokeAsync(HttpContext context)
    {
        var o = options.CurrentValue;
        var path = context.Request.Path;
        if (!o.Enabled || !(path.StartsWithSegments("/api/v1", StringComparison.OrdinalIgnoreCase) || path.StartsWithSegments("/v1", StringComparison.OrdinalIgnoreCase)))
        {
            return next(context);
        }
        var auth = path.StartsWithSegments("/api/v1/auth", StringComparison.OrdinalIgnoreCase);
        // Routing ignores case and a trailing slash; so must the key, or respelling the path would reset the budget.
        var key = context.ClientIp() + " " + path.Value!.TrimEnd('/').ToLowerInvariant();
        if (!limiter.TryAcquire(auth ? "auth" : "global", key, auth ? o.Auth : o.Global, out var retryAfter))
        {
            var problem = RateLimitExtensions.TooMany(context, retryAfter);
            return Problems.WriteAsync(context, problem.Status, problem.Message).AsTask();
        }
        return next(context);
    }
}
