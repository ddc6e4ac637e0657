using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;
using NSec.Cryptography;
using Pangolin.Protocol;
using Pangolin.Protocol.Gerbil;

namespace Pangolin.Gerbil.Tests.Infrastructure;

/// <summary>A get-config call as the fake server saw it, with the status it answered.</summary>
internal sealed record GetConfigCall(DateTimeOffset At, GetConfigRequest Body, int Status);

/// <summary>A receive-bandwidth post as the fake server saw it, with the status it answered.</summary>
internal sealed record BandwidthCall(DateTimeOffset At, IReadOnlyList<PeerBandwidth> Body, int Status);

/// <summary>
/// The server's internal exit-node API, small and scripted: Kestrel on loopback with <c>/api/v1/gerbil/get-config</c>
/// and <c>/api/v1/gerbil/receive-bandwidth</c>, recording each call and the clock it arrived at. It can refuse the
/// next calls (503 for get-config, 500 for bandwidth), as a server that is starting or failing would.
/// </summary>
internal sealed class FakeControlServer : IAsyncDisposable
{
    private readonly TimeProvider _time;
    private readonly Lock _lock = new();
    private readonly List<GetConfigCall> _getConfig = [];
    private readonly List<BandwidthCall> _bandwidth = [];
    private int _refuseGetConfig;
    private int _refuseBandwidth;

    private WebApplication? _app;

    private FakeControlServer(TimeProvider time) => _time = time;

    /// <summary>What gerbil's REMOTE_CONFIG names: <c>http://127.0.0.1:port/api/v1</c>.</summary>
    public Uri BaseUrl { get; private set; } = null!;

    /// <summary>What get-config answers; listen port 0 lets the node pick a free one.</summary>
    public GetConfigResponse Config { get; set; } = new() { ListenPort = 0, IpAddress = "100.89.138.1/24" };

    /// <summary>Signs each get-config body into X-Gerbil-Config-Signature, as our server does with Gerbil:ConfigSigningKey.</summary>
    public Key? SigningKey { get; set; }

    /// <summary>Sent as X-Gerbil-Config-Signature instead of a real signature.</summary>
    public string? SignatureOverride { get; set; }

    /// <summary>Changes the body after it was signed (a man in the middle); null sends it as signed.</summary>
    public Func<byte[], byte[]>? Tamper { get; set; }

    public IReadOnlyList<GetConfigCall> GetConfigCalls
    {
        get
        {
            lock (_lock)
            {
                return [.. _getConfig];
            }
        }
    }

    public IReadOnlyList<BandwidthCall> BandwidthCalls
    {
        get
        {
            lock (_lock)
            {
                return [.. _bandwidth];
            }
        }
    }

    /// <summary>The accepted reports' entries, in order.</summary>
    public IReadOnlyList<PeerBandwidth> AcceptedBandwidth => [.. BandwidthCalls.Where(c => c.Status == 200).SelectMany(c => c.Body)];

    /// <summary>Answers the next <paramref name="times"/> get-config calls with 503.</summary>
    public void RefuseGetConfig(int times)
    {
        lock (_lock)
        {
            _refuseGetConfig = times;
        }
    }

    /// <summary>Answers the next <paramref name="times"/> bandwidth posts with 500.</summary>
    public void RefuseBandwidth(int times)
    {
        lock (_lock)
        {
            _refuseBandwidth = times;
        }
    }

    /// <param name="time">The clock the calls are stamped with (the one gerbil's schedule runs on).</param>
    /// <param name="listenSocket">A bound, listening socket to serve on (one made in a network namespace); else loopback, a free port.</param>
    public static async Task<FakeControlServer> StartAsync(TimeProvider? time = null, Socket? listenSocket = null)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            if (listenSocket is null)
            {
                kestrel.Listen(IPAddress.Loopback, 0);
            }
            else
            {
                kestrel.ListenHandle((ulong)listenSocket.Handle);
            }
        });
        var app = builder.Build();
        var server = new FakeControlServer(time ?? TimeProvider.System) { _app = app };
        app.MapPost("/api/v1/gerbil/get-config", server.GetConfigAsync);
        app.MapPost("/api/v1/gerbil/receive-bandwidth", server.ReceiveBandwidthAsync);
        await app.StartAsync(TestContext.Current.CancellationToken);
        var port = listenSocket is null ? new Uri(app.Urls.First()).Port : ((IPEndPoint)listenSocket.LocalEndPoint!).Port;
        server.BaseUrl = new Uri($"http://127.0.0.1:{port}/api/v1");
        return server;
    }

    public ValueTask DisposeAsync() => _app?.DisposeAsync() ?? ValueTask.CompletedTask;

    private async Task GetConfigAsync(HttpContext context)
    {
        var body = await JsonSerializer.DeserializeAsync(context.Request.Body, ProtocolJsonContext.Default.GetConfigRequest, context.RequestAborted);
        int status;
        GetConfigResponse config;
        lock (_lock)
        {
            status = _refuseGetConfig > 0 ? 503 : 200;
            _refuseGetConfig = Math.Max(0, _refuseGetConfig - 1);
            _getConfig.Add(new GetConfigCall(_time.GetUtcNow(), body!, status));
            config = Config;
        }
        context.Response.StatusCode = status;
        if (status == 200)
        {
            var bytes = JsonSerializer.SerializeToUtf8Bytes(config, ProtocolJsonContext.Default.GetConfigResponse);
            if (SignatureOverride is { } signature)
            {
                context.Response.Headers["X-Gerbil-Config-Signature"] = signature;
            }
            else if (SigningKey is { } key)
            {
                context.Response.Headers["X-Gerbil-Config-Signature"] = Convert.ToBase64String(SignatureAlgorithm.Ed25519.Sign(key, bytes));
            }
            bytes = Tamper?.Invoke(bytes) ?? bytes;
            context.Response.ContentType = "application/json";
            await context.Response.Body.WriteAsync(bytes, context.RequestAborted);
        }
    }

    private async Task ReceiveBandwidthAsync(HttpContext context)
    {
        var body = await JsonSerializer.DeserializeAsync(context.Request.Body, ProtocolJsonContext.Default.IReadOnlyListPeerBandwidth, context.RequestAborted);
        int status;
        lock (_lock)
        {
            status = _refuseBandwidth > 0 ? 500 : 200;
            _refuseBandwidth = Math.Max(0, _refuseBandwidth - 1);
            _bandwidth.Add(new BandwidthCall(_time.GetUtcNow(), body!, status));
        }
        context.Response.StatusCode = status;
        await context.Response.WriteAsync(status == 200 ? """{"data":{},"success":true}""" : "failing on purpose", context.RequestAborted);
    }
}
