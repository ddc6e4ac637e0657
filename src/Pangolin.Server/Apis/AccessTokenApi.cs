using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Apis;

/// <summary>Share links: a token (shown once, stored as SHA-256) that opens one resource, optionally expiring.</summary>
public static class AccessTokenApi
{
    public sealed record GenerateRequest(
        [property: Range(1, 10L * 365 * 24 * 3600)] long? ValidForSeconds = null,
        [property: StringLength(255)] string? Title = null,
        [property: StringLength(1024)] string? Description = null,
        [property: StringLength(2048)] string? Path = null,
        bool? PersistSession = null,
        [property: StringLength(64)] string? UserId = null);

    public sealed record AccessTokenDto(
        string AccessTokenId, string OrgId, int ResourceId, string? ResourceName, string? ResourceNiceId, string? Title, string? Description,
        string? Path, string? UserId, bool PersistSession, DateTime CreatedAt, long? ExpiresAt, long? SessionLength);

    public sealed record GeneratedToken(
        string AccessTokenId, string OrgId, int ResourceId, string? Title, string? Description, string? Path, string? UserId,
        bool PersistSession, DateTime CreatedAt, long? ExpiresAt, long? SessionLength, string AccessToken, string? Url);

    public sealed record AccessTokenList(IReadOnlyList<AccessTokenDto> AccessTokens, Pagination Pagination);

    public static RouteGroupBuilder MapAccessTokenApi(this RouteGroupBuilder api)
    {
        var g = api.MapGroup("").WithTags("Share links");
        g.MapPost("/resource/{resourceId}/access-token", GenerateAsync).RequireOrgAction(ActionIds.GenerateAccessToken);
        g.MapGet("/resource/{resourceId}/access-tokens", ListForResourceAsync).RequireOrgAction(ActionIds.ListAccessTokens);
        g.MapGet("/org/{orgId}/access-tokens", ListForOrgAsync).RequireOrgAction(ActionIds.ListAccessTokens);
        g.MapDelete("/access-token/{accessTokenId}", DeleteAsync).RequireOrgAction(ActionIds.DeleteAccessToken);
        return api;
    }

    private static long? Millis(DateTime? t) => t is null ? null : new DateTimeOffset(t.Value).ToUnixTimeMilliseconds();

    private static async Task<IResult> GenerateAsync(int resourceId, GenerateRequest request, PangolinDbContext db, TimeProvider time,
        Microsoft.Extensions.Options.IOptions<Pangolin.Edge.EdgeOptions> edge, CancellationToken ct)
    {
        var resource = await db.Resources.AsNoTracking().FirstAsync(r => r.ResourceId == resourceId, ct);
        if (request.UserId is not null && !await db.UserOrgs.AnyAsync(m => m.OrgId == resource.OrgId && m.UserId == request.UserId, ct))
        {
            throw ApiException.BadRequest("Validation error: userId must be a member of this organization");
        }
        if (request.Path is not null && !request.Path.StartsWith('/'))
        {
            throw ApiException.BadRequest("Validation error: path must start with '/'");
        }
        var secret = Secrets.Token(48);
        var now = time.GetUtcNow().UtcDateTime;
        var token = new ResourceAccessToken
        {
            AccessTokenId = Secrets.Id(15),
            OrgId = resource.OrgId,
            ResourceId = resourceId,
            UserId = request.UserId,
            TokenHash = Secrets.Sha256Hex(secret),
            ExpiresAt = request.ValidForSeconds is { } seconds ? now.AddSeconds(seconds) : null,
            SessionLength = request.ValidForSeconds is { } s ? s * 1000 : null,
            Title = request.Title,
            Description = request.Description,
            Path = request.Path,
            PersistSession = request.PersistSession ?? false,
            CreatedAt = now,
        };
        db.ResourceAccessTokens.Add(token);
        await db.SaveChangesAsync(ct);
        // The link as a visitor opens it: a path always (a bare "host?x" is not a URL every client accepts), the
        // edge's configured parameter name. No port: behind a port mapping the edge's own port is not the public one.
        var path = token.Path is { Length: > 0 } p ? (p.StartsWith('/') ? p : "/" + p) : "/";
        var url = resource.FullDomain is null ? null
            : $"{(resource.Ssl ? "https" : "http")}://{resource.FullDomain}{path}?{Uri.EscapeDataString(edge.Value.AccessTokenParam)}={token.AccessTokenId}.{secret}";
        return Api.Created(new GeneratedToken(token.AccessTokenId, token.OrgId, token.ResourceId, token.Title, token.Description, token.Path,
            token.UserId, token.PersistSession, token.CreatedAt, Millis(token.ExpiresAt), token.SessionLength, secret, url),
            "Access token generated; copy it now, it is not shown again");
    }

    private static async Task<IResult> ListAsync(PangolinDbContext db, IQueryable<ResourceAccessToken> tokens, ListQuery query, TimeProvider time, CancellationToken ct)
    {
        var now = time.GetUtcNow().UtcDateTime;
        var rows = tokens.Where(t => t.ExpiresAt == null || t.ExpiresAt > now)
            .Join(db.Resources, t => t.ResourceId, r => r.ResourceId, (t, r) => new { Token = t, r.Name, r.NiceId })
            .OrderBy(x => x.Token.CreatedAt);
        var (items, pagination) = await query.ApplyAsync(rows, ct);
        var tokensOut = items.Select(x => new AccessTokenDto(x.Token.AccessTokenId, x.Token.OrgId, x.Token.ResourceId, x.Name, x.NiceId,
            x.Token.Title, x.Token.Description, x.Token.Path, x.Token.UserId, x.Token.PersistSession, x.Token.CreatedAt,
            Millis(x.Token.ExpiresAt), x.Token.SessionLength)).ToList();
        return Api.Ok(new AccessTokenList(tokensOut, pagination), "Access tokens retrieved");
    }

    private static Task<IResult> ListForResourceAsync(int resourceId, [AsParameters] ListQuery query, PangolinDbContext db, TimeProvider time, CancellationToken ct) =>
        ListAsync(db, db.ResourceAccessTokens.AsNoTracking().Where(t => t.ResourceId == resourceId), query, time, ct);

    private static Task<IResult> ListForOrgAsync(string orgId, [AsParameters] ListQuery query, Caller caller, PangolinDbContext db, TimeProvider time, CancellationToken ct)
    {
        var visible = Grants.VisibleResources(db, caller, db.Resources.Where(r => r.OrgId == orgId)).Select(r => r.ResourceId);
        return ListAsync(db, db.ResourceAccessTokens.AsNoTracking().Where(t => t.OrgId == orgId && visible.Contains(t.ResourceId)), query, time, ct);
    }

    private static async Task<IResult> DeleteAsync(string accessTokenId, PangolinDbContext db, CancellationToken ct)
    {
        await db.ResourceAccessTokens.Where(t => t.AccessTokenId == accessTokenId).ExecuteDeleteAsync(ct);
        return Api.Done("Access token deleted successfully");
    }
}
