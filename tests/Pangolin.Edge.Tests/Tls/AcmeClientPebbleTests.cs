using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Pangolin.Edge.Tls.Acme;

namespace Pangolin.Edge.Tests.Tls;

/// <summary>The ACME client against Debian's pebble, validating through a real Kestrel and a real DNS server.</summary>
public sealed class AcmeClientPebbleTests(PebbleFixture fixture) : IClassFixture<PebbleFixture>
{
    private static readonly TimeSpan TestTimeout = TimeSpan.FromSeconds(90);

    [Fact]
    public async Task An_http01_order_for_two_names_yields_a_certificate_that_chains_to_pebbles_root()
    {
        using var cts = Timeout();
        var ct = cts.Token;
        using var accountKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var client = Client(fixture.Pebble, accountKey);
        await client.CreateOrFindAccountAsync(termsOfServiceAgreed: true, "admin@example.com", ct);
        string[] domains = [UniqueName("www"), UniqueName("app")];
        foreach (var domain in domains)
        {
            await fixture.AddARecordAsync(domain, ct);
        }

        using var issued = await client.OrderCertificateAsync(domains, fixture.Http01Store, ct);

        var certificate = issued.Certificate;
        Assert.True(certificate.HasPrivateKey);
        var san = Assert.Single(certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>());
        Assert.Equal(domains.Order(), san.EnumerateDnsNames().Order());
        var now = DateTimeOffset.UtcNow;
        Assert.InRange(now, issued.NotBefore, issued.NotAfter);

        // The private key (both the loaded one and the PEM for storage) belongs to the certificate's public key.
        var data = Encoding.UTF8.GetBytes("proof of possession");
        using var publicKey = certificate.GetECDsaPublicKey()!;
        using (var privateKey = certificate.GetECDsaPrivateKey()!)
        {
            Assert.True(publicKey.VerifyData(data, privateKey.SignData(data, HashAlgorithmName.SHA256), HashAlgorithmName.SHA256));
        }
        using (var storedKey = ECDsa.Create())
        {
            storedKey.ImportFromPem(issued.PrivateKeyPem);
            Assert.True(publicKey.VerifyData(data, storedKey.SignData(data, HashAlgorithmName.SHA256), HashAlgorithmName.SHA256));
        }

        // The chain PEM is leaf, then pebble's intermediate, and it builds to pebble's root.
        var chainCertificates = new X509Certificate2Collection();
        chainCertificates.ImportFromPem(issued.ChainPem);
        Assert.Equal(certificate.RawData, chainCertificates[0].RawData);
        using var root = await fixture.Pebble.GetRootAsync(ct);
        using var intermediate = await fixture.Pebble.GetIntermediateAsync(ct);
        Assert.Contains(chainCertificates.Skip(1), c => c.RawData.AsSpan().SequenceEqual(intermediate.RawData));
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(root);
        chain.ChainPolicy.ExtraStore.AddRange(chainCertificates.Skip(1).ToArray());
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.1"));
        Assert.True(chain.Build(certificate), string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation)));
        Assert.Equal(root.RawData, chain.ChainElements[^1].Certificate.RawData);

        foreach (var c in chainCertificates)
        {
            c.Dispose();
        }
        Assert.Equal(0, fixture.Http01Store.Count);
    }

    [Fact]
    public async Task An_account_key_registered_once_is_found_again()
    {
        using var cts = Timeout();
        using var accountKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        var created = await Client(fixture.Pebble, accountKey).CreateOrFindAccountAsync(true, null, cts.Token);
        var found = await Client(fixture.Pebble, accountKey).CreateOrFindAccountAsync(true, null, cts.Token);

        Assert.Equal(created, found);
        using var otherKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        Assert.NotEqual(created, await Client(fixture.Pebble, otherKey).CreateOrFindAccountAsync(true, null, cts.Token));
    }

    [Fact]
    public async Task A_dns01_order_for_a_wildcard_name_sets_and_clears_its_txt_record()
    {
        using var cts = Timeout();
        var ct = cts.Token;
        using var accountKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var client = Client(fixture.Pebble, accountKey);
        await client.CreateOrFindAccountAsync(true, null, ct);
        var baseName = UniqueName("zone");
        var dns = new ChallTestSrvDnsProvider(fixture.PlainHttp, fixture.ChallTestSrvUrl);

        using var issued = await client.OrderCertificateAsync(["*." + baseName], new Dns01ChallengeResponder(dns), ct);

        var san = Assert.Single(issued.Certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>());
        Assert.Equal(["*." + baseName], san.EnumerateDnsNames());
        var (name, value) = Assert.Single(dns.Set);
        Assert.Equal("_acme-challenge." + baseName, name);
        Assert.Equal(43, value.Length); // base64url of a SHA-256 digest, unpadded
        Assert.Equal(dns.Set, dns.Removed);
    }

    [Fact]
    public async Task A_challenge_nobody_answers_fails_with_the_servers_problem_and_is_removed()
    {
        using var cts = Timeout();
        var ct = cts.Token;
        using var accountKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var client = Client(fixture.Pebble, accountKey);
        await client.CreateOrFindAccountAsync(true, null, ct);
        var domain = UniqueName("nobody");
        await fixture.AddARecordAsync(domain, ct);
        // This store is not the one Kestrel serves: pebble's validation request gets a 404.
        var unserved = new Http01ChallengeStore();
        var responder = new RecordingResponder(unserved);

        var e = await Assert.ThrowsAsync<AcmeException>(() => client.OrderCertificateAsync([domain], responder, ct));

        Assert.Equal("urn:ietf:params:acme:error:unauthorized", e.ProblemType);
        Assert.False(string.IsNullOrEmpty(e.Detail));
        Assert.Contains("404", e.Detail, StringComparison.Ordinal);
        Assert.Contains(domain, e.Message, StringComparison.Ordinal);
        var published = Assert.Single(responder.Published);
        Assert.Equal(AcmeChallengeTypes.Http01, published.Type);
        Assert.Equal(domain, published.Domain);
        Assert.Equal(responder.Published, responder.Removed);
        Assert.Equal(0, unserved.Count);
    }

    [Fact]
    public async Task A_wildcard_name_fails_clearly_when_the_responder_only_answers_http01()
    {
        using var cts = Timeout();
        using var accountKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var client = Client(fixture.Pebble, accountKey);
        await client.CreateOrFindAccountAsync(true, null, cts.Token);
        var responder = new RecordingResponder(new Http01ChallengeStore());

        var e = await Assert.ThrowsAsync<AcmeException>(() => client.OrderCertificateAsync(["*." + UniqueName("wild")], responder, cts.Token));

        Assert.Contains("dns-01", e.Message, StringComparison.Ordinal);
        Assert.Empty(responder.Published);
    }

    [Fact]
    public async Task Rejected_nonces_are_retried_with_the_fresh_nonce_of_the_error()
    {
        using var cts = Timeout();
        var ct = cts.Token;
        var pebble = await fixture.StartPebbleAsync(nonceRejectPercent: 50);
        var counter = new BadNonceCounter();
        using var http = fixture.CreateHttpClient(counter);
        using var accountKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        // At 50 % a request fails 21 times in a row once in two million: the test does not flake.
        var client = new AcmeClient(pebble.DirectoryUrl, http, accountKey) { PollInterval = TimeSpan.FromMilliseconds(100), MaxBadNonceRetries = 20 };
        var domain = UniqueName("nonce");
        await fixture.AddARecordAsync(domain, ct);

        await client.CreateOrFindAccountAsync(true, null, ct);
        using var issued = await client.OrderCertificateAsync([domain], fixture.Http01Store, ct);

        Assert.Equal(domain, issued.Certificate.GetNameInfo(X509NameType.DnsName, forIssuer: false));
        // Some ten signed requests at 50 %: all accepted at once happens once in a thousand runs.
        Assert.True(counter.Count > 0, "pebble rejected no nonce");
    }

    [Fact]
    public async Task Without_retries_a_rejected_nonce_surfaces_as_a_badNonce_problem()
    {
        using var cts = Timeout();
        var pebble = await fixture.StartPebbleAsync(nonceRejectPercent: 50);
        using var http = fixture.CreateHttpClient();
        using var accountKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var client = new AcmeClient(pebble.DirectoryUrl, http, accountKey) { MaxBadNonceRetries = 0 };

        // 30 tries at 50 %: all accepted once in a billion runs.
        AcmeException? rejected = null;
        for (var i = 0; i < 30 && rejected is null; i++)
        {
            try
            {
                await client.CreateOrFindAccountAsync(true, null, cts.Token);
            }
            catch (AcmeException e)
            {
                rejected = e;
            }
        }

        Assert.NotNull(rejected);
        Assert.Equal("urn:ietf:params:acme:error:badNonce", rejected.ProblemType);
        Assert.Equal(HttpStatusCode.BadRequest, rejected.StatusCode);
    }

    private static AcmeClient Client(PebbleServer pebble, ECDsa accountKey) =>
        new(pebble.DirectoryUrl, pebble.Http, accountKey) { PollInterval = TimeSpan.FromMilliseconds(100), PollTimeout = TimeSpan.FromSeconds(60) };

    private static CancellationTokenSource Timeout()
    {
        var cts = CancellationTokenSource.CreateLinkedTokenSource(TestContext.Current.CancellationToken);
        cts.CancelAfter(TestTimeout);
        return cts;
    }

    private static string UniqueName(string label) => $"{label}-{Guid.NewGuid():N}"[..20] + ".pangolin.example";

    /// <summary>Counts the badNonce errors pebble sends, without consuming them.</summary>
    private sealed class BadNonceCounter : DelegatingHandler
    {
        private int _count;

        public int Count => Volatile.Read(ref _count);

        protected override async Task<HttpResponseMessage> SendAsync(HttpRequestMessage request, CancellationToken cancellationToken)
        {
            var response = await base.SendAsync(request, cancellationToken);
            if (response.StatusCode == HttpStatusCode.BadRequest)
            {
                await response.Content.LoadIntoBufferAsync(cancellationToken);
                if ((await response.Content.ReadAsStringAsync(cancellationToken)).Contains("badNonce", StringComparison.Ordinal))
                {
                    Interlocked.Increment(ref _count);
                }
            }
            return response;
        }
    }
}
