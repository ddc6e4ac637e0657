using System.ComponentModel.DataAnnotations;

namespace Pangolin.Server.Configuration;

/// <summary>Section "App": how the dashboard is reached and where local state lives.</summary>
public sealed class AppOptions
{
    public const string Section = "App";

    /// <summary>The public URL of the dashboard; links in e-mails and invitations point here.</summary>
    [Required, AbsoluteHttpUrl]
    public string DashboardUrl { get; set; } = "http://localhost:3000";

    /// <summary>Folder for the SQLite file, its backups and the generated server secret.</summary>
    [Required]
    public string DataDirectory { get; set; } = "./data";
}

/// <summary>Section "Server": listeners, secrets, sessions, proxies.</summary>
public sealed class ServerOptions
{
    public const string Section = "Server";

    /// <summary>Address the dashboard and integration listeners bind to.</summary>
    [Required, IpAddress]
    public string ListenAddress { get; set; } = "0.0.0.0";

    /// <summary>Address the internal API binds to (exit nodes, Badger); loopback unless exit nodes run elsewhere.</summary>
    [Required, IpAddress]
    public string InternalListenAddress { get; set; } = "127.0.0.1";

    /// <summary>Dashboard and its API under /api/v1.</summary>
    [Range(1, 65535)]
    public int ExternalPort { get; set; } = 3000;

    /// <summary>Internal API for exit nodes and Badger.</summary>
    [Range(1, 65535)]
    public int InternalPort { get; set; } = 3001;

    /// <summary>Integration API under /v1 (API keys).</summary>
    [Range(1, 65535)]
    public int IntegrationPort { get; set; } = 3003;

    /// <summary>Encrypts stored secrets (TOTP seeds). At least 32 characters; generated into the data folder when unset.</summary>
    [MinLength(32)]
    public string? Secret { get; set; }

    [Required, RegularExpression("^[A-Za-z0-9_-]{1,64}$", ErrorMessage = "must be 1–64 letters, digits, '_' or '-'")]
    public string SessionCookieName { get; set; } = "p_session_token";

    /// <summary>Dashboard session lifetime; the session slides while in use.</summary>
    [Range(1, 24 * 365)]
    public int DashboardSessionLengthHours { get; set; } = 720;

    /// <summary>Lifetime of a session on a resource made by password, PIN, e-mail code or share link.</summary>
    [Range(1, 24 * 365)]
    public int ResourceSessionLengthHours { get; set; } = 720;

    [Required, RegularExpression("^[A-Za-z0-9_-]{1,64}$", ErrorMessage = "must be 1–64 letters, digits, '_' or '-'")]
    public string ResourceAccessTokenParam { get; set; } = "p_token";

    /// <summary>Proxies (IP or CIDR) whose X-Forwarded-For and X-Forwarded-Proto are believed.</summary>
    [IpOrCidrList]
    public List<string> TrustedProxies { get; set; } = [];

    /// <summary>Origins allowed to call the dashboard API cross-origin with credentials; none by default.</summary>
    [AbsoluteHttpUrlList]
    public List<string> CorsOrigins { get; set; } = [];
}

/// <summary>Section "Database".</summary>
public sealed class DatabaseOptions
{
    public const string Section = "Database";

    /// <summary>sqlite (default, one file under the data folder) or postgres.</summary>
    [Required, RegularExpression("^(sqlite|postgres)$", ErrorMessage = "must be 'sqlite' or 'postgres'")]
    public string Provider { get; set; } = "sqlite";

    /// <summary>Empty for SQLite means {DataDirectory}/pangolin.db; required for PostgreSQL.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Copy the SQLite file aside before applying migrations.</summary>
    public bool BackupBeforeMigrate { get; set; } = true;
}

/// <summary>Section "Email": SMTP for verification, password reset, invitations and one-time codes.</summary>
public sealed class EmailOptions
{
    public const string Section = "Email";

    /// <summary>Empty disables e-mail: features that need it answer with a clear error.</summary>
    public string? SmtpHost { get; set; }

    [Range(1, 65535)]
    public int SmtpPort { get; set; } = 587;

    public string? SmtpUser { get; set; }
    public string? SmtpPassword { get; set; }

    /// <summary>auto (STARTTLS when offered), starttls, tls (implicit) or none.</summary>
    [Required, RegularExpression("^(auto|starttls|tls|none)$", ErrorMessage = "must be 'auto', 'starttls', 'tls' or 'none'")]
    public string SmtpSecurity { get; set; } = "auto";

    /// <summary>The From address.</summary>
    [EmailAddress]
    public string? NoReply { get; set; }

    public bool IsConfigured => !string.IsNullOrWhiteSpace(SmtpHost) && !string.IsNullOrWhiteSpace(NoReply);
}

/// <summary>Section "Flags".</summary>
public sealed class FlagsOptions
{
    public const string Section = "Flags";

    public bool RequireEmailVerification { get; set; }
    public bool DisableSignupWithoutInvite { get; set; }
    public bool DisableUserCreateOrg { get; set; }
    public bool AllowRawResources { get; set; } = true;
    public bool EnableIntegrationApi { get; set; } = true;
}

