using System.Collections.Concurrent;
using System.Net;
using System.Net.WebSockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;

namespace Pangolin.Newt.Tests.Infrastructure;

/// <summary>
/// The part of a Pangolin server newt talks to before the tunnel (get-token and the WebSocket), behind a real Kestrel
/// that asks every client for a certificate issued by the test CA, as a reverse proxy doing mTLS would. It records
/// the thumbprint of the certificate each request came with.
/// </summary>
internal sealed class MutualTlsServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly TaskCompletionSource<string> _webSocket = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private MutualTlsServer(WebApplication app) => _app = app;

    public Uri Endpoint { get; private set; } = null!;

    /// <summary>Client certificate thumbprints of the get-token requests, in order.</summary>
    public ConcurrentQueue<string> TokenRequests { get; } = new();

    /// <summary>Completes with the client certificate thumbprint of the first WebSocket opened.</summary>
    public Task<string> WebSocketOpened => _webSocket.Task;

    public static async Task<MutualTlsServer> StartAsync(TestCertificates certificates)
    {
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(kestrel => kestrel.Listen(IPAddress.Loopback, 0, listen => listen.UseHttps(https =>
        {
            https.ServerCertificate = certificates.Server;
            https.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            https.ClientCertificateValidation = (certificate, _, _) => certificates.IssuedByCa(certificate);
        })));
        var app = builder.Build();
        var server = new MutualTlsServer(app);
        app.UseWebSockets();
        app.MapPost("/api/v1/auth/newt/get-token", (HttpContext context) =>
        {
            server.TokenRequests.Enqueue(context.Connection.ClientCertificate?.Thumbprint ?? "");
            return Results.Text("""{"data":{"token":"t0ken","serverVersion":"1.13.0"},"success":true,"error":false,"message":"ok","status":200}""",
                "application/json");
        });
        app.Map("/api/v1/ws", async context =>
        {
            if (!context.WebSockets.IsWebSocketRequest || context.Request.Query["token"] != "t0ken")
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                return;
            }
            using var socket = await context.WebSockets.AcceptWebSocketAsync();
            server._webSocket.TrySetResult(context.Connection.ClientCertificate?.Thumbprint ?? "");
            var buffer = new byte[64 * 1024];
            try
            {
                while (!(await socket.ReceiveAsync(buffer, context.RequestAborted)).CloseStatus.HasValue)
                {
                }
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
            }
        });
        await app.StartAsync(TestContext.Current.CancellationToken);
        server.Endpoint = new Uri(app.Urls.Single());
        return server;
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync(CancellationToken.None);
        await _app.DisposeAsync();
    }
}
