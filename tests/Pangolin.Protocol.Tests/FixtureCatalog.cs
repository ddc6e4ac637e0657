using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization.Metadata;
using Pangolin.Protocol.Gerbil;
using Pangolin.Protocol.Messages;

namespace Pangolin.Protocol.Tests;

/// <summary>
/// For each golden fixture, the value our records must produce, and a round trip through our decoder. The values
/// here are written independently of the fixture files (which come from upstream's struct tags and literals), so a
/// renamed property, a changed type or a lost null shows up as a difference.
/// </summary>
internal static class FixtureCatalog
{
    public const string NewtKey = "hJ0nYtNqfNLmUj4t3wC3vlB0WkvC0x8V7wqQj4l1XmI=";
    public const string NodeKey = "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=";

    public static readonly HealthCheckConfig HttpCheck = new()
    {
        Id = 7,
        HcEnabled = true,
        HcPath = "/health",
        HcScheme = "http",
        HcMode = "http",
        HcHostname = "10.0.0.5",
        HcPort = 8080,
        HcInterval = 30,
        HcUnhealthyInterval = 10,
        HcTimeout = 5,
        HcHeaders = new Dictionary<string, string> { ["Host"] = "app.example.com" },
        HcFollowRedirects = null,
        HcMethod = "GET",
        HcStatus = 0,
        HcTlsServerName = "",
        HcHealthyThreshold = 2,
        HcUnhealthyThreshold = 3,
    };