/// <summary>A fixed window: at most <see cref="MaxRequests"/> per <see cref="WindowMinutes"/>.</summary>
public sealed class RateLimitWindow
{
    [Range(1, 24 * 60)]
    public int WindowMinutes { get; set; } = 1;

    [Range(1, 1_000_000)]
    public int MaxRequests { get; set; } = 500;
}

/// <summary>Section "RateLimits".</summary>
public sealed class RateLimitOptions
{
    public const string Section = "RateLimits";

    public bool Enabled { get; set; } = true;

    /// <summary>Every API request, per client IP and path.</summary>
    public RateLimitWindow Global { get; set; } = new() { WindowMinutes = 1, MaxRequests = 500 };

    /// <summary>Every /api/v1/auth request, per client IP and path.</summary>
    public RateLimitWindow Auth { get; set; } = new() { WindowMinutes = 1, MaxRequests = 500 };

    /// <summary>Guesses at one secret (password, TOTP code, e-mail code, reset token, setup token), per account or IP.</summary>
    public RateLimitWindow Secrets { get; set; } = new() { WindowMinutes = 15, MaxRequests = 15 };

    /// <summary>Failed sign-ins from one IP across all accounts (password spraying); successes do not count.</summary>
    public RateLimitWindow LoginFailuresPerIp { get; set; } = new() { WindowMinutes = 15, MaxRequests = 100 };
}

/// <summary>One entry of section "Domains": a base domain the server offers to every org.</summary>
public sealed class ConfigDomain
{
    [Required, DomainName]
    public string BaseDomain { get; set; } = "";

    public string? CertResolver { get; set; }
    public bool PreferWildcardCert { get; set; }
}

/// <summary>Section "Orgs": subnets given to new orgs when the request names none.</summary>
public sealed class OrgOptions
{
    public const string Section = "Orgs";

    [Required, Cidr]
    public string SubnetGroup { get; set; } = "100.90.128.0/20";

    [Range(8, 30)]
    public int BlockSize { get; set; } = 24;

    [Required, Cidr]
    public string UtilitySubnetGroup { get; set; } = "100.96.128.0/20";
}

/// <summary>Section "Gerbil": the exit node embedded in this process, and the addressing of every exit node.</summary>
public sealed class GerbilOptions
{
    public const string Section = "Gerbil";

    /// <summary>Runs a userspace WireGuard exit node in this process; off when only standalone gerbils serve sites.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>UDP port the embedded node listens on; sites dial it. 0 takes a free port at each start (tests).</summary>
    [Range(0, 65535)]
    public int ListenPort { get; set; } = 51820;

    /// <summary>Host (name or IP, no port) that sites dial; empty means the host of App:DashboardUrl.</summary>
    [HostOrIp]
    public string? BaseEndpoint { get; set; }

    /// <summary>Pool from which every exit node gets its network; checked by GerbilValidator, which (as upstream) accepts host bits.</summary>
    [Required]
    public string SubnetGroup { get; set; } = "100.89.137.0/20";

    /// <summary>Prefix length of each exit node's network; the node takes its first address.</summary>
    [Range(8, 29)]
    public int BlockSize { get; set; } = 24;

    /// <summary>Prefix length of each site's block inside its node's network (a node of /24 with /30 sites holds 63).</summary>
    [Range(9, 32)]
    public int SiteBlockSize { get; set; } = 30;

    [Required, TextLength(1, 255)]
    public string ExitNodeName { get; set; } = "embedded";

    /// <summary>MTU of the tunnel interface on the node.</summary>
    [Range(1280, 9000)]
    public int Mtu { get; set; } = 1280;

    /// <summary>Start of the relay ports sent to newts (upstream's clients port); kept for wire compatibility.</summary>
    [Range(1, 65535)]
    public int ClientsStartPort { get; set; } = 21820;

    /// <summary>How often counted bandwidth is written to the sites table.</summary>
    [Range(1, 3600)]
    public int BandwidthFlushSeconds { get; set; } = 60;

    /// <summary>
    /// Sent as <c>Authorization: Bearer</c> on every call to a standalone gerbil's peer API: its CONTROL_API_TOKEN.
    /// At least 32 characters (checked by GerbilValidator, which does not echo it); unset sends none.
    /// </summary>
    public string? ControlApiToken { get; set; }

    /// <summary>
    /// Ed25519 private key that signs every get-config answer (X-Gerbil-Config-Signature); gerbil's
    /// REMOTE_CONFIG_SIGNING_KEY is its public key, logged at start. Base64 of the 32-byte seed, or PEM (PKCS#8, as
    /// <c>openssl genpkey -algorithm ed25519</c> writes it). Unset: answers go unsigned.
    /// </summary>
    public string? ConfigSigningKey { get; set; }
}

/// <summary>Section "Newt": connector sessions and presence.</summary>
public sealed class NewtOptions
{
    public const string Section = "Newt";

    /// <summary>Lifetime of a token from get-token; a newt only needs one to open its WebSocket.</summary>
    [Range(1, 24 * 60)]
    public int TokenLifetimeMinutes { get; set; } = 15;

    /// <summary>A site with an open WebSocket but no ping for this long is shown offline.</summary>
    [Range(30, 24 * 3600)]
    public int OfflineAfterSeconds { get; set; } = 120;
}
