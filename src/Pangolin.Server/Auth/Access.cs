using System.Globalization;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Authorization.Policy;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;

namespace Pangolin.Server.Auth;

/// <summary>What an endpoint acts on, which decides how the caller's rights are looked up.</summary>
public enum AccessScope
{
    /// <summary>One org, found from the route (orgId, or the org of siteId, resourceId, targetId, roleId, accessTokenId).</summary>
    Org,

    /// <summary>The whole server: server admins, or root API keys with the action.</summary>
    Server,

    /// <summary>Any signed-in user; for API keys, a root key with the action.</summary>
    AnyUser,

    /// <summary>The user named by the route's userId (or a server admin); for API keys, a root key with the action.</summary>
    Self,
}

/// <summary>
/// The access rule of one endpoint. It is both endpoint metadata (the authorization matrix test reads it)
/// and the requirement of the endpoint's authorization policy.
/// </summary>
public sealed record AccessRule(AccessScope Scope, string? Action) : IAuthorizationRequirement
{
    public override string ToString() => Action is null ? Scope.ToString() : $"{Scope}:{Action}";
}

/// <summary>Why access was refused: the status and message the client gets.</summary>
internal sealed record AccessDenial(int Status, string Message);

public static class AccessEndpointExtensions
{
    /// <summary>Requires the caller to hold <paramref name="action"/> in the org the route names.</summary>
    public static TBuilder RequireOrgAction<TBuilder>(this TBuilder builder, string action)
        where TBuilder : IEndpointConventionBuilder => builder.RequireAccess(new AccessRule(AccessScope.Org, action));

    public static TBuilder RequireAccess<TBuilder>(this TBuilder builder, AccessRule rule)
        where TBuilder : IEndpointConventionBuilder
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.WithMetadata(rule);
        return builder.RequireAuthorization(new AuthorizationPolicyBuilder().AddRequirements(rule).Build());
    }
}

/// <summary>
/// Decides an <see cref="AccessRule"/>: resolves the org the route acts on, then checks the caller's roles and
/// direct actions there (users), or the key's orgs and actions (API keys). Members who are not admins also need
/// a grant on the single site or resource a route names. Entities outside the caller's orgs answer 404, so that
/// one org cannot learn what another holds.
/// </summary>
internal sealed class AccessHandler(PangolinDbContext db) : AuthorizationHandler<AccessRule>
{
    internal const string DenialKey = "pangolin.access-denial";

    protected override async Task HandleRequirementAsync(AuthorizationHandlerContext context, AccessRule requirement)
    {
        if (context.Resource is not HttpContext http || http.Features.Get<Caller>() is not { } caller)
        {
            return; // not authenticated: the result handler answers 401
        }
        var denial = await DecideAsync(http, caller, requirement);
        if (denial is null)
        {
            context.Succeed(requirement);
        }
        else
        {
            http.Items[DenialKey] = denial;
            context.Fail(new AuthorizationFailureReason(this, denial.Message));
        }
    }

    private async Task<AccessDenial?> DecideAsync(HttpContext http, Caller caller, AccessRule rule)
    {
        var ct = http.RequestAborted;
        switch (rule.Scope)
        {
            case AccessScope.AnyUser:
                return caller.Kind == CallerKind.User ? null : RootKey(caller, rule.Action);
            case AccessScope.Server:
                if (caller.Kind == CallerKind.User)
                {
                    return caller.IsServerAdmin ? null : Forbidden("Only a server admin may do this");
                }
                return RootKey(caller, rule.Action);
            case AccessScope.Self:
                if (caller.Kind == CallerKind.User)
                {
                    var userId = http.GetRouteValue("userId") as string;
                    return caller.IsServerAdmin || userId == caller.UserId ? null : Forbidden("You may only do this for your own account");
                }
                return RootKey(caller, rule.Action);
            default:
                return await OrgAsync(http, caller, rule.Action, ct);
        }
    }

