using Microsoft.Playwright;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// Signing in to the dashboard in a real browser: the static login form (errors at the field, a wrong password told
/// plainly, no redirect off the site), then the interactive home page reading the user's orgs through the API as them.
/// </summary>
public sealed class DashboardLoginTests(PostgresServer postgres, BrowserFixture browser)
    : ServerTestBase(DatabaseKind.Sqlite, postgres), IClassFixture<BrowserFixture>
{
    protected override bool Kestrel => true;

    [Fact]
    public async Task Someone_required_to_use_two_factor_sets_it_up_while_signing_in_and_sees_the_backup_codes_once()
    {
        var admin = await AdminAsync();
        using var bob = await SignUpAsync("bob@example.com");
        var bobId = await UserIdAsync(bob);
        (await admin.PostJsonAsync($"user/{bobId}/2fa", new { twoFactorSetupRequested = true })).Expect(200);
        await using var context = await browser.NewContextAsync($"http://127.0.0.1:{Factory.ExternalPort}");
        var page = await context.NewPageAsync();

        await page.GotoAsync("/auth/login");
        await page.GetByLabel("E-mail").FillAsync("bob@example.com");
        await page.GetByLabel("Password").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        // The password was right: the page enrols him (QR code and key), holding a ticket, not the password.
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Set up two-factor authentication" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=login-setup-qr]")).ToHaveAttributeAsync("src", new System.Text.RegularExpressions.Regex("^data:image/png;base64,"));
        var secret = (await page.Locator("[data-test=login-setup-secret]").InnerTextAsync()).Replace(" ", "", StringComparison.Ordinal);
        Assert.DoesNotContain(Password, await page.ContentAsync(), StringComparison.Ordinal);
        await BrowserFixture.ScreenshotAsync(page, "login-2fa-setup");

        // A wrong code: said at the field, and the same key is shown again (the app may have it already).
        var code = page.GetByLabel("2. The 6-digit code the app shows");
        await code.FillAsync(Pangolin.Server.Auth.TwoFactor.Code(secret, Factory.Clock.GetUtcNow().UtcDateTime) == "000000" ? "111111" : "000000");
        await page.GetByRole(AriaRole.Button, new() { Name = "Turn on and sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("#code-error")).ToContainTextAsync("The code is incorrect");
        Assert.Equal(secret, (await page.Locator("[data-test=login-setup-secret]").InnerTextAsync()).Replace(" ", "", StringComparison.Ordinal));

        await code.FillAsync(Pangolin.Server.Auth.TwoFactor.Code(secret, Factory.Clock.GetUtcNow().UtcDateTime));
        await page.GetByRole(AriaRole.Button, new() { Name = "Turn on and sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=backup-codes] li")).ToHaveCountAsync(10, new() { Timeout = 30_000 });
        await BrowserFixture.ScreenshotAsync(page, "login-2fa-setup-backup-codes");
        await page.Locator("[data-test=login-continue]").ClickAsync();
        await page.WaitForURLAsync($"http://127.0.0.1:{Factory.ExternalPort}/");
        await Assertions.Expect(page.Locator("[data-test=signed-in-as]")).ToHaveTextAsync("Signed in as bob@example.com");
        var user = (await admin.GetJsonAsync("users")).Expect(200).Data.GetProperty("users").EnumerateArray().Single(u => u.GetProperty("email").GetString() == "bob@example.com");
        Assert.True(user.GetProperty("twoFactorEnabled").GetBoolean());
        Assert.False(user.GetProperty("twoFactorSetupRequested").GetBoolean());
    }

    [Fact]
    public async Task A_person_signs_in_through_the_form_and_sees_their_organizations()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await using var context = await browser.NewContextAsync($"http://127.0.0.1:{Factory.ExternalPort}");
        var page = await context.NewPageAsync();

        await page.GotoAsync("/");
        await page.GetByRole(AriaRole.Link, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Sign in" })).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "login");

        // Nothing filled in: each field says what it needs, next to it.
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("#email-error")).ToContainTextAsync("Enter your e-mail address.");
        await Assertions.Expect(page.Locator("#password-error")).ToContainTextAsync("Enter your password.");

        // A wrong password: told, and still on the form with the address kept.
        await page.GetByLabel("E-mail").FillAsync(AdminEmail);
        await page.GetByLabel("Password").FillAsync("not the password");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=login-error]")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByLabel("E-mail")).ToHaveValueAsync(AdminEmail);
        // What was typed as the password is not sent back in the page.
        await Assertions.Expect(page.GetByLabel("Password")).ToHaveValueAsync("");
        Assert.DoesNotContain("not the password", await page.ContentAsync(), StringComparison.Ordinal);
        await BrowserFixture.ScreenshotAsync(page, "login-wrong-password");

        // The right one, with a redirect that points off the site: the browser stays here.
        await page.GotoAsync("/auth/login?redirect=" + Uri.EscapeDataString("//evil.example/"));
        await page.GetByLabel("E-mail").FillAsync(AdminEmail);
        await page.GetByLabel("Password").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync($"http://127.0.0.1:{Factory.ExternalPort}/");
        await Assertions.Expect(page.Locator("[data-test=signed-in-as]")).ToHaveTextAsync($"Signed in as {AdminEmail}");
        await Assertions.Expect(page.Locator("[data-test=orgs]")).ToContainTextAsync("(acme)");

        // Once the circuit is up, the page still shows them: the circuit acts with the browser's session too.
        await Assertions.Expect(page.Locator("[data-interactive=true]")).ToBeAttachedAsync(new() { Timeout = 15_000 });
        await Assertions.Expect(page.Locator("[data-test=orgs]")).ToContainTextAsync("(acme)");
        await BrowserFixture.ScreenshotAsync(page, "home-signed-in");

        // The session cookie stayed out of the page: it is HttpOnly, and nothing rendered it.
        var cookie = (await context.CookiesAsync()).Single(c => c.Name == "p_session_token");
        Assert.True(cookie.HttpOnly);
        Assert.DoesNotContain(cookie.Value, await page.ContentAsync(), StringComparison.Ordinal);

        // Signing out ends the session on the server, not only in this browser.
        await page.Locator("[data-test=sign-out]").ClickAsync();
        await page.WaitForURLAsync($"http://127.0.0.1:{Factory.ExternalPort}/auth/login");
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == "p_session_token" && c.Value.Length > 0);
        using var old = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{Factory.ExternalPort}/api/v1/") };
        old.DefaultRequestHeaders.Add("Cookie", $"p_session_token={cookie.Value}");
        (await old.GetJsonAsync("user")).Expect(401);
    }

    [Fact]
    public async Task Signing_out_needs_the_pages_antiforgery_token()
    {
        var admin = await AdminAsync();
        using var forged = new HttpRequestMessage(HttpMethod.Post, "/auth/sign-out") { Content = new FormUrlEncodedContent([]) };
        var reply = await admin.SendAsync(forged, TestContext.Current.CancellationToken);
        Assert.Equal(System.Net.HttpStatusCode.BadRequest, reply.StatusCode);
        (await admin.GetJsonAsync("user")).Expect(200); // still signed in
    }
}
