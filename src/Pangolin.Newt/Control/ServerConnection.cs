namespace Pangolin.Newt.Control;

/// <summary>
/// The one HTTP handler get-token and the WebSocket go through, so that both present the same client certificate and
/// trust the same roots (<see cref="ServerTls"/>). It notes why a TLS handshake failed, which .NET's exceptions only
/// hint at, so that <see cref="Explain"/> can tell the user what to change.
/// </summary>
internal sealed class ServerConnection : IDisposable
{
    private readonly ServerTls _tls;
    private readonly SocketsHttpHandler _handler = new();
    private string? _refusedServerCertificate;
    private int _certificateAsked;

    public ServerConnection(ServerTls tls)
    {
        ArgumentNullException.ThrowIfNull(tls);
        _tls = tls;
        _handler.SslOptions.ClientCertificateContext = tls.CreateCertificateContext();
        if (tls.ClientCertificate is null)
        {
            // Called when the server asks for a certificate (it had sent its own by then); newt has none to give.
            _handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, remote, _) =>
            {
                if (remote is not null)
                {
                    Interlocked.Exchange(ref _certificateAsked, 1);
                }
                return null!;
            };
        }
        _handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
        {
            if (tls.Verify(certificate, chain, errors, out var problem))
            {
                return true;
            }
            Interlocked.Exchange(ref _refusedServerCertificate, problem);
            return false;
        };
        Http = new HttpClient(_handler, disposeHandler: false) { Timeout = TimeSpan.FromSeconds(30) };
        WebSocketInvoker = new HttpMessageInvoker(_handler, disposeHandler: false);
    }

    /// <summary>For get-token.</summary>
    public HttpClient Http { get; }

    /// <summary>For the WebSocket's upgrade request.</summary>
    public HttpMessageInvoker WebSocketInvoker { get; }

    /// <summary>One line on why a request to the server failed: the TLS reason when there was one, else the exceptions' messages.</summary>
    public string Explain(Exception failure)
    {
        ArgumentNullException.ThrowIfNull(failure);
        if (Interlocked.Exchange(ref _refusedServerCertificate, null) is { } problem)
        {
            return $"the server's certificate {problem}: trust its CA with --tls-client-ca (or TLS_CLIENT_CAS), or set SKIP_TLS_VERIFY=true to accept any";
        }
        if (Interlocked.Exchange(ref _certificateAsked, 0) == 1)
        {
            return "the server asks for a client certificate (mutual TLS) and newt has none: give one with --tls-client-cert-file and "
                + "--tls-client-key (or --tls-client-cert for PKCS#12)";
        }
        var messages = new List<string>();
        for (var e = failure; e is not null; e = e.InnerException)
        {
            var message = e.Message.Replace("see inner exception", "", StringComparison.Ordinal).ReplaceLineEndings(" ").Trim(' ', ',', '.');
            if (message.Length > 0 && !messages.Any(m => m.Contains(message, StringComparison.Ordinal)))
            {
                messages.Add(message);
            }
        }
        return string.Join(": ", messages);
    }

    public void Dispose()
    {
        Http.Dispose();
        WebSocketInvoker.Dispose();
        _handler.Dispose();
    }
}
