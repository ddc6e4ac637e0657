using System.Net;
using System.Net.Http.Json;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Pangolin.Edge.Tls.Acme;

namespace Pangolin.Edge.Tests.Tls;

/// <summary>
/// Debian's pebble (an ACME test CA) with pebble-challtestsrv as its DNS server, and a Kestrel that answers pebble's
/// http-01 validations from <see cref="Http01Store"/>; all on loopback, on free ports, killed on dispose.
/// </summary>
public sealed class PebbleFixture : IAsyncLifetime
{
    private const string PebbleBinary = "/usr/bin/pebble";
    private const string ChallTestSrvBinary = "/usr/bin/pebble-challtestsrv";
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(30);

    private readonly string _directory = Directory.CreateTempSubdirectory("pangolin-pebble-").FullName;
    private readonly List<IAsyncDisposable> _owned = [];
    private X509Certificate2? _tlsRoot;
    private WebApplication? _http01Server;
    private TestProcess? _challTestSrv;

    public Http01ChallengeStore Http01Store { get; } = new();

    /// <summary>The port of <see cref="Http01Store"/>'s Kestrel, where pebble sends its http-01 validations.</summary>
    public int Http01Port { get; private set; }

    public int DnsPort { get; private set; }

    /// <summary>pebble-challtestsrv's management API (plain HTTP).</summary>
    public Uri ChallTestSrvUrl { get; private set; } = null!;

    /// <summary>The pebble most tests use: no nonce is rejected.</summary>
    public PebbleServer Pebble { get; private set; } = null!;

