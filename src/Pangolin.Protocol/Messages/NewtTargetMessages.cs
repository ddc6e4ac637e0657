using System.Text.Json;

namespace Pangolin.Protocol.Messages;

/// <summary>
/// Data of <c>newt/tcp/add</c>, <c>newt/tcp/remove</c>, <c>newt/udp/add</c> and <c>newt/udp/remove</c>
/// (U:newt newt/types.go <c>TargetData</c>); each string in <see cref="TargetString"/> form.
/// </summary>
public sealed record TargetData
{
    private readonly IReadOnlyList<string>? _targets;

    public IReadOnlyList<string> Targets { get => _targets ?? []; init => _targets = value; }
}

/// <summary>
/// Data of <c>newt/sync</c>: the site's whole desired state (U:newt newt/types.go <c>SyncData</c>). Peers, client
/// targets, certificates and browser-gateway targets belong to features not built here; they are sent as <c>[]</c>
/// and read raw.
/// </summary>
public sealed record SyncData
{
    private readonly TargetsByType? _proxyTargets;
    private readonly IReadOnlyList<HealthCheckConfig>? _healthCheckTargets;
    private readonly IReadOnlyList<string>? _remoteExitNodeSubnets;
    private readonly IReadOnlyList<JsonElement>? _peers;
    private readonly IReadOnlyList<JsonElement>? _clientTargets;
    private readonly IReadOnlyList<JsonElement>? _certs;
    private readonly IReadOnlyList<JsonElement>? _browserGatewayTargets;

    public TargetsByType ProxyTargets { get => _proxyTargets ?? new TargetsByType(); init => _proxyTargets = value; }

    public IReadOnlyList<HealthCheckConfig> HealthCheckTargets { get => _healthCheckTargets ?? []; init => _healthCheckTargets = value; }

    public IReadOnlyList<string> RemoteExitNodeSubnets { get => _remoteExitNodeSubnets ?? []; init => _remoteExitNodeSubnets = value; }

    public IReadOnlyList<JsonElement> Peers { get => _peers ?? []; init => _peers = value; }

    public IReadOnlyList<JsonElement> ClientTargets { get => _clientTargets ?? []; init => _clientTargets = value; }

    public IReadOnlyList<JsonElement> Certs { get => _certs ?? []; init => _certs = value; }

    public IReadOnlyList<JsonElement> BrowserGatewayTargets { get => _browserGatewayTargets ?? []; init => _browserGatewayTargets = value; }
}
