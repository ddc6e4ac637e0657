using System.Net;
using static Pangolin.Edge.Tests.Routing.Resources;

namespace Pangolin.Edge.Tests.Routing;

/// <summary>The access check's first steps (PROTOCOL.md §4.4): blocked, then the resource's rules, then its sign-in methods.</summary>
public sealed class AccessTests
{
    private static EdgeRule Rule(int id, string action, string match, string value, string? method = null) => new(id, id, action, match, value, method);

    private static async Task<HttpStatusCode> StatusAsync(EdgeTestHost edge, string path, HttpMethod? method = null)
    {
        using var request = new HttpRequestMessage(method ?? HttpMethod.Get, path);
        request.Headers.Host = "app.example.com";
        using var response = await edge.Client.SendAsync(request, TestContext.Current.CancellationToken);
        return response.StatusCode;
    }

    [Fact]
    public async Task Rules_decide_in_priority_order_accept_skips_sign_in_drop_refuses_and_pass_goes_on_to_it()
    {
        await using var backend = await EchoBackend.StartAsync("b");
        await using var edge = await EdgeTestHost.StartAsync();
        edge.Dialer.Ports[1] = backend.Port;
        var protectedPolicy = EdgeAccessPolicy.Open with
        {
            HasPassword = true,
            ApplyRules = true,
            Rules =
            [
                Rule(1, "DROP", "PATH", "/admin/*"),
                Rule(2, "PASS", "PATH", "/private/*"),
                Rule(3, "ACCEPT", "PATH", "/public/*", "GET"),
                Rule(4, "ACCEPT", "CIDR", "10.0.0.0/8"),
            ],
        };
        edge.Source.Set(Http(1, "app.example.com", Target(1)) with { Access = protectedPolicy });

        Assert.Equal(HttpStatusCode.Forbidden, await StatusAsync(edge, "/admin/users"));
        Assert.Equal(HttpStatusCode.Found, await StatusAsync(edge, "/private/x"));
        Assert.Equal(HttpStatusCode.OK, await StatusAsync(edge, "/public/page"));
        Assert.Equal(HttpStatusCode.Found, await StatusAsync(edge, "/public/page", HttpMethod.Post)); // the rule is for GET only
        Assert.Equal(HttpStatusCode.Found, await StatusAsync(edge, "/elsewhere")); // 127.0.0.1 is not in 10/8

        // The client's own address: a DROP on its network refuses even what would be open.
        edge.Source.Set(Http(1, "app.example.com", Target(1)) with
        {
            Access = EdgeAccessPolicy.Open with { ApplyRules = true, Rules = [Rule(1, "DROP", "CIDR", "127.0.0.0/8")] },
        });
        await WaitForAsync(edge, "/", HttpStatusCode.Forbidden);

        // Rules that are not applied do nothing.
        edge.Source.Set(Http(1, "app.example.com", Target(1)) with
        {
            Access = EdgeAccessPolicy.Open with { ApplyRules = false, Rules = [Rule(1, "DROP", "CIDR", "127.0.0.0/8")] },
        });
        await WaitForAsync(edge, "/", HttpStatusCode.OK);
        Assert.Equal(1, edge.Dialer.Connections);
    }

    private static async Task WaitForAsync(EdgeTestHost edge, string path, HttpStatusCode expected)
    {
        var deadline = DateTime.UtcNow.AddSeconds(5);
        while (await StatusAsync(edge, path) != expected)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{path} did not become {expected}");
            await Task.Delay(20, TestContext.Current.CancellationToken);
        }
    }
}
