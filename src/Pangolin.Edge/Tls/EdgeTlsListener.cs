using System.Net.Security;
using System.Security.Authentication;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace Pangolin.Edge.Tls;

public static class EdgeTlsListenOptionsExtensions
{
    // ALPN (RFC 7301): h2 first, so clients that speak it get HTTP/2; http/1.1 for the rest.
    private static readonly List<SslApplicationProtocol> Alpn = [SslApplicationProtocol.Http2, SslApplicationProtocol.Http11];

    /// <summary>
    /// Terminates TLS on this listener with the certificate <paramref name="store"/> picks by SNI, HTTP/1.1 and HTTP/2.
    /// The choice is made per handshake from memory; the store falls back to its self-signed certificate.
    /// </summary>
    public static ListenOptions UsePangolinEdgeTls(this ListenOptions listen, EdgeCertificateStore store)
    {
        ArgumentNullException.ThrowIfNull(listen);
        ArgumentNullException.ThrowIfNull(store);
        listen.Protocols = HttpProtocols.Http1AndHttp2;
        return listen.UseHttps(new TlsHandshakeCallbackOptions
        {
            OnConnection = context =>
            {
                var certificate = store.Select(context.ClientHelloInfo.ServerName)
                    ?? throw new AuthenticationException("The edge has no certificate yet, not even its fallback.");
                return ValueTask.FromResult(new SslServerAuthenticationOptions
                {
                    ServerCertificateContext = certificate,
                    ApplicationProtocols = Alpn,
                });
            },
        });
    }
}
