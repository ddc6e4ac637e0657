using System.ComponentModel.DataAnnotations;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;

namespace Pangolin.Server.Apis;

/// <summary>
/// API keys: org keys (PUT /org/{orgId}/api-key) and root keys (PUT /api-key, server admins). The secret is shown
/// once and stored as SHA-256; clients send <c>Authorization: Bearer &lt;apiKeyId&gt;.&lt;apiKey&gt;</c>.
/// </summary>
public static class ApiKeyApi
{
    public sealed record CreateApiKeyRequest(
        [property: Required, StringLength(255, MinimumLength = 1)] string? Name,
        [property: MaxLength(200), NonNullItems] List<string>? ActionIds = null);

    public sealed record SetActionsRequest([property: Required, MaxLength(200), NonNullItems] List<string>? ActionIds);

    public sealed record CreatedApiKey(string ApiKeyId, string Name, string ApiKey, string LastChars, DateTime CreatedAt, string? OrgId, bool IsRoot);

    public sealed record ApiKeyDto(string ApiKeyId, string? OrgId, string Name, string LastChars, DateTime CreatedAt, bool IsRoot, DateTime? LastUsedAt);

    public sealed record ApiKeyList(IReadOnlyList<ApiKeyDto> ApiKeys, Pagination Pagination);

    public sealed record ActionList(IReadOnlyList<RoleApi.ActionItem> Actions, Pagination Pagination);

    private const int SecretLength = 48;

