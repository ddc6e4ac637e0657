using Microsoft.AspNetCore.Http;
using Pangolin.Edge.Routing;
using Pangolin.Edge.Rules;

namespace Pangolin.Edge.Badger;

/// <summary>
/// The access check, run on every request after its route is chosen and before a target is: PROTOCOL.md §4.4's
/// order. It fails closed: what it cannot decide is refused.
/// </summary>
internal sealed class EdgeAccessMiddleware(RequestDelegate next, EdgeProxyConfigProvider provider, IGeoLookup geo)
{
    public Task InvokeAsync(HttpContext context)
    {
        var route = provider.RouteFor(context.GetReverseProxyFeature().Route.Config);
        if (route is null)
        {
            return EdgePages.WriteAsync(context, StatusCodes.Status404NotFound, "Not found", "Nothing is published here.");
        }
        var access = route.Resource.Access;
        if (access.Blocked)
        {
            return EdgePages.WriteAsync(context, StatusCodes.Status403Forbidden, "Access blocked", "Access to this resource is blocked.");
        }
        if (access.ApplyRules && context.Connection.RemoteIpAddress is { } client)
        {
            switch (route.Rules.Evaluate(client, context.Request.Path.Value, context.Request.Method, geo))
            {
                case RuleOutcome.Accept:
                    return next(context);
                case RuleOutcome.Drop:
                    return EdgePages.WriteAsync(context, StatusCodes.Status403Forbidden, "Access denied", "Your request is not allowed by this resource's rules.");
            }
        }
        if (!access.IsOpen)
        {
            return EdgePages.WriteAsync(context, StatusCodes.Status401Unauthorized, "Sign-in required", "This resource needs a sign-in, which this edge does not offer yet.");
        }
        return next(context);
    }
}
