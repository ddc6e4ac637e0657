using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using Pangolin.Edge.Badger;
using Pangolin.Edge.L4;
using Pangolin.Edge.Routing;
using Pangolin.Edge.Rules;
using Pangolin.Edge.Tls;
using Pangolin.Edge.Tls.Acme;
using Yarp.ReverseProxy.Configuration;
using Yarp.ReverseProxy.Forwarder;

namespace Pangolin.Edge;

public static class EdgeServices
{
    /// <summary>
    /// The edge's services. The host provides an <see cref="IEdgeConfigSource"/> and an <see cref="ITargetDialer"/>, and
    /// an <see cref="IResourceAccess"/> registered before this call (without one, every credential is refused).
    /// </summary>
    public static IServiceCollection AddPangolinEdge(this IServiceCollection services)
    {
        services.AddOptions<EdgeOptions>().BindConfiguration(EdgeOptions.Section);
        services.TryAddSingleton<EdgeProxyConfigProvider>();
        services.AddSingleton<IProxyConfigProvider>(sp => sp.GetRequiredService<EdgeProxyConfigProvider>());
        services.AddSingleton<IForwarderHttpClientFactory, TunnelHttpClientFactory>();
        services.AddReverseProxy().AddTransforms<EdgeTransformProvider>();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<MatcherPolicy, EdgeMatcherPolicy>());
        services.TryAddSingleton<IGeoLookup>(sp =>
        {
            var options = sp.GetRequiredService<IOptions<EdgeOptions>>().Value;
            return string.IsNullOrWhiteSpace(options.GeoIpCountryDatabase) && string.IsNullOrWhiteSpace(options.GeoIpAsnDatabase)
                ? NoGeoLookup.Instance
                : new MaxMindGeoLookup(NullIfBlank(options.GeoIpCountryDatabase), NullIfBlank(options.GeoIpAsnDatabase));
        });
        services.AddRawResourceListeners();
        services.TryAddSingleton<IResourceAccess, NoResourceAccess>();
        services.TryAddSingleton<IAccessLog, NoAccessLog>();
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(sp => new BadgerVerifier(sp.GetRequiredService<EdgeProxyConfigProvider>(), sp.GetRequiredService<IGeoLookup>(),
            sp.GetRequiredService<IResourceAccess>(), sp.GetRequiredService<IOptions<EdgeOptions>>(), sp.GetRequiredService<IAccessLog>(),
            sp.GetRequiredService<TimeProvider>()));
        services.TryAddSingleton<EdgeCertificateStore>();
        services.TryAddSingleton<Http01ChallengeStore>();
        return services;
    }

    private static string? NullIfBlank(string? value) => string.IsNullOrWhiteSpace(value) ? null : value;

    /// <summary>
    /// Sends requests for a published resource's host into the edge (access check, then its targets) before anything
    /// else of the host application sees them: a resource's host belongs to the resource, whatever its paths.
    /// </summary>
    public static IApplicationBuilder UsePangolinEdge(this IApplicationBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        var provider = app.ApplicationServices.GetRequiredService<EdgeProxyConfigProvider>();
        // ACME http-01 answers, the redirect to HTTPS and HSTS come before any host is routed or checked.
        app.UseMiddleware<EdgeTlsMiddleware>();
        return app.MapWhen(context => provider.Table.FindResource(context.Request.Host.Host) is not null, edge =>
        {
            edge.UseRouting();
            edge.UseEndpoints(endpoints => endpoints.MapReverseProxy(proxy =>
            {
                proxy.UseMiddleware<EdgeAccessMiddleware>();
                proxy.UseMiddleware<ForwardingErrorPage>();
                proxy.UseSessionAffinity();
                proxy.UseLoadBalancing();
                proxy.UsePassiveHealthChecks();
            }));
            edge.Run(context => EdgePages.WriteAsync(context, StatusCodes.Status404NotFound, "Not found",
                "No target of this resource serves this path."));
        });
    }
}
