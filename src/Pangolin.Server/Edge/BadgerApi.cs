using System.Net;
using System.Text.Json;
using System.Text.Json.Serialization;
using Pangolin.Edge.Badger;
using Pangolin.Server.Apis;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Edge;

/// <summary>
/// Upstream's Badger contracts on the internal port (PROTOCOL.md §4.3–4.5), for users who keep Traefik with the Badger
/// plugin in front: <c>POST /api/v1/badger/verify-session</c> answers the edge's own decision for a described request,
/// <c>POST /api/v1/badger/exchange-session</c> turns a sign-in's request token into a session cookie. Answers are
/// always 200 in the envelope; <c>valid</c> carries the decision, as the plugin expects.
/// </summary>
public static class BadgerApi
{
    private const int MaxBodyBytes = 256 * 1024;

    // The plugin's fields as it sends them; unknown ones (newer plugin versions) are ignored, unlike the dashboard API.
    private static readonly JsonSerializerOptions Lenient = new(JsonSerializerDefaults.Web);

    public sealed class VerifyRequest
    {
        public Dictionary<string, string>? Sessions { get; set; }

        [JsonPropertyName("originalRequestURL")]
        public string? OriginalRequestUrl { get; set; }

        public string? Scheme { get; set; }

        public string? Host { get; set; }

        public string? Path { get; set; }

        public string? Method { get; set; }

        public string? RequestIp { get; set; }

        public Dictionary<string, string>? Headers { get; set; }

        public Dictionary<string, string>? Query { get; set; }
    }

    public sealed class ExchangeRequest
    {
        public string? RequestToken { get; set; }

        public string? Host { get; set; }

        public string? RequestIp { get; set; }
    }

    public sealed record VerifyResponse(
        bool Valid, string? RedirectUrl, bool? HeaderAuthChallenged, string? UserId, string? Username, string? Email, string? Name, string? Role);

    public sealed record ExchangeResponse(bool Valid, string? Cookie);

    public static RouteGroupBuilder MapBadgerApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("/badger").WithTags("Badger (internal)").AllowAnonymous().WithMetadata(PublicEndpoint.Instance).ExcludeFromDescription();
        g.MapPost("/verify-session", VerifyAsync);
        g.MapPost("/exchange-session", ExchangeAsync);
        return api;
    }

    private static async Task<IResult> VerifyAsync(HttpContext http, BadgerVerifier verifier, CancellationToken ct)
    {
        var request = await ReadAsync<VerifyRequest>(http, ct);
        if (string.IsNullOrEmpty(request.Host) || string.IsNullOrEmpty(request.OriginalRequestUrl))
        {
            throw ApiException.BadRequest("Validation error: host and originalRequestURL are required");
        }
        var verdict = await verifier.VerifyAsync(new BadgerRequest(
            request.Host, request.Path ?? "/", request.Method ?? "GET", request.OriginalRequestUrl, ClientOf(request.RequestIp),
            request.Sessions ?? [], new Dictionary<string, string>(request.Headers ?? [], StringComparer.OrdinalIgnoreCase),
            request.Query ?? []), ct);
        if (verdict.SetCookie is { } cookie)
        {
            http.Response.Headers.Append("Set-Cookie", cookie);
        }
        var who = verdict.Identity;
        return Api.Ok(new VerifyResponse(verdict.Valid, verdict.RedirectUrl, verdict.HeaderAuthChallenged ? true : null,
            who?.UserId, who?.Username, who?.Email, who?.Name, who?.Role), verdict.Valid ? "Access allowed" : "Access denied");
    }

    private static async Task<IResult> ExchangeAsync(HttpContext http, BadgerVerifier verifier, CancellationToken ct)
    {
        var request = await ReadAsync<ExchangeRequest>(http, ct);
        if (string.IsNullOrEmpty(request.RequestToken) || string.IsNullOrEmpty(request.Host))
        {
            throw ApiException.BadRequest("Validation error: requestToken and host are required");
        }
        var cookie = await verifier.ExchangeAsync(request.Host, request.RequestToken, ClientOf(request.RequestIp), ct);
        return Api.Ok(new ExchangeResponse(cookie is not null, cookie), cookie is not null ? "Session exchanged successfully" : "Invalid or expired request token");
    }

    private static IPAddress ClientOf(string? requestIp)
    {
        // The plugin sends "ip" or "ip:port"; an address that cannot be read counts as one client, refused by any IP rule.
        if (requestIp is { Length: > 0 } raw && (IPAddress.TryParse(raw, out var ip) || (IPEndPoint.TryParse(raw, out var endpoint) && (ip = endpoint.Address) is not null)))
        {
            return ip;
        }
        return IPAddress.None;
    }

    private static async Task<T> ReadAsync<T>(HttpContext http, CancellationToken ct) where T : new()
    {
        if (http.Request.ContentLength > MaxBodyBytes)
        {
            throw new ApiException(StatusCodes.Status413PayloadTooLarge, "The request body is too large");
        }
        if (http.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = MaxBodyBytes; // a chunked body has no length to check first
        }
        try
        {
            return await JsonSerializer.DeserializeAsync<T>(http.Request.Body, Lenient, ct) ?? throw ApiException.BadRequest("Validation error: the request body must be a JSON object");
        }
        catch (JsonException e)
        {
            throw ApiException.BadRequest($"Validation error: the request body is not valid JSON ({e.Message})");
        }
    }
}
