using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Pangolin.Server;
using Pangolin.Server.Operations;
using Pangolin.Server.Sites;
using Pangolin.Edge;

// sites-bench --Bench:SiteFile F --Bench:Backend 127.0.0.1 [pangolin settings]: starts the server, creates a newt site
// with two targets (HTTP on Bench:HttpPort, raw TCP on Bench:TcpPort) through its own API, writes the newt's id and
// secret to Bench:SiteFile, then serves the load front: HTTP on 127.0.0.1:Bench:FrontPort proxied to the HTTP target,
// and raw TCP on 127.0.0.1:Bench:TcpFrontPort piped to the TCP target — both through the tunnel. A third target,
// Bench:SinkPort, is a discard sink that the load port's /bulk streams to.
var builder = WebApplication.CreateBuilder(new WebApplicationOptions { Args = args, ContentRootPath = AppContext.BaseDirectory });
builder.AddPangolin();
builder.Logging.SetMinimumLevel(LogLevel.Warning);
var bench = builder.Configuration.GetSection("Bench");
var frontPort = bench.GetValue("FrontPort", 18090);
var tcpFrontPort = bench.GetValue("TcpFrontPort", 15201);
var loadPort = bench.GetValue("LoadPort", 18091);
builder.WebHost.ConfigureKestrel(kestrel =>
{
    kestrel.Listen(IPAddress.Loopback, frontPort);
    kestrel.Listen(IPAddress.Loopback, loadPort);
});
await using var app = builder.Build();
var connector = app.Services.GetRequiredService<TargetConnector>();

var targets = new TaskCompletionSource<(int Http, int Tcp, int Sink)>(TaskCreationOptions.RunContinuationsAsynchronously);
HttpMessageInvoker? upstream = null;
app.MapWhen(context => context.Connection.LocalPort == frontPort, front => front.Run(async context =>
{
    await targets.Task;
    using var request = new HttpRequestMessage(new HttpMethod(context.Request.Method), "http://backend" + context.Request.Path + context.Request.QueryString);
    using var response = await upstream!.SendAsync(request, context.RequestAborted);
    context.Response.StatusCode = (int)response.StatusCode;
    context.Response.ContentLength = response.Content.Headers.ContentLength;
    await response.Content.CopyToAsync(context.Response.Body, context.RequestAborted);
}));
// GET /load?connections=64&seconds=10 on the load port: the server itself sends keep-alive 1 KB requests to the HTTP
// target through the tunnel, from that many loops, like wrk would (the issue's "request rate from the server").
app.MapWhen(context => context.Connection.LocalPort == loadPort, load => load.Run(async context =>
{
    await targets.Task;
    var connections = int.Parse(context.Request.Query["connections"].FirstOrDefault() ?? "64", CultureInfo.InvariantCulture);
    var duration = TimeSpan.FromSeconds(double.Parse(context.Request.Query["seconds"].FirstOrDefault() ?? "10", CultureInfo.InvariantCulture));
    if (context.Request.Path == "/bulk")
    {
        // GET /bulk?seconds=10[&to=host:port]: the server itself streams to the discard sink, through the tunnel, or,
        // with `to`, over a kernel socket (the anchor's tunnel or the bare veth) — one sender for every row.
        var to = context.Request.Query["to"].FirstOrDefault();
        var sink = (await targets.Task).Sink;
        Func<CancellationToken, ValueTask<Stream>> open = to is null
            ? ct => connector.ConnectTcpAsync(sink, ct)
            : async ct =>
            {
                var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                await socket.ConnectAsync(IPEndPoint.Parse(to), ct);
                return new NetworkStream(socket, ownsSocket: true);
            };
        await context.Response.WriteAsync(await BulkAsync(open, duration, context.RequestAborted), context.RequestAborted);
        return;
    }
    await context.Response.WriteAsync(await LoadAsync(upstream!, connections, duration, context.RequestAborted), context.RequestAborted);
}));
app.UsePangolin();
await app.StartAsync();

var created = await SetUpAsync(app, bench);
upstream = new HttpMessageInvoker(new SocketsHttpHandler
{
    ConnectCallback = async (_, ct) => await connector.ConnectTcpAsync(created.Http, ct),
    PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
    UseCookies = false,
    AllowAutoRedirect = false,
    UseProxy = false,
});
targets.SetResult(created);

var tcpFront = new TcpListener(IPAddress.Loopback, tcpFrontPort);
tcpFront.Start(1024);
var stopping = app.Lifetime.ApplicationStopping;
_ = Task.Run(async () =>
{
    while (!stopping.IsCancellationRequested)
    {
        var client = await tcpFront.AcceptSocketAsync(stopping);
        _ = Task.Run(async () =>
        {
            client.NoDelay = true;
            await using var near = new NetworkStream(client, ownsSocket: true);
            try
            {
                await using var far = await connector.ConnectTcpAsync(created.Tcp, stopping);
                await Task.WhenAny(near.CopyToAsync(far, 256 * 1024, stopping), far.CopyToAsync(near, 256 * 1024, stopping));
            }
            catch (Exception e) when (e is IOException or SocketException or TargetUnreachableException or OperationCanceledException)
            {
            }
        }, CancellationToken.None);
    }
}, CancellationToken.None);
Console.WriteLine("ready");
await app.WaitForShutdownAsync();
tcpFront.Stop();
return 0;