    public static RouteGroupBuilder MapApiKeyApi(this RouteGroupBuilder api)
    {
        var org = api.MapGroup("/org/{orgId}").WithTags("API keys");
        org.MapPut("/api-key", CreateOrgKeyAsync).RequireOrgAction(ActionIds.CreateApiKey);
        org.MapGet("/api-keys", ListOrgKeysAsync).RequireOrgAction(ActionIds.ListApiKeys);
        org.MapGet("/api-key/{apiKeyId}", GetOrgKeyAsync).RequireOrgAction(ActionIds.GetApiKey);
        org.MapDelete("/api-key/{apiKeyId}", DeleteOrgKeyAsync).RequireOrgAction(ActionIds.DeleteApiKey);
        org.MapGet("/api-key/{apiKeyId}/actions", ListOrgKeyActionsAsync).RequireOrgAction(ActionIds.ListApiKeyActions);
        org.MapPost("/api-key/{apiKeyId}/actions", SetOrgKeyActionsAsync).RequireOrgAction(ActionIds.SetApiKeyActions);

        var root = api.MapGroup("").WithTags("Root API keys");
        root.MapPut("/api-key", CreateRootKeyAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.CreateApiKey));
        root.MapGet("/api-keys", ListRootKeysAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.ListApiKeys));
        root.MapGet("/api-key/{apiKeyId}", GetRootKeyAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.GetApiKey));
        root.MapDelete("/api-key/{apiKeyId}", DeleteRootKeyAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.DeleteApiKey));
        root.MapGet("/api-key/{apiKeyId}/actions", ListRootKeyActionsAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.ListApiKeyActions));
        root.MapPost("/api-key/{apiKeyId}/actions", SetRootKeyActionsAsync).RequireAccess(new AccessRule(AccessScope.Server, ActionIds.SetApiKeyActions));
        return api;
    }

    private static async Task<CreatedApiKey> CreateAsync(PangolinDbContext db, Caller caller, string? orgId, CreateApiKeyRequest request, TimeProvider time, CancellationToken ct)
    {
        var actions = (request.ActionIds ?? []).Distinct(StringComparer.Ordinal).ToList();
        await Grants.CheckCanGrantAsync(db, caller, actions, ct);
        var secret = Secrets.Token(SecretLength);
        var key = new ApiKey
        {
            ApiKeyId = Secrets.Id(15),
            Name = request.Name!,
            ApiKeyHash = Secrets.Sha256Hex(secret),
            LastChars = secret[^4..],
            CreatedAt = time.GetUtcNow().UtcDateTime,
            IsRoot = orgId is null,
        };
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        db.ApiKeys.Add(key);
        if (orgId is not null)
        {
            db.ApiKeyOrgs.Add(new ApiKeyOrg { ApiKeyId = key.ApiKeyId, OrgId = orgId });
        }
        foreach (var action in actions)
        {
            db.ApiKeyActions.Add(new ApiKeyAction { ApiKeyId = key.ApiKeyId, ActionId = action });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        return new CreatedApiKey(key.ApiKeyId, key.Name, secret, key.LastChars, key.CreatedAt, orgId, key.IsRoot);
    }

    private static async Task<IResult> CreateOrgKeyAsync(string orgId, CreateApiKeyRequest request, Caller caller, PangolinDbContext db, TimeProvider time, CancellationToken ct) =>
        Api.Created(await CreateAsync(db, caller, orgId, request, time, ct), "API key created; store the apiKey now, it is not shown again");

    private static async Task<IResult> CreateRootKeyAsync(CreateApiKeyRequest request, Caller caller, PangolinDbContext db, TimeProvider time, CancellationToken ct) =>
        Api.Created(await CreateAsync(db, caller, null, request, time, ct), "Root API key created; store the apiKey now, it is not shown again");

    private static IQueryable<ApiKey> OrgKeys(PangolinDbContext db, string orgId) =>
        db.ApiKeys.Where(k => db.ApiKeyOrgs.Any(ko => ko.OrgId == orgId && ko.ApiKeyId == k.ApiKeyId));

    private static IQueryable<ApiKey> RootKeys(PangolinDbContext db) => db.ApiKeys.Where(k => k.IsRoot);

    private static IQueryable<ApiKeyDto> Project(IQueryable<ApiKey> keys, string? orgId) =>
        keys.Select(k => new ApiKeyDto(k.ApiKeyId, orgId, k.Name, k.LastChars, k.CreatedAt, k.IsRoot, k.LastUsedAt));

    private static async Task<IResult> ListOrgKeysAsync(string orgId, [AsParameters] ListQuery query, PangolinDbContext db, CancellationToken ct)
    {
        var (items, pagination) = await query.ApplyAsync(Project(OrgKeys(db, orgId).OrderBy(k => k.CreatedAt), orgId), ct);
        return Api.Ok(new ApiKeyList(items, pagination), "API keys retrieved");
    }

    private static async Task<IResult> ListRootKeysAsync([AsParameters] ListQuery query, PangolinDbContext db, CancellationToken ct)
    {
        var (items, pagination) = await query.ApplyAsync(Project(RootKeys(db).OrderBy(k => k.CreatedAt), null), ct);
        return Api.Ok(new ApiKeyList(items, pagination), "API keys retrieved");
    }

    private static async Task<ApiKeyDto> FindOrgKeyAsync(PangolinDbContext db, string orgId, string apiKeyId, CancellationToken ct) =>
        await Project(OrgKeys(db, orgId).Where(k => k.ApiKeyId == apiKeyId), orgId).FirstOrDefaultAsync(ct) ?? throw ApiException.NotFound("API key not found");

    private static async Task<ApiKeyDto> FindRootKeyAsync(PangolinDbContext db, string apiKeyId, CancellationToken ct) =>
        await Project(RootKeys(db).Where(k => k.ApiKeyId == apiKeyId), null).FirstOrDefaultAsync(ct) ?? throw ApiException.NotFound("API key not found");

    private static async Task<IResult> GetOrgKeyAsync(string orgId, string apiKeyId, PangolinDbContext db, CancellationToken ct) =>
        Api.Ok(await FindOrgKeyAsync(db, orgId, apiKeyId, ct), "API key retrieved");

    private static async Task<IResult> GetRootKeyAsync(string apiKeyId, PangolinDbContext db, CancellationToken ct) =>
        Api.Ok(await FindRootKeyAsync(db, apiKeyId, ct), "API key retrieved");

    private static async Task<IResult> DeleteOrgKeyAsync(string orgId, string apiKeyId, PangolinDbContext db, ApiKeyCache cache, CancellationToken ct)
    {
        await FindOrgKeyAsync(db, orgId, apiKeyId, ct);
        await db.ApiKeys.Where(k => k.ApiKeyId == apiKeyId).ExecuteDeleteAsync(ct);
        cache.Invalidate(apiKeyId);
        return Api.Done("API key deleted successfully");
    }

    private static async Task<IResult> DeleteRootKeyAsync(string apiKeyId, PangolinDbContext db, ApiKeyCache cache, CancellationToken ct)
    {
        await FindRootKeyAsync(db, apiKeyId, ct);
        await db.ApiKeys.Where(k => k.ApiKeyId == apiKeyId).ExecuteDeleteAsync(ct);
        cache.Invalidate(apiKeyId);
        return Api.Done("API key deleted successfully");
    }

    private static async Task<IResult> ListActionsAsync(PangolinDbContext db, string apiKeyId, CancellationToken ct)
    {
        var actions = await db.ApiKeyActions.Where(a => a.ApiKeyId == apiKeyId).OrderBy(a => a.ActionId)
            .Select(a => new RoleApi.ActionItem(a.ActionId)).ToListAsync(ct);
        return Api.Ok(new ActionList(actions, new Pagination(actions.Count, actions.Count, 0, 1, actions.Count)), "API key actions retrieved");
    }

    private static async Task<IResult> ListOrgKeyActionsAsync(string orgId, string apiKeyId, PangolinDbContext db, CancellationToken ct)
    {
        await FindOrgKeyAsync(db, orgId, apiKeyId, ct);
        return await ListActionsAsync(db, apiKeyId, ct);
    }

    private static async Task<IResult> ListRootKeyActionsAsync(string apiKeyId, PangolinDbContext db, CancellationToken ct)
    {
        await FindRootKeyAsync(db, apiKeyId, ct);
        return await ListActionsAsync(db, apiKeyId, ct);
    }

    private static async Task<IResult> SetActionsAsync(PangolinDbContext db, ApiKeyCache cache, Caller caller, string apiKeyId, List<string> requested, CancellationToken ct)
    {
        var actions = requested.Distinct(StringComparer.Ordinal).ToList();
        await Grants.CheckCanGrantAsync(db, caller, actions, ct);
        await using var tx = await db.Database.BeginTransactionAsync(ct);
        await db.ApiKeyActions.Where(a => a.ApiKeyId == apiKeyId).ExecuteDeleteAsync(ct);
        foreach (var action in actions)
        {
            db.ApiKeyActions.Add(new ApiKeyAction { ApiKeyId = apiKeyId, ActionId = action });
        }
        await db.SaveChangesAsync(ct);
        await tx.CommitAsync(ct);
        cache.Invalidate(apiKeyId);
        return Api.Ok(Empty.Value, "API key actions set successfully");
    }

    private static async Task<IResult> SetOrgKeyActionsAsync(string orgId, string apiKeyId, SetActionsRequest request, Caller caller, PangolinDbContext db, ApiKeyCache cache, CancellationToken ct)
    {
        await FindOrgKeyAsync(db, orgId, apiKeyId, ct);
        return await SetActionsAsync(db, cache, caller, apiKeyId, request.ActionIds!, ct);
    }

    private static async Task<IResult> SetRootKeyActionsAsync(string apiKeyId, SetActionsRequest request, Caller caller, PangolinDbContext db, ApiKeyCache cache, CancellationToken ct)
    {
        await FindRootKeyAsync(db, apiKeyId, ct);
        return await SetActionsAsync(db, cache, caller, apiKeyId, request.ActionIds!, ct);
    }
}
