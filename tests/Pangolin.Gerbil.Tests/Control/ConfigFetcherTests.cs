using System.Net;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using NSec.Cryptography;
using Pangolin.Gerbil.Control;
using Pangolin.Gerbil.Tests.Infrastructure;
using Pangolin.Protocol.Gerbil;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Tests.Control;

/// <summary>get-config against the fake server, with the retry schedule on fake time.</summary>
public sealed class ConfigFetcherTests : IAsyncLifetime
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(20);
    private readonly FakeTimeProvider _time = new();
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };
    private readonly WgKey _key = WgKey.GeneratePrivate();
    private FakeControlServer _control = null!;

    public async ValueTask InitializeAsync() => _control = await FakeControlServer.StartAsync(_time);

    private readonly Key _serverKey = Key.Create(SignatureAlgorithm.Ed25519);

    private ConfigFetcher Fetcher(PublicKey? signingKey = null) =>
        new(_http, new ControlEndpoints(_control.BaseUrl).GetConfig, signingKey, _time, NullLogger<ConfigFetcher>.Instance);

    /// <summary>A config with one site, signed by the server's key unless a test changes that.</summary>
    private string SignedConfigWithOneSite()
    {
        var site = WgKey.GeneratePrivate().PublicKey().ToBase64();
        _control.Config = new GetConfigResponse
        {
            ListenPort = 51820,
            IpAddress = "100.89.138.1/24",
            Peers = [new GerbilPeer { PublicKey = site, AllowedIps = ["100.89.138.4/30"] }],
        };
        _control.SigningKey = _serverKey;
        return site;
    }

    private GetConfigRequest Request() => new() { PublicKey = _key.PublicKey().ToBase64(), ReachableAt = "http://10.0.0.2:3004", Endpoint = "gerbil.example.com", ListenPort = 51821 };

    [Fact]
    public async Task Get_config_is_retried_every_5_seconds_until_the_server_answers()
    {
        _control.RefuseGetConfig(3);
        var site = WgKey.GeneratePrivate().PublicKey().ToBase64();
        _control.Config = new GetConfigResponse
        {
            ListenPort = 51821,
            IpAddress = "100.89.138.1/24",
            Peers = [new GerbilPeer { PublicKey = site, AllowedIps = ["100.89.138.4/30"] }],
        };

        var config = await CompleteAsync(Fetcher().FetchAsync(Request(), TestContext.Current.CancellationToken));

        var calls = _control.GetConfigCalls;
        Assert.Equal([503, 503, 503, 200], calls.Select(c => c.Status));
        for (var i = 1; i < calls.Count; i++)
        {
            Assert.True(calls[i].At - calls[i - 1].At >= ConfigFetcher.RetryInterval, $"call {i} came {calls[i].At - calls[i - 1].At} after the one before");
        }
        Assert.Equal("100.89.138.1/24", config.Address.ToString());
        Assert.Equal(51821, config.ListenPort);
        var peer = Assert.Single(config.Peers);
        Assert.Equal(site, peer.PublicKey.ToBase64());
        Assert.Equal([IPNetwork.Parse("100.89.138.4/30")], peer.AllowedIps);
    }

    [Fact]
    public async Task The_request_carries_the_public_key_reachable_at_endpoint_and_listen_port()
    {
        await Fetcher().FetchAsync(Request(), TestContext.Current.CancellationToken).WaitAsync(Within, TestContext.Current.CancellationToken);

        var body = Assert.Single(_control.GetConfigCalls).Body;
        Assert.Equal(_key.PublicKey().ToBase64(), body.PublicKey);
        Assert.Equal("http://10.0.0.2:3004", body.ReachableAt);
        Assert.Equal("gerbil.example.com", body.Endpoint);
        Assert.Equal(51821, body.ListenPort);
    }

    [Fact]
    public async Task A_peer_the_node_cannot_use_is_left_out_and_the_others_are_kept()
    {
        var good = WgKey.GeneratePrivate().PublicKey().ToBase64();
        _control.Config = new GetConfigResponse
        {
            ListenPort = 51820,
            IpAddress = "100.89.138.1/24",
            Peers =
            [
                new GerbilPeer { PublicKey = "not a key", AllowedIps = ["100.89.138.8/30"] },
                new GerbilPeer { PublicKey = _key.PublicKey().ToBase64(), AllowedIps = ["100.89.138.12/30"] },
                new GerbilPeer { PublicKey = WgKey.GeneratePrivate().PublicKey().ToBase64(), AllowedIps = ["nonsense"] },
                // Host bits are masked, as Go's net.ParseCIDR does.
                new GerbilPeer { PublicKey = good, AllowedIps = ["100.89.138.5/30"] },
            ],
        };

        var config = await Fetcher().FetchAsync(Request(), TestContext.Current.CancellationToken).WaitAsync(Within, TestContext.Current.CancellationToken);

        var peer = Assert.Single(config.Peers);
        Assert.Equal(good, peer.PublicKey.ToBase64());
        Assert.Equal([IPNetwork.Parse("100.89.138.4/30")], peer.AllowedIps);
    }

    [Fact]
    public async Task An_answer_without_a_usable_address_is_retried_like_a_refusal()
    {
        _control.Config = new GetConfigResponse { ListenPort = 51820, IpAddress = "100.89.138.1" };

        var fetching = Fetcher().FetchAsync(Request(), TestContext.Current.CancellationToken);
        Assert.True(await Eventually(() => _control.GetConfigCalls.Count >= 1));
        _control.Config = new GetConfigResponse { ListenPort = 51820, IpAddress = "100.89.138.1/24" };

        var config = await CompleteAsync(fetching);
        Assert.Equal("100.89.138.1/24", config.Address.ToString());
        Assert.Equal(2, _control.GetConfigCalls.Count);
    }

    [Fact]
    public async Task Stopping_ends_the_retries()
    {
        _control.RefuseGetConfig(int.MaxValue);
        using var stop = new CancellationTokenSource();

        var fetching = Fetcher().FetchAsync(Request(), stop.Token);
        Assert.True(await Eventually(() => _control.GetConfigCalls.Count >= 1));
        await stop.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => fetching.WaitAsync(Within, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task With_a_signing_key_an_answer_signed_over_its_exact_body_is_taken()
    {
        var site = SignedConfigWithOneSite();

        var config = await Fetcher(_serverKey.PublicKey).FetchAsync(Request(), TestContext.Current.CancellationToken)
            .WaitAsync(Within, TestContext.Current.CancellationToken);

        Assert.Equal(site, Assert.Single(config.Peers).PublicKey.ToBase64());
        Assert.Single(_control.GetConfigCalls);
    }

    [Fact]
    public async Task A_body_changed_after_signing_is_refused_and_retried_until_a_signed_one_arrives()
    {
        SignedConfigWithOneSite();
        // Still valid JSON, another block: only the signature tells.
        _control.Tamper = body => System.Text.Encoding.UTF8.GetBytes(System.Text.Encoding.UTF8.GetString(body).Replace("100.89.138.4/30", "100.89.138.8/30", StringComparison.Ordinal));

        var fetching = Fetcher(_serverKey.PublicKey).FetchAsync(Request(), TestContext.Current.CancellationToken);
        Assert.True(await AdvanceUntilAsync(() => _control.GetConfigCalls.Count >= 3), "get-config was not retried");
        Assert.False(fetching.IsCompleted, "a tampered config was taken");
        _control.Tamper = null;

        var config = await CompleteAsync(fetching);
        Assert.Equal([IPNetwork.Parse("100.89.138.4/30")], Assert.Single(config.Peers).AllowedIps);
    }

    [Theory]
    [InlineData("another key")]
    [InlineData("no signature")]
    [InlineData("a signature that is not base64")]
    public async Task An_answer_not_signed_by_the_configured_key_is_refused_and_retried(string what)
    {
        SignedConfigWithOneSite();
        _control.SigningKey = what == "another key" ? Key.Create(SignatureAlgorithm.Ed25519) : null;
        _control.SignatureOverride = what == "a signature that is not base64" ? "not base64!" : null;

        var fetching = Fetcher(_serverKey.PublicKey).FetchAsync(Request(), TestContext.Current.CancellationToken);
        Assert.True(await AdvanceUntilAsync(() => _control.GetConfigCalls.Count >= 3), "get-config was not retried");
        Assert.False(fetching.IsCompleted, $"a config with {what} was taken");
        _control.SignatureOverride = null;
        _control.SigningKey = _serverKey;

        var config = await CompleteAsync(fetching);
        Assert.Single(config.Peers);
    }

    [Fact]
    public async Task Without_a_signing_key_an_unsigned_answer_is_taken_as_before()
    {
        SignedConfigWithOneSite();
        _control.SigningKey = null;

        var config = await Fetcher().FetchAsync(Request(), TestContext.Current.CancellationToken).WaitAsync(Within, TestContext.Current.CancellationToken);

        Assert.Single(config.Peers);
    }

    /// <summary>Moves the clock on in 1 s steps until <paramref name="condition"/> holds (bounded).</summary>
    private async Task<bool> AdvanceUntilAsync(Func<bool> condition)
    {
        using var bound = new CancellationTokenSource(Within);
        while (!condition() && !bound.IsCancellationRequested)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        return condition();
    }

    /// <summary>Moves the clock on in 1 s steps, smaller than the interval, until the fetch completes (bounded).</summary>
    private async Task<T> CompleteAsync<T>(Task<T> fetching)
    {
        using var bound = new CancellationTokenSource(Within);
        while (!fetching.IsCompleted && !bound.IsCancellationRequested)
        {
            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(10, TestContext.Current.CancellationToken);
        }
        return await fetching.WaitAsync(Within, TestContext.Current.CancellationToken);
    }

    private static Task<bool> Eventually(Func<bool> condition) => WireGuard.Tests.Infrastructure.Eventually.TrueAsync(condition, Within);

    public async ValueTask DisposeAsync()
    {
        _serverKey.Dispose();
        _http.Dispose();
        await _control.DisposeAsync();
    }
}
