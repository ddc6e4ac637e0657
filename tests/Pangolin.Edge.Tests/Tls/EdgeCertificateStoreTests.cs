using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Pangolin.Edge.Tls;
using Pangolin.Edge.Tls.Acme;

namespace Pangolin.Edge.Tests.Tls;

public sealed class EdgeCertificateStoreTests
{
    private static readonly DateTimeOffset Now = new(2026, 11, 25, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void The_exact_name_wins_then_a_one_label_wildcard_then_the_fallback()
    {
        var store = new EdgeCertificateStore(new FixedTime(Now));
        var exact = Certificate("app.example.com", uploaded: false);
        var wildcard = Certificate("*.example.com", uploaded: false);
        var fallback = Certificate("fallback.pangolin.invalid", uploaded: false);
        store.Replace([wildcard, exact], fallback);

        Assert.Same(exact, store.Find("app.example.com"));
        Assert.Same(exact, store.Find("APP.example.com."));
        Assert.Same(wildcard, store.Find("other.example.com"));
        // One label only (RFC 6125 §6.4.3): not the base, not two labels down.
        Assert.Same(fallback, store.Find("example.com"));
        Assert.Same(fallback, store.Find("a.b.example.com"));
        Assert.Same(fallback, store.Find("unknown.org"));
        Assert.Same(fallback, store.Find(null));
        Assert.Same(fallback, store.Find(""));
        Assert.NotNull(store.Select("app.example.com"));
        Assert.Equal(2, store.Count);
    }

    [Fact]
    public void An_uploaded_certificate_wins_over_an_acme_one_for_the_same_name_and_expired_ones_are_not_served()
    {
        var time = new FixedTime(Now);
        var store = new EdgeCertificateStore(time);
        var acme = Certificate("app.example.com", uploaded: false, notAfter: Now.AddDays(80));
        var uploaded = Certificate("app.example.com", uploaded: true, notAfter: Now.AddDays(10));
        var fallback = Certificate("fallback.pangolin.invalid", uploaded: false, notAfter: Now.AddYears(10));
        store.Replace([acme, uploaded], fallback);
        Assert.Same(uploaded, store.Find("app.example.com"));

        // Past its end, a certificate is as good as none: the fallback says so honestly.
        time.Set(Now.AddDays(11));
        Assert.Same(fallback, store.Find("app.example.com"));

        store.Replace([acme], fallback);
        Assert.Same(acme, store.Find("app.example.com"));
    }

    [Fact]
    public async Task The_exec_dns_hook_is_called_like_legos_and_its_failure_says_why()
    {
        Assert.SkipWhen(OperatingSystem.IsWindows(), "The hook is a shell script.");
        var folder = Directory.CreateTempSubdirectory("pangolin-hook-");
        try
        {
            var log = Path.Combine(folder.FullName, "calls.txt");
            var hook = Path.Combine(folder.FullName, "hook.sh");
            await File.WriteAllTextAsync(hook, $"#!/bin/sh\necho \"$1 $2 $3\" >> '{log}'\n[ \"$3\" = bad ] && {{ echo 'zone not found' >&2; exit 3; }}\nexit 0\n",
                TestContext.Current.CancellationToken);
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(hook, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
            var provider = new ExecDnsProvider(hook, TimeSpan.FromSeconds(30));

            await provider.SetTxtAsync("_acme-challenge.example.com", "value1", TestContext.Current.CancellationToken);
            await provider.RemoveTxtAsync("_acme-challenge.example.com", "value1", TestContext.Current.CancellationToken);
            var failure = await Assert.ThrowsAsync<AcmeException>(() => provider.SetTxtAsync("_acme-challenge.example.com", "bad", TestContext.Current.CancellationToken));

            Assert.Equal(
                ["present _acme-challenge.example.com. value1", "cleanup _acme-challenge.example.com. value1", "present _acme-challenge.example.com. bad"],
                await File.ReadAllLinesAsync(log, TestContext.Current.CancellationToken));
            Assert.Contains("exited with 3", failure.Message, StringComparison.Ordinal);
            Assert.Contains("zone not found", failure.Message, StringComparison.Ordinal);
            var missing = new ExecDnsProvider(Path.Combine(folder.FullName, "nope"), TimeSpan.FromSeconds(5));
            await Assert.ThrowsAsync<AcmeException>(() => missing.SetTxtAsync("_acme-challenge.example.com", "v", TestContext.Current.CancellationToken));
        }
        finally
        {
            folder.Delete(recursive: true);
        }
    }

    private static EdgeServerCertificate Certificate(string name, bool uploaded, DateTimeOffset? notAfter = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest("CN=" + name, key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(name);
        request.CertificateExtensions.Add(san.Build());
        return new EdgeServerCertificate(name, uploaded, request.CreateSelfSigned(Now.AddDays(-1), notAfter ?? Now.AddDays(90)), []);
    }

    private sealed class FixedTime(DateTimeOffset now) : TimeProvider
    {
        private DateTimeOffset _now = now;

        public void Set(DateTimeOffset now) => _now = now;

        public override DateTimeOffset GetUtcNow() => _now;
    }
}
