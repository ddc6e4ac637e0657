using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Pangolin.Newt.Tests.Infrastructure;
using Pangolin.WireGuard.Tests.Infrastructure;

namespace Pangolin.Newt.Tests.Control;

/// <summary>
/// Client certificates and trusted roots towards the server: newt against a Kestrel that requires a client
/// certificate issued by the test CA (as an mTLS reverse proxy in front of Pangolin would), and the settings' checks.
/// </summary>
public sealed class ServerTlsTests : IDisposable
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(30);

    private readonly TestCertificates _pki = new();

    public void Dispose() => _pki.Dispose();

    private static CommandLineResult Parse(Uri endpoint, string[] args, Dictionary<string, string>? environment = null) =>
        CommandLine.Parse(["--id", "site1", "--secret", "s3cret", "--endpoint", endpoint.ToString(), .. args], environment ?? []);

    private static NewtOptions Good(Uri endpoint, string[] args, Dictionary<string, string>? environment = null)
    {
        var result = Parse(endpoint, args, environment);
        Assert.True(result.ExitCode is null, result.Error);
        return result.Options!;
    }

    private static readonly Uri Nowhere = new("https://pangolin.example.com");

    private sealed class RunningNewt : IAsyncDisposable
    {
        private readonly CancellationTokenSource _stop = new();
        private readonly NewtAgent _agent;
        private readonly Task<int> _run;

        public RunningNewt(NewtOptions options)
        {
            _agent = new NewtAgent(options, Logs);
            _run = _agent.RunAsync(_stop.Token);
        }

        public CapturingLoggerFactory Logs { get; } = new();

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            Assert.Equal(NewtAgent.ExitOk, await _run.WaitAsync(Within, CancellationToken.None));
            await _agent.DisposeAsync();
            _stop.Dispose();
        }
    }

    /// <summary>Runs newt with these settings; both its connections must arrive with the client certificate.</summary>
    private async Task AssertConnectsWithTheClientCertificateAsync(string[] args, Dictionary<string, string>? environment = null)
    {
        await using var server = await MutualTlsServer.StartAsync(_pki);
        await using var newt = new RunningNewt(Good(server.Endpoint, args, environment));

        Assert.Equal(_pki.Client.Thumbprint, await server.WebSocketOpened.WaitAsync(Within, TestContext.Current.CancellationToken));
        Assert.NotEmpty(server.TokenRequests);
        Assert.All(server.TokenRequests, thumbprint => Assert.Equal(_pki.Client.Thumbprint, thumbprint));
    }

    /// <summary>Runs newt with these settings until it logs an error (its reason for retrying), which must be one line.</summary>
    private async Task<string> RefusalAsync(string[] args)
    {
        await using var server = await MutualTlsServer.StartAsync(_pki);
        await using var newt = new RunningNewt(Good(server.Endpoint, args));

        var lines = newt.Logs.Logger;
        Assert.True(await Eventually.TrueAsync(() => lines.Lines.Any(l => l.StartsWith("Error: ", StringComparison.Ordinal)), Within), string.Join('\n', lines.Lines));
        var error = lines.Lines.First(l => l.StartsWith("Error: ", StringComparison.Ordinal));
        Assert.DoesNotContain('\n', error.TrimEnd());
        Assert.Empty(server.TokenRequests);
        Assert.False(server.WebSocketOpened.IsCompleted);
        return error;
    }

    [Fact]
    public Task A_PEM_client_certificate_is_presented_on_get_token_and_on_the_WebSocket() =>
        AssertConnectsWithTheClientCertificateAsync(["--tls-client-cert-file", _pki.ClientCertificatePem, "--tls-client-key", _pki.ClientKeyPem, "--tls-client-ca", _pki.CaPem]);

    [Fact]
    public Task A_PKCS12_client_certificate_is_presented_on_both_and_the_CA_it_carries_is_trusted() =>
        AssertConnectsWithTheClientCertificateAsync(["--tls-client-cert", _pki.ClientPkcs12]);

    [Fact]
    public Task SKIP_TLS_VERIFY_accepts_a_server_certificate_from_an_unknown_CA() =>
        AssertConnectsWithTheClientCertificateAsync(["--tls-client-cert-file", _pki.ClientCertificatePem, "--tls-client-key", _pki.ClientKeyPem],
            new() { ["SKIP_TLS_VERIFY"] = "true" });

    [Fact]
    public async Task Without_a_client_certificate_the_server_refuses_and_newt_says_so_in_one_line()
    {
        var error = await RefusalAsync(["--tls-client-ca", _pki.CaPem]);

        Assert.Contains("the server asks for a client certificate", error, StringComparison.Ordinal);
        Assert.Contains("--tls-client-cert-file", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_the_CA_the_servers_certificate_is_refused_and_newt_says_so_in_one_line()
    {
        var error = await RefusalAsync(["--tls-client-cert-file", _pki.ClientCertificatePem, "--tls-client-key", _pki.ClientKeyPem]);

        Assert.Contains("the server's certificate is not trusted", error, StringComparison.Ordinal);
        Assert.Contains("--tls-client-ca", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Trusting_a_CA_that_did_not_issue_the_servers_certificate_does_not_help()
    {
        using var otherPki = new TestCertificates();

        var error = await RefusalAsync(["--tls-client-cert-file", _pki.ClientCertificatePem, "--tls-client-key", _pki.ClientKeyPem, "--tls-client-ca", otherPki.CaPem]);

        Assert.Contains("the server's certificate is not issued by the trusted CAs", error, StringComparison.Ordinal);
    }

    [Fact]
    public void The_environment_variables_give_the_PEM_certificate_its_key_and_a_comma_separated_list_of_PEM_or_DER_CAs()
    {
        var tls = Good(Nowhere, [], new()
        {
            ["TLS_CLIENT_CERT"] = _pki.ClientCertificatePem,
            ["TLS_CLIENT_KEY"] = _pki.ClientKeyPem,
            ["TLS_CLIENT_CAS"] = $"{_pki.CaPem}, {_pki.CaDer}",
        }).ServerTls;

        Assert.Equal(_pki.Client.Thumbprint, tls.ClientCertificate?.Thumbprint);
        Assert.True(tls.ClientCertificate?.HasPrivateKey);
        Assert.Equal([_pki.CaPem, _pki.CaDer], tls.CaFiles);
        Assert.Null(tls.Pkcs12File);
        Assert.False(tls.SkipVerify);
    }

    [Fact]
    public void TLS_CLIENT_CERT_alone_names_a_PKCS12_file_as_it_did_upstream_before_the_PEM_settings()
    {
        var tls = Good(Nowhere, [], new() { ["TLS_CLIENT_CERT"] = _pki.ClientPkcs12 }).ServerTls;

        Assert.Equal(_pki.ClientPkcs12, tls.Pkcs12File);
        Assert.Null(tls.CertificateFile);
        Assert.Equal(_pki.Client.Thumbprint, tls.ClientCertificate?.Thumbprint);
    }

    [Fact]
    public void TLS_CLIENT_CERT_PKCS12_names_a_PKCS12_file()
    {
        var tls = Good(Nowhere, [], new() { ["TLS_CLIENT_CERT_PKCS12"] = _pki.ClientPkcs12 }).ServerTls;

        Assert.Equal(_pki.Client.Thumbprint, tls.ClientCertificate?.Thumbprint);
    }

    [Fact]
    public void Flags_beat_the_environment_and_the_CA_flags_replace_the_variables_list()
    {
        var tls = Good(Nowhere, ["--tls-client-cert-file", _pki.ClientCertificatePem, "--tls-client-key", _pki.ClientKeyPem, "--tls-client-ca", _pki.CaDer, "-tls-client-ca", _pki.CaPem],
            new() { ["TLS_CLIENT_CERT"] = _pki.Path("missing.pem"), ["TLS_CLIENT_CAS"] = _pki.Path("missing-ca.pem") }).ServerTls;

        Assert.Equal(_pki.ClientCertificatePem, tls.CertificateFile);
        Assert.Equal([_pki.CaDer, _pki.CaPem], tls.CaFiles);
    }

    [Fact]
    public async Task A_PKCS12_file_made_by_openssl_with_an_empty_password_loads()
    {
        var bundle = _pki.Path("openssl.p12");
        using var openssl = System.Diagnostics.Process.Start("openssl",
            ["pkcs12", "-export", "-in", _pki.ClientCertificatePem, "-inkey", _pki.ClientKeyPem, "-certfile", _pki.CaPem, "-out", bundle, "-passout", "pass:"]);
        await openssl.WaitForExitAsync(TestContext.Current.CancellationToken);
        Assert.Equal(0, openssl.ExitCode);

        var tls = Good(Nowhere, ["--tls-client-cert", bundle]).ServerTls;

        Assert.Equal(_pki.Client.Thumbprint, tls.ClientCertificate?.Thumbprint);
    }

    [Fact]
    public void SKIP_TLS_VERIFY_is_read_from_the_environment_like_the_other_switches()
    {
        Assert.True(Good(Nowhere, [], new() { ["SKIP_TLS_VERIFY"] = "true" }).ServerTls.SkipVerify);
        Assert.False(Good(Nowhere, []).ServerTls.SkipVerify);
        Assert.Equal("newt: SKIP_TLS_VERIFY: \"yes\" is not true or false", Parse(Nowhere, [], new() { ["SKIP_TLS_VERIFY"] = "yes" }).Error);
    }

    [Fact]
    public void Print_config_shows_the_certificate_files()
    {
        var result = Parse(Nowhere, ["--print-config", "--tls-client-cert-file", _pki.ClientCertificatePem, "--tls-client-key", _pki.ClientKeyPem, "--tls-client-ca", _pki.CaPem]);

        Assert.Equal(0, result.ExitCode);
        Assert.Contains(_pki.ClientCertificatePem, result.Output, StringComparison.Ordinal);
        Assert.Contains(_pki.ClientKeyPem, result.Output, StringComparison.Ordinal);
        Assert.Contains(_pki.CaPem, result.Output, StringComparison.Ordinal);
    }

    public static TheoryData<string> BadFiles =>
    [
        "missing certificate", "missing key", "garbled certificate", "corrupt certificate", "certificate as key", "encrypted key",
        "key of another certificate", "certificate without key setting", "key without certificate setting", "garbled PKCS12",
        "PEM as PKCS12", "PKCS12 with a password", "PKCS12 without a private key", "PKCS12 and a CA", "missing CA", "garbled CA",
        "missing CA from the environment", "unreadable key",
    ];

    [Theory]
    [MemberData(nameof(BadFiles))]
    public void A_bad_certificate_key_or_CA_file_gives_one_line_naming_the_flag_and_the_file_and_exit_2(string problem)
    {
        var cert = _pki.ClientCertificatePem;
        var key = _pki.ClientKeyPem;
        Dictionary<string, string> environment = [];
        var (args, expected) = problem switch
        {
            "missing certificate" => ((string[])["--tls-client-cert-file", _pki.Path("nope.pem"), "--tls-client-key", key],
                $"newt: --tls-client-cert-file: {_pki.Path("nope.pem")}: no such file"),
            "missing key" => (["--tls-client-cert-file", cert, "--tls-client-key", _pki.Path("nope.key")],
                $"newt: --tls-client-key: {_pki.Path("nope.key")}: no such file"),
            "garbled certificate" => (["--tls-client-cert-file", _pki.Write("garbled.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"), "--tls-client-key", key],
                $"newt: --tls-client-cert-file: {_pki.Path("garbled.pem")}: holds no PEM certificate (-----BEGIN CERTIFICATE-----)"),
            "corrupt certificate" => (["--tls-client-cert-file", _pki.Write("corrupt.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), "--tls-client-key", key],
                $"newt: --tls-client-cert-file: {_pki.Path("corrupt.pem")}: is not a readable PEM certificate: "),
            "certificate as key" => (["--tls-client-cert-file", cert, "--tls-client-key", cert],
                $"newt: --tls-client-key: {cert}: holds no PEM private key (-----BEGIN PRIVATE KEY-----, RSA PRIVATE KEY or EC PRIVATE KEY)"),
            "encrypted key" => (["--tls-client-cert-file", cert, "--tls-client-key", _pki.Write("encrypted.key", _pki.Client.GetECDsaPrivateKey()!.ExportEncryptedPkcs8PrivateKeyPem("pw", new PbeParameters(PbeEncryptionAlgorithm.Aes256Cbc, HashAlgorithmName.SHA256, 1000)))],
                $"newt: --tls-client-key: {_pki.Path("encrypted.key")}: holds an encrypted private key; newt needs it unencrypted"),
            "key of another certificate" => (["--tls-client-cert-file", cert, "--tls-client-key", _pki.OtherClientKeyPem],
                $"newt: --tls-client-key: {_pki.OtherClientKeyPem}: is not the private key of the certificate in {cert}: "),
            "certificate without key setting" => (["--tls-client-cert-file", cert],
                "newt: --tls-client-cert-file: needs the certificate's private key too (--tls-client-key or TLS_CLIENT_KEY)"),
            "key without certificate setting" => (["--tls-client-key", key],
                "newt: --tls-client-key: needs the certificate too (--tls-client-cert-file or TLS_CLIENT_CERT)"),
            "garbled PKCS12" => (["--tls-client-cert", _pki.Write("garbled.p12", RandomNumberGenerator.GetBytes(300))],
                $"newt: --tls-client-cert: {_pki.Path("garbled.p12")}: is not a PKCS#12 file without a password: "),
            "PEM as PKCS12" => (["--tls-client-cert", cert],
                $"newt: --tls-client-cert: {cert}: holds PEM, not PKCS#12 (give a PEM certificate with --tls-client-cert-file and its key with --tls-client-key)"),
            "PKCS12 with a password" => (["--tls-client-cert", _pki.Write("password.p12", _pki.Client.Export(X509ContentType.Pkcs12, "secret")!)],
                $"newt: --tls-client-cert: {_pki.Path("password.p12")}: is not a PKCS#12 file without a password: "),
            "PKCS12 without a private key" => (["--tls-client-cert", _pki.Write("nokey.p12", X509CertificateLoader.LoadCertificate(_pki.Client.RawData).Export(X509ContentType.Pkcs12, "")!)],
                $"newt: --tls-client-cert: {_pki.Path("nokey.p12")}: holds no certificate with a private key"),
            "PKCS12 and a CA" => (["--tls-client-cert", _pki.ClientPkcs12, "--tls-client-ca", _pki.CaPem],
                "newt: --tls-client-cert: a PKCS#12 file goes alone: it cannot be combined with --tls-client-ca"),
            "missing CA" => (["--tls-client-ca", _pki.Path("nope-ca.pem")],
                $"newt: --tls-client-ca: {_pki.Path("nope-ca.pem")}: no such file"),
            "garbled CA" => (["--tls-client-ca", _pki.Write("garbled-ca.der", RandomNumberGenerator.GetBytes(300))],
                $"newt: --tls-client-ca: {_pki.Path("garbled-ca.der")}: is not a PEM or DER certificate: "),
            "missing CA from the environment" => ([], $"newt: TLS_CLIENT_CAS: {_pki.Path("nope-ca.pem")}: no such file"),
            "unreadable key" => (["--tls-client-cert-file", cert, "--tls-client-key", _pki.Path("")],
                $"newt: --tls-client-key: {_pki.Path("")}: cannot be read: "),
            _ => throw new ArgumentException(problem),
        };
        if (problem == "missing CA from the environment")
        {
            environment["TLS_CLIENT_CAS"] = _pki.Path("nope-ca.pem");
        }

        var result = Parse(Nowhere, args, environment);

        Assert.Equal(2, result.ExitCode);
        Assert.Null(result.Options);
        Assert.DoesNotContain('\n', result.Error);
        if (expected.EndsWith(": ", StringComparison.Ordinal))
        {
            Assert.StartsWith(expected, result.Error, StringComparison.Ordinal);
            Assert.True(result.Error.Length > expected.Length, result.Error);
        }
        else
        {
            Assert.Equal(expected, result.Error);
        }
    }
}
