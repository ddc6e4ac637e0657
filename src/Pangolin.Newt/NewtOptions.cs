using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Pangolin.Newt.Control;

namespace Pangolin.Newt;

/// <summary>Upstream newt's log levels (<c>--log-level</c>, <c>LOG_LEVEL</c>).</summary>
internal enum NewtLogLevel
{
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

/// <summary>
/// newt's settings after flags, environment variables and defaults are merged and validated (see
/// <see cref="CommandLine"/>). Defaults are upstream newt's. <see cref="ToString"/> never shows the secret.
/// </summary>
internal sealed record NewtOptions
{
    public const int DefaultMtu = 1280;
    public const int MinMtu = 576;
    public const int MaxMtu = 9000;
    public const string DefaultDns = "9.9.9.9";
    public const string DefaultInterfaceName = "newt";
    public const string DefaultMetricsAddress = "127.0.0.1:2112";
    public static readonly TimeSpan DefaultPingInterval = TimeSpan.FromSeconds(3);
    public static readonly TimeSpan DefaultPingTimeout = TimeSpan.FromSeconds(5);
    public static readonly TimeSpan DefaultUdpProxyIdleTimeout = TimeSpan.FromSeconds(90);

    /// <summary>The site's newt id (<c>--id</c>, <c>NEWT_ID</c>).</summary>
    public required string Id { get; init; }

    /// <summary>The site's secret (<c>--secret</c>, <c>NEWT_SECRET</c>); never logged or printed.</summary>
    public required string Secret { get; init; }

    /// <summary>The Pangolin server's base URL, http or https (<c>--endpoint</c>, <c>PANGOLIN_ENDPOINT</c>).</summary>
    public required Uri Endpoint { get; init; }

    public int Mtu { get; init; } = DefaultMtu;

    /// <summary>DNS server for names resolved inside the tunnel; targets are resolved by the host, so none are today.</summary>
    public string Dns { get; init; } = DefaultDns;

    public NewtLogLevel LogLevel { get; init; } = NewtLogLevel.Info;

    public TimeSpan PingInterval { get; init; } = DefaultPingInterval;

    public TimeSpan PingTimeout { get; init; } = DefaultPingTimeout;

    /// <summary>A kernel TUN for the main tunnel instead of the userspace netstack (<c>--native</c>, <c>--native-main</c>).</summary>
    public bool Native { get; init; }

    /// <summary>The TUN device's name in native mode.</summary>
    public string InterfaceName { get; init; } = DefaultInterfaceName;

    /// <summary>Written with "ok" while the tunnel is up and deleted when it goes down; null when not asked for.</summary>
    public string? HealthFile { get; init; }

    public bool Metrics { get; init; }

    /// <summary>host:port of the Prometheus <c>/metrics</c> listener.</summary>
    public string MetricsAddress { get; init; } = DefaultMetricsAddress;

    /// <summary>Script run as <c>script add|remove tcp|udp host:port</c>; its output replaces the target.</summary>
    public string? UpDownScript { get; init; }

    /// <summary>The client certificate (mTLS) and the trusted roots for get-token and the WebSocket, loaded.</summary>
    public ServerTls ServerTls { get; init; } = ServerTls.Default;

    /// <summary>Verify health-check targets' TLS certificates (upstream does not by default).</summary>
    public bool EnforceHealthCheckCert { get; init; }

    public TimeSpan UdpProxyIdleTimeout { get; init; } = DefaultUdpProxyIdleTimeout;

    /// <summary>host:port to use for the exit node instead of the endpoint the server names.</summary>
    public string? PreferEndpoint { get; init; }

    public LogLevel MinimumLogLevel => LogLevel switch
    {
        NewtLogLevel.Debug => Microsoft.Extensions.Logging.LogLevel.Debug,
        NewtLogLevel.Info => Microsoft.Extensions.Logging.LogLevel.Information,
        NewtLogLevel.Warn => Microsoft.Extensions.Logging.LogLevel.Warning,
        NewtLogLevel.Error => Microsoft.Extensions.Logging.LogLevel.Error,
        _ => Microsoft.Extensions.Logging.LogLevel.Critical,
    };

    /// <summary>One setting per line, as <c>--print-config</c> shows them; the secret only as whether it is set.</summary>
    public string Summary()
    {
        var text = new StringBuilder();
        void Line(string name, string? value) =>
            text.Append(CultureInfo.InvariantCulture, $"{name,-24}{(string.IsNullOrEmpty(value) ? "(none)" : value)}\n");
        Line("id", Id);
        Line("secret", "(set, not shown)");
        Line("endpoint", Endpoint.ToString());
        Line("mtu", Mtu.ToString(CultureInfo.InvariantCulture));
        Line("dns", Dns);
        Line("log-level", LogLevel.ToString().ToUpperInvariant());
        Line("ping-interval", GoDuration.Format(PingInterval));
        Line("ping-timeout", GoDuration.Format(PingTimeout));
        Line("native", Native ? "true" : "false");
        Line("interface", InterfaceName);
        Line("health-file", HealthFile);
        Line("metrics", Metrics ? "true" : "false");
        Line("metrics-address", MetricsAddress);
        Line("updown", UpDownScript);
        Line("tls-client-cert-file", ServerTls.CertificateFile);
        Line("tls-client-key", ServerTls.KeyFile);
        Line("tls-client-ca", string.Join(',', ServerTls.CaFiles));
        Line("tls-client-cert", ServerTls.Pkcs12File);
        Line("skip-tls-verify", ServerTls.SkipVerify ? "true" : "false");
        Line("enforce-hc-cert", EnforceHealthCheckCert ? "true" : "false");
        Line("udp-proxy-idle-timeout", GoDuration.Format(UdpProxyIdleTimeout));
        Line("prefer-endpoint", PreferEndpoint);
        return text.ToString();
    }

    // A record prints every property; this one must not print the secret.
    private bool PrintMembers(StringBuilder builder)
    {
        builder.Append(CultureInfo.InvariantCulture, $"Id = {Id}, Secret = ***, Endpoint = {Endpoint}, Mtu = {Mtu}, LogLevel = {LogLevel}, Native = {Native}");
        return true;
    }
}
