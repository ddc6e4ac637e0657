using System.Globalization;
using System.Runtime.CompilerServices;
using System.Net;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;
using Yarp.ReverseProxy.LoadBalancing;
using Yarp.ReverseProxy.SessionAffinity;

namespace Pangolin.Edge.Routing;

/// <summary>
/// Feeds YARP from the edge's config source: every snapshot becomes one immutable <see cref="IProxyConfig"/>, swapped
/// in place (YARP keeps serving requests in flight on the routes they started on). Route and cluster ids stay the
/// same while a route's targets stay, so its pooled connections to them survive unrelated changes.
/// </summary>
internal sealed partial class EdgeProxyConfigProvider : IProxyConfigProvider, IDisposable
{
    /// <summary>The suffix of the made-up host names that destinations carry; the connect callback reads the target from them.</summary>
    internal const string TargetHostSuffix = ".target.pangolin.invalid";
    internal const string SniMetadata = "pangolin.sni";
    private const string CatchAll = "/{**pangolin-path}";

    private readonly IEdgeConfigSource _source;
    private readonly ILogger<EdgeProxyConfigProvider> _logger;
    private readonly Lock _gate = new();
    private readonly IDisposable _subscription;
    private volatile Config _config;
    private readonly ConditionalWeakTable<RouteConfig, EdgeRoute> _routes = new();
    private volatile EdgeRouteTable _table = EdgeRouteTable.Empty;

    public EdgeProxyConfigProvider(IEdgeConfigSource source, ILogger<EdgeProxyConfigProvider> logger)
    {
        _source = source;
        _logger = logger;
        _config = new Config([], [], new CancellationTokenSource(), 0);
        Refresh();
        _subscription = ChangeToken.OnChange(source.GetChangeToken, Refresh);
    }

    /// <summary>The compiled routes now served; what the access check and the connect callback read.</summary>
    public EdgeRouteTable Table => _table;

    public IProxyConfig GetConfig() => _config;

    /// <summary>The compiled route behind one of the route configs this provider made.</summary>
    /// <summary>
    /// The route a request matched, from the newest table: route ids are stable, so a request matched on a config
    /// that YARP kept (equal by value) still sees the newest access policy and rules. A request matched on a route
    /// that the newest table no longer has (during a swap) gets the route its config was made from.
    /// </summary>
    public EdgeRoute? RouteFor(RouteConfig? config) =>
        config is null ? null : _table.FindRoute(config.RouteId) ?? (_routes.TryGetValue(config, out var route) ? route : null);

    public void Dispose()
    {
        _subscription.Dispose();
        _config.Source.Dispose();
    }

    private void Refresh()
    {
        lock (_gate)
        {
            var snapshot = _source.Current;
            if (snapshot.Version == _config.Version && _config.Version != 0)
            {
                return;
            }
            EdgeRouteTable table;
            try
            {
                table = EdgeRouteTable.Build(snapshot);
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                // Keep serving the last good routes rather than none.
                LogBuildFailed(_logger, snapshot.Version, e);
                return;
            }
            var routes = new List<RouteConfig>(table.Routes.Count);
            var clusters = new List<ClusterConfig>(table.Routes.Count);
            var order = int.MinValue / 2;
            foreach (var route in table.Routes)
            {
                var config = ToRouteConfig(route, order++);
                _routes.AddOrUpdate(config, route);
                routes.Add(config);
                clusters.Add(ToClusterConfig(route));
            }
            var previous = _config;
            _table = table;
            _config = new Config(routes, clusters, new CancellationTokenSource(), snapshot.Version);
            // Not disposed: YARP may still register on the old token, which must then fire at once.
            previous.Source.Cancel();
            LogApplied(_logger, snapshot.Version, routes.Count);
        }
    }

