using System.Diagnostics.Metrics;
using Pangolin.Newt.Proxy;

namespace Pangolin.Newt.Metrics;

/// <summary>
/// newt's instruments under upstream newt's names and labels (PROTOCOL.md §2.7, upstream
/// <c>internal/telemetry/metrics.go</c>); every series carries <c>site_id</c> (the newt id), as upstream's do by
/// default. The agent and the control client record events; the relays' totals are read from their
/// <see cref="ProxyCounters"/> when collected, summed over every tunnel since start so that counters never go back.
/// </summary>
internal sealed class NewtMetrics : IDisposable
{
    public const string Success = "success";
    public const string Failure = "failure";
    public const string WebSocket = "websocket";
    public const string WireGuard = "wireguard";

    // Ping RTTs and connect latencies (seconds); sessions and connections may last for days.
    private static readonly double[] LatencyBuckets = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
    private static readonly double[] LifetimeBuckets = [0.1, 1, 10, 60, 300, 1800, 3600, 21600, 86400];

    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly Counter<long> _registrations;
    private readonly Histogram<double> _tunnelLatency;
    private readonly Counter<long> _tunnelReconnects;
    private readonly Counter<long> _connectionAttempts;
    private readonly Counter<long> _connectionErrors;
    private readonly Counter<long> _configReloads;
    private readonly Counter<long> _webSocketMessages;
    private readonly Counter<long> _webSocketDisconnects;
    private readonly Counter<long> _webSocketReconnects;
    private readonly Histogram<double> _webSocketConnectLatency;
    private readonly Histogram<double> _webSocketSessionDuration;
    private readonly Histogram<double> _proxyConnectionDuration;
    private ProxyCounters? _proxies;
    private ProxyTotals _retired;
    private bool _tunnelUp;
    private long? _webSocketOpenedAt;
    private DateTimeOffset? _lastHeartbeat;

    public NewtMetrics(string siteId, string version, TimeProvider? time = null)
    {
        _time = time ?? TimeProvider.System;
        Meter = new Meter(new MeterOptions("newt") { Tags = [new("site_id", siteId)] });
        var m = Meter;
        m.CreateObservableGauge("newt_build_info", () => new Measurement<long>(1, new KeyValuePair<string, object?>("version", version)),
            description: "newt build information (always 1)");

        _registrations = m.CreateCounter<long>("newt_site_registrations_total", description: "Site registrations (wg/register answered by wg/connect) by result");
        m.CreateObservableGauge("newt_site_online", () => Read(() => _tunnelUp ? 1L : 0L), description: "Site online (1 while the tunnel is up)");
        m.CreateObservableGauge("newt_site_last_heartbeat_timestamp_seconds", ObserveHeartbeat, unit: "s",
            description: "Unix time of the last pong from the server to newt's ping");

        m.CreateObservableGauge("newt_tunnel_sessions", () => Read(() => _tunnelUp ? 1L : 0L), description: "Active tunnel sessions");
        m.CreateObservableCounter("newt_tunnel_bytes_total", ObserveBytes, unit: "By",
            description: "Bytes relayed through the tunnel (in: tunnel to target, out: target to tunnel)");
        _tunnelLatency = Histogram("newt_tunnel_latency_seconds", "Liveness ping round trip to the exit node through the tunnel", LatencyBuckets);
        _tunnelReconnects = m.CreateCounter<long>("newt_tunnel_reconnects_total", description: "Tunnel teardowns followed by a new registration, by initiator and reason");

        _connectionAttempts = m.CreateCounter<long>("newt_connection_attempts_total", description: "Connection attempts by transport and result");
        _connectionErrors = m.CreateCounter<long>("newt_connection_errors_total", description: "Connection errors by transport and error type");
        _configReloads = m.CreateCounter<long>("newt_config_reloads_total", description: "Target changes applied (newt/sync, newt/tcp|udp/add|remove) by result");

        m.CreateObservableGauge("newt_websocket_connected", () => Read(() => _webSocketOpenedAt is null ? 0L : 1L), description: "WebSocket connected (1) or not (0)");
        _webSocketMessages = m.CreateCounter<long>("newt_websocket_messages_total", description: "WebSocket messages by direction and type");
        _webSocketDisconnects = m.CreateCounter<long>("newt_websocket_disconnects_total", description: "WebSocket disconnects by reason and result");
        _webSocketReconnects = m.CreateCounter<long>("newt_websocket_reconnects_total", description: "WebSocket reconnect attempts by reason");
        _webSocketConnectLatency = Histogram("newt_websocket_connect_latency_seconds", "WebSocket connect latency", LatencyBuckets);
        _webSocketSessionDuration = Histogram("newt_websocket_session_duration_seconds", "Duration of established WebSocket sessions", LifetimeBuckets);

        m.CreateObservableGauge("newt_proxy_active_connections", ObserveActive, description: "Relayed TCP connections and UDP sessions open now, by protocol");
        m.CreateObservableCounter("newt_proxy_accept_total", ObserveAccepts,
            description: "Relay accepts by protocol and result (a TCP connection whose target cannot be reached counts once each way, as upstream)");
        m.CreateObservableCounter("newt_proxy_connections_total", ObserveConnections, description: "Relay connection lifecycle events by protocol");
        m.CreateObservableCounter("newt_proxy_drops_total", ObserveDrops, description: "UDP datagrams the relay could not pass on");
        _proxyConnectionDuration = Histogram("newt_proxy_connection_duration_seconds", "Duration of completed relayed TCP connections", LifetimeBuckets);
    }

