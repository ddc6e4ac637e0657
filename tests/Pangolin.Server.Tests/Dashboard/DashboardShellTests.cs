using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The dashboard's shell in a real browser: served with its assets, interactive over the server circuit.</summary>
public sealed class DashboardShellTests(PostgresServer postgres, BrowserFixture browser)
    : ServerTestBase(DatabaseKind.Sqlite, postgres), IClassFixture<BrowserFixture>
{
    private readonly int _edgePort = SmtpTestServer.FreePort();

    protected override bool Kestrel => true;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Edge:HttpPort"] = _edgePort.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    [Fact]
    public async Task The_shell_loads_its_styles_and_answers_clicks_over_the_circuit()
    {
        await using var context = await browser.NewContextAsync($"http://127.0.0.1:{Factory.ExternalPort}");
        var page = await context.NewPageAsync();
        var failed = new List<string>();
        page.RequestFailed += (_, request) => failed.Add(request.Url);
        page.Response += (_, response) =>
        {
            if (response.Status >= 400)
            {
                failed.Add($"{response.Status} {response.Url}");
            }
        };

        await page.GotoAsync("/");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Pangolin", Level = 1 })).ToBeVisibleAsync();
        // MudBlazor's stylesheet applied: the app bar is laid out by it, not by the browser's defaults.
        await Assertions.Expect(page.Locator("header.mud-appbar")).ToHaveCSSAsync("position", "fixed");

        // A click handled on the server: the theme toggle only changes once the circuit is up.
        var toggle = page.Locator("[data-test=theme-toggle]");
        await Assertions.Expect(toggle).ToHaveAttributeAsync("aria-label", "Dark mode");
        await Assertions.Expect(page.Locator("[data-interactive=true]")).ToBeAttachedAsync(new() { Timeout = 15_000 });
        await toggle.ClickAsync();
        await Assertions.Expect(toggle).ToHaveAttributeAsync("aria-label", "Light mode");
        await BrowserFixture.ScreenshotAsync(page, "home-dark");
        Assert.Empty(failed);
    }

    [Fact]
    public async Task The_dashboard_cannot_be_framed_and_runs_only_its_own_scripts_without_a_policy_violation()
    {
        using var http = new HttpClient();
        using var home = await http.GetAsync($"http://127.0.0.1:{Factory.ExternalPort}/", TestContext.Current.CancellationToken);
        Assert.Equal("DENY", home.Headers.GetValues("X-Frame-Options").Single());
        Assert.Equal("nosniff", home.Headers.GetValues("X-Content-Type-Options").Single());
        var policy = home.Headers.GetValues("Content-Security-Policy").Single();
        Assert.Contains("frame-ancestors 'none'", policy, StringComparison.Ordinal);
        Assert.Contains("script-src 'self';", policy, StringComparison.Ordinal);

        // In the browser: the page comes up, turns interactive and answers a click with no violation of that policy.
        await using var context = await browser.NewContextAsync($"http://127.0.0.1:{Factory.ExternalPort}");
        var page = await context.NewPageAsync();
        var violations = new List<string>();
        page.Console += (_, message) =>
        {
            if (message.Text.Contains("Content Security Policy", StringComparison.Ordinal))
            {
                violations.Add(message.Text);
            }
        };
        await page.GotoAsync("/auth/login");
        await page.GotoAsync("/");
        await Assertions.Expect(page.Locator("[data-interactive=true]")).ToBeAttachedAsync(new() { Timeout = 15_000 });
        await page.Locator("[data-test=theme-toggle]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=theme-toggle]")).ToHaveAttributeAsync("aria-label", "Light mode");
        Assert.Empty(violations);
        // The toggle is kept for the next visit.
        Assert.Equal("dark", (await context.CookiesAsync()).Single(c => c.Name == Pangolin.Server.Dashboard.DashboardTheme.Cookie).Value);
    }

    [Fact]
    public async Task The_machine_facing_ports_do_not_serve_the_dashboard()
    {
        using var http = new HttpClient();
        var ct = TestContext.Current.CancellationToken;
        foreach (var key in new[] { "Server:IntegrationPort", "Server:InternalPort" })
        {
            var port = Factory.Services.GetRequiredService<Microsoft.Extensions.Configuration.IConfiguration>()[key];
            using var page = await http.GetAsync($"http://127.0.0.1:{port}/", ct);
            Assert.Equal(System.Net.HttpStatusCode.NotFound, page.StatusCode);
            Assert.Contains("served on port", await page.Content.ReadAsStringAsync(ct), StringComparison.Ordinal);
            using var probe = await http.GetAsync($"http://127.0.0.1:{port}/healthz", ct);
            Assert.Equal(System.Net.HttpStatusCode.OK, probe.StatusCode);
        }
        using var dashboard = await http.GetAsync($"http://127.0.0.1:{Factory.ExternalPort}/", ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, dashboard.StatusCode);
        Assert.Equal("text/html", dashboard.Content.Headers.ContentType?.MediaType);

        // The edge's port shows the dashboard to its own host name only: any other host (say, one whose resource was
        // deleted) gets a 404, not the dashboard.
        using var viaEdge = await http.GetAsync($"http://127.0.0.1:{_edgePort}/", ct);
        Assert.Equal(System.Net.HttpStatusCode.OK, viaEdge.StatusCode);
        using var otherHost = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{_edgePort}/");
        otherHost.Headers.Host = "nothing-here.example.test";
        using var other = await http.SendAsync(otherHost, ct);
        Assert.Equal(System.Net.HttpStatusCode.NotFound, other.StatusCode);
    }

    [Fact]
    public async Task The_dashboards_client_address_header_counts_only_with_the_servers_own_signature()
    {
        var admin = await AdminAsync();
        var protector = Factory.Services.GetRequiredService<Pangolin.Server.Auth.SecretProtector>();
        const string header = Pangolin.Server.Dashboard.DashboardRelayMiddleware.Header;

        admin.DefaultRequestHeaders.Add(header, "203.0.113.9 forged-mac");
        await CreateOrgAsync(admin, "forged");
        admin.DefaultRequestHeaders.Remove(header);
        admin.DefaultRequestHeaders.Add(header, Pangolin.Server.Dashboard.DashboardRelayMiddleware.Sign(protector, "203.0.113.9"));
        await CreateOrgAsync(admin, "signed");
        admin.DefaultRequestHeaders.Remove(header);

        Assert.Equal("127.0.0.1", await CreatorIpAsync(admin, "forged"));
        Assert.Equal("203.0.113.9", await CreatorIpAsync(admin, "signed"));
    }

    private static async Task<string?> CreatorIpAsync(HttpClient admin, string orgId)
    {
        var log = (await admin.GetJsonAsync($"org/{orgId}/logs/action")).Expect(200).Data.GetProperty("log");
        return log.EnumerateArray().Single(e => e.GetProperty("action").GetString() == "createOrg").GetProperty("ip").GetString();
    }
}
