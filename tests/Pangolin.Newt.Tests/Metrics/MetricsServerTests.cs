using System.Net;
using System.Net.Sockets;
using System.Text;
using Pangolin.Newt.Metrics;
using Pangolin.Newt.Proxy;
using Pangolin.Newt.Tests.Infrastructure;

namespace Pangolin.Newt.Tests.Metrics;

/// <summary>The <c>/metrics</c> listener on a free loopback port, scraped over real HTTP.</summary>
public sealed class MetricsServerTests : IAsyncDisposable
{
    private const string Site = "site-1";
    private const int InternalPort = 40001;

    private readonly NewtMetrics _metrics = new(Site, "1.2.3");
    private readonly PrometheusExporter _exporter;
    private readonly MetricsServer _server;
    private readonly HttpClient _http = new();

    public MetricsServerTests()
    {
        _exporter = new PrometheusExporter(_metrics.Meter);
        _server = MetricsServer.Start(new IPEndPoint(IPAddress.Loopback, 0), _exporter);
    }

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    private Uri Url(string path) => new($"http://127.0.0.1:{_server.LocalEndPoint.Port}{path}");

    private async Task<string> ScrapeAsync()
    {
        using var response = await _http.GetAsync(Url("/metrics"), Ct).WaitAsync(Bounds.Step, Ct);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType?.ToString());
        return await response.Content.ReadAsStringAsync(Ct);
    }

    private async Task<string> SendRawAsync(string request)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(_server.LocalEndPoint, Ct);
        await socket.SendAsync(Encoding.ASCII.GetBytes(request), Ct);
        await using var stream = new NetworkStream(socket);
        return Encoding.ASCII.GetString(await stream.ReadToEndAsync().WaitAsync(Bounds.Step, Ct));
    }

    /// <summary>What the server answers; empty when it closed the connection unanswered (a reset, as the request was unread).</summary>
    private async Task<string> SendOrClosedAsync(string request)
    {
        try
        {
            return await SendRawAsync(request);
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return "";
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return "";
        }
    }

    private static string Series(string name, string labels, string value) => $"{name}{{site_id=\"{Site}\"{labels}}} {value}\n";

    [Fact]
    public async Task A_scrape_shows_the_build_and_the_relay_counters_move_with_a_relayed_connection()
    {
        using var pair = new TunnelPair();
        await using var target = LoopbackTcpServer.Echo();
        var manager = new ProxyManager(pair.Newt, TunnelPair.TunnelAddress);
        manager.Add(new ProxyTarget(ProxyProtocol.Tcp, InternalPort, "127.0.0.1", target.Port));
        _metrics.TunnelStarted(manager.Counters);

        var before = await ScrapeAsync();
        await using (var client = await pair.ConnectAsync(InternalPort))
        {
            await client.WriteAsync("hello");
            Assert.Equal("hello", await client.ReadTextAsync(5));
            var during = await ScrapeAsync();
            Assert.Contains(Series("newt_proxy_active_connections", ",protocol=\"tcp\"", "1"), during, StringComparison.Ordinal);
            client.ShutdownSend();
            await client.ReadToEndAsync();
        }
        // The relays are gone once disposed; their totals stay in the counters.
        await manager.DisposeAsync();
        _metrics.TunnelStopped(manager.Counters);
        var after = await ScrapeAsync();

        Assert.Contains(Series("newt_build_info", ",version=\"1.2.3\"", "1"), before, StringComparison.Ordinal);
        Assert.Contains(Series("newt_site_online", "", "1"), before, StringComparison.Ordinal);
        Assert.Contains(Series("newt_proxy_accept_total", ",protocol=\"tcp\",result=\"success\"", "0"), before, StringComparison.Ordinal);
        Assert.Contains(Series("newt_proxy_accept_total", ",protocol=\"tcp\",result=\"success\"", "1"), after, StringComparison.Ordinal);
        Assert.Contains(Series("newt_proxy_connections_total", ",protocol=\"tcp\",event=\"closed\"", "1"), after, StringComparison.Ordinal);
        Assert.Contains(Series("newt_tunnel_bytes_total", ",direction=\"in\",protocol=\"tcp\"", "5"), after, StringComparison.Ordinal);
        Assert.Contains(Series("newt_tunnel_bytes_total", ",direction=\"out\",protocol=\"tcp\"", "5"), after, StringComparison.Ordinal);
        Assert.Contains(Series("newt_proxy_connection_duration_seconds_count", ",protocol=\"tcp\"", "1"), after, StringComparison.Ordinal);
        Assert.Contains(Series("newt_proxy_active_connections", ",protocol=\"tcp\"", "0"), after, StringComparison.Ordinal);
        Assert.Contains(Series("newt_site_online", "", "0"), after, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("GET", "/")]
    [InlineData("GET", "/metrics/more")]
    [InlineData("GET", "/favicon.ico")]
    [InlineData("POST", "/metrics")]
    [InlineData("HEAD", "/metrics")]
    public async Task Anything_but_GET_metrics_gets_404(string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), Url(path));
        using var response = await _http.SendAsync(request, Ct).WaitAsync(Bounds.Step, Ct);

        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }

    [Fact]
    public async Task A_query_string_still_reaches_the_metrics()
    {
        using var response = await _http.GetAsync(Url("/metrics?name[]=newt_build_info"), Ct).WaitAsync(Bounds.Step, Ct);

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Bad_requests_get_400_or_are_dropped_and_the_next_scrape_is_served()
    {
        var garbage = await SendRawAsync("NONSENSE\r\n\r\n");
        var oversized = Record.ExceptionAsync(() => SendRawAsync("GET /metrics HTTP/1.1\r\nX: " + new string('a', 20_000)));
        using (var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp))
        {
            await silent.ConnectAsync(_server.LocalEndPoint, Ct); // and closes without a word
        }
        await oversized;

        Assert.StartsWith("HTTP/1.1 400 Bad Request\r\n", garbage, StringComparison.Ordinal);
        Assert.Contains("newt_build_info", await ScrapeAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Connections_over_the_cap_are_closed_unanswered_and_scrapes_are_served_again_once_one_ends()
    {
        var idle = new List<Socket>();
        try
        {
            for (var i = 0; i < MetricsServer.MaxConnections; i++)
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
                idle.Add(socket);
                await socket.ConnectAsync(_server.LocalEndPoint, Ct); // and says nothing
            }
            // Accepted after the idle ones (the accept queue keeps their order): over the cap, closed without an answer.
            Assert.Equal("", await SendOrClosedAsync("GET /metrics HTTP/1.1\r\n\r\n"));

            idle[0].Dispose();
            var answered = false;
            for (var attempt = 0; attempt < 100 && !answered; attempt++)
            {
                answered = (await SendOrClosedAsync("GET /metrics HTTP/1.1\r\n\r\n")).StartsWith("HTTP/1.1 200 OK", StringComparison.Ordinal);
                if (!answered)
                {
                    await Task.Delay(20, Ct); // the server notices the closed connection in a moment
                }
            }
            Assert.True(answered, "a scrape is served once an idle connection ends");
        }
        finally
        {
            idle.ForEach(s => s.Dispose());
        }
    }

    [Fact]
    public async Task A_port_in_use_fails_with_a_one_line_reason()
    {
        await using var busy = MetricsServer.Start(new IPEndPoint(IPAddress.Loopback, 0), _exporter);

        var error = Assert.Throws<MetricsBindException>(() => MetricsServer.Start(busy.LocalEndPoint, _exporter));

        Assert.Equal($"cannot listen on {busy.LocalEndPoint}: the port is in use", error.Message);
    }

    [Fact]
    public async Task Newt_exits_2_with_one_line_when_the_metrics_port_is_in_use()
    {
        var (exitCode, output, error) = await NewtProcessTests.RunNewtAsync(
            "--id", "a", "--secret", "b", "--endpoint", "http://127.0.0.1:9", "--metrics", "--metrics-address", $"127.0.0.1:{_server.LocalEndPoint.Port}");

        Assert.Equal(2, exitCode);
        Assert.Equal("", output);
        Assert.Equal($"newt: --metrics-address: cannot listen on 127.0.0.1:{_server.LocalEndPoint.Port}: the port is in use\n", error);
    }

    [Fact]
    public async Task Newt_exits_2_with_one_line_when_no_interface_has_the_metrics_address()
    {
        var (exitCode, _, error) = await NewtProcessTests.RunNewtAsync(
            "--id", "a", "--secret", "b", "--endpoint", "http://127.0.0.1:9", "--metrics", "--metrics-address", "192.0.2.1:2112");

        Assert.Equal(2, exitCode);
        Assert.Equal("newt: --metrics-address: cannot listen on 192.0.2.1:2112: no interface has that address\n", error);
    }

    public async ValueTask DisposeAsync()
    {
        _http.Dispose();
        await _server.DisposeAsync();
        _exporter.Dispose();
        _metrics.Dispose();
    }
}
