using System.Net;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Pangolin.Gerbil.Nodes;
using Pangolin.Protocol;
using Pangolin.Protocol.Gerbil;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Api;

/// <summary>
/// The HTTP API the server calls at the node's REACHABLE_AT (upstream gerbil's, fosrl/gerbil main.go):
/// <list type="bullet">
/// <item><c>POST /peer {publicKey, allowedIps[]}</c> → 201 <c>{status:"Peer added successfully"}</c>; an upsert.</item>
/// <item><c>DELETE /peer?public_key=&lt;base64&gt;</c> → 200 <c>{status:"Peer removed successfully"}</c>, known or not.</item>
/// <item><c>GET /healthz</c> → <c>ok</c>.</item>
/// <item>The relay, SNI and AI-gateway routes → 501: this gerbil has none of them.</item>
/// </list>
/// A body or key that cannot be used is a 400 with a plain-text reason; a device that refuses the change is a 500.
/// With a CONTROL_API_TOKEN, <c>/peer</c> and the <c>/update-*</c> routes answer 401 <c>Unauthorized</c> (plain text,
/// <c>WWW-Authenticate: Bearer</c>) to a request without <c>Authorization: Bearer &lt;token&gt;</c>, as upstream's
/// do; <c>/healthz</c> and <c>/router/*</c> stay open there too. Without a token the API is open: listen only where the
/// server alone can reach it.
/// </summary>
internal sealed partial class PeerApi : IAsyncDisposable
{
    /// <summary>Upstream's body limit for the exit-node API.</summary>
    private const long MaxBodyBytes = 1024 * 1024;

    private static readonly string[] NotImplemented = ["/update-proxy-mapping", "/update-destinations", "/update-local-snis", "/router/{**path}"];

    private readonly WebApplication _app;

    private PeerApi(WebApplication app, Uri address)
    {
        _app = app;
        Address = address;
    }

    /// <summary>Where the API listens, with the port actually bound: <c>http://127.0.0.1:3004</c>.</summary>
    public Uri Address { get; }

