using System.Collections.Frozen;
using System.Globalization;
using Pangolin.Edge.Rules;

namespace Pangolin.Edge.Routing;

/// <summary>One YARP route: the targets of one resource that share a path match and rewrite.</summary>
internal sealed record EdgeRoute(
    string RouteId,
    string ClusterId,
    EdgeHttpResource Resource,
    PathMatcher Match,
    PathRewriter? Rewrite,
    int Priority,
    IReadOnlyList<EdgeHttpTarget> Targets,
    RuleSet Rules)
{
    public bool WildcardHost => Resource.Host.StartsWith("*.", StringComparison.Ordinal);
}

/// <summary>
/// The compiled form of a snapshot: routes in the order they are tried, resources by host, targets by id. Built once
/// per change; requests only read it.
/// </summary>
internal sealed class EdgeRouteTable
{
    private readonly FrozenDictionary<string, EdgeHttpResource> _byHost;
    private readonly FrozenDictionary<string, EdgeRoute> _byRouteId;
    private readonly FrozenDictionary<int, (EdgeHttpResource Resource, EdgeHttpTarget Target)> _targets;

    private EdgeRouteTable(EdgeSnapshot snapshot, IReadOnlyList<EdgeRoute> routes)
    {
        Snapshot = snapshot;
        Routes = routes;
        _byHost = snapshot.HttpResources
            .GroupBy(r => r.Host, StringComparer.OrdinalIgnoreCase)
            .ToFrozenDictionary(g => g.Key, g => g.First(), StringComparer.OrdinalIgnoreCase);
        _byRouteId = routes.ToFrozenDictionary(r => r.RouteId, StringComparer.Ordinal);
        _targets = snapshot.HttpResources
            .SelectMany(r => r.Targets.Select(t => (Resource: r, Target: t)))
            .GroupBy(x => x.Target.TargetId)
            .ToFrozenDictionary(g => g.Key, g => g.First());
    }

    public static EdgeRouteTable Empty { get; } = Build(EdgeSnapshot.Empty);

    public EdgeSnapshot Snapshot { get; }

    /// <summary>Every route, in the order requests try them.</summary>
    public IReadOnlyList<EdgeRoute> Routes { get; }

    public static EdgeRouteTable Build(EdgeSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var routes = new List<EdgeRoute>();
        foreach (var resource in snapshot.HttpResources)
        {
            var rules = resource.Access.ApplyRules ? RuleSet.Compile(resource.Access.Rules) : RuleSet.Empty;
            var groups = resource.Targets
                .GroupBy(t => (t.Path, t.PathMatchType, t.RewritePath, t.RewritePathType, t.Priority))
                .OrderBy(g => g.Min(t => t.TargetId));
            foreach (var group in groups)
            {
                var (path, matchType, rewritePath, rewriteType, priority) = group.Key;
                if (PathMatcher.Create(path, matchType) is not { } match)
                {
                    continue; // an invalid pattern: its targets take no traffic rather than all of it
                }
                var key = string.Create(CultureInfo.InvariantCulture, $"r{resource.ResourceId}-t{group.Min(t => t.TargetId)}");
                routes.Add(new EdgeRoute(key, key, resource, match, PathRewriter.Create(match, rewritePath, rewriteType),
                    RoutePriority(priority, match), [.. group.OrderBy(t => t.TargetId)], rules));
            }
        }
        // Upstream's router priority first; then exact hosts before wildcards and longer paths before shorter ones,
        // as Traefik's default order by rule length would have it.
        routes.Sort((a, b) =>
        {
            var c = b.Priority.CompareTo(a.Priority);
            c = c != 0 ? c : a.WildcardHost.CompareTo(b.WildcardHost);
            c = c != 0 ? c : b.Match.Specificity.CompareTo(a.Match.Specificity);
            c = c != 0 ? c : (b.Match.Path?.Length ?? 0).CompareTo(a.Match.Path?.Length ?? 0);
            return c != 0 ? c : string.CompareOrdinal(a.RouteId, b.RouteId);
        });
        return new EdgeRouteTable(snapshot, routes);
    }

    /// <summary>upstream's computeRoutePriority: an explicit priority, else 100 raised by the path's specificity.</summary>
    internal static int RoutePriority(int priority, PathMatcher match)
    {
        if (priority != 100 && priority != 0)
        {
            return priority;
        }
        if (match.Type is null)
        {
            return 100;
        }
        if (match.Path == "/")
        {
            return 1;
        }
        return 110 + match.Type switch { "exact" => 5, "prefix" => 3, _ => 2 };
    }

    /// <summary>The resource served at this host (no port): an exact domain first, then a one-label wildcard.</summary>
    public EdgeHttpResource? FindResource(string host)
    {
        if (_byHost.Count == 0 || string.IsNullOrEmpty(host))
        {
            return null;
        }
        if (_byHost.TryGetValue(host, out var exact))
        {
            return exact;
        }
        var dot = host.IndexOf('.', StringComparison.Ordinal);
        if (dot <= 0)
        {
            return null;
        }
        var alternate = _byHost.GetAlternateLookup<ReadOnlySpan<char>>();
        Span<char> wildcard = stackalloc char[Math.Min(host.Length - dot + 1, 256)];
        if (host.Length - dot + 1 > 256)
        {
            return null;
        }
        wildcard[0] = '*';
        host.AsSpan(dot).CopyTo(wildcard[1..]);
        return alternate.TryGetValue(wildcard, out var match) ? match : null;
    }

    public EdgeRoute? FindRoute(string routeId) => _byRouteId.GetValueOrDefault(routeId);

    public bool TryGetTarget(int targetId, out EdgeHttpResource resource, out EdgeHttpTarget target)
    {
        if (_targets.TryGetValue(targetId, out var found))
        {
            (resource, target) = found;
            return true;
        }
        resource = null!;
        target = null!;
        return false;
    }
}
