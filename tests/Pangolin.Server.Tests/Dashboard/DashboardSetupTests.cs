using Microsoft.Playwright;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The first run in a browser: the setup token for the server admin, each mistake told at its field.</summary>
public sealed class DashboardSetupTests(PostgresServer postgres, BrowserFixture browser)
    : ServerTestBase(DatabaseKind.Sqlite, postgres), IClassFixture<BrowserFixture>
{
    protected override bool Kestrel => true;

    [Fact]
    public async Task A_new_server_is_set_up_from_the_browser_and_only_once()
    {
        var token = Factory.SetupToken ?? throw new InvalidOperationException("a fresh server prints a setup token");
        await using var context = await browser.NewContextAsync($"http://127.0.0.1:{Factory.ExternalPort}");
        var page = await context.NewPageAsync();

        await page.GotoAsync("/");
        await page.GetByRole(AriaRole.Link, new() { Name = "Set up Pangolin" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Set up Pangolin" })).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "setup");

        async Task SubmitAsync(string setupToken, string password, string confirm)
        {
            await page.GetByLabel("Setup token").FillAsync(setupToken);
            await page.GetByLabel("Your e-mail").FillAsync(AdminEmail);
            await page.GetByLabel("Password", new() { Exact = true }).FillAsync(password);
            await page.GetByLabel("Password again").FillAsync(confirm);
            await page.GetByRole(AriaRole.Button, new() { Name = "Create the administrator" }).ClickAsync();
        }

        await SubmitAsync("not-the-token", Password, Password);
        await Assertions.Expect(page.Locator("#token-error")).ToContainTextAsync("Invalid or used setup token");
        await SubmitAsync(token, "short", "short");
        await Assertions.Expect(page.Locator("#password-error")).Not.ToBeEmptyAsync();
        await SubmitAsync(token, Password, Password + "x");
        await Assertions.Expect(page.Locator("#confirm-error")).ToContainTextAsync("The two passwords differ.");
        await BrowserFixture.ScreenshotAsync(page, "setup-errors");

        await SubmitAsync(token, Password, Password);
        await page.WaitForURLAsync($"http://127.0.0.1:{Factory.ExternalPort}/");
        await Assertions.Expect(page.Locator("[data-test=signed-in-as]")).ToHaveTextAsync($"Signed in as {AdminEmail}");
        await Assertions.Expect(page.Locator("[data-test=no-orgs]")).ToBeVisibleAsync();

        // Once there is an admin, the page only says so, and the token is spent.
        await page.GotoAsync("/setup");
        await Assertions.Expect(page.Locator("[data-test=setup-complete]")).ToBeVisibleAsync();
        using var api = Factory.DashboardClient();
        (await api.PutJsonAsync("auth/set-server-admin", new { email = "other@example.com", password = Password, setupToken = token })).Expect(400);
    }
}
