using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Text.Json;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Protocol;
using Pangolin.Protocol.Messages;
using Pangolin.Server.Apis;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server.ControlChannel;

/// <summary><c>POST /api/v1/auth/newt/get-token</c>: a newt trades its id and secret for a short-lived WebSocket token.</summary>
public static class NewtTokenApi
{
    public sealed record NewtTokenData(string Token, string ServerVersion);

    internal const string Refused = "Newt id or secret is incorrect";
    private const int MaxBodyBytes = 16 * 1024;

    /// <summary>Newt only starts some loops when this is non-empty, so it is never empty.</summary>
    public static string ServerVersion { get; } =
        typeof(NewtTokenApi).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] is { Length: > 0 } v ? v : "1.0.0";

    public static RouteGroupBuilder MapNewtTokenApi(this RouteGroupBuilder api)
    {
        api.MapPost("/auth/newt/get-token", GetTokenAsync).WithTags("Newt").AllowAnonymous().WithMetadata(PublicEndpoint.Instance)
            .Accepts<GetTokenRequest>("application/json").Produces<ApiResponse<NewtTokenData>>();
        return api;
    }

    private static async Task<IResult> GetTokenAsync(
        HttpContext http, PangolinDbContext db, NewtSessions sessions, IRateLimiter limiter, IOptions<RateLimitOptions> limits, CancellationToken ct)
    {
        var request = await ReadAsync(http, ct);
        var ip = http.ClientIp();
        var window = limits.Value;
        // Failures count per newt id and client address: a stranger guessing cannot lock the real newt out.
        if (window.Enabled
            && (!limiter.TryPeek("newt-token", $"{request.NewtId}|{ip}", window.Secrets, out var wait)
                || !limiter.TryPeek("login-failures-ip", ip, window.LoginFailuresPerIp, out wait)))
        {
            throw RateLimitExtensions.TooMany(http, wait);
        }
        var newt = await db.Newts.FirstOrDefaultAsync(n => n.NewtId == request.NewtId, ct);
        // Hash and compare even for an unknown id, so that timing does not tell which ids exist.
        var matches = Secrets.MatchesSha256(request.Secret, newt?.SecretHash ?? new string('0', 64));
        if (newt?.SiteId is null || !matches)
        {
            if (window.Enabled)
            {
                limiter.TryAcquire("newt-token", $"{request.NewtId}|{ip}", window.Secrets, out _);
                limiter.TryAcquire("login-failures-ip", ip, window.LoginFailuresPerIp, out _);
            }
            throw ApiException.Unauthorized(Refused);
        }
        await RecordPublicIpAsync(db, newt.SiteId.Value, http.Connection.RemoteIpAddress, ct);
        var token = await sessions.IssueAsync(newt.NewtId, ct);
        return Api.Ok(new NewtTokenData(token, ServerVersion), "Token created successfully");
    }

    /// <summary>
    /// Read with the protocol's lenient rules instead of the API's strict ones: upstream newts send fields we do not
    /// use (a still-valid <c>token</c>), and refusing them would lock those newts out.
    /// </summary>
    private static async Task<GetTokenRequest> ReadAsync(HttpContext http, CancellationToken ct)
    {
        if (http.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } size)
        {
            size.MaxRequestBodySize = MaxBodyBytes;
        }
        if (!http.Request.HasJsonContentType())
        {
            throw new ApiException(StatusCodes.Status415UnsupportedMediaType, "Send the body as JSON with Content-Type: application/json");
        }
        GetTokenRequest? request;
        try
        {
            request = await JsonSerializer.DeserializeAsync(http.Request.Body, ProtocolJsonContext.Default.GetTokenRequest, ct);
        }
        catch (JsonException)
        {
            throw ApiException.BadRequest("The request body must be a JSON object: {\"newtId\": \"…\", \"secret\": \"…\"}");
        }
        catch (BadHttpRequestException e) when (e.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            throw new ApiException(StatusCodes.Status413PayloadTooLarge, $"The request body is larger than {MaxBodyBytes} bytes");
        }
        if (request is null || request.NewtId.Length == 0 || request.Secret.Length == 0)
        {
            throw ApiException.BadRequest("Validation error: newtId and secret are required");
        }
        if (request.NewtId.Length > 255 || request.Secret.Length > 1024)
        {
            throw ApiException.BadRequest("Validation error: newtId or secret is too long");
        }
        return request;
    }

    /// <summary>Upstream remembers the first public IPv4 a site's newt connects from; private and special ranges are not public.</summary>
    private static async Task RecordPublicIpAsync(PangolinDbContext db, int siteId, IPAddress? address, CancellationToken ct)
    {
        if (address is null)
        {
            return;
        }
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }
        if (address.AddressFamily != AddressFamily.InterNetwork || !IsPublic(address))
        {
            return;
        }
        var text = address.ToString();
        await db.Sites.Where(s => s.SiteId == siteId && (s.PublicIp == null || s.PublicIp == ""))
            .ExecuteUpdateAsync(u => u.SetProperty(s => s.PublicIp, text), ct);
    }

    private static readonly IPNetwork[] NotPublic =
    [
        IPNetwork.Parse("0.0.0.0/8"), IPNetwork.Parse("10.0.0.0/8"), IPNetwork.Parse("100.64.0.0/10"), IPNetwork.Parse("127.0.0.0/8"),
        IPNetwork.Parse("169.254.0.0/16"), IPNetwork.Parse("172.16.0.0/12"), IPNetwork.Parse("192.0.0.0/24"), IPNetwork.Parse("192.168.0.0/16"),
        IPNetwork.Parse("198.18.0.0/15"), IPNetwork.Parse("224.0.0.0/3"),
    ];

    internal static bool IsPublic(IPAddress address) => !NotPublic.Any(n => n.Contains(address));
}
