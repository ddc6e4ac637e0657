using System.Text.Json;
using System.Text.Json.Serialization;

namespace Pangolin.Protocol.Messages;

/// <summary>
/// Data of <c>newt/wg/register</c>. Newt builds it as a Go map literal, so the key set depends on the call
/// (U:newt newt/handlers.go): the real registration carries <c>publicKey, pingResults, newtVersion, chainId</c>; the
/// compatibility one sent on every connect carries <c>publicKey, backwardsCompatible: true, chainId</c> and must be
/// ignored by the server. Absent keys are null here and are not written.
/// </summary>
public sealed record RegisterData
{
    /// <summary>Newt's WireGuard public key, base64.</summary>
    public string PublicKey { get; init => field = value ?? ""; } = "";

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<ExitNodePingResult>? PingResults { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? NewtVersion { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public bool? BackwardsCompatible { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ChainId { get; init; }

    /// <summary>
    /// Which implementation registers (ours: "pangolin-dotnet-newt"). Not sent by upstream newts and ignored by
    /// upstream servers (their schema is not strict); ours uses it to know that a newt understands <c>newt/sync</c>.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Agent { get; init; }
}

/// <summary>Targets split by protocol, strings in <see cref="TargetString"/> form (U:newt newt/types.go <c>TargetsByType</c>).</summary>
public sealed record TargetsByType
{
    private readonly IReadOnlyList<string>? _udp;
    private readonly IReadOnlyList<string>? _tcp;

    public IReadOnlyList<string> Udp { get => _udp ?? []; init => _udp = value; }

    public IReadOnlyList<string> Tcp { get => _tcp ?? []; init => _tcp = value; }
}

/// <summary>
/// Data of <c>newt/wg/connect</c> (U:newt newt/types.go <c>WgData</c>). Lists are never written as null: a Go
/// decoder copes with null, but the fixtures pin <c>[]</c> and older newts range over them.
/// </summary>
public sealed record WgConnectData
{
    private readonly TargetsByType? _targets;
    private readonly IReadOnlyList<HealthCheckConfig>? _healthCheckTargets;
    private readonly IReadOnlyList<JsonElement>? _browserGatewayTargets;
    private readonly IReadOnlyList<string>? _remoteExitNodeSubnets;

    /// <summary>The exit node's <c>host:port</c>, IPv6 bracketed.</summary>
    public string Endpoint { get; init => field = value ?? ""; } = "";

    /// <summary>Go <c>uint16</c>; newt uses 21820 when it is 0.</summary>
    public ushort RelayPort { get; init; }

    /// <summary>The exit node's WireGuard public key, base64.</summary>
    public string PublicKey { get; init => field = value ?? ""; } = "";

    /// <summary>The exit node's tunnel address without a mask.</summary>
    [JsonPropertyName("serverIP")]
    public string ServerIp { get; init => field = value ?? ""; } = "";

    /// <summary>The site's tunnel address without a mask.</summary>
    [JsonPropertyName("tunnelIP")]
    public string TunnelIp { get; init => field = value ?? ""; } = "";

    public TargetsByType Targets { get => _targets ?? new TargetsByType(); init => _targets = value; }

    public IReadOnlyList<HealthCheckConfig> HealthCheckTargets { get => _healthCheckTargets ?? []; init => _healthCheckTargets = value; }

    /// <summary>Not built here; kept raw so a newer server's entries survive a read.</summary>
    public IReadOnlyList<JsonElement> BrowserGatewayTargets { get => _browserGatewayTargets ?? []; init => _browserGatewayTargets = value; }

    public IReadOnlyList<string> RemoteExitNodeSubnets { get => _remoteExitNodeSubnets ?? []; init => _remoteExitNodeSubnets = value; }

    /// <summary>The <c>chainId</c> of the registration this answers.</summary>
    public string ChainId { get; init => field = value ?? ""; } = "";
}

/// <summary>
/// Data of <c>newt/wg/terminate</c>: <c>{}</c> normally, <c>{"reason"}</c> from upstream's usage-limit path (a TS
/// literal that only sometimes has the key, so null is not written).
/// </summary>
public sealed record TerminateData
{
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Reason { get; init; }
}