    private static RouteConfig ToRouteConfig(EdgeRoute route, int order)
    {
        var resource = route.Resource;
        return new RouteConfig
        {
            RouteId = route.RouteId,
            ClusterId = route.ClusterId,
            // Ahead of every other endpoint of the host application: a resource's host is the resource's alone.
            Order = order,
            Match = new RouteMatch { Hosts = [resource.Host], Path = CatchAll },
            // What the transforms are built from: when it changes, YARP rebuilds them. Nothing else goes here: a value
            // that differs in every snapshot (the access policy) would make YARP rebuild every route on every change.
            Metadata = new Dictionary<string, string>
            {
                ["pangolin.resource"] = resource.ResourceId.ToString(CultureInfo.InvariantCulture),
                ["pangolin.match"] = $"{route.Match.Type}:{route.Match.Path}",
                ["pangolin.rewrite"] = string.Join('\u001f', route.Targets[0].RewritePathType, route.Targets[0].RewritePath),
                ["pangolin.host"] = resource.SetHostHeader ?? "",
                ["pangolin.headers"] = string.Join('\u001e', resource.RequestHeaders.Select(h => h.Key + '\u001f' + h.Value)),
                ["pangolin.ssl"] = resource.Ssl ? "1" : "0",
            },
        };
    }

    private static ClusterConfig ToClusterConfig(EdgeRoute route)
    {
        var resource = route.Resource;
        var h2c = route.Targets.All(t => t.Method == "h2c");
        return new ClusterConfig
        {
            ClusterId = route.ClusterId,
            LoadBalancingPolicy = LoadBalancingPolicies.RoundRobin,
            SessionAffinity = resource.StickySession
                ? new SessionAffinityConfig
                {
                    Enabled = true,
                    Policy = SessionAffinityConstants.Policies.HashCookie,
                    FailurePolicy = SessionAffinityConstants.FailurePolicies.Redistribute,
                    AffinityKeyName = "p_sticky",
                    Cookie = new SessionAffinityCookieConfig
                    {
                        HttpOnly = true,
                        Path = "/",
                        SameSite = SameSiteMode.Lax,
                        SecurePolicy = resource.Ssl ? CookieSecurePolicy.Always : CookieSecurePolicy.SameAsRequest,
                    },
                }
                : null,
            HttpRequest = new ForwarderRequestConfig
            {
                Version = h2c ? HttpVersion.Version20 : HttpVersion.Version11,
                VersionPolicy = HttpVersionPolicy.RequestVersionExact,
            },
            Metadata = resource.TlsServerName is { Length: > 0 } sni ? new Dictionary<string, string> { [SniMetadata] = sni } : null,
            Destinations = route.Targets.ToDictionary(
                t => "t" + t.TargetId.ToString(CultureInfo.InvariantCulture),
                t => new DestinationConfig { Address = DestinationAddress(t) }),
        };
    }

    /// <summary>Plain HTTP to a made-up host naming the target and whether to speak TLS; the connect callback dials it.</summary>
    internal static string DestinationAddress(EdgeHttpTarget target) =>
        string.Create(CultureInfo.InvariantCulture, $"http://t{target.TargetId}{(target.Method == "https" ? "-tls" : "")}{TargetHostSuffix}/");

    /// <summary>The target id and TLS flag in a destination host made by <see cref="DestinationAddress"/>.</summary>
    internal static bool TryParseDestinationHost(string host, out int targetId, out bool tls)
    {
        targetId = 0;
        tls = false;
        if (!host.EndsWith(TargetHostSuffix, StringComparison.OrdinalIgnoreCase) || host.Length < TargetHostSuffix.Length + 2 || host[0] != 't')
        {
            return false;
        }
        var label = host.AsSpan(1, host.Length - TargetHostSuffix.Length - 1);
        if (label.EndsWith("-tls", StringComparison.Ordinal))
        {
            tls = true;
            label = label[..^4];
        }
        return int.TryParse(label, NumberStyles.None, CultureInfo.InvariantCulture, out targetId);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Edge routes of version {Version} applied: {Routes} routes")]
    private static partial void LogApplied(ILogger logger, long version, int routes);

    [LoggerMessage(Level = LogLevel.Error, Message = "Edge routes of version {Version} could not be built; the previous routes stay")]
    private static partial void LogBuildFailed(ILogger logger, long version, Exception exception);

    private sealed class Config(IReadOnlyList<RouteConfig> routes, IReadOnlyList<ClusterConfig> clusters, CancellationTokenSource source, long version) : IProxyConfig
    {
        public CancellationTokenSource Source { get; } = source;

        public long Version { get; } = version;

        public IReadOnlyList<RouteConfig> Routes { get; } = routes;

        public IReadOnlyList<ClusterConfig> Clusters { get; } = clusters;

        public IChangeToken ChangeToken { get; } = new CancellationChangeToken(source.Token);

        public string RevisionId { get; } = version.ToString(CultureInfo.InvariantCulture);
    }
}
