using Pangolin.Edge.Badger;

namespace Pangolin.Edge.Tests.Badger;

public sealed class AccessMiddlewareTests
{
    [Theory]
    [InlineData("/docs/page?x=1", "/docs/page?x=1")]
    [InlineData("/", "/")]
    [InlineData("//evil.example/x", "/evil.example/x")]
    [InlineData("/\\evil.example/x", "/evil.example/x")]
    [InlineData("/\\/\\evil.example", "/evil.example")]
    [InlineData("///", "/")]
    public void The_redirect_after_a_share_link_never_leaves_the_host(string location, string expected)
    {
        var safe = EdgeAccessMiddleware.SameHostLocation(location);
        Assert.Equal(expected, safe);
        Assert.False(Uri.TryCreate(safe, UriKind.Absolute, out var absolute) && absolute.Scheme is "http" or "https", safe);
        Assert.False(safe.StartsWith("//", StringComparison.Ordinal) || safe.StartsWith("/\\", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("abc.def", "abc", "def")]
    [InlineData("abc.def.ghi", "abc", "def.ghi")]
    public void A_share_link_token_is_its_id_and_secret(string value, string id, string secret) =>
        Assert.Equal((id, secret), EdgeAccessMiddleware.SplitToken(value));

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData(".abc")]
    [InlineData("abc.")]
    public void A_malformed_share_link_token_is_none(string value) => Assert.Null(EdgeAccessMiddleware.SplitToken(value));
}
