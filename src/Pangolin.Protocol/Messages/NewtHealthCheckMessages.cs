using System.Text.Json.Serialization;

namespace Pangolin.Protocol.Messages;

/// <summary>
/// One health check as newt runs it (U:newt healthcheck/healthcheck.go <c>Config</c>, the version with thresholds).
/// Go writes every key: <c>hcFollowRedirects</c> is a <c>*bool</c> and <c>hcHeaders</c> a map, so both can be
/// <c>null</c>; newt then follows redirects and sends no extra headers. Zero values mean "newt's default" (scheme and
/// mode http, method GET, intervals 30 s, timeout 5 s, thresholds 1). An upstream server fills it from nullable
/// columns, so ints and strings read <c>null</c> as Go does: as 0 and "" (<see cref="GoInt32Converter"/>).
/// </summary>
public sealed record HealthCheckConfig
{
    /// <summary>The server's <c>TargetHealthCheckId</c> (older servers sent the target id).</summary>
    public int Id { get; init; }

    public bool HcEnabled { get; init; }

    public string HcPath { get; init => field = value ?? ""; } = "";

    public string HcScheme { get; init => field = value ?? ""; } = "";

    /// <summary><c>http</c> or <c>tcp</c>.</summary>
    public string HcMode { get; init => field = value ?? ""; } = "";

    public string HcHostname { get; init => field = value ?? ""; } = "";

    [JsonConverter(typeof(GoInt32Converter))]
    public int HcPort { get; init; }

    /// <summary>Seconds.</summary>
    [JsonConverter(typeof(GoInt32Converter))]
    public int HcInterval { get; init; }

    /// <summary>Seconds.</summary>
    [JsonConverter(typeof(GoInt32Converter))]
    public int HcUnhealthyInterval { get; init; }

    /// <summary>Seconds.</summary>
    [JsonConverter(typeof(GoInt32Converter))]
    public int HcTimeout { get; init; }

    /// <summary>Header name to value; a map on the wire (the server's database keeps a list of pairs).</summary>
    public IReadOnlyDictionary<string, string>? HcHeaders { get; init; }

    /// <summary>Null means "follow" (Go's nil <c>*bool</c>).</summary>
    public bool? HcFollowRedirects { get; init; }

    public string HcMethod { get; init => field = value ?? ""; } = "";

    /// <summary>The expected HTTP status; 0 means any 2xx.</summary>
    [JsonConverter(typeof(GoInt32Converter))]
    public int HcStatus { get; init; }

    public string HcTlsServerName { get; init => field = value ?? ""; } = "";

    [JsonConverter(typeof(GoInt32Converter))]
    public int HcHealthyThreshold { get; init; }

    [JsonConverter(typeof(GoInt32Converter))]
    public int HcUnhealthyThreshold { get; init; }
}

/// <summary>Data of <c>newt/healthcheck/add</c>: <c>{"targets": [config]}</c>; a config replaces one with the same id.</summary>
public sealed record HealthCheckAddData
{
    private readonly IReadOnlyList<HealthCheckConfig>? _targets;

    public IReadOnlyList<HealthCheckConfig> Targets { get => _targets ?? []; init => _targets = value; }
}

/// <summary>Data of <c>newt/healthcheck/remove</c>: <c>{"ids": [int]}</c>.</summary>
public sealed record HealthCheckRemoveData
{
    private readonly IReadOnlyList<int>? _ids;

    public IReadOnlyList<int> Ids { get => _ids ?? []; init => _ids = value; }
}

/// <summary>Data of <c>newt/healthcheck/enable</c> and <c>newt/healthcheck/disable</c>: <c>{"id": int}</c>.</summary>
public sealed record HealthCheckIdData
{
    public int Id { get; init; }
}

/// <summary>
/// Data of newt's <c>newt/healthcheck/status</c>: every check by id. Go's <c>map[int]</c> writes the ids as string
/// keys (U:newt newt.go, the health monitor callback).
/// </summary>
public sealed record HealthStatusData
{
    private readonly IReadOnlyDictionary<int, HealthCheckStatus>? _targets;

    public IReadOnlyDictionary<int, HealthCheckStatus> Targets
    {
        get => _targets ?? new Dictionary<int, HealthCheckStatus>();
        init => _targets = value;
    }
}

/// <summary>One check's state. A Go map literal: every key is always written, <c>lastError</c> as <c>""</c> when none.</summary>
public sealed record HealthCheckStatus
{
    /// <summary>One of <see cref="HealthStates"/>.</summary>
    public string Status { get; init => field = value ?? HealthStates.Unknown; } = HealthStates.Unknown;

    /// <summary>RFC 3339, as Go's <c>time.RFC3339</c> writes it.</summary>
    public string LastCheck { get; init => field = value ?? ""; } = "";

    public int CheckCount { get; init; }

    public string LastError { get; init => field = value ?? ""; } = "";

    public HealthCheckConfig Config { get; init => field = value ?? new HealthCheckConfig(); } = new();
}

/// <summary>The <c>status</c> strings of <see cref="HealthCheckStatus"/> (U:newt healthcheck.go <c>Health.String</c>).</summary>
public static class HealthStates
{
    public const string Unknown = "unknown";
    public const string Healthy = "healthy";
    public const string Unhealthy = "unhealthy";
}
