using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Primitives;

namespace Pangolin.Edge.Tests.Routing;

/// <summary>A config source the test sets by hand.</summary>
internal sealed class ManualEdgeConfigSource : IEdgeConfigSource, IDisposable
{
    private CancellationTokenSource _changed = new();
    private EdgeSnapshot _current = EdgeSnapshot.Empty;
    private long _version;

    public EdgeSnapshot Current => _current;

    public IChangeToken GetChangeToken() => new CancellationChangeToken(_changed.Token);

    public void Set(params EdgeHttpResource[] resources)
    {
        _current = new EdgeSnapshot(Interlocked.Increment(ref _version), resources, []);
        var previous = Interlocked.Exchange(ref _changed, new CancellationTokenSource());
        previous.Cancel();
    }

    public void Dispose() => _changed.Dispose();
}

/// <summary>Dials targets to loopback ports that the test names; counts the connections made.</summary>
internal sealed class LoopbackDialer : ITargetDialer
{
    public ConcurrentDictionary<int, int> Ports { get; } = new();

    public int Connections;

    public async ValueTask<Stream> ConnectTcpAsync(int targetId, CancellationToken ct)
    {
        if (!Ports.TryGetValue(targetId, out var port))
        {
            throw new TargetUnreachableException($"target {targetId} is not known");
        }
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(IPAddress.Loopback, port, ct);
        }
        catch (SocketException e)
        {
            socket.Dispose();
            throw new TargetUnreachableException($"127.0.0.1:{port}: {e.Message}", e);
        }
        Interlocked.Increment(ref Connections);
        return new NetworkStream(socket, ownsSocket: true);
    }

    public ValueTask<IEdgeUdpFlow> OpenUdpAsync(int targetId, CancellationToken ct) => throw new NotSupportedException();
}

/// <summary>A backend that answers every request with what it received, as JSON.</summary>
internal sealed class EchoBackend : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EchoBackend(WebApplication app, string name, ConcurrentQueue<string?> serverNames)
    {
        _app = app;
        Name = name;
        ServerNames = serverNames;
    }

    /// <summary>The TLS server names (SNI) that clients sent, one per handshake.</summary>
    public ConcurrentQueue<string?> ServerNames { get; }

    public string Name { get; }

    public int Port => new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

    public static async Task<EchoBackend> StartAsync(string name, Action<WebApplication>? extra = null, bool https = false, HttpProtocols protocols = HttpProtocols.Http1)
    {
        var serverNames = new ConcurrentQueue<string?>();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, l =>
        {
            l.Protocols = protocols;
            if (https)
            {
                var certificate = TestCertificates.SelfSigned("backend.internal");
                l.UseHttps(new HttpsConnectionAdapterOptions
                {
                    ServerCertificateSelector = (_, name) =>
                    {
                        serverNames.Enqueue(name);
                        return certificate;
                    },
                });
            }
        }));
        var app = builder.Build();
        app.UseWebSockets();
        extra?.Invoke(app);
        app.Map("/{**path}", async (HttpContext context) =>
        {
            var headers = context.Request.Headers.ToDictionary(h => h.Key, h => h.Value.ToString(), StringComparer.OrdinalIgnoreCase);
            await context.Response.WriteAsJsonAsync(new EchoReply(name, context.Request.Path.Value ?? "", context.Request.QueryString.Value ?? "",
                context.Request.Protocol, headers, context.Request.IsHttps));
        });
        await app.StartAsync();
        return new EchoBackend(app, name, serverNames);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

internal sealed record EchoReply(string Backend, string Path, string Query, string Protocol, Dictionary<string, string> Headers, bool Tls)
{
    public string? Header(string name) => Headers.TryGetValue(name, out var v) ? v : null;
}

/// <summary>The edge in a host application of its own, as the server hosts it, on a loopback port.</summary>
internal sealed class EdgeTestHost : IAsyncDisposable
{
    private readonly WebApplication _app;

    private EdgeTestHost(WebApplication app, ManualEdgeConfigSource source, LoopbackDialer dialer)
    {
        _app = app;
        Source = source;
        Dialer = dialer;
        Client = new HttpClient(new SocketsHttpHandler { UseCookies = false, AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{Port}") };
    }

    public ManualEdgeConfigSource Source { get; }

    public LoopbackDialer Dialer { get; }

    public HttpClient Client { get; }

    public int Port => new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

    public static async Task<EdgeTestHost> StartAsync()
    {
        var source = new ManualEdgeConfigSource();
        var dialer = new LoopbackDialer();
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
        builder.Services.AddSingleton<IEdgeConfigSource>(source);
        builder.Services.AddSingleton<ITargetDialer>(dialer);
        builder.Services.AddPangolinEdge();
        var app = builder.Build();
        app.UsePangolinEdge();
        app.UseRouting();
        app.MapGet("/{**rest}", () => "the host application");
        await app.StartAsync();
        return new EdgeTestHost(app, source, dialer);
    }

    public async Task<(HttpResponseMessage Response, EchoReply? Reply)> GetAsync(string host, string pathAndQuery, Action<HttpRequestMessage>? configure = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, pathAndQuery);
        request.Headers.Host = host;
        configure?.Invoke(request);
        var response = await Client.SendAsync(request, TestContext.Current.CancellationToken);
        EchoReply? reply = null;
        if (response.Content.Headers.ContentType?.MediaType == "application/json")
        {
            reply = JsonSerializer.Deserialize<EchoReply>(await response.Content.ReadAsStringAsync(TestContext.Current.CancellationToken), JsonSerializerOptions.Web);
        }
        return (response, reply);
    }

    public async ValueTask DisposeAsync()
    {
        Client.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}

internal static class Resources
{
    public static EdgeHttpResource Http(int id, string host, params EdgeHttpTarget[] targets) =>
        new(id, $"guid-{id}", "org", host, false, EdgeAccessPolicy.Open, null, null, false, [], targets);

    public static EdgeHttpTarget Target(int id, string method = "http", string? path = null, string? match = null,
        string? rewritePath = null, string? rewriteType = null, int priority = 100) =>
        new(id, method, path, match, rewritePath, rewriteType, priority);
}