    public static readonly HealthCheckConfig TcpCheck = new()
    {
        Id = 8,
        HcEnabled = true,
        HcMode = "tcp",
        HcHostname = "fd00::5",
        HcPort = 5432,
        HcInterval = 15,
        HcUnhealthyInterval = 15,
        HcTimeout = 3,
        HcHeaders = null,
        HcFollowRedirects = false,
        HcStatus = 204,
        HcTlsServerName = "db.internal",
        HcHealthyThreshold = 1,
        HcUnhealthyThreshold = 1,
    };

    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    private static readonly Dictionary<string, FixtureCase> Cases = new FixtureCase[]
    {
        Ws("newt-ping.json", MessageTypes.NewtPing, new EmptyData(), Json.EmptyData, 5),
        Ws("ping-legacy.json", MessageTypes.LegacyPing, new PingData { ConfigVersion = 3 }, Json.PingData, null),
        Ws("pong.json", MessageTypes.Pong, new PongData { Timestamp = "2026-01-02T03:04:05.678Z" }, Json.PongData, 5),
        Ws("newt-ping-request.json", MessageTypes.NewtPingRequest,
            new PingRequestData { NoCloud = false, ChainId = "9f2c4a7e1b3d5f60" }, Json.PingRequestData, null),
        Ws("newt-ping-exitNodes.json", MessageTypes.NewtPingExitNodes, new ExitNodesData
        {
            ExitNodes =
            [
                new ExitNodeCandidate { ExitNodeId = 1, ExitNodeName = "node-a", Endpoint = "pangolin.example.com", Weight = 1, WasPreviouslyConnected = true },
                new ExitNodeCandidate { ExitNodeId = 2, ExitNodeName = "node-b", Endpoint = "2001:db8::1", Weight = 0.25, WasPreviouslyConnected = false },
            ],
            ChainId = "9f2c4a7e1b3d5f60",
        }, Json.ExitNodesData, 0),
        Ws("newt-wg-register.json", MessageTypes.NewtWgRegister, new RegisterData
        {
            PublicKey = NewtKey,
            PingResults =
            [
                new ExitNodePingResult { ExitNodeId = 1, LatencyMs = 12, Weight = 1, ExitNodeName = "node-a", Endpoint = "pangolin.example.com", WasPreviouslyConnected = true },
                new ExitNodePingResult
                {
                    ExitNodeId = 2, LatencyMs = 0, Weight = 0.25, Error = "Get \"http://[2001:db8::1]/ping\": context deadline exceeded",
                    ExitNodeName = "node-b", Endpoint = "2001:db8::1", WasPreviouslyConnected = false,
                },
            ],
            NewtVersion = "1.14.2",
            ChainId = "0c1d2e3f40516273",
        }, Json.RegisterData, 5),
        Ws("newt-wg-register-backwards-compatible.json", MessageTypes.NewtWgRegister,
            new RegisterData { PublicKey = NewtKey, BackwardsCompatible = true, ChainId = "aabbccddeeff0011" }, Json.RegisterData, null),
        Ws("newt-wg-connect.json", MessageTypes.NewtWgConnect, new WgConnectData
        {
            Endpoint = "pangolin.example.com:51820",
            RelayPort = 21820,
            PublicKey = NodeKey,
            ServerIp = "100.89.137.1",
            TunnelIp = "100.89.137.4",
            Targets = new TargetsByType { Udp = ["40002:10.0.0.6:53"], Tcp = ["40001:10.0.0.5:8080", "40003:[fd00::5]:5432"] },
            HealthCheckTargets = [HttpCheck, TcpCheck],
            ChainId = "0c1d2e3f40516273",
        }, Json.WgConnectData, 5),
        Ws("newt-wg-reconnect.json", MessageTypes.NewtWgReconnect, new EmptyData(), Json.EmptyData, 5),
        Ws("newt-wg-terminate.json", MessageTypes.NewtWgTerminate, new TerminateData { Reason = "Usage limit exceeded" }, Json.TerminateData, 5),
        Ws("newt-tcp-add.json", MessageTypes.NewtTcpAdd,
            new TargetData { Targets = ["40001:10.0.0.5:8080", "40003:[fd00::5]:5432"] }, Json.TargetData, 6),
        Ws("newt-udp-remove.json", MessageTypes.NewtUdpRemove, new TargetData { Targets = ["40002:10.0.0.6:53"] }, Json.TargetData, 7),
        Ws("newt-sync.json", MessageTypes.NewtSync, new SyncData
        {
            ProxyTargets = new TargetsByType { Udp = ["40002:10.0.0.6:53"], Tcp = ["40001:10.0.0.5:8080"] },
            HealthCheckTargets = [HttpCheck],
        }, Json.SyncData, 7),
        Ws("newt-healthcheck-add.json", MessageTypes.NewtHealthCheckAdd, new HealthCheckAddData { Targets = [HttpCheck] }, Json.HealthCheckAddData, 8),
        Ws("newt-healthcheck-remove.json", MessageTypes.NewtHealthCheckRemove, new HealthCheckRemoveData { Ids = [7, 8] }, Json.HealthCheckRemoveData, 9),
        Ws("newt-healthcheck-enable.json", MessageTypes.NewtHealthCheckEnable, new HealthCheckIdData { Id = 7 }, Json.HealthCheckIdData, 10),
        Ws("newt-healthcheck-status-request.json", MessageTypes.NewtHealthCheckStatusRequest, new EmptyData(), Json.EmptyData, 10),
        Ws("newt-healthcheck-status.json", MessageTypes.NewtHealthCheckStatus, new HealthStatusData
        {
            Targets = new Dictionary<int, HealthCheckStatus>
            {
                [7] = new() { Status = HealthStates.Healthy, LastCheck = "2026-01-02T03:04:05Z", CheckCount = 4, LastError = "", Config = HttpCheck },
                [8] = new()
                {
                    Status = HealthStates.Unhealthy, LastCheck = "2026-01-02T03:04:06+01:00", CheckCount = 2,
                    LastError = "TCP dial failed: connection refused", Config = TcpCheck,
                },
            },
        }, Json.HealthStatusData, 10),
        Ws("error.json", MessageTypes.Error, new ErrorData
        {
            Message = "Error handling message",
            OriginalMessage = "{\"type\":\"newt/wg/register\",\"data\":{}}",
        }, Json.ErrorData, 5),
        Ws("newt-error.json", MessageTypes.NewtError, new NewtErrorData
        {
            Code = MessageTypes.ErrorCodeNoAvailableSubnet,
            Message = "No available subnet on exit node 1; raise Gerbil:BlockSize",
        }, Json.NewtErrorData, 5),
        Ws("newt-disconnecting.json", MessageTypes.NewtDisconnecting, new EmptyData(), Json.EmptyData, 10),
        Ws("newt-receive-bandwidth.json", MessageTypes.NewtReceiveBandwidth, new ReceiveBandwidthData
        {
            BandwidthData = [new PeerBandwidth { PublicKey = NewtKey, BytesIn = 0.5, BytesOut = 1.25 }],
        }, Json.ReceiveBandwidthData, 10),
        Ws("newt-wg-get-config.json", MessageTypes.NewtWgGetConfig,
            new WgGetConfigData { PublicKey = NewtKey, Port = 41234, ChainId = "1122334455667788" }, Json.WgGetConfigData, null),
        Body("get-token-request.json",
            new GetTokenRequest { NewtId = "7x3k9q2m5w8p1r4t", Secret = "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr" }, Json.GetTokenRequest),
        Body("get-token-response.json", new GetTokenResponse
        {
            Data = new GetTokenData { Token = "a3f1c2e4b5d6a7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70", ServerVersion = "0.1.0" },
            Success = true,
            Error = false,
            Message = "Token created successfully",
            Status = 200,
        }, Json.GetTokenResponse),
        Body("gerbil-get-config-request.json", new GetConfigRequest { PublicKey = NodeKey, ReachableAt = "http://gerbil:3003" }, Json.GetConfigRequest),
        Body("gerbil-get-config-response.json", new GetConfigResponse
        {
            ListenPort = 51820,
            IpAddress = "100.89.137.1/24",
            Peers = [new GerbilPeer { PublicKey = NewtKey, AllowedIps = ["100.89.137.4/30"] }],
        }, Json.GetConfigResponse),
        Body("gerbil-peer.json", new GerbilPeer { PublicKey = NewtKey, AllowedIps = ["100.89.137.4/30"] }, Json.GerbilPeer),
        Body<IReadOnlyList<PeerBandwidth>>("gerbil-receive-bandwidth.json",
        [
            new PeerBandwidth { PublicKey = NewtKey, BytesIn = 0.75, BytesOut = 12.5 },
            new PeerBandwidth { PublicKey = NodeKey, BytesIn = 0, BytesOut = 0 },
        ], Json.IReadOnlyListPeerBandwidth),
        Body("gerbil-peer-status.json", new GerbilStatusResponse { Status = "Peer added successfully" }, Json.GerbilStatusResponse),
    }.ToDictionary(c => c.File, StringComparer.Ordinal);

    public static IEnumerable<string> Names => Cases.Keys.Order(StringComparer.Ordinal);

    public static TheoryData<string> NameData => new(Names);

    public static FixtureCase Get(string file) => Cases[file];

    private static FixtureCase Ws<T>(string file, string type, T data, JsonTypeInfo<T> info, long? configVersion) =>
        new(
            file,
            () => JsonSerializer.SerializeToNode(WsMessage.Create(type, data, info, configVersion), Json.WsMessage),
            bytes =>
            {
                var message = Frames.Decode(bytes, isBinary: false);
                var decoded = message.GetData(info);
                return JsonSerializer.SerializeToNode(WsMessage.Create(message.Type, decoded!, info, message.ConfigVersion), Json.WsMessage);
            });

    private static FixtureCase Body<T>(string file, T value, JsonTypeInfo<T> info) =>
        new(
            file,
            () => JsonSerializer.SerializeToNode(value, info),
            bytes => JsonSerializer.SerializeToNode(JsonSerializer.Deserialize(bytes, info)!, info));
}

/// <summary>One fixture: how our records write it, and how a decode-then-encode of the file comes out.</summary>
internal sealed record FixtureCase(string File, Func<JsonNode?> Serialize, Func<byte[], JsonNode?> RoundTrip);
