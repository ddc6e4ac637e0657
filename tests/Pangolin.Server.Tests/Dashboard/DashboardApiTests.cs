using System.Net.Http.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Pangolin.Server.Configuration;
using Pangolin.Server.Dashboard;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// The dashboard's API client serves many people through one pooled handler: each call must carry its own person's
/// session, even after the API renewed someone's session cookie (a shared cookie jar would hand it to the next caller).
/// </summary>
public sealed class DashboardApiTests(PostgresServer postgres) : ServerTestBase(DatabaseKind.Sqlite, postgres)
{
    private sealed record Me(string UserId, string Email);

    protected override bool Kestrel => true;

    [Fact]
    public async Task Each_call_acts_as_its_own_session_even_after_a_renewal()
    {
        await AdminAsync();
        using var _ = await SignUpAsync("bob@example.com");
        var alice = await SessionTokenAsync(AdminEmail);
        var bob = await SessionTokenAsync("bob@example.com");
        // Past half of the session's length: the API renews the session and answers a Set-Cookie for it.
        Factory.Clock.Advance(TimeSpan.FromHours(400));

        for (var round = 0; round < 2; round++)
        {
            Assert.Equal(AdminEmail, await WhoAsync(alice));
            Assert.Equal("bob@example.com", await WhoAsync(bob));
        }
        Assert.Null(await WhoAsync(null));
    }

    private async Task<string?> WhoAsync(string? token)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        var browser = new DefaultHttpContext();
        browser.Connection.RemoteIpAddress = System.Net.IPAddress.Loopback;
        if (token is not null)
        {
            browser.Request.Headers.Cookie = $"p_session_token={token}";
        }
        scope.ServiceProvider.GetRequiredService<DashboardSession>().Capture(browser, scope.ServiceProvider.GetRequiredService<IOptions<ServerOptions>>().Value.SessionCookieName);
        var answer = await scope.ServiceProvider.GetRequiredService<DashboardApi>().GetAsync<Me>("user", TestContext.Current.CancellationToken);
        return answer.Ok ? answer.Data!.Email : null;
    }

    private async Task<string> SessionTokenAsync(string email)
    {
        using var http = new HttpClient(new HttpClientHandler { UseCookies = false });
        http.DefaultRequestHeaders.Add("X-CSRF-Token", "x-csrf-protection");
        using var reply = await http.PostAsJsonAsync($"http://127.0.0.1:{Factory.ExternalPort}/api/v1/auth/login", new { email, password = Password },
            TestContext.Current.CancellationToken);
        reply.EnsureSuccessStatusCode();
        var cookie = reply.Headers.GetValues("Set-Cookie").Single(c => c.StartsWith("p_session_token=", StringComparison.Ordinal));
        return cookie.Split(';')[0]["p_session_token=".Length..];
    }
}
