using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Playwright;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// The newcomer's path, all of it in the browser, against real parts: a fresh server is set up with its setup token;
/// an organization, a newt site and a password-protected resource are made on the dashboard's pages; the newt runs
/// (as nobody, in the site's own network namespace) with the credentials the page showed; then the browser opens the
/// resource's address, gets its password page, signs in, and reads the backend's page, which only the newt can reach.
/// </summary>
public sealed class DashboardNewcomerTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private const string BackendPage = "Hello from the home lab";
    private const int WebPort = 8080;
    private readonly int _httpsPort = SmtpTestServer.FreePort();
    private SiteNetwork _net = null!;
    private bool _disposed;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Gerbil:BaseEndpoint"] = SiteNetwork.ServerAddress,
        // HTTPS, as a new resource has it: its session cookie is Secure. No name has an ACME certificate here, so
        // the edge serves its self-signed fallback, which this browser is told to accept.
        ["Edge:HttpsPort"] = _httpsPort.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public override async ValueTask InitializeAsync()
    {
        _net = SiteNetwork.Create("newcomer");
        try
        {
            await _net.StartNginxAsync($$"""
                    server {
                        listen {{SiteNetwork.BackendAddress}}:{{WebPort}};
                        default_type text/html;
                        location / { return 200 "<!doctype html><title>Home lab</title><h1>{{BackendPage}}</h1>"; }
                    }
                """, WebPort, _net.Stopping);
            await base.InitializeAsync();
            _net.StartPublicRelay(Factory.ExternalPort);
        }
        catch
        {
            await DisposeAsync();
            throw;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _net.Stop();
        await base.DisposeAsync();
        _net.Dispose();
    }

    protected override void ConfigureServer(IWebHostBuilder builder) =>
        builder.ConfigureServices(_net.ConfigureServer);

    [Fact]
    public async Task Setup_org_site_password_resource_then_the_backend_behind_its_password_page()
    {
        // Resource hosts (*.example.test) resolve to this machine, as DNS would point them at the server.
        await using var browser = await Browser.LaunchAsync("--host-resolver-rules=MAP *.example.test 127.0.0.1", "--ignore-certificate-errors");
        await using var context = await BrowserFixture.NewContextAsync(browser, BaseUrl);
        var page = await context.NewPageAsync();

        // 1. Set-up: the token the server printed → the server admin, signed in.
        await page.GotoAsync("/");
        await page.GetByRole(AriaRole.Link, new() { Name = "Set up Pangolin" }).ClickAsync();
        await page.GetByLabel("Setup token").FillAsync(Factory.SetupToken!);
        await page.GetByLabel("Your e-mail").FillAsync(AdminEmail);
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(Password);
        await page.GetByLabel("Password again").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Create the administrator" }).ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync($"{BaseUrl}/", new() { Timeout = 30_000 });
        await WaitInteractiveAsync(page);
        await BrowserFixture.ScreenshotAsync(page, "newcomer-1-home");

        // 2. An organization.
        await page.GetByRole(AriaRole.Link, new() { Name = "Create an organization" }).ClickAsync();
        await page.Locator("[data-test=org-name]").FillAsync("Home Lab");
        await Assertions.Expect(page.Locator("[data-test=org-id]")).ToHaveValueAsync("home-lab");
        await page.Locator("[data-test=org-create]").ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync($"{BaseUrl}/org/home-lab/sites", new() { Timeout = 30_000 });
        await BrowserFixture.ScreenshotAsync(page, "newcomer-2-org");

        // 3. A newt site; its newt runs with exactly what the page showed (the endpoint as the site's network sees
        //    this server).
        await page.Locator("[data-test=create-site]").ClickAsync();
        await page.Locator("#site-name").FillAsync("Rack");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();
        var command = await page.Locator("#newt-command").InputValueAsync();
        await BrowserFixture.ScreenshotAsync(page, "newcomer-3-site-command");
        var shown = Regex.Match(command, @"^newt --id (\S+) --secret (\S+) --endpoint (\S+)$");
        Assert.True(shown.Success, command);
        Assert.Equal(BaseUrl, shown.Groups[3].Value);
        var newt = _net.StartNewt(["--id", shown.Groups[1].Value, "--secret", shown.Groups[2].Value,
            "--endpoint", SiteNetwork.ServerEndpoint(Factory.ExternalPort).ToString(), "--ping-interval", "1s", "--ping-timeout", "2s"]);
        await page.Locator("[data-test=create-site-done]").ClickAsync();
        // The list turns the site online by itself, as the newt connects.
        await Assertions.Expect(page.Locator("[data-test^=site-state-]")).ToHaveTextAsync("Online", new() { Timeout = 60_000 });
        await BrowserFixture.ScreenshotAsync(page, "newcomer-4-site-online");

        // 4. An HTTP resource on the site, behind a password.
        await page.GotoAsync("/org/home-lab/resources/new");
        await WaitInteractiveAsync(page);
        await page.Locator("[data-test=name]").FillAsync("Wiki");
        await page.Locator("[data-test=subdomain]").FillAsync("wiki");
        await Assertions.Expect(page.Locator("[data-test=full-domain]")).ToContainTextAsync("wiki.example.test");
        await page.Locator("[data-test=create]").ClickAsync();
        await Assertions.Expect(page).ToHaveURLAsync(new Regex("/org/home-lab/resources/[^/?]+\\?tab=targets$"), new() { Timeout = 30_000 });
        await page.Locator("[data-test=target-add]").ClickAsync();
        await page.Locator("[data-test=target-ip]").FillAsync(SiteNetwork.BackendAddress);
        await page.Locator("[data-test=target-port]").FillAsync(WebPort.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await page.Locator("[data-test=target-save]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=target-address]")).ToContainTextAsync($"{SiteNetwork.BackendAddress}:{WebPort}");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Authentication" }).ClickAsync();
        await page.Locator("[data-test=auth-password-input]").FillAsync("open sesame");
        await page.Locator("[data-test=auth-password-set]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=auth-password-state]")).ToHaveTextAsync("Set");
        await BrowserFixture.ScreenshotAsync(page, "newcomer-5-resource-password");

        // 5. A visitor (a fresh browser context: no dashboard session) opens the resource: its password page, then the
        //    backend's page through the tunnel. The edge may take a moment to have the new route.
        await using var visitorContext = await BrowserFixture.NewContextAsync(browser, BaseUrl);
        var visitor = await visitorContext.NewPageAsync();
        var resourceUrl = $"https://wiki.example.test:{_httpsPort}/";
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            await visitor.GotoAsync(resourceUrl);
            if (visitor.Url.Contains("/auth/resource/", StringComparison.Ordinal) || DateTime.UtcNow > deadline)
            {
                break;
            }
            await Task.Delay(250, TestContext.Current.CancellationToken);
        }
        Assert.StartsWith($"{BaseUrl}/auth/resource/", visitor.Url, StringComparison.Ordinal);
        await BrowserFixture.ScreenshotAsync(visitor, "newcomer-6-password-page");
        await visitor.Locator("#password").FillAsync("open sesame"); // the password form (the account form has its own)
        await visitor.GetByRole(AriaRole.Button, new() { Name = "Continue" }).ClickAsync();
        await Assertions.Expect(visitor.GetByRole(AriaRole.Heading, new() { Name = BackendPage })).ToBeVisibleAsync(new() { Timeout = 30_000 });
        Assert.StartsWith(resourceUrl, visitor.Url, StringComparison.Ordinal);
        await BrowserFixture.ScreenshotAsync(visitor, "newcomer-7-backend");
        Assert.False(newt.HasExited, newt.Tail());
    }
}
