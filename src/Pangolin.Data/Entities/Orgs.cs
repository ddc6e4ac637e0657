namespace Pangolin.Data.Entities;

/// <summary>A tenant: its own WireGuard subnet, utility subnet, members, roles, sites and resources.</summary>
public sealed class Org
{
    public required string OrgId { get; set; }
    public required string Name { get; set; }
    public required string Subnet { get; set; }
    public required string UtilitySubnet { get; set; }
    public DateTime CreatedAt { get; set; }
    public bool RequireTwoFactor { get; set; }
    public int? MaxSessionLengthHours { get; set; }
    public int? PasswordExpiryDays { get; set; }
    public int? SettingsLogRetentionDaysRequest { get; set; }
    public int? SettingsLogRetentionDaysAction { get; set; }
}

/// <summary>A user's membership in an org.</summary>
public sealed class UserOrg
{
    public required string UserId { get; set; }
    public required string OrgId { get; set; }
    public bool IsOwner { get; set; }
    public bool AutoProvisioned { get; set; }
    public DateTime JoinedAt { get; set; }
}

/// <summary>A role a member holds in an org (a member may hold several).</summary>
public sealed class UserOrgRole
{
    public required string UserId { get; set; }
    public required string OrgId { get; set; }
    public int RoleId { get; set; }
}

/// <summary>A role: the built-in Admin (every action) and Member, or a custom one.</summary>
public sealed class Role
{
    public int RoleId { get; set; }
    public required string OrgId { get; set; }
    public bool IsAdmin { get; set; }
    public required string Name { get; set; }
    public string? Description { get; set; }
    public bool RequireDeviceApproval { get; set; }
}

/// <summary>An action id (upstream's ActionsEnum), referenced by grants to roles, users and API keys.</summary>
public sealed class ActionDefinition
{
    public required string ActionId { get; set; }
    public string? Name { get; set; }
    public string? Description { get; set; }
}

public sealed class RoleAction
{
    public int RoleId { get; set; }
    public required string ActionId { get; set; }
    public required string OrgId { get; set; }
}

public sealed class UserAction
{
    public required string UserId { get; set; }
    public required string ActionId { get; set; }
    public required string OrgId { get; set; }
}

/// <summary>An invitation to join an org; the token is stored hashed.</summary>
public sealed class UserInvite
{
    public required string InviteId { get; set; }
    public required string OrgId { get; set; }
    public required string Email { get; set; }
    public required string TokenHash { get; set; }
    public DateTime ExpiresAt { get; set; }
    public DateTime CreatedAt { get; set; }
    public string? InvitedByUserId { get; set; }
}

public sealed class UserInviteRole
{
    public required string InviteId { get; set; }
    public int RoleId { get; set; }
}

/// <summary>A domain: configured in the server's settings or added by an org.</summary>
public sealed class Domain
{
    public required string DomainId { get; set; }
    public required string BaseDomain { get; set; }
    public bool ConfigManaged { get; set; }

    /// <summary>ns, cname or wildcard.</summary>
    public required string Type { get; set; }
    public bool Verified { get; set; }
    public bool Failed { get; set; }
    public int Tries { get; set; }
    public string? CertResolver { get; set; }
    public bool PreferWildcardCert { get; set; }
    public DateTime CreatedAt { get; set; }
}

public sealed class OrgDomain
{
    public required string OrgId { get; set; }
    public required string DomainId { get; set; }
}

/// <summary>A DNS record the admin must create for an org domain to verify.</summary>
public sealed class DnsRecord
{
    public int DnsRecordId { get; set; }
    public required string DomainId { get; set; }

    /// <summary>NS, CNAME, A or TXT.</summary>
    public required string RecordType { get; set; }
    public required string BaseDomain { get; set; }
    public required string Value { get; set; }
    public bool Verified { get; set; }
}

/// <summary>An admin action, recorded for the action audit log.</summary>
public sealed class ActionAuditLog
{
    public long Id { get; set; }
    public DateTime Timestamp { get; set; }
    public string? OrgId { get; set; }

    /// <summary>user or apiKey.</summary>
    public required string ActorType { get; set; }
    public required string ActorId { get; set; }
    public string? Actor { get; set; }
    public required string Action { get; set; }

    /// <summary>JSON: the ids the action touched (never secrets).</summary>
    public string? Metadata { get; set; }
    public string? Ip { get; set; }
    public int Status { get; set; }
}

/// <summary>One access decision on a resource (Badger): who asked for what, and whether and why it was allowed.</summary>
public sealed class RequestAuditLog
{
    public long Id { get; set; }
    public DateTime Timestamp { get; set; }
    public required string OrgId { get; set; }
    public int? ResourceId { get; set; }

    /// <summary>Allowed (true) or denied.</summary>
    public bool Action { get; set; }

    /// <summary>Upstream's reason codes: 100 rule, 101 no auth, 102 token, 103 basic, 201 not found, 202 blocked, 203 rule drop, 299 no method.</summary>
    public int Reason { get; set; }
    public string? ActorType { get; set; }
    public string? Actor { get; set; }
    public string? ActorId { get; set; }
    public string? Ip { get; set; }
    public string? Location { get; set; }
    public string? UserAgent { get; set; }

    /// <summary>JSON: selected request headers (never cookies or authorization).</summary>
    public string? Headers { get; set; }

    /// <summary>JSON: query parameters with token values removed.</summary>
    public string? Query { get; set; }
    public string? Scheme { get; set; }
    public string? Host { get; set; }
    public string? Path { get; set; }
    public string? Method { get; set; }
    public bool Tls { get; set; }
    public string? Metadata { get; set; }
}
