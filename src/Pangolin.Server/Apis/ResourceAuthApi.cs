using System.ComponentModel.DataAnnotations;
using Pangolin.Server.Auth;
using Pangolin.Server.Edge;
using Pangolin.Server.RateLimiting;

namespace Pangolin.Server.Apis;

/// <summary>
/// Signing in to a resource through the API (upstream's <c>/auth/resource/...</c> paths): each answers a single-use
/// request token that the client takes to the resource's host as <c>?resource_session_request_param=</c>.
/// </summary>
public static class ResourceAuthApi
{
    public sealed record PasswordRequest([property: Required, MaxLength(1024)] string? Password);

    public sealed record PincodeRequest([property: Required, MaxLength(64)] string? Pincode);

    public sealed record WhitelistRequest(
        [property: Required, Email, MaxLength(254)] string? Email,
        [property: MaxLength(64)] string? Otp = null);

    public sealed record AccessTokenRequest(
        [property: Required, MinLength(1), MaxLength(512)] string? AccessToken,
        [property: MaxLength(64)] string? AccessTokenId = null);

    public sealed record SessionResponse(string Session);

    public sealed record OtpSentResponse(bool OtpSent);

    public sealed record ShareLinkSessionResponse(string Session, string? RedirectUrl);

    public sealed record ExchangeTokenResponse(string RequestToken);

    public sealed record ResourceAuthInfo(
        int ResourceId, string ResourceGuid, string ResourceName, string NiceId, bool Password, bool Pincode, bool HeaderAuth,
        bool HeaderAuthExtendedCompatibility, bool Sso, bool BlockAccess, string Url, bool Wildcard, string? FullDomain,
        bool Whitelist, int? SkipToIdpId, string OrgId, string? PostAuthPath, string Mode);

