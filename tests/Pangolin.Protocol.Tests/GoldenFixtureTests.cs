using System.Text.Json;
using Pangolin.Protocol.Gerbil;
using Pangolin.Protocol.Messages;

namespace Pangolin.Protocol.Tests;

/// <summary>
/// (a) our records write exactly the golden fixtures; (b) the fixtures read back into the expected values.
/// </summary>
public sealed class GoldenFixtureTests
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    public static TheoryData<string> Fixtures => FixtureCatalog.NameData;

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Serialising_our_record_gives_the_fixture_key_for_key(string file)
    {
        var expected = FixtureFiles.Canonical(FixtureFiles.ReadNode(file));
        var actual = FixtureFiles.Canonical(FixtureCatalog.Get(file).Serialize());
        Assert.Equal(expected, actual);
    }

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Reading_the_fixture_and_writing_it_again_loses_nothing(string file)
    {
        var expected = FixtureFiles.Canonical(FixtureFiles.ReadNode(file));
        var actual = FixtureFiles.Canonical(FixtureCatalog.Get(file).RoundTrip(FixtureFiles.ReadBytes(file)));
        Assert.Equal(expected, actual);
    }

    [Fact]
    public void Every_fixture_file_is_checked_and_named_in_SOURCES()
    {
        var sources = File.ReadAllText(Path.Combine(FixtureFiles.Directory, "SOURCES.md"));
        foreach (var file in FixtureFiles.AllJsonNames())
        {
            Assert.Contains(file, FixtureCatalog.Names);
            Assert.Contains($"`{file}`", sources, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void The_wg_connect_fixture_reads_into_the_expected_values()
    {
        var message = Frames.Decode(FixtureFiles.ReadBytes("newt-wg-connect.json"), isBinary: false);
        Assert.Equal(MessageTypes.NewtWgConnect, message.Type);
        Assert.Equal(5, message.ConfigVersion);

        var data = message.GetData(Json.WgConnectData)!;
        Assert.Equal("pangolin.example.com:51820", data.Endpoint);
        Assert.Equal((ushort)21820, data.RelayPort);
        Assert.Equal(FixtureCatalog.NodeKey, data.PublicKey);
        Assert.Equal("100.89.137.1", data.ServerIp);
        Assert.Equal("100.89.137.4", data.TunnelIp);
        Assert.Equal(["40002:10.0.0.6:53"], data.Targets.Udp);
        Assert.Equal(["40001:10.0.0.5:8080", "40003:[fd00::5]:5432"], data.Targets.Tcp);
        Assert.Equal("0c1d2e3f40516273", data.ChainId);
        Assert.Empty(data.BrowserGatewayTargets);
        Assert.Empty(data.RemoteExitNodeSubnets);

        Assert.Equal(2, data.HealthCheckTargets.Count);
        var http = data.HealthCheckTargets[0];
        Assert.Equal(FixtureCatalog.HttpCheck with { HcHeaders = http.HcHeaders }, http);
        Assert.Equal("app.example.com", Assert.Single(http.HcHeaders!).Value);
        Assert.Null(http.HcFollowRedirects);
        var tcp = data.HealthCheckTargets[1];
        Assert.Equal(FixtureCatalog.TcpCheck, tcp);
        Assert.False(tcp.HcFollowRedirects);
        Assert.Null(tcp.HcHeaders);
    }

    [Fact]
    public void The_register_fixture_reads_into_the_expected_values()
    {
        var message = Frames.Decode(FixtureFiles.ReadBytes("newt-wg-register.json"), isBinary: false);
        var data = message.GetData(Json.RegisterData)!;
        Assert.Equal(FixtureCatalog.NewtKey, data.PublicKey);
        Assert.Equal("1.14.2", data.NewtVersion);
        Assert.Equal("0c1d2e3f40516273", data.ChainId);
        Assert.Null(data.BackwardsCompatible);
        Assert.NotNull(data.PingResults);
        Assert.Equal(2, data.PingResults.Count);
        Assert.Equal(new ExitNodePingResult
        {
            ExitNodeId = 1,
            LatencyMs = 12,
            Weight = 1,
            ExitNodeName = "node-a",
            Endpoint = "pangolin.example.com",
            WasPreviouslyConnected = true,
        }, data.PingResults[0]);
        Assert.Null(data.PingResults[0].Error);
        Assert.StartsWith("Get ", data.PingResults[1].Error, StringComparison.Ordinal);
        Assert.Equal(0.25, data.PingResults[1].Weight);

        var compat = Frames.Decode(FixtureFiles.ReadBytes("newt-wg-register-backwards-compatible.json"), isBinary: false).GetData(Json.RegisterData)!;
        Assert.True(compat.BackwardsCompatible);
        Assert.Null(compat.PingResults);
        Assert.Null(compat.NewtVersion);
    }

    [Fact]
    public void The_health_status_fixture_reads_ids_from_string_keys()
    {
        var data = Frames.Decode(FixtureFiles.ReadBytes("newt-healthcheck-status.json"), isBinary: false).GetData(Json.HealthStatusData)!;
        Assert.Equal([7, 8], data.Targets.Keys.Order());
        Assert.Equal(HealthStates.Healthy, data.Targets[7].Status);
        Assert.Equal("", data.Targets[7].LastError);
        Assert.Equal(4, data.Targets[7].CheckCount);
        Assert.Equal(HealthStates.Unhealthy, data.Targets[8].Status);
        Assert.Equal("TCP dial failed: connection refused", data.Targets[8].LastError);
        Assert.Equal(FixtureCatalog.TcpCheck, data.Targets[8].Config);
    }

    [Fact]
    public void The_legacy_ping_carries_its_version_in_the_data_and_none_on_the_envelope()
    {
        var message = Frames.Decode(FixtureFiles.ReadBytes("ping-legacy.json"), isBinary: false);
        Assert.Equal(MessageTypes.LegacyPing, message.Type);
        Assert.Null(message.ConfigVersion);
        Assert.Equal(3, message.GetData(Json.PingData)!.ConfigVersion);
    }

    [Fact]
    public void The_http_bodies_read_into_the_expected_values()
    {
        var token = JsonSerializer.Deserialize(FixtureFiles.ReadBytes("get-token-response.json"), Json.GetTokenResponse)!;
        Assert.True(token.Success);
        Assert.Equal(200, token.Status);
        Assert.Equal("0.1.0", token.Data!.ServerVersion);
        Assert.Equal(64, token.Data.Token.Length);

        var config = JsonSerializer.Deserialize(FixtureFiles.ReadBytes("gerbil-get-config-response.json"), Json.GetConfigResponse)!;
        Assert.Equal(51820, config.ListenPort);
        Assert.Equal("100.89.137.1/24", config.IpAddress);
        var peer = Assert.Single(config.Peers);
        Assert.Equal(FixtureCatalog.NewtKey, peer.PublicKey);
        Assert.Equal(["100.89.137.4/30"], peer.AllowedIps);

        var bandwidth = JsonSerializer.Deserialize(FixtureFiles.ReadBytes("gerbil-receive-bandwidth.json"), Json.IReadOnlyListPeerBandwidth)!;
        Assert.Equal(new PeerBandwidth { PublicKey = FixtureCatalog.NewtKey, BytesIn = 0.75, BytesOut = 12.5 }, bandwidth[0]);
        Assert.Equal(2, bandwidth.Count);
    }
}