static async Task<string> LoadAsync(HttpMessageInvoker upstream, int connections, TimeSpan duration, CancellationToken ct)
{
    var clock = Stopwatch.StartNew();
    var errors = 0;
    var loops = Enumerable.Range(0, connections).Select(_ => Task.Run(async () =>
    {
        var latencies = new List<long>(100_000);
        while (clock.Elapsed < duration)
        {
            var start = Stopwatch.GetTimestamp();
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, "http://backend/1k");
                using var response = await upstream.SendAsync(request, ct);
                await response.Content.CopyToAsync(Stream.Null, ct);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    Interlocked.Increment(ref errors);
                    continue;
                }
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref errors);
                continue;
            }
            latencies.Add(Stopwatch.GetTimestamp() - start);
        }
        return latencies;
    }, ct)).ToArray();
    var all = (await Task.WhenAll(loops)).SelectMany(l => l).Order().ToArray();
    var elapsed = clock.Elapsed.TotalSeconds;
    double Ms(double quantile) => all.Length == 0 ? double.NaN : all[(int)Math.Min(all.Length - 1, quantile * all.Length)] * 1000.0 / Stopwatch.Frequency;
    return string.Create(CultureInfo.InvariantCulture, $"{all.Length / elapsed:F0}\t{Ms(0.5):F2}\t{Ms(0.99):F2}\t{errors}\n");
}

// Writes 256 KB chunks for the duration, then half-closes and waits for the sink to close: the bytes counted were all
// received. Answers "Gbit/s".
static async Task<string> BulkAsync(Func<CancellationToken, ValueTask<Stream>> open, TimeSpan duration, CancellationToken ct)
{
    await using var stream = await open(ct);
    var chunk = new byte[256 * 1024];
    Random.Shared.NextBytes(chunk);
    var clock = Stopwatch.StartNew();
    long sent = 0;
    while (clock.Elapsed < duration)
    {
        await stream.WriteAsync(chunk, ct);
        sent += chunk.Length;
    }
    switch (stream)
    {
        case NetworkStream network: network.Socket.Shutdown(SocketShutdown.Send); break;
        case IHalfClosable tunnel: tunnel.ShutdownSend(); break;
        default: throw new InvalidOperationException($"{stream.GetType()} cannot half-close");
    }
    while (await stream.ReadAsync(chunk, ct) > 0)
    {
    }
    return string.Create(CultureInfo.InvariantCulture, $"{sent * 8 / clock.Elapsed.TotalSeconds / 1e9:F3}\n");
}

static async Task<(int Http, int Tcp, int Sink)> SetUpAsync(WebApplication app, IConfiguration bench)
{
    var port = app.Configuration.GetValue("Server:ExternalPort", 3000);
    using var api = new HttpClient(new SocketsHttpHandler { UseCookies = true }) { BaseAddress = new Uri($"http://127.0.0.1:{port}/api/v1/") };
    api.DefaultRequestHeaders.Add("X-CSRF-Token", "x-csrf-protection");
    const string Email = "bench@example.com";
    const string Password = "Bench-Password-9";
    var token = app.Services.GetRequiredService<SetupState>().SetupToken ?? throw new InvalidOperationException("use a fresh data folder");
    await Expect(api.PutAsJsonAsync("auth/set-server-admin", new { email = Email, password = Password, setupToken = token }));
    await Expect(api.PostAsJsonAsync("auth/login", new { email = Email, password = Password }));
    await Expect(api.PutAsJsonAsync("org", new { orgId = "bench", name = "Bench" }));
    var site = await Expect(api.PutAsJsonAsync("org/bench/site", new { name = "bench", type = "newt" }));
    var resource = await Expect(api.PutAsJsonAsync("org/bench/resource", new { name = "Web", http = true, subdomain = "web", domainId = "main" }));
    var resourceId = resource.GetProperty("resourceId").GetInt32();
    var siteId = site.GetProperty("siteId").GetInt32();
    var backend = bench["Backend"] ?? "127.0.0.1";
    var http = await Expect(api.PutAsJsonAsync($"resource/{resourceId}/target", new { siteId, ip = backend, port = bench.GetValue("HttpPort", 18080) }));
    var tcp = await Expect(api.PutAsJsonAsync($"resource/{resourceId}/target", new { siteId, ip = backend, port = bench.GetValue("TcpPort", 5201) }));
    var sink = await Expect(api.PutAsJsonAsync($"resource/{resourceId}/target", new { siteId, ip = backend, port = bench.GetValue("SinkPort", 5202) }));
    await File.WriteAllTextAsync(bench["SiteFile"] ?? "site.env",
        $"NEWT_ID={site.GetProperty("newtId").GetString()}\nNEWT_SECRET={site.GetProperty("secret").GetString()}\n");
    return (http.GetProperty("targetId").GetInt32(), tcp.GetProperty("targetId").GetInt32(), sink.GetProperty("targetId").GetInt32());
}

static async Task<JsonElement> Expect(Task<HttpResponseMessage> call)
{
    using var response = await call;
    var body = await response.Content.ReadAsStringAsync();
    if (!response.IsSuccessStatusCode)
    {
        throw new InvalidOperationException($"{response.RequestMessage?.Method} {response.RequestMessage?.RequestUri}: {(int)response.StatusCode} {body}");
    }
    using var document = JsonDocument.Parse(body);
    return document.RootElement.TryGetProperty("data", out var data) ? data.Clone() : default;
}
