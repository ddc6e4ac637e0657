using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Pangolin.Edge.Routing;

/// <summary>
/// When a target cannot be reached or fails before answering, YARP leaves a bare 502/504 and logs the HttpClient
/// exception with its stack at Warning. The visitor gets a readable page instead, and the log one line that names the
/// resource, the target and what went wrong (YARP's own line is at Error level only, see appsettings).
/// </summary>
internal sealed partial class ForwardingErrorPage(RequestDelegate next, ILogger<ForwardingErrorPage> logger)
{
    public async Task InvokeAsync(HttpContext context)
    {
        await next(context);
        if (context.GetForwarderErrorFeature() is not { } failure)
        {
            return;
        }
        var proxy = context.GetReverseProxyFeature();
        var destination = proxy.ProxiedDestination?.DestinationId ?? "(none)";
        var cause = failure.Exception?.GetBaseException().Message ?? failure.Error.ToString();
        LogForwardingFailed(logger, proxy.Route.Config.RouteId, destination, failure.Error, cause);
        if (context.Response.HasStarted)
        {
            return; // the answer was under way; the connection is aborted, nothing more can be said
        }
        var (title, message) = failure.Error switch
        {
            ForwarderError.RequestTimedOut => ("Gateway timeout", "The service behind this address did not answer in time."),
            ForwarderError.RequestCanceled or ForwarderError.RequestBodyCanceled => ("Request canceled", "The request was canceled before the service answered."),
            ForwarderError.RequestBodyClient or ForwarderError.UpgradeRequestClient => ("Bad request", "The request could not be read to the end."),
            _ => ("Bad gateway", "The service behind this address cannot be reached right now: its site may be offline, or the service stopped. Try again in a moment."),
        };
        await EdgePages.WriteAsync(context, context.Response.StatusCode is >= 400 and < 600 ? context.Response.StatusCode : StatusCodes.Status502BadGateway, title, message);
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Proxying for route {RouteId} to {Destination} failed: {Error}: {Cause}")]
    private static partial void LogForwardingFailed(ILogger logger, string routeId, string destination, ForwarderError error, string cause);
}
