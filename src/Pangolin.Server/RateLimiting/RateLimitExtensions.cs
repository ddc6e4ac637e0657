using System.Globalization;
using Pangolin.Server.Apis;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.RateLimiting;

public static class RateLimitExtensions
{
    /// <summary>Counts one attempt at a guessable secret; throws a 429 with Retry-After when the budget is spent.</summary>
    public static void Enforce(this IRateLimiter limiter, HttpContext context, RateLimitOptions options, string scope, string key, RateLimitWindow? window = null)
    {
        ArgumentNullException.ThrowIfNull(limiter);
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Enabled)
        {
            return;
        }
        if (!limiter.TryAcquire(scope, key.ToLowerInvariant(), window ?? options.Secrets, out var retryAfter))
        {
            throw TooMany(context, retryAfter);
        }
    }

    public static ApiException TooMany(HttpContext context, TimeSpan retryAfter)
    {
        ArgumentNullException.ThrowIfNull(context);
        var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
        context.Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
        var wait = seconds >= 90 ? $"{Math.Ceiling(seconds / 60.0)} minutes" : $"{seconds} seconds";
        return new ApiException(StatusCodes.Status429TooManyRequests, $"Too many attempts; try again in {wait}") { RetryAfterSeconds = seconds };
    }

    public static string ClientIp(this HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return context.Connection.RemoteIpAddress?.ToString() ?? "unknown";
    }
}