    public Meter Meter { get; }

    public void SiteRegistration(bool success) => _registrations.Add(1, Tag("result", Result(success)));

    public void ConnectionAttempt(string transport, bool success) =>
        _connectionAttempts.Add(1, Tag("transport", transport), Tag("result", Result(success)));

    public void ConnectionError(string transport, string errorType) =>
        _connectionErrors.Add(1, Tag("transport", transport), Tag("error_type", errorType));

    public void WebSocketConnectLatency(TimeSpan latency, bool success) =>
        _webSocketConnectLatency.Record(latency.TotalSeconds, Tag("transport", WebSocket), Tag("result", Result(success)));

    public void WebSocketOpened()
    {
        lock (_lock)
        {
            _webSocketOpenedAt = _time.GetTimestamp();
        }
    }

    /// <summary>The session ended: <paramref name="clean"/> for a close handshake (either side), else it broke.</summary>
    public void WebSocketClosed(string reason, bool clean)
    {
        long? opened;
        lock (_lock)
        {
            opened = _webSocketOpenedAt;
            _webSocketOpenedAt = null;
        }
        var result = Result(clean);
        _webSocketDisconnects.Add(1, Tag("reason", reason), Tag("result", result));
        if (opened is { } start)
        {
            _webSocketSessionDuration.Record(_time.GetElapsedTime(start).TotalSeconds, Tag("result", result));
        }
    }

    public void WebSocketReconnect(string reason) => _webSocketReconnects.Add(1, Tag("reason", reason));

    /// <summary>One message each way; <paramref name="direction"/> is <c>in</c> or <c>out</c>.</summary>
    public void WebSocketMessage(string direction, string type) =>
        _webSocketMessages.Add(1, Tag("direction", direction), Tag("msg_type", BoundedType(type)));

    public void Heartbeat()
    {
        lock (_lock)
        {
            _lastHeartbeat = _time.GetUtcNow();
        }
    }

    public void TunnelPing(TimeSpan roundTrip) => _tunnelLatency.Record(roundTrip.TotalSeconds, Tag("transport", WireGuard));

    public void TunnelReconnect(string initiator, string reason) => _tunnelReconnects.Add(1, Tag("initiator", initiator), Tag("reason", reason));

    public void ConfigReload(bool success) => _configReloads.Add(1, Tag("result", Result(success)));

    /// <summary>A tunnel is up; its relays' counters are read from now on.</summary>
    public void TunnelStarted(ProxyCounters counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        counters.TcpConnectionEnded = lifetime =>
            _proxyConnectionDuration.Record(lifetime.TotalSeconds, Tag("protocol", "tcp"));
        lock (_lock)
        {
            _proxies = counters;
            _tunnelUp = true;
        }
    }

    /// <summary>The tunnel is down and its relays stopped: their final totals join those of earlier tunnels.</summary>
    public void TunnelStopped(ProxyCounters counters)
    {
        ArgumentNullException.ThrowIfNull(counters);
        lock (_lock)
        {
            if (_proxies == counters)
            {
                _retired += ProxyTotals.Of(counters);
                _proxies = null;
                _tunnelUp = false;
            }
        }
    }

    public void Dispose() => Meter.Dispose();

    private static KeyValuePair<string, object?> Tag(string key, string value) => new(key, value);

    private static string Result(bool success) => success ? Success : Failure;

