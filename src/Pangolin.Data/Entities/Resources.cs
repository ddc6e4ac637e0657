namespace Pangolin.Data.Entities;

/// <summary>A published service: HTTP by host name, or raw TCP/UDP by proxy port.</summary>
public sealed class Resource
{
    public int ResourceId { get; set; }
    public required string ResourceGuid { get; set; }
    public required string OrgId { get; set; }
    public required string NiceId { get; set; }
    public required string Name { get; set; }
    public string? Subdomain { get; set; }
    public string? FullDomain { get; set; }
    public string? DomainId { get; set; }
    public bool Ssl { get; set; }
    public bool BlockAccess { get; set; }
    public bool Sso { get; set; } = true;
    public bool Http { get; set; } = true;

    /// <summary>tcp or udp.</summary>
    public string Protocol { get; set; } = "tcp";
    public int? ProxyPort { get; set; }
    public bool EmailWhitelistEnabled { get; set; }
    public bool ApplyRules { get; set; }
    public bool Enabled { get; set; } = true;
    public bool StickySession { get; set; }
    public string? TlsServerName { get; set; }
    public string? SetHostHeader { get; set; }
    public bool EnableProxy { get; set; } = true;
    public int? SkipToIdpId { get; set; }

    /// <summary>JSON array of {name, value}: request headers added upstream.</summary>
    public string? Headers { get; set; }
    public string? PostAuthPath { get; set; }
    public bool ProxyProtocol { get; set; }
    public int? ProxyProtocolVersion { get; set; }

    /// <summary>http, tcp or udp.</summary>
    public string Mode { get; set; } = "http";
    public bool MaintenanceModeEnabled { get; set; }
    public string? MaintenanceModeType { get; set; }
    public string? MaintenanceTitle { get; set; }
    public string? MaintenanceMessage { get; set; }
    public string? MaintenanceEstimatedTime { get; set; }
    public DateTime CreatedAt { get; set; }
}

/// <summary>Where a resource's traffic goes: a host and port reached through a site.</summary>
public sealed class Target
{
    public int TargetId { get; set; }
    public int ResourceId { get; set; }
    public int SiteId { get; set; }
    public required string Ip { get; set; }

    /// <summary>http, https or h2c (HTTP resources); null for raw ones.</summary>
    public string? Method { get; set; }
    public int Port { get; set; }

    /// <summary>The port the site's connector listens on for this target inside the tunnel.</summary>
    public int? InternalPort { get; set; }
    public bool Enabled { get; set; } = true;
    public string? Path { get; set; }

    /// <summary>exact, prefix or regex.</summary>
    public string? PathMatchType { get; set; }
    public string? RewritePath { get; set; }

    /// <summary>exact, prefix, regex or stripPrefix.</summary>
    public string? RewritePathType { get; set; }
    public int Priority { get; set; } = 100;
}

/// <summary>A target's health check, run by the site's connector.</summary>
public sealed class TargetHealthCheck
{
    public int TargetHealthCheckId { get; set; }
    public int TargetId { get; set; }
    public bool HcEnabled { get; set; }
    public string? HcPath { get; set; }
    public string? HcScheme { get; set; }
    public string? HcMode { get; set; }
    public string? HcHostname { get; set; }
    public int? HcPort { get; set; }
    public int? HcInterval { get; set; }
    public int? HcUnhealthyInterval { get; set; }
    public int? HcTimeout { get; set; }

    /// <summary>JSON array of {name, value}.</summary>
    public string? HcHeaders { get; set; }
    public bool? HcFollowRedirects { get; set; }
    public string? HcMethod { get; set; }
    public int? HcStatus { get; set; }

    /// <summary>unknown, healthy or unhealthy.</summary>
    public string HcHealth { get; set; } = "unknown";
    public string? HcTlsServerName { get; set; }
    public int? HcHealthyThreshold { get; set; }
    public int? HcUnhealthyThreshold { get; set; }
}

/// <summary>An allow/deny/pass rule evaluated before authentication.</summary>
public sealed class ResourceRule
{
    public int RuleId { get; set; }
    public int ResourceId { get; set; }
    public bool Enabled { get; set; } = true;
    public int Priority { get; set; }

    /// <summary>ACCEPT, DROP or PASS.</summary>
    public required string Action { get; set; }

    /// <summary>CIDR, IP, PATH, COUNTRY or ASN.</summary>
    public required string Match { get; set; }
    public required string Value { get; set; }

    /// <summary>An HTTP method the rule is limited to, or null for all.</summary>
    public string? Method { get; set; }
}

public sealed class ResourcePassword
{
    public int PasswordId { get; set; }
    public int ResourceId { get; set; }
    public required string PasswordHash { get; set; }
}

public sealed class ResourcePincode
{
    public int PincodeId { get; set; }
    public int ResourceId { get; set; }
    public required string PincodeHash { get; set; }
    public int DigitLength { get; set; } = 6;
}

/// <summary>HTTP Basic credentials, stored as a hash of base64(user:password).</summary>
public sealed class ResourceHeaderAuth
{
    public int HeaderAuthId { get; set; }
    public int ResourceId { get; set; }
    public required string HeaderAuthHash { get; set; }
    public bool ExtendedCompatibility { get; set; }
}

/// <summary>An e-mail address (or *@domain) allowed to sign in with a one-time code.</summary>
public sealed class ResourceWhitelist
{
    public int WhitelistId { get; set; }
    public int ResourceId { get; set; }
    public required string Email { get; set; }
}

public sealed class ResourceOtp
{
    public int OtpId { get; set; }
    public int ResourceId { get; set; }
    public required string Email { get; set; }
    public required string OtpHash { get; set; }
    public DateTime ExpiresAt { get; set; }
}

/// <summary>A share link: a token (stored hashed) that grants access to one resource.</summary>
public sealed class ResourceAccessToken
{
    public required string AccessTokenId { get; set; }
    public required string OrgId { get; set; }
    public int ResourceId { get; set; }
    public string? UserId { get; set; }
    public required string TokenHash { get; set; }

    /// <summary>How long a session made from this token lasts, in milliseconds; null for the default.</summary>
    public long? SessionLength { get; set; }
    public DateTime? ExpiresAt { get; set; }
    public string? Title { get; set; }
    public string? Description { get; set; }
    public string? Path { get; set; }
    public bool PersistSession { get; set; }
    public DateTime CreatedAt { get; set; }
}

/// <summary>A session on one resource, made by any of its sign-in methods.</summary>
public sealed class ResourceSession
{
    public required string SessionId { get; set; }
    public int ResourceId { get; set; }
    public DateTime ExpiresAt { get; set; }
    public long SessionLength { get; set; }
    public bool DoNotExtend { get; set; }
    public bool IsRequestToken { get; set; }
    public string? UserSessionId { get; set; }
    public int? PasswordId { get; set; }
    public int? PincodeId { get; set; }
    public int? WhitelistId { get; set; }
    public string? AccessTokenId { get; set; }
}

public sealed class RoleResource
{
    public int RoleId { get; set; }
    public int ResourceId { get; set; }
}

public sealed class UserResource
{
    public required string UserId { get; set; }
    public int ResourceId { get; set; }
}

public sealed class RoleSite
{
    public int RoleId { get; set; }
    public int SiteId { get; set; }
}

public sealed class UserSite
{
    public required string UserId { get; set; }
    public int SiteId { get; set; }
}