    public static RouteGroupBuilder MapResourceAuthApi(this RouteGroupBuilder api)
    {
        var auth = api.MapGroup("/auth").WithTags("Resource sign-in").AllowAnonymous();
        auth.MapPost("/resource/{resourceId}/password", PasswordAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPost("/resource/{resourceId}/pincode", PincodeAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPost("/resource/{resourceId}/whitelist", WhitelistAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPost("/resource/{resourceId}/access-token", ResourceAccessTokenAsync).WithMetadata(PublicEndpoint.Instance);
        auth.MapPost("/access-token", AccessTokenAsync).WithMetadata(PublicEndpoint.Instance);
        api.MapGet("/resource/{resourceGuid}/auth", InfoAsync).WithTags("Resource sign-in").AllowAnonymous().WithMetadata(PublicEndpoint.Instance);
        api.MapPost("/resource/{resourceId}/get-exchange-token", ExchangeTokenAsync).WithTags("Resource sign-in")
            .RequireAccess(new AccessRule(AccessScope.AnyUser, null));
        return api;
    }

    private static async Task<IResult> PasswordAsync(string resourceId, PasswordRequest request, HttpContext http, ResourceSignIn signIn, CancellationToken ct)
    {
        var resource = await signIn.FindByIdAsync(Id(resourceId), ct) ?? throw ApiException.NotFound("Resource not found");
        var outcome = await signIn.PasswordAsync(resource, request.Password!, http.ClientIp(), ct);
        return Answer(http, outcome, "Resource has no password protection", "Incorrect password");
    }

    private static async Task<IResult> PincodeAsync(string resourceId, PincodeRequest request, HttpContext http, ResourceSignIn signIn, CancellationToken ct)
    {
        var resource = await signIn.FindByIdAsync(Id(resourceId), ct) ?? throw ApiException.NotFound("Resource not found");
        var outcome = await signIn.PincodeAsync(resource, request.Pincode!, http.ClientIp(), ct);
        return Answer(http, outcome, "Resource has no pincode protection", "Incorrect PIN");
    }

    private static async Task<IResult> WhitelistAsync(string resourceId, WhitelistRequest request, HttpContext http, ResourceSignIn signIn, CancellationToken ct)
    {
        var resource = await signIn.FindByIdAsync(Id(resourceId), ct) ?? throw ApiException.NotFound("Resource not found");
        var outcome = await signIn.WhitelistAsync(resource, request.Email!, request.Otp, http.ClientIp(), ct);
        if (outcome.Status == SignInStatus.OtpSent)
        {
            return Api.Accepted(new OtpSentResponse(true), "If this address may open the resource, a one-time code was sent to it");
        }
        if (outcome.Status == SignInStatus.EmailUnavailable)
        {
            throw ApiException.Unavailable("E-mail is not configured on this server (Email:SmtpHost, Email:NoReply), so no one-time code can be sent; ask an administrator");
        }
        return Answer(http, outcome, "Resource has no e-mail whitelist", "The code is wrong or has expired");
    }

    private static async Task<IResult> ResourceAccessTokenAsync(string resourceId, AccessTokenRequest request, HttpContext http, ResourceSignIn signIn, CancellationToken ct) =>
        ShareLinkAnswer(http, await signIn.ShareLinkAsync(Id(resourceId), request.AccessTokenId, request.AccessToken!, http.ClientIp(), ct));

    private static async Task<IResult> AccessTokenAsync(AccessTokenRequest request, HttpContext http, ResourceSignIn signIn, CancellationToken ct) =>
        ShareLinkAnswer(http, await signIn.ShareLinkAsync(null, request.AccessTokenId, request.AccessToken!, http.ClientIp(), ct));

    private static async Task<IResult> InfoAsync(string resourceGuid, ResourceSignIn signIn, CancellationToken ct)
    {
        var resource = await signIn.FindByGuidAsync(resourceGuid, ct) ?? throw ApiException.NotFound("Resource not found");
        var methods = await signIn.MethodsAsync(resource, ct);
        var wildcard = resource.FullDomain?.StartsWith("*.", StringComparison.Ordinal) == true;
        return Api.Ok(new ResourceAuthInfo(
            resource.ResourceId, resource.ResourceGuid, resource.Name, resource.NiceId, methods.Password, methods.Pincode,
            methods.HeaderAuth is not null, methods.HeaderAuth == true, methods.Sso, resource.BlockAccess,
            ResourceSignIn.ResourceUrl(resource) ?? "", wildcard, resource.FullDomain, methods.Whitelist, resource.SkipToIdpId,
            resource.OrgId, resource.PostAuthPath, resource.Mode), "Resource retrieved successfully");
    }

    /// <summary>A signed-in platform user's request token for a resource they may use (upstream's getExchangeToken).</summary>
    private static async Task<IResult> ExchangeTokenAsync(string resourceId, HttpContext http, ResourceSignIn signIn, CancellationToken ct)
    {
        var caller = http.Features.Get<Caller>();
        if (caller?.SessionId is not { } sessionId || caller.UserId is not { } userId)
        {
            throw ApiException.Forbidden("Only a signed-in user can get an exchange token");
        }
        var resource = await signIn.FindByIdAsync(Id(resourceId), ct) ?? throw ApiException.NotFound("Resource not found");
        var outcome = await signIn.UserAsync(resource, userId, sessionId, ct);
        return outcome.Status switch
        {
            SignInStatus.Success => Api.Ok(new ExchangeTokenResponse(outcome.RequestToken!), "Request token created successfully"),
            SignInStatus.NotConfigured => throw ApiException.BadRequest("Platform sign-in (SSO) is off for this resource"),
            _ => throw ApiException.Forbidden("You do not have access to this resource"),
        };
    }

    /// <summary>Route ids are positive integers; anything else is a 400 that says so (as every other route answers).</summary>
    private static int Id(string raw) =>
        AccessHandler.TryParseId(raw, out var id) ? id : throw ApiException.BadRequest("Validation error: \"resourceId\" must be a positive integer");

    private static ApiResult<SessionResponse> Answer(HttpContext http, SignInOutcome outcome, string notConfigured, string invalid) => outcome.Status switch
    {
        SignInStatus.Success => Api.Ok(new SessionResponse(outcome.RequestToken!), "Authenticated with resource successfully"),
        SignInStatus.NotConfigured => throw ApiException.BadRequest(notConfigured),
        SignInStatus.RateLimited => throw RateLimitExtensions.TooMany(http, outcome.RetryAfter),
        _ => throw ApiException.Unauthorized(invalid),
    };

    private static ApiResult<ShareLinkSessionResponse> ShareLinkAnswer(HttpContext http, SignInOutcome outcome) => outcome.Status switch
    {
        SignInStatus.Success => Api.Ok(new ShareLinkSessionResponse(outcome.RequestToken!, outcome.RedirectUrl), "Authenticated with resource successfully"),
        SignInStatus.RateLimited => throw RateLimitExtensions.TooMany(http, outcome.RetryAfter),
        _ => throw ApiException.Unauthorized("Access token does not exist for resource"),
    };
}