    private static AccessDenial? RootKey(Caller caller, string? action)
    {
        if (!caller.IsRootKey)
        {
            return Forbidden("This needs a root API key");
        }
        return action is null || KeyHasAction(caller, action) ? null : MissingAction(caller, action);
    }

    private async Task<AccessDenial?> OrgAsync(HttpContext http, Caller caller, string? action, CancellationToken ct)
    {
        if (caller.Kind == CallerKind.ApiKey && http.GetRouteValue("orgId") is string routeOrg && MalformedId(http) is null)
        {
            return await OrgKeyFastPathAsync(caller, routeOrg, action, ct);
        }
        var target = await ResolveAsync(http, ct);
        if (target.Denial is not null)
        {
            return target.Denial;
        }
        var orgId = target.OrgId!;
        caller.OrgId = orgId;

        if (caller.Kind == CallerKind.ApiKey)
        {
            if (!caller.IsRootKey && caller.Key?.Orgs.Contains(orgId) != true)
            {
                return target.FromEntity ? NotFound(target.Kind) : Forbidden("This API key has no access to this organization");
            }
            return action is null || KeyHasAction(caller, action) ? null : MissingAction(caller, action);
        }

        var membership = await db.UserOrgs.AsNoTracking()
            .Where(m => m.UserId == caller.UserId && m.OrgId == orgId)
            .Select(m => new
            {
                m.IsOwner,
                Roles = db.UserOrgRoles.Where(r => r.UserId == m.UserId && r.OrgId == m.OrgId)
                    .Join(db.Roles, r => r.RoleId, role => role.RoleId, (r, role) => new { role.RoleId, role.IsAdmin })
                    .ToList(),
            })
            .FirstOrDefaultAsync(ct);
        if (membership is null)
        {
            if (caller.IsServerAdmin)
            {
                caller.IsOrgAdmin = true;
                return null;
            }
            return target.FromEntity ? NotFound(target.Kind) : Forbidden("You do not have access to this organization");
        }
        caller.IsOrgOwner = membership.IsOwner;
        caller.RoleIds = membership.Roles.Select(r => r.RoleId).ToArray();
        caller.IsOrgAdmin = membership.Roles.Any(r => r.IsAdmin) || caller.IsServerAdmin;
        if (caller.IsOrgAdmin || action is null)
        {
            return null;
        }
        var roleIds = caller.RoleIds;
        var allowed = await db.RoleActions.AnyAsync(a => roleIds.Contains(a.RoleId) && a.ActionId == action, ct)
            || await db.UserActions.AnyAsync(a => a.UserId == caller.UserId && a.OrgId == orgId && a.ActionId == action, ct);
        if (!allowed)
        {
            return MissingAction(caller, action);
        }
        // Members see single sites and resources only through a grant to one of their roles or to them.
        return target.Kind switch
        {
            "Site" when !await db.RoleSites.AnyAsync(g => g.SiteId == target.SiteId && roleIds.Contains(g.RoleId), ct)
                && !await db.UserSites.AnyAsync(g => g.SiteId == target.SiteId && g.UserId == caller.UserId, ct)
                => NotFound("Site"),
            "Resource" or "Target" or "AccessToken" when !await db.RoleResources.AnyAsync(g => g.ResourceId == target.ResourceId && roleIds.Contains(g.RoleId), ct)
                && !await db.UserResources.AnyAsync(g => g.ResourceId == target.ResourceId && g.UserId == caller.UserId, ct)
                => NotFound(target.Kind),
            _ => null,
        };
    }

    private static bool KeyHasAction(Caller caller, string action) => caller.Key?.Actions.Contains(action) == true;

    /// <summary>An API key on an /org/{orgId} route: the integration API's hot path, answered from the key cache.</summary>
    private async Task<AccessDenial?> OrgKeyFastPathAsync(Caller caller, string orgId, string? action, CancellationToken ct)
    {
        // An org key's orgs come with the key (deleting an org clears the cache), so only a root key asks the database.
        if (!caller.IsRootKey && caller.Key?.Orgs.Contains(orgId) != true)
        {
            return Forbidden("This API key has no access to this organization");
        }
        if (caller.IsRootKey && !await db.Orgs.AnyAsync(o => o.OrgId == orgId, ct))
        {
            return NotFound("Organization");
        }
        caller.OrgId = orgId;
        return action is null || KeyHasAction(caller, action) ? null : MissingAction(caller, action);
    }

