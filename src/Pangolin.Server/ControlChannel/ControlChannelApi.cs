using System.Net.WebSockets;
using Pangolin.Protocol;
using Pangolin.Server.Apis;
using Pangolin.Server.Auth;
using Pangolin.Server.ControlChannel.Handlers;
using Pangolin.Server.Sites;
using Pangolin.WireGuard.Net;

namespace Pangolin.Server.ControlChannel;

/// <summary>The newt control channel: get-token, the WebSocket at /api/v1/ws, and the services behind them.</summary>
public static partial class ControlChannelApi
{
    /// <summary>Kestrel pings each newt at this interval and drops one that does not answer within the same time.</summary>
    public static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(30);

    public static IServiceCollection AddControlChannel(this IServiceCollection services)
    {
        services.AddScoped<NewtSessions>();
        services.AddSingleton<ConnectionRegistry>();
        services.AddSingleton<MessageRouter>();
        services.AddSingleton<SitePresence>();
        services.AddHostedService(sp => sp.GetRequiredService<SitePresence>());
        services.AddKeyedScoped<INewtMessageHandler, PingHandler>(MessageTypes.NewtPing);
        services.AddKeyedScoped<INewtMessageHandler, PingHandler>(MessageTypes.LegacyPing);
        services.AddKeyedScoped<INewtMessageHandler, DisconnectingHandler>(MessageTypes.NewtDisconnecting);
        services.AddKeyedScoped<INewtMessageHandler, PingRequestHandler>(MessageTypes.NewtPingRequest);
        services.AddKeyedScoped<INewtMessageHandler, RegisterHandler>(MessageTypes.NewtWgRegister);
        services.AddSingleton<RegistrationLock>();
        services.AddSingleton<ExitNodeBind>(port => LinuxUdpTransport.Bind(port));
        services.AddSingleton<GerbilConfigSigner>();
        services.AddSingleton<EmbeddedExitNode>();
        services.AddHostedService(sp => sp.GetRequiredService<EmbeddedExitNode>());
        services.AddScoped<ExitNodePeers>();
        services.AddScoped<SiteNotifier>();
        services.AddSingleton<TargetConnector>();
        services.AddKeyedScoped<INewtMessageHandler, HealthStatusHandler>(MessageTypes.NewtHealthCheckStatus);
        // Registered after the exit node: hosted services stop in reverse order, so the last count is taken first.
        services.AddSingleton<BandwidthAccumulator>();
        services.AddHostedService(sp => sp.GetRequiredService<BandwidthAccumulator>());
        services.AddHttpClient(ExitNodePeers.HttpClientName, c => c.Timeout = TimeSpan.FromSeconds(5));
        return services;
    }

    public static RouteGroupBuilder MapControlChannel(this RouteGroupBuilder api)
    {
        api.MapNewtTokenApi();
        api.MapGerbilInternalApi();
        api.MapGet("/ws", ConnectAsync).WithTags("Newt").AllowAnonymous().WithMetadata(PublicEndpoint.Instance).ExcludeFromDescription();
        return api;
    }

    private static async Task<IResult> ConnectAsync(
        HttpContext http, NewtSessions sessions, ConnectionRegistry registry, MessageRouter router, SitePresence presence,
        IHostApplicationLifetime lifetime, ILoggerFactory loggers)
    {
        var clientType = http.Request.Query["clientType"].ToString();
        if (clientType.Length > 0 && clientType != "newt")
        {
            throw ApiException.BadRequest($"clientType '{clientType}' is not supported; this server accepts newt connections");
        }
        var token = http.Request.Query["token"].ToString();
        if (token.Length == 0 && http.Request.Headers.SecWebSocketProtocol is { Count: > 0 } protocols)
        {
            // Upstream also accepts the token as the WebSocket subprotocol (clients that cannot put it in the URL).
            token = protocols.SelectMany(p => (p ?? "").Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)).FirstOrDefault() ?? "";
        }
        // Authenticated before the upgrade: a refused newt gets a plain 401, which Go's dialer reports as a bad handshake.
        var identity = await sessions.ValidateAsync(token, http.RequestAborted)
            ?? throw ApiException.Unauthorized("The token is missing, expired or revoked; get a new one from /api/v1/auth/newt/get-token");
        if (!http.WebSockets.IsWebSocketRequest)
        {
            throw ApiException.BadRequest("This endpoint only accepts WebSocket connections");
        }
        using var socket = await http.WebSockets.AcceptWebSocketAsync(new WebSocketAcceptContext
        {
            KeepAliveInterval = KeepAlive,
            KeepAliveTimeout = KeepAlive,
            SubProtocol = http.WebSockets.WebSocketRequestedProtocols.Contains(token, StringComparer.Ordinal) ? token : null,
        });
        using var connection = new NewtConnection(socket, identity);
        var logger = loggers.CreateLogger(typeof(ControlChannelApi));
        registry.Add(connection);
        LogConnected(logger, identity.NewtId, identity.SiteId);
        using var stopping = lifetime.ApplicationStopping.Register(() => connection.Close(WebSocketCloseStatus.EndpointUnavailable, "server is shutting down"));
        try
        {
            await presence.ConnectedAsync(identity.SiteId, CancellationToken.None);
            await connection.RunAsync(router.DispatchAsync, router.BadFrameAsync, http.RequestAborted);
        }
        finally
        {
            if (registry.Remove(connection))
            {
                await presence.DisconnectedAsync(identity.SiteId, CancellationToken.None);
            }
            LogDisconnected(logger, identity.NewtId);
        }
        return Results.Empty;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Newt {NewtId} connected (site {SiteId})")]
    private static partial void LogConnected(ILogger logger, string newtId, int siteId);

    [LoggerMessage(Level = LogLevel.Information, Message = "Newt {NewtId} disconnected")]
    private static partial void LogDisconnected(ILogger logger, string newtId);
}
