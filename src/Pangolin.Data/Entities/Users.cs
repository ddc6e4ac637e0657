namespace Pangolin.Data.Entities;

/// <summary>A person who signs in to the dashboard.</summary>
public sealed class User
{
    public required string UserId { get; set; }
    public required string Email { get; set; }
    public string? Username { get; set; }
    public string? Name { get; set; }

    /// <summary>internal (e-mail + password) or oidc.</summary>
    public required string Type { get; set; }
    public int? IdpId { get; set; }

    /// <summary>Argon2id, PHC string format; null for users of an identity provider.</summary>
    public string? PasswordHash { get; set; }
    public bool TwoFactorEnabled { get; set; }
    public bool TwoFactorSetupRequested { get; set; }

    /// <summary>The TOTP secret, encrypted with the server secret (it must be read back to verify codes).</summary>
    public string? TwoFactorSecret { get; set; }

    /// <summary>The last TOTP time step accepted, so that a code cannot be used twice.</summary>
    public long? TwoFactorLastStep { get; set; }
    public bool EmailVerified { get; set; }
    public bool ServerAdmin { get; set; }
    public DateTime DateCreated { get; set; }
    public DateTime? LastPasswordChange { get; set; }
}

/// <summary>A dashboard session; the id is hex(SHA-256(token)), the token lives only in the cookie.</summary>
public sealed class Session
{
    public required string SessionId { get; set; }
    public required string UserId { get; set; }
    public DateTime ExpiresAt { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime? LastSeenAt { get; set; }
    public string? Ip { get; set; }
    public string? UserAgent { get; set; }
}

/// <summary>One backup code for TOTP two-factor, stored hashed; consumed on use.</summary>
public sealed class TwoFactorBackupCode
{
    public int CodeId { get; set; }
    public required string UserId { get; set; }
    public required string CodeHash { get; set; }
}

public sealed class EmailVerificationCode
{
    public int CodeId { get; set; }
    public required string UserId { get; set; }
    public required string Email { get; set; }
    public required string CodeHash { get; set; }
    public DateTime ExpiresAt { get; set; }
}

public sealed class PasswordResetToken
{
    public int TokenId { get; set; }
    public required string UserId { get; set; }
    public required string Email { get; set; }
    public required string TokenHash { get; set; }
    public DateTime ExpiresAt { get; set; }
}

/// <summary>The one-time token printed at first start, exchanged for the server admin account.</summary>
public sealed class SetupToken
{
    public required string TokenId { get; set; }
    public required string TokenHash { get; set; }
    public bool Used { get; set; }
    public DateTime DateCreated { get; set; }
    public DateTime? DateUsed { get; set; }
}

/// <summary>An API key: root (server-wide) or linked to orgs; its secret is stored hashed.</summary>
public sealed class ApiKey
{
    public required string ApiKeyId { get; set; }
    public required string Name { get; set; }
    public required string ApiKeyHash { get; set; }
    public required string LastChars { get; set; }
    public DateTime CreatedAt { get; set; }
    public bool IsRoot { get; set; }
    public DateTime? LastUsedAt { get; set; }
}

public sealed class ApiKeyAction
{
    public required string ApiKeyId { get; set; }
    public required string ActionId { get; set; }
}

public sealed class ApiKeyOrg
{
    public required string ApiKeyId { get; set; }
    public required string OrgId { get; set; }
}

/// <summary>Server-wide values kept in the database (e.g. the check value of the server secret).</summary>
public sealed class ServerSetting
{
    public required string Key { get; set; }
    public required string Value { get; set; }
}
