namespace Pangolin.Data.Entities;

/// <summary>
/// A TLS certificate the edge serves for one name: a host (<c>app.example.com</c>) or a one-label wildcard
/// (<c>*.example.com</c>). ACME certificates belong to their domain; uploaded ones to the org that uploaded them.
/// </summary>
public sealed class Certificate
{
    public int CertId { get; set; }

    /// <summary>The name served, lower case: a host or <c>*.</c> + a base domain.</summary>
    public required string Domain { get; set; }

    /// <summary>The org domain the name is under; null for the self-signed fallback.</summary>
    public string? DomainId { get; set; }

    /// <summary>The org that uploaded it; null for ACME and self-signed certificates.</summary>
    public string? OrgId { get; set; }

    public bool Wildcard { get; set; }

    /// <summary>One of <see cref="CertificateStatus"/>.</summary>
    public required string Status { get; set; }

    /// <summary>One of <see cref="CertificateSource"/>.</summary>
    public required string Source { get; set; }

    public DateTime? NotBefore { get; set; }
    public DateTime? NotAfter { get; set; }

    /// <summary>The chain as PEM: the leaf first, then its issuers.</summary>
    public string? ChainPem { get; set; }

    /// <summary>The private key (PKCS#8 PEM), encrypted with the server secret (SecretProtector).</summary>
    public string? KeyEncrypted { get; set; }

    public DateTime? LastAttemptAt { get; set; }
    public string? LastError { get; set; }

    /// <summary>Failed attempts since the last success: the backoff grows with it.</summary>
    public int AttemptCount { get; set; }

    public int RenewalCount { get; set; }
    public DateTime CreatedAt { get; set; }
    public DateTime UpdatedAt { get; set; }
}

public static class CertificateStatus
{
    public const string Pending = "pending";
    public const string Valid = "valid";
    public const string Expired = "expired";
    public const string Failed = "failed";
}

public static class CertificateSource
{
    public const string Acme = "acme";
    public const string Uploaded = "uploaded";
    public const string SelfSigned = "self-signed";
}
