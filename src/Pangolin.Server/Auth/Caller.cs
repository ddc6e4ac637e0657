namespace Pangolin.Server.Auth;

public enum CallerKind
{
    User,
    ApiKey,
}

/// <summary>
/// Who is calling, set by authentication (user session or API key) and completed by the access check
/// with the org the endpoint acts on. Handlers take it as a parameter.
/// </summary>
public sealed class Caller
{
    public required CallerKind Kind { get; init; }
    public string? UserId { get; init; }
    public string? Email { get; init; }
    public string? SessionId { get; init; }
    public bool IsServerAdmin { get; init; }
    public string? ApiKeyId { get; init; }
    public bool IsRootKey { get; init; }

    /// <summary>The key's actions and orgs, as authentication loaded them.</summary>
    public ApiKeyGrant? Key { get; init; }

    /// <summary>The org the current endpoint acts on, once the access check has resolved it.</summary>
    public string? OrgId { get; set; }

    /// <summary>The caller holds an admin role in <see cref="OrgId"/>.</summary>
    public bool IsOrgAdmin { get; set; }

    public bool IsOrgOwner { get; set; }

    /// <summary>The caller's roles in <see cref="OrgId"/> (users only).</summary>
    public IReadOnlyList<int> RoleIds { get; set; } = [];

    /// <summary>Whether the caller may grant or take the Admin role: admins of the org, server admins and root keys.</summary>
    public bool MayManageAdmins => IsServerAdmin || IsOrgAdmin || IsRootKey;

    public string ActorId => (Kind == CallerKind.User ? UserId : ApiKeyId) ?? "";

    /// <summary>Whether grants on single sites and resources are bypassed (admins and API keys see the whole org).</summary>
    public bool SeesWholeOrg => IsServerAdmin || IsOrgAdmin || Kind == CallerKind.ApiKey;

    public static ValueTask<Caller?> BindAsync(HttpContext context)
    {
        ArgumentNullException.ThrowIfNull(context);
        return ValueTask.FromResult(context.Features.Get<Caller>());
    }
}
