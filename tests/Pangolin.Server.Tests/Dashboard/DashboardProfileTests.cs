using Microsoft.Playwright;
using Pangolin.Server.Auth;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// The profile page in a browser: the account's facts, changing the password, and two-factor authentication from
/// enrolment (QR code and key, first code, backup codes shown once) through signing in with a code to turning it off.
/// </summary>
public sealed class DashboardProfileTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private string Totp(string secret) => TwoFactor.Code(secret, Factory.Clock.GetUtcNow().UtcDateTime);

    private static async Task<bool> TwoFactorOnAsync(HttpClient api) =>
        (await api.GetJsonAsync("user")).Expect(200).Data.GetProperty("twoFactorEnabled").GetBoolean();

    [Fact]
    public async Task Two_factor_is_enrolled_used_to_sign_in_and_turned_off()
    {
        using var api = await AdminAsync();
        await using var context = await SignedInContextAsync(AdminEmail);
        await context.GrantPermissionsAsync(["clipboard-read", "clipboard-write"]);
        var page = await OpenAsync(context, "/profile");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Your profile" })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=profile-email]")).ToHaveTextAsync(AdminEmail);
        await Assertions.Expect(page.Locator("[data-test=tfa-status]")).ToHaveTextAsync("Off");
        await BrowserFixture.ScreenshotAsync(page, "account-profile");

        // Starting needs the password, told at the field when wrong.
        await page.Locator("[data-test=tfa-start]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=tfa-card]")).ToContainTextAsync("Enter your password.");
        await page.GetByLabel("Your password").FillAsync("Not-The-Password-1");
        await page.Locator("[data-test=tfa-start]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=tfa-card]")).ToContainTextAsync("Password is incorrect");
        await page.GetByLabel("Your password").FillAsync(Password);
        await page.Locator("[data-test=tfa-start]").ClickAsync();

        // The QR code (an image drawn by the server) and the key to type in.
        await Assertions.Expect(page.Locator("[data-test=tfa-qr]")).ToBeVisibleAsync();
        Assert.StartsWith("data:image/png;base64,", await page.Locator("[data-test=tfa-qr]").GetAttributeAsync("src"), StringComparison.Ordinal);
        var secret = (await page.Locator("[data-test=tfa-secret]").InnerTextAsync()).Replace(" ", "", StringComparison.Ordinal);
        Assert.Matches("^[A-Z2-7]{32}$", secret);
        await BrowserFixture.ScreenshotAsync(page, "account-profile-2fa-qr");

        await page.GetByLabel("Code from your authenticator app").FillAsync("000000");
        await page.Locator("[data-test=tfa-enable]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=tfa-card]")).ToContainTextAsync("The code is incorrect");
        Assert.False(await TwoFactorOnAsync(api));

        await page.GetByLabel("Code from your authenticator app").FillAsync(Totp(secret));
        await page.Locator("[data-test=tfa-enable]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=backup-codes] li")).ToHaveCountAsync(10, new() { Timeout = 30_000 }); // ten backup codes are hashed: slow on a busy machine
        await Assertions.Expect(page.Locator("[data-test=backup-warning]")).ToContainTextAsync("only time they are shown");
        var backups = await page.Locator("[data-test=backup-codes] li").AllInnerTextsAsync();
        await BrowserFixture.ScreenshotAsync(page, "account-profile-2fa-backup-codes");
        await page.Locator("[data-test=backup-copy]").ClickAsync();
        await Assertions.Expect(page.GetByText("The backup codes are on your clipboard.")).ToBeVisibleAsync();
        Assert.Equal(string.Join("\n", backups), await page.EvaluateAsync<string>("navigator.clipboard.readText()"));
        await page.Locator("[data-test=tfa-done]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=tfa-status]")).ToHaveTextAsync("On (authenticator app)");
        await Assertions.Expect(page.Locator("[data-test=backup-codes]")).ToHaveCountAsync(0);

        // Sign out, and back in: the login now asks for a code.
        await page.Locator("[data-test=sign-out]").ClickAsync();
        await page.WaitForURLAsync($"{BaseUrl}/auth/login");
        Factory.Clock.Advance(TimeSpan.FromSeconds(30)); // the enabling code's step is spent
        await page.GetByLabel("E-mail").FillAsync(AdminEmail);
        await page.GetByLabel("Password").FillAsync(Password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        var code = page.GetByLabel("Code from your authenticator app (or a backup code)");
        await Assertions.Expect(code).ToBeVisibleAsync();
        // The second step carries a ticket, not the password: it is nowhere in the page.
        await Assertions.Expect(page.GetByLabel("Password")).ToHaveCountAsync(0);
        Assert.DoesNotContain(Password, await page.ContentAsync(), StringComparison.Ordinal);
        await code.FillAsync("000000");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(page.Locator("#code-error")).ToContainTextAsync("code you entered is incorrect");
        await code.FillAsync(Totp(secret));
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync($"{BaseUrl}/");
        await Assertions.Expect(page.Locator("[data-test=signed-in-as]")).ToHaveTextAsync($"Signed in as {AdminEmail}");

        // Turning it off: a wrong code is told at its field; the right one, after a confirmation, turns it off.
        page = await OpenAsync(context, "/profile");
        await Assertions.Expect(page.Locator("[data-test=tfa-status]")).ToHaveTextAsync("On (authenticator app)");
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(Password);
        await page.GetByLabel("Code from your authenticator app (or a backup code)").FillAsync("123456");
        await page.Locator("[data-test=tfa-disable]").ClickAsync();
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Turn off" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=tfa-card]")).ToContainTextAsync("The two-factor code you entered is incorrect");
        Assert.True(await TwoFactorOnAsync(api));

        Factory.Clock.Advance(TimeSpan.FromSeconds(30));
        await page.GetByLabel("Code from your authenticator app (or a backup code)").FillAsync(Totp(secret));
        await page.Locator("[data-test=tfa-disable]").ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Dialog)).ToContainTextAsync("Turn off two-factor authentication?");
        await BrowserFixture.ScreenshotAsync(page, "account-profile-2fa-disable-confirm");
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Turn off" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=tfa-status]")).ToHaveTextAsync("Off");
        Assert.False(await TwoFactorOnAsync(api));
    }

    [Fact]
    public async Task The_password_is_changed_with_each_mistake_told_at_its_field()
    {
        await using var context = await SignedInContextAsync(phone: true, dark: true);
        var page = await OpenAsync(context, "/profile");
        var card = page.Locator("[data-test=password-card]");
        var save = page.Locator("[data-test=pw-save]");

        await save.ClickAsync();
        await Assertions.Expect(card).ToContainTextAsync("Enter your current password.");
        await Assertions.Expect(card).ToContainTextAsync("Choose a new password.");

        await page.GetByLabel("Current password").FillAsync("Wrong-Password-1");
        await page.GetByLabel("New password", new() { Exact = true }).FillAsync("Brand-New-Pass-7");
        await page.GetByLabel("New password again").FillAsync("Brand-New-Pass-8");
        await save.ClickAsync();
        await Assertions.Expect(card).ToContainTextAsync("The two passwords differ.");

        await page.GetByLabel("New password again").FillAsync("Brand-New-Pass-7");
        await save.ClickAsync();
        await Assertions.Expect(card).ToContainTextAsync("Current password is incorrect");
        await Assertions.Expect(page).ToHaveURLAsync($"{BaseUrl}/profile"); // a wrong password is not a signed-out session

        await page.GetByLabel("Current password").FillAsync(Password);
        await page.GetByLabel("New password", new() { Exact = true }).FillAsync("weak");
        await page.GetByLabel("New password again").FillAsync("weak");
        await save.ClickAsync();
        await Assertions.Expect(card).ToContainTextAsync("an uppercase letter");
        await BrowserFixture.ScreenshotAsync(page, "account-profile-password-errors-phone-dark");

        await page.GetByLabel("New password", new() { Exact = true }).FillAsync("Brand-New-Pass-7");
        await page.GetByLabel("New password again").FillAsync("Brand-New-Pass-7");
        await save.ClickAsync();
        await Assertions.Expect(page.GetByText("Your password was changed.")).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByLabel("Current password")).ToHaveValueAsync("");
        await SessionTokenAsync(AdminEmail, "Brand-New-Pass-7");
    }
}