    private static AccessDenial? MalformedId(HttpContext http)
    {
        // A malformed id answers 400 before anything is looked up, also ruleId, which the handler resolves.
        foreach (var name in IntIds)
        {
            if (http.GetRouteValue(name) is string raw && !TryParseId(raw, out _))
            {
                return new AccessDenial(StatusCodes.Status400BadRequest, $"Validation error: \"{name}\" must be a positive integer");
            }
        }
        return null;
    }

    private async Task<Target> ResolveAsync(HttpContext http, CancellationToken ct)
    {
        if (MalformedId(http) is { } malformed)
        {
            return Target.Deny(malformed);
        }
        if (http.GetRouteValue("orgId") is string orgId)
        {
            if (!await db.Orgs.AnyAsync(o => o.OrgId == orgId, ct))
            {
                // Only a server admin (or root key) learns that an org does not exist; others are refused alike.
                var caller = http.Features.Get<Caller>()!;
                return caller.IsServerAdmin || caller.IsRootKey
                    ? Target.Deny(NotFound("Organization"))
                    : Target.Deny(Forbidden("You do not have access to this organization"));
            }
            return new Target(orgId, "Org", FromEntity: false);
        }
        if (TryId(http, "resourceId", out var resourceId))
        {
            var org = await db.Resources.Where(r => r.ResourceId == resourceId).Select(r => r.OrgId).FirstOrDefaultAsync(ct);
            return org is null ? Target.Deny(NotFound("Resource")) : new Target(org, "Resource", true) { ResourceId = resourceId };
        }
        if (TryId(http, "siteId", out var siteId))
        {
            var org = await db.Sites.Where(s => s.SiteId == siteId).Select(s => s.OrgId).FirstOrDefaultAsync(ct);
            return org is null ? Target.Deny(NotFound("Site")) : new Target(org, "Site", true) { SiteId = siteId };
        }
        if (TryId(http, "targetId", out var targetId))
        {
            var row = await db.Targets.Where(t => t.TargetId == targetId)
                .Join(db.Resources, t => t.ResourceId, r => r.ResourceId, (t, r) => new { r.OrgId, r.ResourceId })
                .FirstOrDefaultAsync(ct);
            return row is null ? Target.Deny(NotFound("Target")) : new Target(row.OrgId, "Target", true) { ResourceId = row.ResourceId };
        }
        if (TryId(http, "roleId", out var roleId))
        {
            var org = await db.Roles.Where(r => r.RoleId == roleId).Select(r => r.OrgId).FirstOrDefaultAsync(ct);
            return org is null ? Target.Deny(NotFound("Role")) : new Target(org, "Role", true);
        }
        if (http.GetRouteValue("accessTokenId") is string tokenId)
        {
            var row = await db.ResourceAccessTokens.Where(t => t.AccessTokenId == tokenId).Select(t => new { t.OrgId, t.ResourceId }).FirstOrDefaultAsync(ct);
            return row is null ? Target.Deny(NotFound("AccessToken")) : new Target(row.OrgId, "AccessToken", true) { ResourceId = row.ResourceId };
        }
        if (TryId(http, "certId", out var certId))
        {
            return await CertificateOrgAsync(http, certId, ct);
        }
        return Target.Deny(new AccessDenial(StatusCodes.Status500InternalServerError, "The route names no organization"));
    }

