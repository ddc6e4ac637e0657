using Pangolin.Server.Auth;
using Microsoft.Playwright;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The server admin's pages: every user (two-factor, delete) and the configuration, refused in words to others.</summary>
public sealed class DashboardServerAdminTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    [Fact]
    public async Task A_server_admin_requires_two_factor_and_deletes_a_user()
    {
        var admin = await AdminAsync();
        var bob = await SignUpAsync("bob@example.com");
        var bobId = await UserIdAsync(bob);
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, "/admin/users");

        var adminRow = page.Locator("tr", new() { Has = page.Locator($"[data-test='admin-user-{AdminEmail}']") });
        var bobRow = page.Locator("tr", new() { Has = page.Locator("[data-test='admin-user-bob@example.com']") });
        await Assertions.Expect(adminRow.Locator("[data-test=server-admin-badge]")).ToBeVisibleAsync();
        await Assertions.Expect(bobRow.Locator("[data-test=server-admin-badge]")).ToHaveCountAsync(0);
        await Assertions.Expect(bobRow.Locator("[data-test=admin-user-2fa]")).ToHaveTextAsync("Off");
        await BrowserFixture.ScreenshotAsync(page, "admin-server-users");

        await bobRow.Locator("[data-test=admin-user-require-2fa]").ClickAsync();
        await Assertions.Expect(bobRow.Locator("[data-test=admin-user-2fa]")).ToHaveTextAsync("Required at next sign-in");
        Assert.True((await admin.GetJsonAsync($"user/{bobId}")).Expect(200).Data.GetProperty("twoFactorSetupRequested").GetBoolean());

        // Deleting oneself: the API says no, and the page says why.
        await adminRow.Locator("[data-test=admin-user-delete]").ClickAsync();
        await page.Locator(".mud-dialog").GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(page.Locator(".mud-snackbar", new() { HasText = "cannot delete your own account" })).ToBeVisibleAsync();

        await bobRow.Locator("[data-test=admin-user-delete]").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-dialog")).ToContainTextAsync("bob@example.com is removed");
        await page.Locator(".mud-dialog").GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-test='admin-user-bob@example.com']")).ToHaveCountAsync(0);
        (await admin.GetJsonAsync($"user/{bobId}")).Expect(404);
    }

    [Fact]
    public async Task A_server_admin_turns_off_the_two_factor_someone_lost_but_not_their_own()
    {
        var admin = await AdminAsync();
        var bob = await SignUpAsync("bob@example.com");
        var bobId = await UserIdAsync(bob);
        // Signed in first: with two-factor on, the API's sign-in would ask for a code.
        await using var context = await SignedInContextAsync(AdminEmail);
        foreach (var client in new[] { admin, bob })
        {
            var secret = (await client.PostJsonAsync("auth/2fa/request", new { password = Password })).Expect(200).Data.GetProperty("secret").GetString()!;
            (await client.PostJsonAsync("auth/2fa/enable", new { code = TwoFactor.Code(secret, Factory.Clock.GetUtcNow().UtcDateTime) })).Expect(200);
        }
        var page = await OpenAsync(context, "/admin/users");

        var adminRow = page.Locator("tr", new() { Has = page.Locator($"[data-test='admin-user-{AdminEmail}']") });
        var bobRow = page.Locator("tr", new() { Has = page.Locator("[data-test='admin-user-bob@example.com']") });
        await Assertions.Expect(bobRow.Locator("[data-test=admin-user-2fa]")).ToHaveTextAsync("On");
        // One's own second factor is turned off on the profile, with a code: no button for it here.
        await Assertions.Expect(adminRow.Locator("[data-test=admin-user-reset-2fa]")).ToHaveCountAsync(0);

        await bobRow.Locator("[data-test=admin-user-reset-2fa]").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-dialog")).ToContainTextAsync("signed out everywhere");
        await BrowserFixture.ScreenshotAsync(page, "admin-server-users-reset-2fa");
        await page.Locator(".mud-dialog").GetByRole(AriaRole.Button, new() { Name = "Turn off" }).ClickAsync();
        await Assertions.Expect(bobRow.Locator("[data-test=admin-user-2fa]")).ToHaveTextAsync("Off");
        Assert.False((await admin.GetJsonAsync($"user/{bobId}")).Expect(200).Data.GetProperty("twoFactorEnabled").GetBoolean());
        (await bob.GetJsonAsync("user")).Expect(401);
    }

    [Fact]
    public async Task The_settings_page_shows_the_configuration_in_light_and_dark()
    {
        using var _ = await AdminAsync();
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, "/admin/settings");
        await Assertions.Expect(page.Locator("[data-test=settings-dashboard-url]")).ToHaveTextAsync(BaseUrl);
        await Assertions.Expect(page.Locator("[data-test=settings-database]")).ToHaveTextAsync("SQLite");
        await Assertions.Expect(page.Locator("[data-test=settings-smtp]")).ToContainTextAsync("not configured");
        await BrowserFixture.ScreenshotAsync(page, "admin-server-settings");
        await page.Locator("[data-test=theme-toggle]").ClickAsync();
        await BrowserFixture.ScreenshotAsync(page, "admin-server-settings-dark");
    }

    [Fact]
    public async Task Someone_who_is_not_a_server_admin_sees_the_refusal_not_a_crash()
    {
        using var _ = await AdminAsync();
        using var bob = await SignUpAsync("bob@example.com");
        await using var context = await SignedInContextAsync("bob@example.com");

        var page = await OpenAsync(context, "/admin/users");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "All users", Level = 1 })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=not-allowed]")).ToHaveTextAsync("Only a server admin may do this");
        await Assertions.Expect(page.Locator("[data-test=admin-users-table]")).ToHaveCountAsync(0);
        await BrowserFixture.ScreenshotAsync(page, "admin-server-users-refused");

        var settings = await OpenAsync(context, "/admin/settings");
        await Assertions.Expect(settings.Locator("[data-test=not-allowed]")).ToHaveTextAsync("Only a server admin may do this");
    }
}
