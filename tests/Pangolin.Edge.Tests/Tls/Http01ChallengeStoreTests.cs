using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;
using Pangolin.Edge.Tls.Acme;

namespace Pangolin.Edge.Tests.Tls;

public sealed class Http01ChallengeStoreTests
{
    private const string Token = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA";

    private static AcmeChallenge Challenge(string token = Token) =>
        new(AcmeChallengeTypes.Http01, "example.com", token, token + ".thumbprint");

    [Fact]
    public async Task A_published_token_is_answered_until_it_is_removed()
    {
        var store = new Http01ChallengeStore();

        await store.PublishAsync(Challenge(), TestContext.Current.CancellationToken);
        Assert.True(store.TryGetResponse(Token, out var keyAuthorization));
        Assert.Equal(Token + ".thumbprint", keyAuthorization);

        await store.RemoveAsync(Challenge(), TestContext.Current.CancellationToken);
        Assert.False(store.TryGetResponse(Token, out _));
        Assert.Equal(0, store.Count);
    }

    [Theory]
    [InlineData("")]
    [InlineData("..")]
    [InlineData("a/b")]
    [InlineData("a.b")]
    [InlineData("a%2Fb")]
    [InlineData("a b")]
    [InlineData("abc=")]
    public async Task Tokens_outside_the_base64url_alphabet_are_refused(string token)
    {
        var store = new Http01ChallengeStore();

        await Assert.ThrowsAsync<ArgumentException>(() => store.PublishAsync(Challenge(token), TestContext.Current.CancellationToken));
        Assert.False(store.TryGetResponse(token, out _));
    }

    [Fact]
    public async Task Other_challenge_types_are_refused()
    {
        var store = new Http01ChallengeStore();
        var dns = Challenge() with { Type = AcmeChallengeTypes.Dns01 };

        await Assert.ThrowsAsync<ArgumentException>(() => store.PublishAsync(dns, TestContext.Current.CancellationToken));
    }

    [Fact]
    public async Task The_endpoint_serves_the_key_authorization_and_404_for_anything_else()
    {
        var ct = TestContext.Current.CancellationToken;
        var store = new Http01ChallengeStore();
        await store.PublishAsync(Challenge(), ct);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseKestrel(k => k.Listen(IPAddress.Loopback, 0));
        await using var app = builder.Build();
        app.MapAcmeHttp01(store);
        await app.StartAsync(ct);
        var address = new Uri(app.Urls.Single());
        using var http = new HttpClient { BaseAddress = address, Timeout = TimeSpan.FromSeconds(10) };

        using var found = await http.GetAsync("/.well-known/acme-challenge/" + Token, ct);
        Assert.Equal(HttpStatusCode.OK, found.StatusCode);
        Assert.Equal("application/octet-stream", found.Content.Headers.ContentType?.MediaType);
        Assert.Equal(Token + ".thumbprint", await found.Content.ReadAsStringAsync(ct));

        foreach (var path in new[] { "unknownToken", "..%2F..%2Fetc", Token + "%2E", Token + "/x" })
        {
            using var missing = await http.GetAsync("/.well-known/acme-challenge/" + path, ct);
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        await app.StopAsync(ct);
    }
}
