using System.Text.Json.Serialization;

namespace Pangolin.Protocol.Messages;

/// <summary>
/// Data of a keepalive. Newt 1.14+ sends <c>newt/ping</c> with data <c>{}</c> and the version on the envelope; older
/// newts send <c>ping</c> with data <c>{"configVersion": n}</c> (U:newt websocket/client.go 287eef0f, always written).
/// </summary>
public sealed record PingData
{
    /// <summary>Only older newts put the version here; null when the key is missing.</summary>
    public long? ConfigVersion { get; init; }
}

/// <summary>Data of the server's <c>pong</c>: <c>{"timestamp": "&lt;ISO-8601&gt;"}</c>.</summary>
public sealed record PongData
{
    public string Timestamp { get; init => field = value ?? ""; } = "";
}

/// <summary>
/// Data of <c>newt/ping/request</c>: newt asks for the candidate exit nodes (a Go map literal in U:newt handlers.go,
/// both keys always written; older newts sent no <c>chainId</c>).
/// </summary>
public sealed record PingRequestData
{
    public bool NoCloud { get; init; }

    /// <summary>Echoed in <c>newt/ping/exitNodes</c>; newt drops replies whose chain is not the pending one.</summary>
    public string ChainId { get; init => field = value ?? ""; } = "";
}

/// <summary>Data of <c>newt/ping/exitNodes</c> (U:newt exitnode/exitnode.go <c>ExitNodeData</c>).</summary>
public sealed record ExitNodesData
{
    private readonly IReadOnlyList<ExitNodeCandidate>? _exitNodes;

    public IReadOnlyList<ExitNodeCandidate> ExitNodes { get => _exitNodes ?? []; init => _exitNodes = value; }

    public string ChainId { get; init => field = value ?? ""; } = "";
}

/// <summary>One candidate exit node (U:newt exitnode/exitnode.go <c>ExitNode</c>).</summary>
public sealed record ExitNodeCandidate
{
    public int ExitNodeId { get; init; }

    public string ExitNodeName { get; init => field = value ?? ""; } = "";

    /// <summary>The node's host, without a port; newt pings <c>http://&lt;endpoint&gt;/ping</c>.</summary>
    public string Endpoint { get; init => field = value ?? ""; } = "";

    /// <summary><c>(max − online sites) / max</c>, or 1 without a limit.</summary>
    public double Weight { get; init; }

    public bool WasPreviouslyConnected { get; init; }
}

/// <summary>One measured exit node in <c>newt/wg/register</c> (U:newt exitnode/exitnode.go <c>ExitNodePingResult</c>).</summary>
public sealed record ExitNodePingResult
{
    public int ExitNodeId { get; init; }

    public long LatencyMs { get; init; }

    public double Weight { get; init; }

    /// <summary>
    /// The last ping error. Go tags it <c>omitempty</c>, so a healthy result has no key: null here means "no error"
    /// and is not written.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Error { get; init; }

    public string ExitNodeName { get; init => field = value ?? ""; } = "";

    public string Endpoint { get; init => field = value ?? ""; } = "";

    public bool WasPreviouslyConnected { get; init; }
}
