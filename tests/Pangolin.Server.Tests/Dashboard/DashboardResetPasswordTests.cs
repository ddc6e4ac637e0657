using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Playwright;
using Pangolin.Server.Auth;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// "Forgot your password?" in a browser: the request form answers the same for any address, the e-mailed link opens
/// the form for the new password (with a second factor when the account has one), and the link works once.
/// </summary>
public sealed class DashboardResetPasswordTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private const string NewPassword = "Brand-New-Pass-7";

    private readonly SmtpTestServer _smtp = new();

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Email:SmtpHost"] = "127.0.0.1",
        ["Email:SmtpPort"] = _smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Email:SmtpSecurity"] = "none",
        ["Email:NoReply"] = "pangolin@example.test",
    };

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await _smtp.DisposeAsync();
    }

    /// <summary>The path and query of the reset link in the newest reset e-mail to <paramref name="email"/>.</summary>
    private async Task<string> ResetLinkAsync(string email)
    {
        var mail = await _smtp.WaitForMessageAsync(email, m => (m.Subject ?? "").Contains("Reset", StringComparison.Ordinal));
        var text = mail.TextBody ?? "";
        var start = text.IndexOf("http", StringComparison.Ordinal);
        var link = new Uri(text[start..].Split('\n')[0].Trim());
        Assert.Equal("/auth/reset-password", link.AbsolutePath);
        Assert.Equal(email, QueryHelpers.ParseQuery(link.Query)["email"].ToString());
        return link.PathAndQuery;
    }

    [Fact]
    public async Task A_forgotten_password_is_reset_from_the_emailed_link()
    {
        using var admin = await AdminAsync();
        await using var context = await Browser.NewContextAsync(BaseUrl);
        var page = await context.NewPageAsync();

        await page.GotoAsync("/auth/login");
        await page.GetByRole(AriaRole.Link, new() { Name = "Forgot your password?" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Reset your password" })).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "account-reset-request");

        var send = page.GetByRole(AriaRole.Button, new() { Name = "Send the link" });
        await send.ClickAsync();
        await Assertions.Expect(page.Locator("#email-error")).ToContainTextAsync("Enter your e-mail address.");

        // An address without an account gets the same answer as one with.
        await page.GetByLabel("E-mail").FillAsync("nobody@example.com");
        await send.ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=reset-sent]")).ToContainTextAsync("If an account exists for nobody@example.com");
        await page.GotoAsync("/auth/reset-password");
        await page.GetByLabel("E-mail").FillAsync(AdminEmail);
        await send.ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=reset-sent]")).ToContainTextAsync($"If an account exists for {AdminEmail}");
        await BrowserFixture.ScreenshotAsync(page, "account-reset-sent");
        Assert.DoesNotContain(_smtp.Messages, m => m.To.ToString().Contains("nobody@", StringComparison.Ordinal));

        var link = await ResetLinkAsync(AdminEmail);
        await page.GotoAsync(link);
        await Assertions.Expect(page.Locator("[data-test=reset-email]")).ToHaveTextAsync(AdminEmail);
        var set = page.GetByRole(AriaRole.Button, new() { Name = "Set the new password" });
        await page.GetByLabel("New password", new() { Exact = true }).FillAsync("weak");
        await page.GetByLabel("New password again").FillAsync("weak");
        await set.ClickAsync();
        await Assertions.Expect(page.Locator("#password-error")).ToContainTextAsync("an uppercase letter");
        await page.GetByLabel("New password", new() { Exact = true }).FillAsync(NewPassword);
        await page.GetByLabel("New password again").FillAsync(NewPassword + "x");
        await set.ClickAsync();
        await Assertions.Expect(page.Locator("#confirm-error")).ToContainTextAsync("The two passwords differ.");
        await BrowserFixture.ScreenshotAsync(page, "account-reset-form-errors");

        await page.GetByLabel("New password", new() { Exact = true }).FillAsync(NewPassword);
        await page.GetByLabel("New password again").FillAsync(NewPassword);
        await set.ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("/auth/login?reset=done", StringComparison.Ordinal));
        await Assertions.Expect(page.Locator("[data-test=login-reset-done]")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByLabel("E-mail")).ToHaveValueAsync(AdminEmail);
        await BrowserFixture.ScreenshotAsync(page, "account-reset-done-login");
        await page.GetByLabel("Password").FillAsync(NewPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync($"{BaseUrl}/");
        await Assertions.Expect(page.Locator("[data-test=signed-in-as]")).ToHaveTextAsync($"Signed in as {AdminEmail}");
        (await admin.GetJsonAsync("user")).Expect(401); // the reset ended the sessions that were open

        // The link is single-use.
        await page.GotoAsync(link);
        await page.GetByLabel("New password", new() { Exact = true }).FillAsync("Another-Pass-8");
        await page.GetByLabel("New password again").FillAsync("Another-Pass-8");
        await set.ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=reset-error]")).ToContainTextAsync("expired or was already used");
        await Assertions.Expect(page.Locator("[data-test=reset-again]")).ToBeVisibleAsync();
        await page.SetViewportSizeAsync(390, 844);
        await BrowserFixture.ScreenshotAsync(page, "account-reset-link-used-phone");
        await SessionTokenAsync(AdminEmail, NewPassword);
    }

    [Fact]
    public async Task With_two_factor_the_new_password_also_needs_a_code()
    {
        using var admin = await AdminAsync();
        var secret = (await admin.PostJsonAsync("auth/2fa/request", new { password = Password })).Expect(200).Data.GetProperty("secret").GetString()!;
        (await admin.PostJsonAsync("auth/2fa/enable", new { code = TwoFactor.Code(secret, Factory.Clock.GetUtcNow().UtcDateTime) })).Expect(200);
        Factory.Clock.Advance(TimeSpan.FromSeconds(30)); // the enabling code's step is spent
        (await admin.PostJsonAsync("auth/reset-password/request", new { email = AdminEmail })).Expect(200);
        await using var context = await Browser.NewContextAsync(BaseUrl);
        var page = await context.NewPageAsync();
        await page.GotoAsync(await ResetLinkAsync(AdminEmail));

        var set = page.GetByRole(AriaRole.Button, new() { Name = "Set the new password" });
        await page.GetByLabel("New password", new() { Exact = true }).FillAsync(NewPassword);
        await page.GetByLabel("New password again").FillAsync(NewPassword);
        await set.ClickAsync();
        var code = page.GetByLabel("Code from your authenticator app (or a backup code)");
        await Assertions.Expect(code).ToBeVisibleAsync();
        await page.GetByLabel("New password", new() { Exact = true }).FillAsync(NewPassword);
        await page.GetByLabel("New password again").FillAsync(NewPassword);
        await code.FillAsync("123456");
        await set.ClickAsync();
        await Assertions.Expect(page.Locator("#code-error")).ToContainTextAsync("two-factor code you entered is incorrect");
        await BrowserFixture.ScreenshotAsync(page, "account-reset-form-2fa-code");
        using var http = Factory.DashboardClient();
        (await http.PostJsonAsync("auth/login", new { email = AdminEmail, password = Password })).Expect(202); // not changed yet: the old password, then a code

        await page.GetByLabel("New password", new() { Exact = true }).FillAsync(NewPassword);
        await page.GetByLabel("New password again").FillAsync(NewPassword);
        await code.FillAsync(TwoFactor.Code(secret, Factory.Clock.GetUtcNow().UtcDateTime));
        await set.ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("/auth/login?reset=done", StringComparison.Ordinal));
        (await http.PostJsonAsync("auth/login", new { email = AdminEmail, password = NewPassword })).Expect(202); // the new password, then a code
        (await http.PostJsonAsync("auth/login", new { email = AdminEmail, password = Password })).Expect(401);
    }

    [Fact]
    public async Task Too_many_requests_are_told_as_a_message()
    {
        using var admin = await AdminAsync();
        await using var context = await Browser.NewContextAsync(BaseUrl, dark: true);
        var page = await context.NewPageAsync();
        var limited = false;
        for (var i = 0; i < 20 && !limited; i++)
        {
            await page.GotoAsync("/auth/reset-password");
            await page.GetByLabel("E-mail").FillAsync(AdminEmail);
            await page.GetByRole(AriaRole.Button, new() { Name = "Send the link" }).ClickAsync();
            await Assertions.Expect(page.Locator("[data-test=reset-sent], [data-test=reset-error]")).ToBeVisibleAsync();
            limited = await page.Locator("[data-test=reset-error]").IsVisibleAsync();
        }
        Assert.True(limited);
        await Assertions.Expect(page.Locator("[data-test=reset-error]")).ToContainTextAsync("Too many");
        await Assertions.Expect(page.GetByLabel("E-mail")).ToHaveValueAsync(AdminEmail);
        await BrowserFixture.ScreenshotAsync(page, "account-reset-rate-limited-dark");
    }
}
