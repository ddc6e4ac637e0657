using System.IO.Compression;
using System.Text;
using Pangolin.Protocol.Messages;

namespace Pangolin.Protocol.Tests;

/// <summary>(e) Text and gzip frames, and the limits that keep a hostile peer from exhausting memory.</summary>
public sealed class FrameTests
{
    private static readonly ProtocolJsonContext Json = ProtocolJsonContext.Default;

    private static WsMessage SampleMessage() =>
        WsMessage.Create(MessageTypes.NewtTcpAdd, new TargetData { Targets = ["40001:10.0.0.5:8080", "40003:[fd00::5]:5432"] }, Json.TargetData, 6);

    [Fact]
    public void A_gzip_frame_decodes_to_the_same_message_as_the_text_frame()
    {
        var message = SampleMessage();
        var text = Frames.EncodeText(message);
        var gzip = Frames.EncodeGzip(message);
        Assert.Equal(0x1f, gzip[0]);
        Assert.Equal(0x8b, gzip[1]);

        var fromGzip = Frames.Decode(gzip, isBinary: true);
        Assert.Equal(MessageTypes.NewtTcpAdd, fromGzip.Type);
        Assert.Equal(6, fromGzip.ConfigVersion);
        Assert.Equal(["40001:10.0.0.5:8080", "40003:[fd00::5]:5432"], fromGzip.GetData(Json.TargetData)!.Targets);
        Assert.Equal(text, Frames.EncodeText(fromGzip));
    }

    [Fact]
    public void A_golden_fixture_gzipped_by_another_encoder_decodes()
    {
        // Upstream's server compresses with Node's zlib; any conforming gzip stream must do, not just ours.
        var json = FixtureFiles.ReadBytes("newt-sync.json");
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.SmallestSize))
        {
            gzip.Write(json);
        }

        var message = Frames.Decode(output.ToArray(), isBinary: true);
        Assert.Equal(MessageTypes.NewtSync, message.Type);
        Assert.Equal(["40001:10.0.0.5:8080"], message.GetData(Json.SyncData)!.ProxyTargets.Tcp);
    }

    [Fact]
    public void A_gzip_bomb_is_refused_at_the_limit_instead_of_inflated()
    {
        // 64 MiB of spaces inside a JSON string compresses to about 64 KiB.
        using var output = new MemoryStream();
        using (var gzip = new GZipStream(output, CompressionLevel.Optimal))
        {
            gzip.Write("{\"type\":\"newt/sync\",\"data\":\""u8);
            var chunk = new byte[1024 * 1024];
            chunk.AsSpan().Fill((byte)' ');
            for (var i = 0; i < 64; i++)
            {
                gzip.Write(chunk);
            }

            gzip.Write("\"}"u8);
        }

        var bomb = output.ToArray();
        Assert.True(bomb.Length < 1024 * 1024, $"the bomb should be small when compressed, was {bomb.Length}");
        var ex = Assert.Throws<ProtocolException>(() => Frames.Decode(bomb, isBinary: true));
        Assert.Contains("inflates past the limit", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_gzip_frame_just_under_the_limit_is_accepted()
    {
        var message = SampleMessage();
        var size = Frames.EncodeText(message).Length;
        Assert.Equal(MessageTypes.NewtTcpAdd, Frames.Decode(Frames.EncodeGzip(message), isBinary: true, maxMessageBytes: size).Type);
        Assert.Throws<ProtocolException>(() => Frames.Decode(Frames.EncodeGzip(message), isBinary: true, maxMessageBytes: size - 1));
    }

    [Fact]
    public void A_text_frame_over_the_limit_is_refused()
    {
        var text = Frames.EncodeText(SampleMessage());
        Assert.Equal(MessageTypes.NewtTcpAdd, Frames.Decode(text, isBinary: false, maxMessageBytes: text.Length).Type);
        var ex = Assert.Throws<ProtocolException>(() => Frames.Decode(text, isBinary: false, maxMessageBytes: text.Length - 1));
        Assert.Contains("exceeds the limit", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_binary_frame_that_is_not_gzip_is_refused()
    {
        var ex = Assert.Throws<ProtocolException>(() => Frames.Decode(Frames.EncodeText(SampleMessage()), isBinary: true));
        Assert.Contains("not valid gzip", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("not json", "not valid JSON")]
    [InlineData("{\"type\":", "not valid JSON")]
    [InlineData("{\"data\":{}}", "has no type")]
    [InlineData("{\"type\":\"\",\"data\":{}}", "has no type")]
    [InlineData("null", "has no type")]
    [InlineData("{\"type\":\"pong\",\"configVersion\":\"3\"}", "not valid JSON")]
    public void Malformed_text_frames_are_refused_with_a_protocol_error(string payload, string expectedFragment)
    {
        var ex = Assert.Throws<ProtocolException>(() => Frames.Decode(Encoding.UTF8.GetBytes(payload), isBinary: false));
        Assert.Contains(expectedFragment, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Text_frames_are_compact_utf8_json_with_upstream_key_order()
    {
        var json = Encoding.UTF8.GetString(Frames.EncodeText(SampleMessage()));
        Assert.Equal("""{"type":"newt/tcp/add","data":{"targets":["40001:10.0.0.5:8080","40003:[fd00::5]:5432"]},"configVersion":6}""", json);
    }
}
