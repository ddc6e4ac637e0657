using System.Net.Security;
using Microsoft.Extensions.Logging;
using Yarp.ReverseProxy.Forwarder;

namespace Pangolin.Edge.Routing;

/// <summary>
/// YARP's HTTP clients, with their connections opened by the host's <see cref="ITargetDialer"/>: through a site's
/// tunnel on the userspace stack (no TUN device, no extra hop) or straight to a local target. https targets get TLS
/// here, with the resource's server name and without certificate checks, as upstream's serversTransport
/// (insecureSkipVerify) has it: the hop is inside the site's own network, behind the authenticated tunnel.
/// </summary>
internal sealed partial class TunnelHttpClientFactory(ITargetDialer dialer, ILogger<ForwarderHttpClientFactory> baseLogger, ILogger<TunnelHttpClientFactory> logger)
    : ForwarderHttpClientFactory(baseLogger)
{
    private static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    protected override void ConfigureHandler(ForwarderHttpClientContext context, SocketsHttpHandler handler)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(handler);
        base.ConfigureHandler(context, handler);
        var sni = context.NewMetadata?.GetValueOrDefault(EdgeProxyConfigProvider.SniMetadata) ?? "";
        handler.ConnectTimeout = ConnectTimeout;
        // No tracing here: without a propagator, SocketsHttpHandler skips its diagnostics handler on every request,
        // and a client's own traceparent still reaches the backend as an ordinary header.
        handler.ActivityHeadersPropagator = null;
        handler.PooledConnectionIdleTimeout = TimeSpan.FromSeconds(90);
        handler.ConnectCallback = async (connect, ct) =>
        {
            if (!EdgeProxyConfigProvider.TryParseDestinationHost(connect.DnsEndPoint.Host, out var targetId, out var tls))
            {
                throw new HttpRequestException($"{connect.DnsEndPoint.Host} is not an edge target");
            }
            Stream stream;
            try
            {
                stream = await dialer.ConnectTcpAsync(targetId, ct);
            }
            catch (TargetUnreachableException e)
            {
                LogUnreachable(logger, targetId, e.Message);
                throw new HttpRequestException(e.Message, e);
            }
            if (!tls)
            {
                return stream;
            }
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            try
            {
                await ssl.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
                {
                    TargetHost = sni,
                    ApplicationProtocols = [SslApplicationProtocol.Http11],
#pragma warning disable CA5359 // upstream's https targets skip verification (serversTransport insecureSkipVerify); see the type's summary
                    RemoteCertificateValidationCallback = static (_, _, _, _) => true,
#pragma warning restore CA5359
                }, ct);
                return ssl;
            }
            catch
            {
                await ssl.DisposeAsync();
                throw;
            }
        };
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Target {TargetId} is unreachable: {Reason}")]
    private static partial void LogUnreachable(ILogger logger, int targetId, string reason);
}
