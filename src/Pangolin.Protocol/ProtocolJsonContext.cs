using System.Text.Json.Serialization;
using Pangolin.Protocol.Gerbil;
using Pangolin.Protocol.Messages;

namespace Pangolin.Protocol;

/// <summary>
/// Source-generated JSON metadata for every wire type, so newt can be published AOT without reflection.
/// </summary>
/// <remarks>
/// <list type="bullet">
/// <item>camelCase names, matched case-sensitively; the odd upstream names (<c>serverIP</c>, <c>tunnelIP</c>) carry
/// <see cref="JsonPropertyNameAttribute"/>.</item>
/// <item>Lenient on input, as Go's decoder is: unknown keys are skipped (upstream newts add <c>agent</c> and more) and
/// missing keys keep defaults. This must not take the server's strict <c>UnmappedMemberHandling.Disallow</c>.</item>
/// <item>Null is written unless a property says otherwise; only fields Go tags <c>omitempty</c>, or map literals that
/// sometimes lack the key, opt out per property.</item>
/// <item>Strings, lists and nested objects read a missing key or <c>null</c> as empty (<c>init =&gt; field = value ?? ""</c>),
/// as Go leaves zero values. An initializer (<c>{ get; init; } = ""</c>) is not enough: the source generator sets every
/// init-only property when it constructs the object, so a key missing from the JSON overwrites the initializer with
/// null (tested in GoShapedInputTests).</item>
/// </list>
/// </remarks>
[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    DefaultIgnoreCondition = JsonIgnoreCondition.Never)]
[JsonSerializable(typeof(WsMessage))]
[JsonSerializable(typeof(EmptyData))]
[JsonSerializable(typeof(PingData))]
[JsonSerializable(typeof(PongData))]
[JsonSerializable(typeof(PingRequestData))]
[JsonSerializable(typeof(ExitNodesData))]
[JsonSerializable(typeof(RegisterData))]
[JsonSerializable(typeof(WgConnectData))]
[JsonSerializable(typeof(TerminateData))]
[JsonSerializable(typeof(TargetData))]
[JsonSerializable(typeof(SyncData))]
[JsonSerializable(typeof(HealthCheckAddData))]
[JsonSerializable(typeof(HealthCheckRemoveData))]
[JsonSerializable(typeof(HealthCheckIdData))]
[JsonSerializable(typeof(HealthStatusData))]
[JsonSerializable(typeof(ErrorData))]
[JsonSerializable(typeof(NewtErrorData))]
[JsonSerializable(typeof(ReceiveBandwidthData))]
[JsonSerializable(typeof(WgGetConfigData))]
[JsonSerializable(typeof(GetTokenRequest))]
[JsonSerializable(typeof(GetTokenResponse))]
[JsonSerializable(typeof(GetConfigRequest))]
[JsonSerializable(typeof(GetConfigResponse))]
[JsonSerializable(typeof(GerbilPeer))]
[JsonSerializable(typeof(IReadOnlyList<PeerBandwidth>))]
[JsonSerializable(typeof(GerbilStatusResponse))]
public sealed partial class ProtocolJsonContext : JsonSerializerContext;
