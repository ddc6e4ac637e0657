using Microsoft.Extensions.Time.Testing;
using Pangolin.Newt.Metrics;
using Pangolin.Newt.Proxy;

namespace Pangolin.Newt.Tests.Metrics;

/// <summary>newt's instruments as the agent feeds them, read through the exporter.</summary>
public sealed class NewtMetricsTests : IDisposable
{
    private readonly FakeTimeProvider _time = new(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
    private readonly NewtMetrics _metrics;
    private readonly PrometheusExporter _exporter;

    public NewtMetricsTests()
    {
        _metrics = new NewtMetrics("s", "1.0.0", _time);
        _exporter = new PrometheusExporter(_metrics.Meter);
    }

    [Fact]
    public void Relay_totals_keep_counting_across_tunnels_while_active_connections_follow_the_current_one()
    {
        var first = new ProxyCounters();
        _metrics.TunnelStarted(first);
        first.TcpOpened();
        first.TcpIn(100);
        first.TcpClosed(TimeSpan.FromSeconds(2));
        first.UdpDrop();
        _metrics.TunnelStopped(first);
        var second = new ProxyCounters();
        _metrics.TunnelStarted(second);
        second.TcpOpened();
        second.TcpIn(20);

        var text = _exporter.Scrape();

        Assert.Contains("newt_tunnel_bytes_total{site_id=\"s\",direction=\"in\",protocol=\"tcp\"} 120\n", text, StringComparison.Ordinal);
        Assert.Contains("newt_proxy_accept_total{site_id=\"s\",protocol=\"tcp\",result=\"success\"} 2\n", text, StringComparison.Ordinal);
        Assert.Contains("newt_proxy_active_connections{site_id=\"s\",protocol=\"tcp\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("newt_proxy_drops_total{site_id=\"s\",protocol=\"udp\"} 1\n", text, StringComparison.Ordinal);
        Assert.Contains("newt_proxy_connection_duration_seconds_sum{site_id=\"s\",protocol=\"tcp\"} 2\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void A_WebSocket_session_sets_connected_and_records_its_duration_and_disconnect_when_it_ends()
    {
        _metrics.WebSocketOpened();
        var open = _exporter.Scrape();
        _time.Advance(TimeSpan.FromSeconds(90));
        _metrics.Heartbeat();
        _metrics.WebSocketClosed("connection_lost", clean: false);
        _metrics.WebSocketReconnect("connection_lost");

        var closed = _exporter.Scrape();

        Assert.Contains("newt_websocket_connected{site_id=\"s\"} 1\n", open, StringComparison.Ordinal);
        Assert.Contains("newt_websocket_connected{site_id=\"s\"} 0\n", closed, StringComparison.Ordinal);
        Assert.Contains("newt_websocket_session_duration_seconds_sum{site_id=\"s\",result=\"failure\"} 90\n", closed, StringComparison.Ordinal);
        Assert.Contains("newt_websocket_disconnects_total{site_id=\"s\",reason=\"connection_lost\",result=\"failure\"} 1\n", closed, StringComparison.Ordinal);
        Assert.Contains("newt_websocket_reconnects_total{site_id=\"s\",reason=\"connection_lost\"} 1\n", closed, StringComparison.Ordinal);
        Assert.Contains("newt_site_last_heartbeat_timestamp_seconds{site_id=\"s\"} 1700000090\n", closed, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("newt/wg/connect", "newt/wg/connect")]
    [InlineData("", "other")]
    [InlineData("a type with spaces", "other")]
    public void Message_types_are_labels_only_when_they_look_like_message_types(string type, string label)
    {
        _metrics.WebSocketMessage("in", type);

        Assert.Contains($"newt_websocket_messages_total{{site_id=\"s\",direction=\"in\",msg_type=\"{label}\"}} 1\n", _exporter.Scrape(), StringComparison.Ordinal);
    }

    public void Dispose()
    {
        _exporter.Dispose();
        _metrics.Dispose();
    }
}
