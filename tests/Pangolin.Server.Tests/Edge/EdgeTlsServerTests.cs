using System.Diagnostics;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pangolin.Data.Entities;
using Pangolin.Edge.Tests.Tls;
using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Edge;

/// <summary>
/// TLS at the edge inside the server, end to end: Debian's pebble issues a resource's certificate through http-01 that
/// pebble asks of the server's own edge HTTP port; a client validates the served chain against pebble's root and
/// reaches the backend over HTTP/1.1 and HTTP/2; the certificate is renewed when the server's (fake) clock nears its
/// expiry; plain HTTP is redirected; uploads win over ACME; unknown names get the self-signed fallback. Waits are
/// generous (60 s) because pebble and the server share two loaded cores; nothing is timed.
/// </summary>
public abstract class EdgeTlsServerTests(DatabaseKind kind, PostgresServer postgres) : NewtTestBase(kind, postgres)
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan Validity = TimeSpan.FromDays(90);

    private readonly PebbleFixture _pebble = new();
    private readonly int _httpPort = SmtpTestServer.FreePort();
    private readonly int _httpsPort = SmtpTestServer.FreePort();
    private PebbleServer _ca = null!;
    private readonly DirectoryInfo _hookFolder = Directory.CreateTempSubdirectory("pangolin-dns-hook-");

    protected override bool Kestrel => true;

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Edge:HttpPort"] = _httpPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Edge:HttpsPort"] = _httpsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Edge:Hsts:MaxAgeSeconds"] = "31536000",
        ["Acme:Enabled"] = "true",
        ["Acme:DirectoryUrl"] = _ca.DirectoryUrl.AbsoluteUri,
        ["Acme:AcceptTermsOfService"] = "true",
        ["Acme:Email"] = "certs@example.com",
        ["Acme:DirectoryTrustedRootsFile"] = _pebble.TlsRootFile,
        ["Acme:Dns01Hook"] = Path.Combine(_hookFolder.FullName, "dns-hook.sh"),
    };

    public override async ValueTask InitializeAsync()
    {
        await _pebble.InitializeAsync();
        // A dns-01 hook as an operator would write one for lego's exec provider, here against pebble's DNS server.
        var hook = Path.Combine(_hookFolder.FullName, "dns-hook.sh");
        var api = _pebble.ChallTestSrvUrl.AbsoluteUri.TrimEnd('/');
        await File.WriteAllTextAsync(hook, $$"""
            #!/bin/sh
            case "$2" in *.fail.example.org.) echo "no zone for $2 at this provider" >&2; exit 1 ;; esac
            case "$1" in
              present) exec curl -sf -X POST -d "{\"host\":\"$2\",\"value\":\"$3\"}" {{api}}/set-txt ;;
              cleanup) exec curl -sf -X POST -d "{\"host\":\"$2\"}" {{api}}/clear-txt ;;
              *) echo "unknown action $1" >&2; exit 2 ;;
            esac
            """ + "\n");
        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(hook, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        }
        // Pebble validates http-01 on the server's edge port, as a CA asks on port 80.
        _ca = await _pebble.StartPebbleAsync(nonceRejectPercent: 0, httpPort: _httpPort, certificateValidity: Validity);
        await base.InitializeAsync();
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await _pebble.DisposeAsync();
        _hookFolder.Delete(recursive: true);
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task An_ssl_resource_gets_a_pebble_certificate_through_the_edge_port_served_by_sni_redirected_to_and_renewed_near_expiry()
    {
        await using var backend = await Backend.StartAsync("backend");
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        await _pebble.AddARecordAsync("app.example.test", Ct);
        var resource = await CreateResourceAsync("App");
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false })).Expect(200);
        await CreateTargetAsync(resource, site, "127.0.0.1", backend.Port);
        using var root = await _ca.GetRootAsync(Ct);

        // Issued through http-01 on the edge port, then served by SNI with its intermediate: the chain builds to pebble's root.
        var first = await ServedAsync("app.example.test", root, c => true);
        Assert.Equal("backend", first.Body);
        Assert.Equal("max-age=31536000", first.Hsts);
        Assert.Contains("app.example.test", first.Certificate.GetNameInfo(X509NameType.DnsName, false), StringComparison.Ordinal);
        Assert.Equal(HttpVersion.Version20, (await ServedAsync("app.example.test", root, c => true, HttpVersion.Version20)).Version);

        // The state as the API tells it (upstream's getCertificate).
        var state = (await Admin.GetJsonAsync("org/acme/certificate/main/app.example.test")).Expect(200).Data;
        Assert.Equal("valid", state.GetProperty("status").GetString());
        Assert.Equal("acme", state.GetProperty("source").GetString());
        Assert.Equal(0, state.GetProperty("renewalCount").GetInt32());

        // Plain HTTP for an SSL resource: to HTTPS on the same name and the HTTPS port, path and query kept; 308 keeps a POST.
        using var plain = new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false }) { BaseAddress = new Uri($"http://127.0.0.1:{_httpPort}") };
        using (var get = await SendAsync(plain, HttpMethod.Get, "app.example.test", "/a/b?c=d"))
        {
            Assert.Equal(HttpStatusCode.MovedPermanently, get.StatusCode);
            Assert.Equal($"https://app.example.test:{_httpsPort}/a/b?c=d", get.Headers.Location!.OriginalString);
        }
        using (var post = await SendAsync(plain, HttpMethod.Post, "APP.example.test", "/form"))
        {
            Assert.Equal(HttpStatusCode.PermanentRedirect, post.StatusCode);
            Assert.Equal($"https://app.example.test:{_httpsPort}/form", post.Headers.Location!.OriginalString);
        }
        // Only a resource's own name is redirected to; the ACME path is answered (404 for an unknown token), never redirected.
        using (var other = await SendAsync(plain, HttpMethod.Get, "evil.example.org", "/"))
        {
            Assert.Null(other.Headers.Location);
        }
        using (var challenge = await SendAsync(plain, HttpMethod.Get, "app.example.test", "/.well-known/acme-challenge/unknownToken123"))
        {
            Assert.Equal(HttpStatusCode.NotFound, challenge.StatusCode);
        }

        // Renewal: once less than a third of the lifetime (30 of 90 days) is left on the server's clock, a new one is ordered.
        var row = await DbAsync(db => db.Certificates.AsNoTracking().SingleAsync(c => c.Domain == "app.example.test" && c.Source == "acme", Ct));
        Assert.NotEqual(row.ChainPem, row.KeyEncrypted);
        Assert.DoesNotContain("PRIVATE KEY", row.KeyEncrypted!, StringComparison.Ordinal);
        var renewAt = row.NotAfter!.Value - TimeSpan.FromDays(30);
        Factory.Clock.SetUtcNow(new DateTimeOffset(renewAt, TimeSpan.Zero).AddHours(1));
        var renewed = await ServedAsync("app.example.test", root, c => c.SerialNumber != first.Certificate.SerialNumber);
        Assert.Equal("backend", renewed.Body);
        var after = await DbAsync(db => db.Certificates.AsNoTracking().SingleAsync(c => c.Domain == "app.example.test" && c.Source == "acme", Ct));
        Assert.Equal(1, after.RenewalCount);
        Assert.Equal("valid", after.Status);
        Assert.True(after.NotAfter > row.NotAfter);
    }

    [Fact]
    public async Task An_uploaded_certificate_is_served_before_the_acme_one_and_unknown_names_get_the_self_signed_fallback()
    {
        await using var backend = await Backend.StartAsync("backend");
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        await _pebble.AddARecordAsync("shop.example.test", Ct);
        var resource = await CreateResourceAsync("Shop");
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false })).Expect(200);
        await CreateTargetAsync(resource, site, "127.0.0.1", backend.Port);
        using var pebbleRoot = await _ca.GetRootAsync(Ct);
        var acme = await ServedAsync("shop.example.test", pebbleRoot, c => true);

        // An uploaded certificate for the same name wins over pebble's.
        var now = Factory.Clock.GetUtcNow();
        var (chain, key, uploadRoot) = TestCertificates.Create(["shop.example.test"], now.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        using (uploadRoot)
        {
            var certId = (await Admin.PutJsonAsync("org/acme/certificate", new { domainId = "main", domain = "shop.example.test", certificate = chain, privateKey = key }))
                .Expect(201).Data.GetProperty("certId").GetInt32();
            var uploaded = await ServedAsync("shop.example.test", uploadRoot, c => true);
            Assert.Equal("backend", uploaded.Body);
            Assert.NotEqual(acme.Certificate.SerialNumber, uploaded.Certificate.SerialNumber);
            var state = (await Admin.GetJsonAsync("org/acme/certificate/main/shop.example.test")).Expect(200).Data;
            Assert.Equal("uploaded", state.GetProperty("source").GetString());

            // Deleted: pebble's certificate is served again.
            (await Admin.DeleteJsonAsync($"org/acme/certificate/{certId}")).Expect(200);
            await ServedAsync("shop.example.test", pebbleRoot, c => c.SerialNumber == acme.Certificate.SerialNumber);
        }

        // A name nobody has a certificate for still gets TLS, with the self-signed fallback (never plain text).
        var fallback = await PresentedAsync("nobody.example.org");
        Assert.Equal(fallback.Subject, fallback.Issuer);
        Assert.Contains("fallback.pangolin.invalid", fallback.Subject, StringComparison.Ordinal);
        var noSni = await PresentedAsync(null);
        Assert.Equal(fallback.Thumbprint, noSni.Thumbprint);
    }

    [Fact]
    public async Task A_domain_that_prefers_a_wildcard_gets_one_through_dns01_with_the_exec_hook_and_serves_every_host_under_it()
    {
        await using var backend = await Backend.StartAsync("wild");
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = "Here", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var domainId = (await Admin.PutJsonAsync("org/acme/domain", new { type = "wildcard", baseDomain = "wild.example.org" }))
            .Expect(201).Data.GetProperty("domainId").GetString()!;
        var resource = (await Admin.PutJsonAsync("org/acme/resource", new { name = "Blog", http = true, domainId, subdomain = "blog" }))
            .Expect(201).Data.GetProperty("resourceId").GetInt32();
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false })).Expect(200);
        await CreateTargetAsync(resource, site, "127.0.0.1", backend.Port);
        using var root = await _ca.GetRootAsync(Ct);

        var served = await ServedAsync("blog.wild.example.org", root, c => true);

        Assert.Equal("wild", served.Body);
        var san = Assert.Single(served.Certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>());
        Assert.Equal(["*.wild.example.org"], san.EnumerateDnsNames());
        var state = (await Admin.GetJsonAsync($"org/acme/certificate/{domainId}/blog.wild.example.org")).Expect(200).Data;
        Assert.Equal("*.wild.example.org", state.GetProperty("domain").GetString());
        Assert.True(state.GetProperty("wildcard").GetBoolean());

        // A name the hook cannot publish: the failure is recorded with the hook's message, the fallback is served
        // meanwhile, and the order is tried again after the backoff (1 minute after the first failure) on the server's clock.
        var failing = (await Admin.PutJsonAsync("org/acme/domain", new { type = "wildcard", baseDomain = "fail.example.org" }))
            .Expect(201).Data.GetProperty("domainId").GetString()!;
        (await Admin.PutJsonAsync("org/acme/resource", new { name = "Broken", http = true, domainId = failing, subdomain = "broken" })).Expect(201);
        var failed = await RowAsync("*.fail.example.org", c => c.AttemptCount >= 1);
        Assert.Equal("failed", failed.Status);
        Assert.Contains("no zone for _acme-challenge.fail.example.org.", failed.LastError, StringComparison.Ordinal);
        Assert.Contains("fallback.pangolin.invalid", (await PresentedAsync("broken.fail.example.org")).Subject, StringComparison.Ordinal);
        var problem = (await Admin.GetJsonAsync($"org/acme/certificate/{failing}/broken.fail.example.org")).Expect(200).Data;
        Assert.Equal("failed", problem.GetProperty("status").GetString());
        Assert.Contains("no zone", problem.GetProperty("errorMessage").GetString(), StringComparison.Ordinal);
        Factory.Clock.Advance(TimeSpan.FromMinutes(1) + TimeSpan.FromSeconds(1));
        Assert.Equal(2, (await RowAsync("*.fail.example.org", c => c.AttemptCount >= 2)).AttemptCount);
    }

    /// <summary>Polls the ACME certificate row of <paramref name="name"/> until <paramref name="done"/>.</summary>
    private async Task<Certificate> RowAsync(string name, Func<Certificate, bool> done)
    {
        var watch = Stopwatch.StartNew();
        while (true)
        {
            var row = await DbAsync(db => db.Certificates.AsNoTracking().FirstOrDefaultAsync(c => c.Domain == name && c.Source == "acme", Ct));
            if (row is not null && done(row))
            {
                return row;
            }
            Assert.True(watch.Elapsed < Patience, $"the certificate of {name} is still {row?.Status} ({row?.AttemptCount} attempts: {row?.LastError})");
            await Task.Delay(200, Ct);
        }
    }

    private sealed record Served(string Body, string? Hsts, X509Certificate2 Certificate, Version Version);

    /// <summary>Polls the HTTPS port with this SNI until a certificate that chains to <paramref name="root"/> and passes <paramref name="accept"/> answers.</summary>
    private async Task<Served> ServedAsync(string host, X509Certificate2 root, Func<X509Certificate2, bool> accept, Version? version = null)
    {
        var watch = Stopwatch.StartNew();
        var last = "nothing yet";
        while (true)
        {
            X509Certificate2? presented = null;
            var handler = new SocketsHttpHandler
            {
                // Every name is this machine: connect to the edge's HTTPS port, with the name as SNI and Host.
                ConnectCallback = async (_, ct) =>
                {
                    var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                    await socket.ConnectAsync(IPAddress.Loopback, _httpsPort, ct);
                    return new NetworkStream(socket, ownsSocket: true);
                },
                SslOptions = new SslClientAuthenticationOptions
                {
                    RemoteCertificateValidationCallback = (_, certificate, chain, errors) =>
                    {
                        if (certificate is null || chain is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None)
                        {
                            return false;
                        }
                        presented = new X509Certificate2(certificate);
                        // Only pebble's root is trusted; the intermediate must come from the handshake (ExtraStore).
                        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                        chain.ChainPolicy.CustomTrustStore.Clear();
                        chain.ChainPolicy.CustomTrustStore.Add(root);
                        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                        return chain.Build(presented) && accept(presented);
                    },
                },
            };
            using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, $"https://{host}:{_httpsPort}/")
                {
                    Version = version ?? HttpVersion.Version11,
                    VersionPolicy = HttpVersionPolicy.RequestVersionExact,
                };
                using var response = await client.SendAsync(request, Ct);
                var body = await response.Content.ReadAsStringAsync(Ct);
                if (response.StatusCode == HttpStatusCode.OK && presented is not null)
                {
                    return new Served(body, response.Headers.TryGetValues("Strict-Transport-Security", out var values) ? values.Single() : null, presented,
                        response.Version);
                }
                last = $"HTTP {(int)response.StatusCode}: {body}";
            }
            catch (HttpRequestException e)
            {
                last = $"{e.Message} (certificate {presented?.Subject ?? "none"})";
            }
            if (watch.Elapsed > Patience)
            {
                var row = await DbAsync(db => db.Certificates.AsNoTracking().Where(c => c.Domain == host).Select(c => new { c.Status, c.LastError }).FirstOrDefaultAsync(Ct));
                Assert.Fail($"{host} was not served as expected within {Patience.TotalSeconds} s: {last}; row: {row?.Status} {row?.LastError}");
            }
            await Task.Delay(200, Ct);
        }
    }

    /// <summary>The certificate the HTTPS port presents for this SNI (none: no SNI), whatever it is.</summary>
    private async Task<X509Certificate2> PresentedAsync(string? serverName)
    {
        using var tcp = new TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, _httpsPort, Ct);
        await using var tls = new SslStream(tcp.GetStream());
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName ?? "",
            // Whatever is presented is what this looks at; trust is not the question here.
#pragma warning disable CA5359
            RemoteCertificateValidationCallback = (_, _, _, _) => true,
#pragma warning restore CA5359
        }, Ct);
        return new X509Certificate2(tls.RemoteCertificate!);
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, HttpMethod method, string host, string path)
    {
        using var request = new HttpRequestMessage(method, path);
        request.Headers.Host = host;
        if (method == HttpMethod.Post)
        {
            request.Content = new StringContent("x=1");
        }
        return await client.SendAsync(request, Ct);
    }

    /// <summary>A backend on loopback that answers every request with its name.</summary>
    private sealed class Backend : IAsyncDisposable
    {
        private readonly WebApplication _app;

        private Backend(WebApplication app) => _app = app;

        public int Port => new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

        public static async Task<Backend> StartAsync(string name)
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            app.Run(context => context.Response.WriteAsync(name));
            await app.StartAsync();
            return new Backend(app);
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}

public sealed class SqliteEdgeTlsServerTests(PostgresServer postgres) : EdgeTlsServerTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresEdgeTlsServerTests(PostgresServer postgres) : EdgeTlsServerTests(DatabaseKind.Postgres, postgres);