    // The server names the types; a hostile or broken one must not make a series per message.
    private static string BoundedType(string type) =>
        type.Length is > 0 and <= 64 && type.All(c => char.IsAsciiLetterOrDigit(c) || c is '/' or '-' or '_' or '.') ? type : "other";

    private Histogram<double> Histogram(string name, string description, double[] buckets) =>
        Meter.CreateHistogram(name, unit: "s", description: description, tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = buckets });

    private T Read<T>(Func<T> read)
    {
        lock (_lock)
        {
            return read();
        }
    }

    private ProxyTotals Totals() => Read(() => _proxies is { } current ? _retired + ProxyTotals.Of(current) : _retired);

    private IEnumerable<Measurement<double>> ObserveHeartbeat() =>
        Read(() => _lastHeartbeat) is { } last ? [new Measurement<double>(last.ToUnixTimeMilliseconds() / 1000.0)] : [];

    private IEnumerable<Measurement<long>> ObserveBytes()
    {
        var t = Totals();
        return
        [
            Measure(t.TcpBytesIn, ("direction", "in"), ("protocol", "tcp")),
            Measure(t.TcpBytesOut, ("direction", "out"), ("protocol", "tcp")),
            Measure(t.UdpBytesIn, ("direction", "in"), ("protocol", "udp")),
            Measure(t.UdpBytesOut, ("direction", "out"), ("protocol", "udp")),
        ];
    }

    private IEnumerable<Measurement<long>> ObserveActive()
    {
        var current = Read(() => _proxies);
        return
        [
            Measure(current?.TcpActiveConnections ?? 0, ("protocol", "tcp")),
            Measure(current?.UdpActiveSessions ?? 0, ("protocol", "udp")),
        ];
    }

    private IEnumerable<Measurement<long>> ObserveAccepts()
    {
        var t = Totals();
        return
        [
            Measure(t.TcpAccepted, ("protocol", "tcp"), ("result", Success)),
            Measure(t.TcpFailed, ("protocol", "tcp"), ("result", Failure)),
            Measure(t.UdpSessions, ("protocol", "udp"), ("result", Success)),
            Measure(t.UdpFailed, ("protocol", "udp"), ("result", Failure)),
        ];
    }

    private IEnumerable<Measurement<long>> ObserveConnections()
    {
        var t = Totals();
        return
        [
            Measure(t.TcpAccepted, ("protocol", "tcp"), ("event", "opened")),
            Measure(t.TcpClosed, ("protocol", "tcp"), ("event", "closed")),
            Measure(t.UdpSessions, ("protocol", "udp"), ("event", "opened")),
            Measure(t.UdpClosed, ("protocol", "udp"), ("event", "closed")),
        ];
    }

    private IEnumerable<Measurement<long>> ObserveDrops() => [Measure(Totals().UdpDropped, ("protocol", "udp"))];

    private static Measurement<long> Measure(long value, params ReadOnlySpan<(string Key, string Value)> tags)
    {
        var pairs = new KeyValuePair<string, object?>[tags.Length];
        for (var i = 0; i < tags.Length; i++)
        {
            pairs[i] = new(tags[i].Key, tags[i].Value);
        }
        return new Measurement<long>(value, pairs);
    }

    /// <summary>A snapshot of the monotonic <see cref="ProxyCounters"/> totals.</summary>
    private readonly record struct ProxyTotals(
        long TcpAccepted, long TcpFailed, long TcpClosed, long TcpBytesIn, long TcpBytesOut,
        long UdpSessions, long UdpFailed, long UdpClosed, long UdpDropped, long UdpBytesIn, long UdpBytesOut)
    {
        public static ProxyTotals Of(ProxyCounters c) => new(
            c.TcpAccepted, c.TcpFailed, c.TcpConnectionsClosed, c.TcpBytesIn, c.TcpBytesOut,
            c.UdpSessions, c.UdpFailed, c.UdpSessionsClosed, c.UdpDropped, c.UdpBytesIn, c.UdpBytesOut);

        public static ProxyTotals operator +(ProxyTotals a, ProxyTotals b) => new(
            a.TcpAccepted + b.TcpAccepted, a.TcpFailed + b.TcpFailed, a.TcpClosed + b.TcpClosed, a.TcpBytesIn + b.TcpBytesIn,
            a.TcpBytesOut + b.TcpBytesOut, a.UdpSessions + b.UdpSessions, a.UdpFailed + b.UdpFailed, a.UdpClosed + b.UdpClosed,
            a.UdpDropped + b.UdpDropped, a.UdpBytesIn + b.UdpBytesIn, a.UdpBytesOut + b.UdpBytesOut);
    }
}
