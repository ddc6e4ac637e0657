using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Pangolin.Edge.Tls.Acme;

public static class AcmeHttp01EndpointRouteBuilderExtensions
{
    /// <summary>The path prefix of RFC 8555 §8.3.</summary>
    public const string PathPrefix = "/.well-known/acme-challenge/";

    /// <summary>
    /// Serves <c>GET /.well-known/acme-challenge/{token}</c> from <paramref name="store"/>: the key authorization as
    /// <c>application/octet-stream</c> (RFC 8555 §8.3), 404 for a token that is unknown or not base64url.
    /// </summary>
    public static IEndpointConventionBuilder MapAcmeHttp01(this IEndpointRouteBuilder endpoints, Http01ChallengeStore store)
    {
        ArgumentNullException.ThrowIfNull(endpoints);
        ArgumentNullException.ThrowIfNull(store);
        return endpoints.MapGet(PathPrefix + "{token}", (string token) =>
            store.TryGetResponse(token, out var keyAuthorization)
                ? Results.Text(keyAuthorization, "application/octet-stream")
                : Results.NotFound());
    }
}
