using System.Text;
using System.Text.Json;
using Pangolin.Protocol.Gerbil;
using Pangolin.Protocol.Messages;

namespace Pangolin.Protocol.Tests;

/// <summary>
/// (c) What Go and TypeScript senders actually put on the wire besides the golden shapes: <c>null</c> for nil
/// slices, omitted keys, extra keys, nulls from database columns.
/// </summary>
public sealed class GoShapedInputTests
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    private static WsMessage Decode(string json) => Frames.Decode(Encoding.UTF8.GetBytes(json), isBinary: false);

    [Fact]
    public void Null_slices_in_wg_connect_read_as_empty_lists_and_are_written_back_as_empty_arrays()
    {
        var message = Decode("""
            {"type":"newt/wg/connect","data":{"endpoint":"h:51820","relayPort":0,"publicKey":"k","serverIP":"100.89.137.1",
             "tunnelIP":"100.89.137.4","targets":{"udp":null,"tcp":null},"healthCheckTargets":null,
             "browserGatewayTargets":null,"remoteExitNodeSubnets":null,"chainId":""}}
            """);
        var data = message.GetData(Json.WgConnectData)!;
        Assert.Empty(data.Targets.Udp);
        Assert.Empty(data.Targets.Tcp);
        Assert.Empty(data.HealthCheckTargets);
        Assert.Empty(data.BrowserGatewayTargets);
        Assert.Empty(data.RemoteExitNodeSubnets);

        var written = JsonSerializer.SerializeToNode(data, Json.WgConnectData)!;
        Assert.Equal("[]", written["healthCheckTargets"]!.ToJsonString());
        Assert.Equal("[]", written["targets"]!["udp"]!.ToJsonString());
    }

    [Fact]
    public void A_missing_targets_object_reads_as_empty_lists()
    {
        var data = Decode("""{"type":"newt/sync","data":{}}""").GetData(Json.SyncData)!;
        Assert.Empty(data.ProxyTargets.Tcp);
        Assert.Empty(data.ProxyTargets.Udp);
        Assert.Empty(data.HealthCheckTargets);
        Assert.Empty(data.Peers);
    }

    [Fact]
    public void Null_lists_elsewhere_read_as_empty()
    {
        Assert.Empty(Decode("""{"type":"newt/tcp/add","data":{"targets":null}}""").GetData(Json.TargetData)!.Targets);
        Assert.Empty(Decode("""{"type":"newt/ping/exitNodes","data":{"exitNodes":null,"chainId":"c"}}""").GetData(Json.ExitNodesData)!.ExitNodes);
        Assert.Empty(Decode("""{"type":"newt/healthcheck/remove","data":{"ids":null}}""").GetData(Json.HealthCheckRemoveData)!.Ids);
        Assert.Empty(JsonSerializer.Deserialize("""{"listenPort":1,"ipAddress":"a","peers":null}""", Json.GetConfigResponse)!.Peers);
        Assert.Empty(JsonSerializer.Deserialize("""{"publicKey":"k","allowedIps":null}""", Json.GerbilPeer)!.AllowedIps);
    }

    [Fact]
    public void A_message_without_configVersion_has_none_and_writes_none()
    {
        var message = Decode("""{"type":"newt/ping","data":{}}""");
        Assert.Null(message.ConfigVersion);
        Assert.DoesNotContain("configVersion", Encoding.UTF8.GetString(Frames.EncodeText(message)), StringComparison.Ordinal);
    }

    [Fact]
    public void A_newt_holding_version_zero_sends_no_configVersion_like_Go_omitempty()
    {
        Assert.Null(WsMessage.NewtConfigVersion(0));
        Assert.Equal(4, WsMessage.NewtConfigVersion(4));
        var json = Encoding.UTF8.GetString(Frames.EncodeText(WsMessage.CreateEmpty(MessageTypes.NewtPing, WsMessage.NewtConfigVersion(0))));
        Assert.Equal("""{"type":"newt/ping","data":{}}""", json);
    }

    [Fact]
    public void Unknown_fields_on_the_envelope_and_in_the_data_are_ignored()
    {
        var message = Decode("""
            {"type":"newt/wg/register","id":"x","data":{"publicKey":"k","newtVersion":"1.15.0","agent":"newt","agentVersion":"1.15.0",
             "pingResults":[{"exitNodeId":1,"latencyMs":0,"weight":1,"exitNodeName":"n","endpoint":"e","wasPreviouslyConnected":false,"extra":{"a":[1]}}],
             "chainId":"c","future":null},"configVersion":2,"trailer":true}
            """);
        Assert.Equal(2, message.ConfigVersion);
        var data = message.GetData(Json.RegisterData)!;
        Assert.Equal("k", data.PublicKey);
        Assert.Equal("1.15.0", data.NewtVersion);
        Assert.Equal(1, Assert.Single(data.PingResults!).ExitNodeId);
    }

    [Fact]
    public void A_ping_result_without_error_reads_as_no_error_and_writes_no_error_key()
    {
        var result = JsonSerializer.Deserialize(
            """{"exitNodeId":3,"latencyMs":40,"weight":0.5,"exitNodeName":"n","endpoint":"e","wasPreviouslyConnected":false}""",
            Json.ExitNodePingResult)!;
        Assert.Null(result.Error);
        var register = new RegisterData { PublicKey = "k", PingResults = [result] };
        var json = JsonSerializer.Serialize(register, Json.RegisterData);
        Assert.DoesNotContain("\"error\"", json, StringComparison.Ordinal);
        Assert.DoesNotContain("backwardsCompatible", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Names_are_matched_case_sensitively_as_upstream_senders_use_the_exact_tags()
    {
        var data = Decode("""{"type":"newt/wg/connect","data":{"serverIp":"wrong","ServerIP":"wrong","serverIP":"right"}}""")
            .GetData(Json.WgConnectData)!;
        Assert.Equal("right", data.ServerIp);
        var onlyWrong = Decode("""{"type":"newt/wg/connect","data":{"TunnelIP":"x"}}""").GetData(Json.WgConnectData)!;
        Assert.Equal("", onlyWrong.TunnelIp);
    }

    [Fact]
    public void Missing_or_null_strings_read_as_empty_like_Go_zero_values()
    {
        // The source generator sets every init-only property on construction; a missing key must not become null.
        Assert.Equal("", JsonSerializer.Deserialize("{}", Json.PongData)!.Timestamp);
        var token = JsonSerializer.Deserialize("""{"secret":null}""", Json.GetTokenRequest)!;
        Assert.Equal("", token.NewtId);
        Assert.Equal("", token.Secret);
        var connect = JsonSerializer.Deserialize("""{"endpoint":"e"}""", Json.WgConnectData)!;
        Assert.Equal("e", connect.Endpoint);
        Assert.Equal("", connect.PublicKey);
        Assert.Equal("", connect.TunnelIp);
        var status = JsonSerializer.Deserialize("{}", Json.HealthStatusData)!;
        Assert.Empty(status.Targets);
        var one = JsonSerializer.Deserialize("""{"targets":{"3":{}}}""", Json.HealthStatusData)!.Targets[3];
        Assert.Equal(HealthStates.Unknown, one.Status);
        Assert.Equal(0, one.Config.Id);
        Assert.Equal("", Decode("""{"type":"x"}""").GetData(Json.NewtErrorData)?.Code ?? "");
    }

    [Fact]
    public void Health_check_nulls_from_an_upstream_server_read_as_Go_zero_values()
    {
        // Upstream copies nullable columns straight into the payload; Go leaves the fields at zero.
        var data = Decode("""
            {"type":"newt/healthcheck/add","data":{"targets":[{"id":9,"hcEnabled":true,"hcPath":null,"hcScheme":null,"hcMode":null,
             "hcHostname":"h","hcPort":80,"hcInterval":null,"hcUnhealthyInterval":null,"hcTimeout":null,"hcHeaders":null,
             "hcFollowRedirects":null,"hcMethod":null,"hcStatus":null,"hcTlsServerName":null,"hcHealthyThreshold":null,
             "hcUnhealthyThreshold":null}]}}
            """).GetData(Json.HealthCheckAddData)!;
        var check = Assert.Single(data.Targets);
        Assert.Equal(new HealthCheckConfig { Id = 9, HcEnabled = true, HcHostname = "h", HcPort = 80 }, check);
        Assert.Equal("", check.HcPath);
        Assert.Equal(0, check.HcStatus);
    }

    [Fact]
    public void A_message_without_data_reads_as_null_data_and_can_be_written_back()
    {
        var message = Decode("""{"type":"newt/wg/reconnect"}""");
        Assert.Equal(JsonValueKind.Null, message.Data.ValueKind);
        Assert.Null(message.GetData(Json.EmptyData));
        Assert.Equal("""{"type":"newt/wg/reconnect","data":null}""", Encoding.UTF8.GetString(Frames.EncodeText(message)));
    }

    [Fact]
    public void A_get_token_request_with_a_token_from_a_newer_newt_reads_and_ours_omits_it()
    {
        var request = JsonSerializer.Deserialize("""{"newtId":"n","secret":"s","token":"t","extra":1}""", Json.GetTokenRequest)!;
        Assert.Equal("t", request.Token);
        Assert.Equal("""{"newtId":"n","secret":"s"}""", JsonSerializer.Serialize(request with { Token = null }, Json.GetTokenRequest));
    }

    [Fact]
    public void A_token_response_with_null_data_reads_as_already_valid()
    {
        var response = JsonSerializer.Deserialize(
            """{"data":null,"success":true,"error":false,"message":"Token session already valid","status":200}""", Json.GetTokenResponse)!;
        Assert.Null(response.Data);
        Assert.True(response.Success);
    }

    [Fact]
    public void A_gerbil_config_request_without_reachableAt_writes_only_the_key()
    {
        Assert.Equal("""{"publicKey":"k"}""", JsonSerializer.Serialize(new GetConfigRequest { PublicKey = "k" }, Json.GetConfigRequest));
        var upstream = JsonSerializer.Deserialize("""{"publicKey": "k", "reachableAt": "http://g:3003"}""", Json.GetConfigRequest)!;
        Assert.Equal("http://g:3003", upstream.ReachableAt);
        Assert.Null(upstream.ListenPort);
    }
}