    /// <summary>
    /// An uploaded certificate belongs to the org that uploaded it; an ACME one to its domain, which a server's domain
    /// shares with every org: then the caller's own org among them is the one acted in.
    /// </summary>
    private async Task<Target> CertificateOrgAsync(HttpContext http, int certId, CancellationToken ct)
    {
        var row = await db.Certificates.Where(c => c.CertId == certId && c.DomainId != null).Select(c => new { c.OrgId, c.DomainId }).FirstOrDefaultAsync(ct);
        if (row is null)
        {
            return Target.Deny(NotFound("Certificate"));
        }
        if (row.OrgId is not null)
        {
            return new Target(row.OrgId, "Certificate", true);
        }
        var orgs = db.OrgDomains.Where(od => od.DomainId == row.DomainId).OrderBy(od => od.OrgId).Select(od => od.OrgId);
        var caller = http.Features.Get<Caller>()!;
        string? org = null;
        if (caller.Kind == CallerKind.User)
        {
            org = await orgs.Where(o => db.UserOrgs.Any(m => m.UserId == caller.UserId && m.OrgId == o)).FirstOrDefaultAsync(ct);
        }
        else if (!caller.IsRootKey && caller.Key is { } key)
        {
            org = (await orgs.ToListAsync(ct)).FirstOrDefault(key.Orgs.Contains);
        }
        org ??= await orgs.FirstOrDefaultAsync(ct);
        return org is null ? Target.Deny(NotFound("Certificate")) : new Target(org, "Certificate", true);
    }

    private static readonly string[] IntIds = ["resourceId", "siteId", "targetId", "roleId", "ruleId", "certId"];

    private static bool TryId(HttpContext http, string name, out int id)
    {
        id = 0;
        return http.GetRouteValue(name) is string raw && TryParseId(raw, out id);
    }

    internal static bool TryParseId(string raw, out int id) =>
        int.TryParse(raw, NumberStyles.None, CultureInfo.InvariantCulture, out id) && id > 0;

    private static AccessDenial Forbidden(string message) => new(StatusCodes.Status403Forbidden, message);

    private static AccessDenial NotFound(string kind) => new(StatusCodes.Status404NotFound, kind switch
    {
        "AccessToken" => "Access token not found",
        "Org" or "Organization" => "Organization not found",
        _ => $"{kind} not found",
    });

    private static AccessDenial MissingAction(Caller caller, string action) => Forbidden(caller.Kind == CallerKind.ApiKey
        ? $"This API key is not allowed to perform '{action}'; grant the action to the key"
        : $"You are not allowed to perform '{action}' in this organization");

    private sealed record Target(string? OrgId, string Kind, bool FromEntity)
    {
        public AccessDenial? Denial { get; init; }
        public int SiteId { get; init; }
        public int ResourceId { get; init; }

        public static Target Deny(AccessDenial denial) => new(null, "", false) { Denial = denial };
    }
}

/// <summary>Turns refused authorization into problem details: 401 without a caller, else the handler's denial.</summary>
internal sealed class AccessResultHandler : IAuthorizationMiddlewareResultHandler
{
    private readonly AuthorizationMiddlewareResultHandler _default = new();

    public async Task HandleAsync(RequestDelegate next, HttpContext context, AuthorizationPolicy policy, PolicyAuthorizationResult authorizeResult)
    {
        if (authorizeResult.Succeeded || context.GetEndpoint()?.Metadata.GetMetadata<AccessRule>() is null)
        {
            await _default.HandleAsync(next, context, policy, authorizeResult);
            return;
        }
        if (context.Items[AccessHandler.DenialKey] is AccessDenial denial)
        {
            await Apis.Problems.WriteAsync(context, denial.Status, denial.Message);
            return;
        }
        var integration = AuthSchemes.IsIntegrationPath(context.Request.Path);
        var failure = context.Items[ApiKeyAuthenticationHandler.FailureKey] as string;
        if (failure == ApiKeyAuthenticationHandler.TooManyMessage)
        {
            await Apis.Problems.WriteAsync(context, StatusCodes.Status429TooManyRequests, failure);
            return;
        }
        var message = integration ? failure ?? ApiKeyAuthenticationHandler.RequiredMessage : "You are not signed in; log in first";
        if (integration)
        {
            context.Response.Headers.WWWAuthenticate = "Bearer";
        }
        await Apis.Problems.WriteAsync(context, StatusCodes.Status401Unauthorized, message);
    }
}
