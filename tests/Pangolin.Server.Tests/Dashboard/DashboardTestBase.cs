using System.Net.Http.Json;
using Microsoft.Playwright;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// A real server on Kestrel (SQLite) and Debian's Chromium: the base of the dashboard's browser tests. Gives signed-in
/// browser contexts without going through the login form (which has its own tests).
/// </summary>
public abstract class DashboardTestBase(PostgresServer postgres, BrowserFixture browser)
    : ServerTestBase(DatabaseKind.Sqlite, postgres), IClassFixture<BrowserFixture>
{
    protected override bool Kestrel => true;

    protected BrowserFixture Browser { get; } = browser;

    protected string BaseUrl => $"http://127.0.0.1:{Factory.ExternalPort}";

    /// <summary>Signs in through the API and returns the session cookie's value.</summary>
    protected async Task<string> SessionTokenAsync(string email, string password = Password)
    {
        using var http = new HttpClient(new SocketsHttpHandler { UseCookies = false }) { BaseAddress = new Uri(BaseUrl + "/api/v1/") };
        http.DefaultRequestHeaders.Add("X-CSRF-Token", "x-csrf-protection");
        using var reply = await http.PostAsJsonAsync("auth/login", new { email, password });
        reply.EnsureSuccessStatusCode();
        var cookie = reply.Headers.GetValues("Set-Cookie").First(c => c.StartsWith("p_session_token=", StringComparison.Ordinal));
        return cookie["p_session_token=".Length..cookie.IndexOf(';', StringComparison.Ordinal)];
    }

    /// <summary>A browser context signed in as <paramref name="email"/> (default: the server admin, created if needed).</summary>
    protected async Task<IBrowserContext> SignedInContextAsync(string? email = null, bool phone = false, bool dark = false)
    {
        if (email is null && Factory.SetupToken is not null && !await SetUpAsync())
        {
            using var _ = await AdminAsync();
        }
        var token = await SessionTokenAsync(email ?? AdminEmail);
        var context = await Browser.NewContextAsync(BaseUrl, phone, dark);
        await context.AddCookiesAsync([new Cookie { Name = "p_session_token", Value = token, Url = BaseUrl, HttpOnly = true }]);
        return context;
    }

    private async Task<bool> SetUpAsync()
    {
        using var http = Factory.DashboardClient();
        return (await http.GetJsonAsync("auth/initial-setup-complete")).Expect(200).Data.GetProperty("complete").GetBoolean();
    }

    /// <summary>Opens a page and waits until its circuit is up, so that clicks reach event handlers.</summary>
    protected static async Task<IPage> OpenAsync(IBrowserContext context, string path)
    {
        var page = await context.NewPageAsync();
        await page.GotoAsync(path);
        await WaitInteractiveAsync(page);
        return page;
    }

    protected static Task WaitInteractiveAsync(IPage page) =>
        Assertions.Expect(page.Locator("[data-interactive=true]")).ToBeAttachedAsync(new() { Timeout = 15_000 });
}
