using System.Diagnostics;

namespace Pangolin.Server.Operations;

/// <summary>
/// The request log, without query strings. ASP.NET's own (Microsoft.AspNetCore.Hosting.Diagnostics, at Information)
/// prints each URL whole, and query strings carry secrets here — newts put their session token on the WebSocket's
/// URL, as upstream does — so that category is held at Warning whatever the configuration says
/// (<see cref="HoldFrameworkRequestLog"/>) and this middleware logs method, path, status and time instead, at Debug.
/// </summary>
internal sealed partial class RequestLogMiddleware(RequestDelegate next, ILogger<RequestLogMiddleware> logger)
{
    public const string FrameworkCategory = "Microsoft.AspNetCore.Hosting.Diagnostics";

    /// <summary>
    /// A rule more specific than any a configuration sets for Microsoft or Microsoft.AspNetCore, added after the
    /// configuration's, so it wins even over one naming this category.
    /// </summary>
    public static void HoldFrameworkRequestLog(ILoggingBuilder logging) =>
        logging.AddFilter(FrameworkCategory, level => level >= LogLevel.Warning);

    public async Task InvokeAsync(HttpContext context)
    {
        if (!logger.IsEnabled(LogLevel.Debug))
        {
            await next(context);
            return;
        }
        var started = Stopwatch.GetTimestamp();
        try
        {
            await next(context);
        }
        finally
        {
            var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
            var path = context.Request.PathBase + context.Request.Path;
            LogRequest(logger, context.Request.Method, path.Value ?? "/", context.Response.StatusCode, elapsed);
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} {Path} answered {Status} in {ElapsedMs:0.0} ms")]
    private static partial void LogRequest(ILogger logger, string method, string path, int status, double elapsedMs);
}
