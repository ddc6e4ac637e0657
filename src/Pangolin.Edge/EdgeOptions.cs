using System.ComponentModel.DataAnnotations;

namespace Pangolin.Edge;

/// <summary>The edge's settings (configuration section <c>Edge</c>).</summary>
public sealed class EdgeOptions
{
    public const string Section = "Edge";

    /// <summary>The plain-HTTP port for resources (80 in production; 0 turns it off).</summary>
    public int HttpPort { get; set; } = 8080;

    /// <summary>The HTTPS port for resources (443 in production; 0 turns it off, and with it the redirect to HTTPS).</summary>
    public int HttpsPort { get; set; } = 8443;

    /// <summary>
    /// The HTTPS port clients reach when it is not <see cref="HttpsPort"/> itself: a port forward or a container's
    /// published port (443 to 8443). The redirect from plain HTTP names it. 0: <see cref="HttpsPort"/>.
    /// </summary>
    [Range(0, 65535)]
    public int PublicHttpsPort { get; set; }

    /// <summary>The port that redirects to HTTPS name.</summary>
    public int RedirectHttpsPort => PublicHttpsPort > 0 ? PublicHttpsPort : HttpsPort;

    /// <summary>Strict-Transport-Security on HTTPS responses of SSL resources.</summary>
    public EdgeHstsOptions Hsts { get; set; } = new();

    /// <summary>The name of the resource session cookie (upstream's <c>p_session_token</c>); <c>_s</c> is appended for SSL resources.</summary>
    public string SessionCookieName { get; set; } = "p_session_token";

    /// <summary>The query parameter that carries a share-link token (upstream's <c>p_token</c>).</summary>
    public string AccessTokenParam { get; set; } = "p_token";

    /// <summary>
    /// The query parameter that brings a sign-in's single-use request token back from the sign-in page (upstream's
    /// <c>resource_session_request_param</c>); the edge exchanges it for the session cookie.
    /// </summary>
    public string SessionRequestParam { get; set; } = "resource_session_request_param";

    /// <summary>Whether a query parameter carries a secret (a share-link token or a sign-in's request token): never logged.</summary>
    public bool IsSecretQueryParam(string name) =>
        string.Equals(name, AccessTokenParam, StringComparison.Ordinal) || string.Equals(name, SessionRequestParam, StringComparison.Ordinal);

    /// <summary>A path on every resource's host that ends its session there (empty: none); it never reaches the targets.</summary>
    public string SignOutPath { get; set; } = "/__pangolin/sign-out";

    /// <summary>A MaxMind country database (GeoLite2-Country or GeoIP2-Country .mmdb) for COUNTRY rules; none: they never match.</summary>
    public string? GeoIpCountryDatabase { get; set; }

    /// <summary>A MaxMind ASN database (GeoLite2-ASN .mmdb) for ASN rules; none: they never match.</summary>
    public string? GeoIpAsnDatabase { get; set; }

    /// <summary>How long the request log keeps access decisions, in days; 0 keeps them forever.</summary>
    public int RequestLogRetentionDays { get; set; } = 7;

    /// <summary>The public base URL of the dashboard, where sign-in pages live (redirect targets are built on it).</summary>
    public string DashboardUrl { get; set; } = "http://localhost:3000";
}

/// <summary>The edge's HSTS header (RFC 6797), off unless a max-age is set.</summary>
public sealed class EdgeHstsOptions
{
    /// <summary>The header's max-age in seconds; 0 sends no header.</summary>
    public int MaxAgeSeconds { get; set; }

    /// <summary>Adds includeSubDomains: only for domains whose every subdomain is served over HTTPS.</summary>
    public bool IncludeSubDomains { get; set; }
}
