using System.Collections.Concurrent;
using System.Net;
using System.Net.Http.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using NSec.Cryptography;
using Pangolin.Server.Cli;
using Pangolin.Server.Sites;
using Pangolin.Server.Tests.Infrastructure;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Server.Tests.ControlChannel;

/// <summary>
/// Newest upstream gerbil's two requirements on the server side: get-config signed with Gerbil:ConfigSigningKey over
/// the exact body, and Gerbil:ControlApiToken sent as a bearer token on every call to a standalone gerbil's peer API.
/// </summary>
public sealed class GerbilCredentialsTests(PostgresServer postgres) : NewtTestBase(DatabaseKind.Sqlite, postgres)
{
    private const string Token = "server-to-gerbil-control-token-0123456789";
    private static readonly (string Private, string Public) SigningKey = GerbilConfigSigner.Generate();

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Gerbil:ConfigSigningKey"] = SigningKey.Private,
        ["Gerbil:ControlApiToken"] = Token,
    };

    private HttpClient Internal() => Factory.CreateClient(new WebApplicationFactoryClientOptions { BaseAddress = new Uri("http://localhost:3001/api/v1/") });

    private static bool Verifies(byte[] body, string signature) =>
        SignatureAlgorithm.Ed25519.Verify(
            PublicKey.Import(SignatureAlgorithm.Ed25519, Convert.FromBase64String(SigningKey.Public), KeyBlobFormat.RawPublicKey),
            body, Convert.FromBase64String(signature));

    [Fact]
    public async Task Get_config_carries_a_signature_of_its_exact_body_that_the_configured_keys_public_part_verifies()
    {
        using var client = Internal();
        var gerbilKey = WgKey.GeneratePrivate().PublicKey().ToBase64();
        var site = await CreateNewtSiteAsync();
        var first = await client.PostAsJsonAsync("gerbil/get-config", new { publicKey = gerbilKey, reachableAt = "http://10.9.0.2:3003" }, TestContext.Current.CancellationToken);
        var node = await DbAsync(db => db.ExitNodes.AsNoTracking().FirstAsync(n => n.PublicKey == gerbilKey));
        await DbAsync(db => db.Sites.Where(s => s.SiteId == site.SiteId).ExecuteUpdateAsync(u => u
            .SetProperty(s => s.ExitNodeId, node.ExitNodeId).SetProperty(s => s.PubKey, WgKey.GeneratePrivate().PublicKey().ToBase64())
            .SetProperty(s => s.Subnet, "100.89.138.4/30")));

        using var response = await client.PostAsJsonAsync("gerbil/get-config", new { publicKey = gerbilKey }, TestContext.Current.CancellationToken);

        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.Current.CancellationToken);
        var signature = Assert.Single(response.Headers.GetValues("X-Gerbil-Config-Signature"));
        Assert.Contains("100.89.138.4/30", System.Text.Encoding.UTF8.GetString(body), StringComparison.Ordinal);
        Assert.True(Verifies(body, signature), "the signature does not verify over the body as sent");
        body[^2] ^= 1;
        Assert.False(Verifies(body, signature), "the signature verified a changed body");
        // The admin finds the public key to give gerbil in the log; the private key is never logged.
        Assert.Contains(Factory.Logs, l => l.Contains("REMOTE_CONFIG_SIGNING_KEY=" + SigningKey.Public, StringComparison.Ordinal));
        Assert.DoesNotContain(Factory.Logs, l => l.Contains(SigningKey.Private, StringComparison.Ordinal) || l.Contains(Token, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Every_call_to_a_standalone_gerbils_peer_API_carries_the_bearer_token()
    {
        await using var gerbil = await PeerApiRecorder.StartAsync();
        using var client = Internal();
        var gerbilKey = WgKey.GeneratePrivate().PublicKey().ToBase64();
        (await client.PostAsJsonAsync("gerbil/get-config", new { publicKey = gerbilKey, reachableAt = gerbil.Url }, TestContext.Current.CancellationToken)).EnsureSuccessStatusCode();
        var nodeId = await DbAsync(db => db.ExitNodes.AsNoTracking().Where(n => n.PublicKey == gerbilKey).Select(n => n.ExitNodeId).FirstAsync());
        var siteKey = WgKey.GeneratePrivate().PublicKey().ToBase64();

        await using var scope = Factory.Services.CreateAsyncScope();
        var peers = scope.ServiceProvider.GetRequiredService<ExitNodePeers>();
        Assert.True(await peers.AddAsync(nodeId, siteKey, "100.89.138.4/30", TestContext.Current.CancellationToken));
        Assert.True(await peers.RemoveAsync(nodeId, siteKey, TestContext.Current.CancellationToken));

        Assert.Equal([("POST", "Bearer " + Token), ("DELETE", "Bearer " + Token)], gerbil.Calls);

        // A gerbil with another token refuses; the server says which setting to look at.
        gerbil.Refuse = true;
        Assert.False(await peers.AddAsync(nodeId, siteKey, "100.89.138.4/30", TestContext.Current.CancellationToken));
        Assert.Contains(Factory.Logs, l => l.Contains("Gerbil:ControlApiToken is not its CONTROL_API_TOKEN", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Generate_gerbil_keys_prints_a_matching_key_pair_and_one_token_for_both_sides()
    {
        using var output = new StringWriter();
        using var error = new StringWriter();

        var exit = await AdminCli.RunAsync(["generate-gerbil-keys"], output, error, new StringReader(""));

        Assert.True(exit == 0, error.ToString());
        var values = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Where(l => !l.StartsWith('#')).Select(l => l.Split('=', 2)).ToDictionary(p => p[0], p => p[1]);
        using var key = GerbilConfigSigner.Import(values["Gerbil:ConfigSigningKey"]);
        Assert.NotNull(key);
        Assert.Equal(values["REMOTE_CONFIG_SIGNING_KEY"], Convert.ToBase64String(key.PublicKey.Export(KeyBlobFormat.RawPublicKey)));
        Assert.Equal(values["Gerbil:ControlApiToken"], values["CONTROL_API_TOKEN"]);
        Assert.True(values["CONTROL_API_TOKEN"].Length >= Pangolin.Protocol.Gerbil.GerbilControl.MinControlApiTokenLength);
    }

    [Fact]
    public void A_PEM_key_as_openssl_writes_it_is_taken_too()
    {
        // openssl genpkey -algorithm ed25519; its public key: openssl pkey -pubout -outform DER | tail -c 32 | base64
        const string Pem = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIC60INVDSUCBAkqWDufJIhWIt5ONxH9x9g8uCNOLKdJ6\n-----END PRIVATE KEY-----\n";

        using var key = GerbilConfigSigner.Import(Pem);

        Assert.Equal("WHJmi0kYFhMmYe0HuedwcOCAzRsW/nueDKWK5IyR2+E=", Convert.ToBase64String(key!.PublicKey.Export(KeyBlobFormat.RawPublicKey)));
        Assert.Null(GerbilConfigSigner.Import(Pem.Replace("MC4C", "MC5C", StringComparison.Ordinal)));
    }

    /// <summary>A gerbil's peer API reduced to what the test checks: each call's method and Authorization header.</summary>
    private sealed class PeerApiRecorder : IAsyncDisposable
    {
        private readonly ConcurrentQueue<(string, string)> _calls = new();
        private WebApplication _app = null!;

        public string Url { get; private set; } = "";

        public bool Refuse { get; set; }

        public IReadOnlyList<(string Method, string Authorization)> Calls => [.. _calls];

        public static async Task<PeerApiRecorder> StartAsync()
        {
            var recorder = new PeerApiRecorder();
            var builder = WebApplication.CreateSlimBuilder();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            recorder._app = builder.Build();
            recorder._app.Map("/peer", context =>
            {
                recorder._calls.Enqueue((context.Request.Method, context.Request.Headers.Authorization.ToString()));
                context.Response.StatusCode = recorder.Refuse ? StatusCodes.Status401Unauthorized
                    : context.Request.Method == "POST" ? StatusCodes.Status201Created : StatusCodes.Status200OK;
                return Task.CompletedTask;
            });
            await recorder._app.StartAsync(TestContext.Current.CancellationToken);
            recorder.Url = recorder._app.Urls.First();
            return recorder;
        }

        public ValueTask DisposeAsync() => _app.DisposeAsync();
    }
}