    /// <summary>For pebble-challtestsrv's management API.</summary>
    public HttpClient PlainHttp { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    public async ValueTask InitializeAsync()
    {
        if (!File.Exists(PebbleBinary) || !File.Exists(ChallTestSrvBinary))
        {
            throw new InvalidOperationException("Debian's pebble package is not installed (apt-get install pebble; .ci/run does it).");
        }
        try
        {
            CreateTlsCertificate();

            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
            _http01Server = builder.Build();
            _http01Server.MapAcmeHttp01(Http01Store);
            await _http01Server.StartAsync();
            Http01Port = new Uri(_http01Server.Urls.Single()).Port;

            await StartChallTestSrvAsync();
            Pebble = await StartPebbleAsync(nonceRejectPercent: 0);
        }
        catch
        {
            // Whatever started is stopped before the failure is reported.
            await DisposeAsync();
            throw;
        }
    }

    /// <summary>The fixture's own CA, which pebble's HTTPS listeners chain to, as a PEM file (for a client configured by path).</summary>
    public string TlsRootFile => Path.Combine(_directory, "tls-root.pem");

    /// <summary>Starts another pebble, sharing the DNS server and the http-01 responder; the fixture kills it at the end.</summary>
    /// <param name="nonceRejectPercent">How many nonces pebble rejects at random (its PEBBLE_WFE_NONCEREJECT).</param>
    /// <param name="httpPort">Where pebble sends http-01 validations; the fixture's own responder when null.</param>
    /// <param name="certificateValidity">How long pebble's certificates are valid; pebble's default (years) when null.</param>
    public async Task<PebbleServer> StartPebbleAsync(int nonceRejectPercent, int? httpPort = null, TimeSpan? certificateValidity = null)
    {
        Exception? last = null;
        // A free port found by binding and closing can be taken by someone else before pebble binds it: try again.
        for (var attempt = 0; attempt < 3; attempt++)
        {
            var listenPort = FreeTcpPort();
            var managementPort = FreeTcpPort();
            var configPath = Path.Combine(_directory, $"pebble-{listenPort}.json");
            await File.WriteAllTextAsync(configPath, $$"""
                {
                  "pebble": {
                    "listenAddress": "127.0.0.1:{{listenPort}}",
                    "managementListenAddress": "127.0.0.1:{{managementPort}}",
                    "certificate": "{{Path.Combine(_directory, "tls-cert.pem")}}",
                    "privateKey": "{{Path.Combine(_directory, "tls-key.pem")}}",
                    "httpPort": {{httpPort ?? Http01Port}},{{(certificateValidity is { } validity ? $"\n\"certificateValidityPeriod\": {(long)validity.TotalSeconds}," : "")}}
                    "tlsPort": {{FreeTcpPort()}},
                    "ocspResponderURL": "",
                    "externalAccountBindingRequired": false
                  }
                }
                """);
            var process = TestProcess.Start(
                PebbleBinary,
                ["-config", configPath, "-dnsserver", $"127.0.0.1:{DnsPort}", "-strict=false"],
                new Dictionary<string, string>
                {
                    ["PEBBLE_VA_NOSLEEP"] = "1",
                    ["PEBBLE_WFE_NONCEREJECT"] = nonceRejectPercent.ToString(System.Globalization.CultureInfo.InvariantCulture),
                    // Every order validates afresh, so the tests do not depend on which authorizations pebble reuses.
                    ["PEBBLE_AUTHZREUSE"] = "0",
                },
                _directory);
            _owned.Add(process);
            var server = new PebbleServer(new Uri($"https://127.0.0.1:{listenPort}/dir"), new Uri($"https://127.0.0.1:{managementPort}/"), CreateHttpClient());
            _owned.Add(server);
            try
            {
                await WaitUntilAsync(process, async ct =>
                {
                    using var response = await server.Http.GetAsync(server.DirectoryUrl, ct);
                    return response.IsSuccessStatusCode;
                });
                return server;
            }
            catch (TimeoutException e) when (process.HasExited)
            {
                last = e;
            }
        }
        throw new InvalidOperationException("pebble did not start.", last);
    }

    /// <summary>An HttpClient that trusts the fixture's own CA for pebble's HTTPS listeners, and nothing else.</summary>
    public HttpClient CreateHttpClient(DelegatingHandler? handler = null)
    {
        var root = _tlsRoot ?? throw new InvalidOperationException("Not initialized.");
        var sockets = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions
            {
                RemoteCertificateValidationCallback = (_, certificate, _, errors) =>
                {
                    if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                    {
                        return false;
                    }
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(root);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return chain.Build(new X509Certificate2(certificate));
                },
            },
        };
        if (handler is null)
        {
            return new HttpClient(sockets) { Timeout = TimeSpan.FromSeconds(30) };
        }
        handler.InnerHandler = sockets;
        return new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(30) };
    }

    /// <summary>Makes <paramref name="host"/> resolve to 127.0.0.1 for pebble (challtestsrv's <c>add-a</c>).</summary>
    public async Task AddARecordAsync(string host, CancellationToken cancellationToken)
    {
        using var response = await PlainHttp.PostAsync(
            new Uri(ChallTestSrvUrl, "add-a"),
            JsonContent.Create(new ChallTestSrvARecord(host, ["127.0.0.1"]), TlsTestJsonContext.Default.ChallTestSrvARecord),
            cancellationToken);
        response.EnsureSuccessStatusCode();
    }

    public async ValueTask DisposeAsync()
    {
        // Idempotent: runs after a failed start and may run again when the framework disposes the fixture.
        for (var i = _owned.Count - 1; i >= 0; i--)
        {
            await _owned[i].DisposeAsync();
        }
        _owned.Clear();
        if (_challTestSrv is not null)
        {
            await _challTestSrv.DisposeAsync();
            _challTestSrv = null;
        }
        if (_http01Server is not null)
        {
            await _http01Server.DisposeAsync();
            _http01Server = null;
        }
        PlainHttp.Dispose();
        _tlsRoot?.Dispose();
        if (Directory.Exists(_directory))
        {
            Directory.Delete(_directory, recursive: true);
        }
    }

    private async Task StartChallTestSrvAsync()
    {
        for (var attempt = 0; ; attempt++)
        {
            DnsPort = FreeDnsPort();
            var managementPort = FreeTcpPort();
            ChallTestSrvUrl = new Uri($"http://127.0.0.1:{managementPort}/");
            _challTestSrv = TestProcess.Start(
                ChallTestSrvBinary,
                [
                    "-dns01", $"127.0.0.1:{DnsPort}",
                    "-management", $"127.0.0.1:{managementPort}",
                    // Only the DNS server is used: no challenge listeners, no AAAA answers (Kestrel listens on IPv4).
                    "-http01", "", "-https01", "", "-tlsalpn01", "",
                    "-defaultIPv6", "",
                ],
                workingDirectory: _directory);
            try
            {
                await WaitUntilAsync(_challTestSrv, async ct =>
                {
                    // Any HTTP answer (the root is a 404) means the management API is up.
                    using var response = await PlainHttp.GetAsync(ChallTestSrvUrl, ct);
                    return true;
                });
                return;
            }
            catch (TimeoutException) when (_challTestSrv.HasExited && attempt < 2)
            {
                await _challTestSrv.DisposeAsync();
            }
        }
    }

    private static async Task WaitUntilAsync(TestProcess process, Func<CancellationToken, Task<bool>> isUp)
    {
        using var timeout = new CancellationTokenSource(StartTimeout);
        while (!timeout.IsCancellationRequested)
        {
            if (process.HasExited)
            {
                throw new TimeoutException($"{process.Name} exited: {process.Output}");
            }
            try
            {
                if (await isUp(timeout.Token))
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            catch (OperationCanceledException) when (timeout.IsCancellationRequested)
            {
                break;
            }
            await Task.Delay(50, CancellationToken.None);
        }
        throw new TimeoutException($"{process.Name} did not come up within {StartTimeout}: {process.Output}");
    }

    /// <summary>A CA of our own and a certificate for 127.0.0.1 from it, for pebble's HTTPS listeners.</summary>
    private void CreateTlsCertificate()
    {
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var rootRequest = new CertificateRequest("CN=Pangolin test CA for pebble", rootKey, HashAlgorithmName.SHA256);
        rootRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        rootRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        rootRequest.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(rootRequest.PublicKey, false));
        var now = DateTimeOffset.UtcNow;
        _tlsRoot = rootRequest.CreateSelfSigned(now.AddMinutes(-5), now.AddDays(1));
        File.WriteAllText(Path.Combine(_directory, "tls-root.pem"), _tlsRoot.ExportCertificatePem() + "\n");

        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=127.0.0.1", leafKey, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        leafRequest.CertificateExtensions.Add(san.Build());
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leafRequest.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        leafRequest.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(_tlsRoot, true, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var leaf = leafRequest.Create(_tlsRoot, now.AddMinutes(-5), now.AddDays(1), serial);

        File.WriteAllText(Path.Combine(_directory, "tls-cert.pem"), leaf.ExportCertificatePem() + "\n");
        File.WriteAllText(Path.Combine(_directory, "tls-key.pem"), leafKey.ExportPkcs8PrivateKeyPem() + "\n");
    }

    private static int FreeTcpPort()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)listener.LocalEndPoint!).Port;
    }

    /// <summary>A port free for both TCP and UDP: challtestsrv's DNS server listens on both.</summary>
    private static int FreeDnsPort()
    {
        while (true)
        {
            var port = FreeTcpPort();
            try
            {
                using var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
                udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException)
            {
                // Taken for UDP: pick another.
            }
        }
    }
}

/// <summary>One running pebble: its ACME directory, its management API and an HttpClient that trusts its HTTPS.</summary>
public sealed class PebbleServer(Uri directoryUrl, Uri managementUrl, HttpClient http) : IAsyncDisposable
{
    public Uri DirectoryUrl { get; } = directoryUrl;

    public Uri ManagementUrl { get; } = managementUrl;

    public HttpClient Http { get; } = http;

    /// <summary>The root that pebble signs its issuing intermediate with (regenerated at every start).</summary>
    public async Task<X509Certificate2> GetRootAsync(CancellationToken cancellationToken) =>
        X509Certificate2.CreateFromPem(await Http.GetStringAsync(new Uri(ManagementUrl, "roots/0"), cancellationToken));

    public async Task<X509Certificate2> GetIntermediateAsync(CancellationToken cancellationToken) =>
        X509Certificate2.CreateFromPem(await Http.GetStringAsync(new Uri(ManagementUrl, "intermediates/0"), cancellationToken));

    public ValueTask DisposeAsync()
    {
        Http.Dispose();
        return ValueTask.CompletedTask;
    }
}
