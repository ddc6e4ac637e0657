namespace Pangolin.Data.Entities;

/// <summary>A place whose services are published: reached through a Newt, a plain WireGuard peer, or locally.</summary>
public sealed class Site
{
    public int SiteId { get; set; }
    public required string OrgId { get; set; }
    public required string NiceId { get; set; }
    public int? ExitNodeId { get; set; }
    public required string Name { get; set; }
    public string? PubKey { get; set; }

    /// <summary>The site's block in the exit node's subnet (e.g. 100.89.137.4/30).</summary>
    public string? Subnet { get; set; }

    /// <summary>The site's address in the org subnet.</summary>
    public string? Address { get; set; }
    public double MegabytesIn { get; set; }
    public double MegabytesOut { get; set; }
    public DateTime? LastBandwidthUpdate { get; set; }

    /// <summary>newt, wireguard or local.</summary>
    public required string Type { get; set; }
    public bool Online { get; set; }
    public DateTime? LastPing { get; set; }
    public string? Endpoint { get; set; }
    public string? PublicIp { get; set; }
    public DateTime? LastHolePunch { get; set; }
    public int? ListenPort { get; set; }
    public bool DockerSocketEnabled { get; set; }

    /// <summary>approved or pending.</summary>
    public string Status { get; set; } = "approved";
    public DateTime CreatedAt { get; set; }
}

/// <summary>The credentials of a site's connector; the secret is stored hashed.</summary>
public sealed class Newt
{
    public required string NewtId { get; set; }
    public required string SecretHash { get; set; }
    public DateTime DateCreated { get; set; }
    public string? Version { get; set; }

    /// <summary>The connector's implementation as it reports itself (e.g. "pangolin-dotnet-newt"; upstream: "newt").</summary>
    public string? Agent { get; set; }
    public string? AgentVersion { get; set; }
    public int? SiteId { get; set; }
}

/// <summary>A connector session token (hashed), issued by get-token.</summary>
public sealed class NewtSession
{
    public required string SessionId { get; set; }
    public required string NewtId { get; set; }
    public DateTime ExpiresAt { get; set; }
}

/// <summary>A WireGuard endpoint that sites dial: embedded in the server or a remote gerbil.</summary>
public sealed class ExitNode
{
    public int ExitNodeId { get; set; }
    public required string Name { get; set; }

    /// <summary>The node's tunnel address and subnet in CIDR form (e.g. 100.89.137.1/24).</summary>
    public required string Address { get; set; }
    public required string Endpoint { get; set; }
    public string? PublicKey { get; set; }
    public int ListenPort { get; set; }
    public string? ReachableAt { get; set; }
    public bool Online { get; set; }
    public DateTime? LastPing { get; set; }

    /// <summary>gerbil (embedded or standalone) or remoteExitNode.</summary>
    public string Type { get; set; } = "gerbil";
    public string? Region { get; set; }
    public int? MaxConnections { get; set; }

    /// <summary>The node runs inside this server process and is changed in process, not over its HTTP API.</summary>
    public bool Embedded { get; set; }

    /// <summary>The embedded node's WireGuard private key, encrypted with the server secret; null for remote nodes.</summary>
    public string? PrivateKeyProtected { get; set; }
}
