using System.Text;
using System.Text.Json;
using Pangolin.Protocol.Messages;

namespace Pangolin.Protocol.Fuzz;

/// <summary>
/// What a peer controls: a text frame (envelope, then the payload its type names), a binary frame (gzip), and a
/// target string. Decoders may refuse input only with <see cref="ProtocolException"/>, <see cref="JsonException"/>
/// (a payload of the wrong shape) or <see cref="FormatException"/> (a bad target); anything else is a finding, and
/// so is a decoded message that cannot be written back.
/// </summary>
public static class FuzzTargets
{
    public static readonly IReadOnlyDictionary<string, Action<byte[]>> All = new Dictionary<string, Action<byte[]>>
    {
        ["frame"] = data => Frame(data, isBinary: false),
        ["gzip"] = data => Frame(data, isBinary: true),
        ["target"] = Target,
    };

    /// <summary>A small limit, so that the fuzzer reaches the limit checks without huge inputs.</summary>
    private const int MaxMessageBytes = 64 * 1024;

    // A property, not a field: library code (instrumented by SharpFuzz) must not run in this class's static
    // constructor, which runs before the fuzzer's shared memory exists.
    private static ProtocolJsonContext Json => ProtocolJsonContext.Default;

    // Payload decoders by message type, as a server or newt would dispatch them; written back to catch writer bugs.
    private static readonly Dictionary<string, Action<WsMessage>> Payloads = new(StringComparer.Ordinal)
    {
        [MessageTypes.NewtPing] = m => Echo(m, Json.PingData),
        [MessageTypes.LegacyPing] = m => Echo(m, Json.PingData),
        [MessageTypes.Pong] = m => Echo(m, Json.PongData),
        [MessageTypes.NewtPingRequest] = m => Echo(m, Json.PingRequestData),
        [MessageTypes.NewtPingExitNodes] = m => Echo(m, Json.ExitNodesData),
        [MessageTypes.NewtWgRegister] = m => Echo(m, Json.RegisterData),
        [MessageTypes.NewtWgConnect] = m => Echo(m, Json.WgConnectData),
        [MessageTypes.NewtWgTerminate] = m => Echo(m, Json.TerminateData),
        [MessageTypes.NewtTcpAdd] = EchoTargets,
        [MessageTypes.NewtUdpRemove] = EchoTargets,
        [MessageTypes.NewtSync] = m => Echo(m, Json.SyncData),
        [MessageTypes.NewtHealthCheckAdd] = m => Echo(m, Json.HealthCheckAddData),
        [MessageTypes.NewtHealthCheckRemove] = m => Echo(m, Json.HealthCheckRemoveData),
        [MessageTypes.NewtHealthCheckEnable] = m => Echo(m, Json.HealthCheckIdData),
        [MessageTypes.NewtHealthCheckStatus] = m => Echo(m, Json.HealthStatusData),
        [MessageTypes.Error] = m => Echo(m, Json.ErrorData),
        [MessageTypes.NewtError] = m => Echo(m, Json.NewtErrorData),
        [MessageTypes.NewtReceiveBandwidth] = m => Echo(m, Json.ReceiveBandwidthData),
        [MessageTypes.NewtWgGetConfig] = m => Echo(m, Json.WgGetConfigData),
        [MessageTypes.NewtDisconnecting] = m => Echo(m, Json.EmptyData),
    };

    public static void Frame(byte[] data, bool isBinary)
    {
        WsMessage message;
        try
        {
            message = Frames.Decode(data, isBinary, MaxMessageBytes);
        }
        catch (ProtocolException)
        {
            return;
        }

        _ = Frames.EncodeText(message);
        if (Payloads.TryGetValue(message.Type, out var payload))
        {
            try
            {
                payload(message);
            }
            catch (JsonException)
            {
                // A payload of the wrong shape: the handler logs it and answers with an error frame.
            }
        }
    }

    public static void Target(byte[] data)
    {
        var text = Encoding.UTF8.GetString(data);
        if (TargetString.TryParse(text, out var target, out var error))
        {
            // What parses must format back to something that parses to the same target.
            var again = TargetString.Parse(target.ToString());
            if (again != target)
            {
                throw new InvalidOperationException($"\"{text}\" parsed to {target} but its formatted form parsed to {again}");
            }
        }
        else if (string.IsNullOrEmpty(error))
        {
            throw new InvalidOperationException($"\"{text}\" was refused without a message");
        }
    }

    /// <summary>The seed corpus: the golden fixtures' shapes, small enough for AFL.</summary>
    public static IEnumerable<(string Target, string Name, byte[] Data)> Seeds()
    {
        string[] frames =
        [
            """{"type":"newt/ping","data":{},"configVersion":5}""",
            """{"type":"ping","data":{"configVersion":3}}""",
            """{"type":"newt/wg/register","data":{"publicKey":"k","pingResults":[{"exitNodeId":1,"latencyMs":0,"weight":1,"error":"e","exitNodeName":"n","endpoint":"h","wasPreviouslyConnected":true}],"newtVersion":"1.14.2","chainId":"c"}}""",
            """{"type":"newt/wg/connect","data":{"endpoint":"h:51820","relayPort":21820,"publicKey":"k","serverIP":"100.89.137.1","tunnelIP":"100.89.137.4","targets":{"udp":["40002:10.0.0.6:53"],"tcp":["40003:[fd00::5]:5432"]},"healthCheckTargets":[],"browserGatewayTargets":[],"remoteExitNodeSubnets":[],"chainId":"c"},"configVersion":5}""",
            """{"type":"newt/sync","data":{"proxyTargets":{"udp":null,"tcp":["40001:10.0.0.5:8080"]},"healthCheckTargets":null,"peers":[],"clientTargets":[],"certs":[],"browserGatewayTargets":[],"remoteExitNodeSubnets":[]},"configVersion":7}""",
            """{"type":"newt/healthcheck/status","data":{"targets":{"7":{"status":"healthy","lastCheck":"2026-01-02T03:04:05Z","checkCount":4,"lastError":"","config":{"id":7,"hcEnabled":true,"hcHeaders":{"Host":"a"},"hcFollowRedirects":null,"hcStatus":null}}}}}""",
            """{"type":"newt/healthcheck/remove","data":{"ids":[7,8]},"configVersion":9}""",
            """{"type":"newt/tcp/add","data":{"targets":["40001:10.0.0.5:8080"]},"configVersion":6}""",
        ];
        for (var i = 0; i < frames.Length; i++)
        {
            var bytes = Encoding.UTF8.GetBytes(frames[i]);
            yield return ("frame", $"seed-{i:D2}.json", bytes);
            yield return ("gzip", $"seed-{i:D2}.json.gz", Frames.EncodeGzip(Frames.Decode(bytes, isBinary: false)));
        }

        string[] targets = ["40001:10.0.0.5:8080", "40003:[fd00::5]:5432", "65535:app.example.com:443", "1:[::1]:1", "40001:fd00::5:80"];
        for (var i = 0; i < targets.Length; i++)
        {
            yield return ("target", $"seed-{i:D2}.txt", Encoding.UTF8.GetBytes(targets[i]));
        }
    }

    private static void Echo<T>(WsMessage message, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> info)
    {
        var data = message.GetData(info);
        if (data is not null)
        {
            _ = JsonSerializer.SerializeToUtf8Bytes(data, info);
        }
    }

    private static void EchoTargets(WsMessage message)
    {
        var data = message.GetData(Json.TargetData);
        foreach (var target in data?.Targets ?? [])
        {
            _ = TargetString.TryParse(target, out _, out _);
        }
    }
}
