using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.AspNetCore.Routing.Matching;
using Yarp.ReverseProxy.Model;

namespace Pangolin.Edge.Routing;

/// <summary>
/// What YARP's route templates cannot say: upstream's path matching (exact, segment-aware prefix, regex) and its
/// one-label wildcard hosts (<c>*.example.com</c> takes <c>a.example.com</c>, not <c>a.b.example.com</c>). Host
/// matching has already narrowed the candidates to the request's host.
/// </summary>
internal sealed class EdgeMatcherPolicy(EdgeProxyConfigProvider provider) : MatcherPolicy, IEndpointSelectorPolicy
{
    public override int Order => 0;

    public bool AppliesToEndpoints(IReadOnlyList<Endpoint> endpoints)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        foreach (var endpoint in endpoints)
        {
            if (endpoint.Metadata.GetMetadata<RouteModel>() is not null)
            {
                return true;
            }
        }
        return false;
    }

    public Task ApplyAsync(HttpContext httpContext, CandidateSet candidates)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        ArgumentNullException.ThrowIfNull(candidates);
        var path = httpContext.Request.Path.Value ?? "/";
        var host = httpContext.Request.Host.Host;
        for (var i = 0; i < candidates.Count; i++)
        {
            if (!candidates.IsValidCandidate(i) || candidates[i].Endpoint.Metadata.GetMetadata<RouteModel>() is not { } model)
            {
                continue;
            }
            if (provider.RouteFor(model.Config) is not { } route)
            {
                continue;
            }
            if ((route.WildcardHost && !IsOneLabelUnder(host, route.Resource.Host)) || !route.Match.Matches(path))
            {
                candidates.SetValidity(i, false);
            }
        }
        return Task.CompletedTask;
    }

    /// <summary>Whether <paramref name="host"/> is one DNS label followed by the wildcard's suffix (<c>*.x.y</c> → <c>.x.y</c>).</summary>
    internal static bool IsOneLabelUnder(string host, string wildcard)
    {
        var suffix = wildcard.AsSpan(1);
        if (host.Length <= suffix.Length + 0 || !host.AsSpan().EndsWith(suffix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }
        var label = host.AsSpan(0, host.Length - suffix.Length);
        return label.Length > 0 && !label.Contains('.');
    }
}