    /// <param name="listen">Where to listen.</param>
    /// <param name="node">The node whose peers the API changes.</param>
    /// <param name="controlApiToken">The bearer token the guarded routes require; null leaves them open.</param>
    /// <param name="loggerFactory">For the API's log lines.</param>
    /// <param name="cancellationToken">Ends a start that has not completed.</param>
    /// <exception cref="IOException">The address cannot be bound (in use, not ours).</exception>
    public static async Task<PeerApi> StartAsync(IPEndPoint listen, IExitNode node, string? controlApiToken, ILoggerFactory loggerFactory,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [], ApplicationName = "gerbil", ContentRootPath = AppContext.BaseDirectory });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(loggerFactory);
        // gerbil handles SIGINT/SIGTERM itself, and stops the API first.
        builder.Services.AddSingleton<IHostLifetime, ExternallyStoppedLifetime>();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = MaxBodyBytes;
            if (listen.Address.Equals(IPAddress.IPv6Any) || listen.Address.Equals(IPAddress.Any))
            {
                // Dual-stack where the host has IPv6, IPv4 alone where it has not.
                kestrel.ListenAnyIP(listen.Port);
            }
            else
            {
                kestrel.Listen(listen);
            }
        });
        var app = builder.Build();
        var logger = loggerFactory.CreateLogger<PeerApi>();
        if (controlApiToken is not null)
        {
            var token = new BearerToken(controlApiToken);
            // By the endpoint routing chose, not the path, so that a spelling routing accepts (/PEER) is guarded too.
            app.Use((context, next) => context.GetEndpoint()?.Metadata.GetMetadata<TokenRequired>() is not null
                && !token.Admits(context.Request.Headers.Authorization.ToString())
                    ? UnauthorizedAsync(context, logger)
                    : next(context));
        }
        app.MapPost("/peer", context => AddPeerAsync(context, node, logger)).WithMetadata(TokenRequired.Instance);
        app.MapDelete("/peer", context => RemovePeerAsync(context, node, logger)).WithMetadata(TokenRequired.Instance);
        app.MapGet("/healthz", context => PlainAsync(context, StatusCodes.Status200OK, "ok"));
        foreach (var route in NotImplemented)
        {
            var name = route.Split('/', StringSplitOptions.RemoveEmptyEntries)[0];
            var endpoint = app.Map(route, context => PlainAsync(context, StatusCodes.Status501NotImplemented,
                $"{name} is not implemented by this gerbil (no UDP relay, SNI proxy or AI gateway)"));
            // Upstream guards the /update-* routes, not the AI gateway's /router/*.
            if (name != "router")
            {
                endpoint.WithMetadata(TokenRequired.Instance);
            }
        }
        try
        {
            await app.StartAsync(cancellationToken);
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException)
        {
            await app.DisposeAsync();
            throw new IOException($"cannot listen on {listen}: {e.Message}", e);
        }
        var bound = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault()
            ?? $"http://{listen}";
        // Kestrel names the any-address listener http://[::]:port; a client reaches it on loopback.
        var address = new Uri(bound.Replace("[::]", "127.0.0.1", StringComparison.Ordinal).Replace("0.0.0.0", "127.0.0.1", StringComparison.Ordinal));
        LogListening(logger, address);
        return new PeerApi(app, address);
    }

    /// <summary>Stops accepting and lets requests in flight finish (bounded by <paramref name="cancellationToken"/>).</summary>
    public Task StopAsync(CancellationToken cancellationToken) => _app.StopAsync(cancellationToken);

    public ValueTask DisposeAsync() => _app.DisposeAsync();

    private static async Task AddPeerAsync(HttpContext context, IExitNode node, ILogger logger)
    {
        GerbilPeer? peer;
        try
        {
            peer = await JsonSerializer.DeserializeAsync(context.Request.Body, ProtocolJsonContext.Default.GerbilPeer, context.RequestAborted);
        }
        catch (JsonException e)
        {
            await BadRequestAsync(context, logger, $"The body is not a JSON peer {{publicKey, allowedIps}}: {e.Message}");
            return;
        }
        catch (BadHttpRequestException e)
        {
            await PlainAsync(context, e.StatusCode, e.Message);
            return;
        }
        if (peer is null)
        {
            await BadRequestAsync(context, logger, "The body must be a JSON peer {publicKey, allowedIps}, not null");
            return;
        }
        if (!PeerRequest.TryParse(peer, node.PublicKey, out var parsed, out var problem))
        {
            await BadRequestAsync(context, logger, problem);
            return;
        }
        try
        {
            node.AddPeer(parsed.PublicKey, parsed.AllowedIps);
        }
        catch (Exception e) when (e is ConfigurationException or ArgumentException or ObjectDisposedException)
        {
            LogConfigureFailed(logger, parsed.PublicKey, e.Message);
            await PlainAsync(context, StatusCodes.Status500InternalServerError, $"The peer could not be added: {e.Message}");
            return;
        }
        context.Response.StatusCode = StatusCodes.Status201Created;
        await context.Response.WriteAsJsonAsync(new GerbilStatusResponse { Status = "Peer added successfully" },
            ProtocolJsonContext.Default.GerbilStatusResponse, cancellationToken: context.RequestAborted);
    }

    private static async Task RemovePeerAsync(HttpContext context, IExitNode node, ILogger logger)
    {
        var text = context.Request.Query["public_key"].ToString();
        if (text.Length == 0)
        {
            await BadRequestAsync(context, logger, "Missing public_key query parameter");
            return;
        }
        // A '+' the caller did not percent-encode arrives as a space; base64 has no spaces.
        if (!PeerRequest.TryParseKey(text.Replace(' ', '+'), out var key, out var problem))
        {
            await BadRequestAsync(context, logger, problem.Replace("publicKey", "public_key", StringComparison.Ordinal));
            return;
        }
        try
        {
            node.RemovePeer(key);
        }
        catch (Exception e) when (e is ConfigurationException or ObjectDisposedException)
        {
            LogConfigureFailed(logger, key, e.Message);
            await PlainAsync(context, StatusCodes.Status500InternalServerError, $"The peer could not be removed: {e.Message}");
            return;
        }
        await context.Response.WriteAsJsonAsync(new GerbilStatusResponse { Status = "Peer removed successfully" },
            ProtocolJsonContext.Default.GerbilStatusResponse, cancellationToken: context.RequestAborted);
    }

    private static Task UnauthorizedAsync(HttpContext context, ILogger logger)
    {
        LogBadRequest(logger, context.Request.Method, context.Request.Path, "no Authorization: Bearer with the CONTROL_API_TOKEN");
        context.Response.Headers.WWWAuthenticate = "Bearer";
        return PlainAsync(context, StatusCodes.Status401Unauthorized, "Unauthorized");
    }

    private static Task BadRequestAsync(HttpContext context, ILogger logger, string reason)
    {
        LogBadRequest(logger, context.Request.Method, context.Request.Path, reason);
        return PlainAsync(context, StatusCodes.Status400BadRequest, reason);
    }

    private static Task PlainAsync(HttpContext context, int status, string text)
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(text + "\n", context.RequestAborted);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Peer API listening on {Address}")]
    private static partial void LogListening(ILogger logger, Uri address);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method} {Path} refused: {Reason}")]
    private static partial void LogBadRequest(ILogger logger, string method, PathString path, string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "The device refused the change to peer {PublicKey}: {Reason}")]
    private static partial void LogConfigureFailed(ILogger logger, WgKey publicKey, string reason);

    /// <summary>Marks the routes that require the CONTROL_API_TOKEN.</summary>
    private sealed class TokenRequired
    {
        public static readonly TokenRequired Instance = new();
    }

    /// <summary>An <see cref="IHostLifetime"/> that leaves the process's signals alone.</summary>
    private sealed class ExternallyStoppedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
