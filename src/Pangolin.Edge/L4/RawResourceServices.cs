using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Pangolin.Edge.L4;

public static class RawResourceServices
{
    /// <summary>
    /// Serves raw TCP/UDP resources from the registered <see cref="IEdgeConfigSource"/> through the registered
    /// <see cref="ITargetDialer"/> (and <see cref="IGeoLookup"/> when there is one), as a hosted service, with options
    /// from <c>Edge:RawResources</c>.
    /// </summary>
    public static IServiceCollection AddRawResourceListeners(this IServiceCollection services)
    {
        services.AddOptions<RawResourceOptions>()
            .BindConfiguration(RawResourceOptions.SectionName)
            .ValidateDataAnnotations()
            .Validate(
                static o => IPAddress.TryParse(o.BindAddress, out _),
                $"{RawResourceOptions.SectionName}:{nameof(RawResourceOptions.BindAddress)} must be an IP address.")
            .ValidateOnStart();
        services.TryAddSingleton<RawResourceListeners>();
        services.AddHostedService(sp => sp.GetRequiredService<RawResourceListeners>());
        return services;
    }
}
