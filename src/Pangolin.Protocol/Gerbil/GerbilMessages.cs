using System.Text.Json.Serialization;

namespace Pangolin.Protocol.Gerbil;

/// <summary>
/// Body of <c>POST {base}/gerbil/get-config</c>. Gerbil writes <c>{"publicKey"}</c>, adding <c>reachableAt</c> only when
/// it has one (U:gerbil main.go <c>loadRemoteConfig</c>). <c>endpoint</c> and <c>listenPort</c> are what upstream's
/// remote-exit-node route reads; ours accepts them additively. Absent keys are null and not written.
/// </summary>
public sealed record GetConfigRequest
{
    public string PublicKey { get; init => field = value ?? ""; } = "";

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? ReachableAt { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public string? Endpoint { get; init; }

    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public int? ListenPort { get; init; }
}

/// <summary>
/// The get-config response, not enveloped (U:pangolin gerbil/getConfig.ts); gerbil decodes it into its
/// <c>WgConfig</c>, whose other keys (<c>privateKey</c>, <c>relayPort</c>) only a local config file fills.
/// </summary>
public sealed record GetConfigResponse
{
    private readonly IReadOnlyList<GerbilPeer>? _peers;

    public int ListenPort { get; init; }

    /// <summary>The node's tunnel address with its mask, e.g. <c>100.89.137.1/24</c>.</summary>
    public string IpAddress { get; init => field = value ?? ""; } = "";

    public IReadOnlyList<GerbilPeer> Peers { get => _peers ?? []; init => _peers = value; }
}

/// <summary>
/// A WireGuard peer of the exit node: an entry of <see cref="GetConfigResponse.Peers"/> and the body of gerbil's
/// <c>POST /peer</c> (U:gerbil main.go <c>Peer</c>).
/// </summary>
public sealed record GerbilPeer
{
    private readonly IReadOnlyList<string>? _allowedIps;

    public string PublicKey { get; init => field = value ?? ""; } = "";

    public IReadOnlyList<string> AllowedIps { get => _allowedIps ?? []; init => _allowedIps = value; }
}

/// <summary>
/// One peer's traffic since the last report, in MB (bytes / 1024²), as gerbil posts it to
/// <c>{base}/gerbil/receive-bandwidth</c> in a bare array (U:gerbil main.go <c>PeerBandwidth</c>). <c>bytesIn</c> is
/// what the node received from the site.
/// </summary>
public sealed record PeerBandwidth
{
    public string PublicKey { get; init => field = value ?? ""; } = "";

    public double BytesIn { get; init; }

    public double BytesOut { get; init; }
}

/// <summary>Gerbil's answer to <c>POST /peer</c> and <c>DELETE /peer</c>: <c>{"status": "Peer added successfully"}</c>.</summary>
public sealed record GerbilStatusResponse
{
    public string Status { get; init => field = value ?? ""; } = "";
}

/// <summary>The guards newest upstream gerbil puts on the exit-node contracts (U:gerbil main.go), shared by both sides.</summary>
public static class GerbilControl
{
    /// <summary>The response header of get-config holding the base64 Ed25519 signature of its exact body bytes.</summary>
    public const string ConfigSignatureHeader = "X-Gerbil-Config-Signature";

    /// <summary>The shortest CONTROL_API_TOKEN gerbil accepts.</summary>
    public const int MinControlApiTokenLength = 32;
}
