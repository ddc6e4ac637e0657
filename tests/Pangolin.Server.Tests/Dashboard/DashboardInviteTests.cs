using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Pangolin.Data;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// The invitation link in a browser: a newcomer signs up with the invited address and lands in the org; someone with an
/// account signs in (or, signed in, clicks once); a used or wrong link says so in words.
/// </summary>
public sealed class DashboardInviteTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private static async Task<int> MemberRoleAsync(HttpClient admin, string orgId)
    {
        var roles = (await admin.GetJsonAsync($"org/{orgId}/roles")).Expect(200).Data.GetProperty("roles");
        return roles.EnumerateArray().First(r => r.GetProperty("name").GetString() == "Member").GetProperty("roleId").GetInt32();
    }

    /// <summary>Invites someone through the API; returns the link's path and query (the link names the configured dashboard URL).</summary>
    private static async Task<string> InviteAsync(HttpClient admin, string orgId, string email)
    {
        var role = await MemberRoleAsync(admin, orgId);
        var link = (await admin.PostJsonAsync($"org/{orgId}/create-invite", new { email, validHours = 24, roleIds = new[] { role } }))
            .Expect(200).Data.GetProperty("inviteLink").GetString()!;
        var uri = new Uri(link);
        Assert.Equal("/invite", uri.AbsolutePath);
        Assert.StartsWith("?token=", uri.Query, StringComparison.Ordinal);
        return uri.PathAndQuery;
    }

    private async Task<bool> IsMemberAsync(string email, string orgId)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        return await db.UserOrgs.AnyAsync(m => m.OrgId == orgId && db.Users.Any(u => u.UserId == m.UserId && u.Email == email));
    }

    [Fact]
    public async Task A_newcomer_signs_up_from_the_link_and_lands_in_the_org()
    {
        using var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        var link = await InviteAsync(admin, "acme", "joiner@example.com");
        await using var context = await Browser.NewContextAsync(BaseUrl);
        var page = await context.NewPageAsync();

        await page.GotoAsync(link);
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Join ACME" })).ToBeVisibleAsync();
        await Assertions.Expect(page.GetByLabel("E-mail")).ToHaveValueAsync("joiner@example.com");
        await Assertions.Expect(page.GetByLabel("E-mail")).ToHaveAttributeAsync("readonly", "");
        await BrowserFixture.ScreenshotAsync(page, "account-invite-signup");

        var button = page.GetByRole(AriaRole.Button, new() { Name = "Create account and join" });
        await button.ClickAsync();
        await Assertions.Expect(page.Locator("#password-error")).ToContainTextAsync("Choose a password.");
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync("short");
        await page.GetByLabel("Password again").FillAsync("short");
        await button.ClickAsync();
        await Assertions.Expect(page.Locator("#password-error")).ToContainTextAsync("an uppercase letter");
        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(Password);
        await page.GetByLabel("Password again").FillAsync(Password + "x");
        await button.ClickAsync();
        await Assertions.Expect(page.Locator("#confirm-error")).ToContainTextAsync("The two passwords differ.");
        await BrowserFixture.ScreenshotAsync(page, "account-invite-signup-errors");
        Assert.False(await IsMemberAsync("joiner@example.com", "acme"));

        await page.GetByLabel("Password", new() { Exact = true }).FillAsync(Password);
        await page.GetByLabel("Password again").FillAsync(Password);
        await button.ClickAsync();
        await page.WaitForURLAsync($"{BaseUrl}/org/acme/sites");
        Assert.True(await IsMemberAsync("joiner@example.com", "acme"));
        Assert.Contains(await context.CookiesAsync(), c => c.Name == "p_session_token" && c.Value.Length > 0);
        await SessionTokenAsync("joiner@example.com"); // the account signs in with the password chosen

        // The link is spent: it now says so, in words, not an error page.
        await page.GotoAsync(link);
        await Assertions.Expect(page.Locator("[data-test=invite-invalid]")).ToContainTextAsync("expired, was already used");
        await page.SetViewportSizeAsync(390, 844);
        await BrowserFixture.ScreenshotAsync(page, "account-invite-invalid-phone");

        // A made-up token is the same.
        await page.GotoAsync("/invite?token=abc-def");
        await Assertions.Expect(page.Locator("[data-test=invite-invalid]")).ToBeVisibleAsync();
    }

    [Fact]
    public async Task Someone_with_an_account_signs_in_to_accept_or_clicks_once_when_signed_in()
    {
        using var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await CreateOrgAsync(admin, "beta");
        await CreateOrgAsync(admin, "gamma");
        // bob has an account already (from an invitation to gamma).
        var first = new Uri(BaseUrl + await InviteAsync(admin, "gamma", "bob@example.com"));
        var token = Uri.UnescapeDataString(first.Query["?token=".Length..].Split('&')[0]);
        using (var anon = Factory.DashboardClient())
        {
            (await anon.PutJsonAsync("auth/signup", new { email = "bob@example.com", password = Password, inviteToken = token })).Expect(200);
        }

        // Signed out: the page asks for bob's password (the address is fixed), and joins on sign-in.
        var link = await InviteAsync(admin, "acme", "bob@example.com");
        await using (var context = await Browser.NewContextAsync(BaseUrl))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync(link);
            await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Join ACME" })).ToBeVisibleAsync();
            await page.GetByLabel("Password").FillAsync("Wrong-Password-1");
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in and join" }).ClickAsync();
            await Assertions.Expect(page.Locator("#password-error")).ToContainTextAsync("The password is not right.");
            await BrowserFixture.ScreenshotAsync(page, "account-invite-signin-error");
            Assert.False(await IsMemberAsync("bob@example.com", "acme"));
            await page.GetByLabel("Password").FillAsync(Password);
            await page.GetByRole(AriaRole.Button, new() { Name = "Sign in and join" }).ClickAsync();
            await page.WaitForURLAsync($"{BaseUrl}/org/acme/sites");
            Assert.True(await IsMemberAsync("bob@example.com", "acme"));
        }

        // Signed in as bob: one button.
        link = await InviteAsync(admin, "beta", "bob@example.com");
        await using (var context = await SignedInContextAsync("bob@example.com", dark: true))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync(link);
            await Assertions.Expect(page.Locator("[data-test=invite-summary]")).ToContainTextAsync("bob@example.com");
            await BrowserFixture.ScreenshotAsync(page, "account-invite-accept-dark");
            Assert.False(await IsMemberAsync("bob@example.com", "beta"));
            await page.Locator("[data-test=invite-accept]").ClickAsync();
            await page.WaitForURLAsync($"{BaseUrl}/org/beta/sites");
            Assert.True(await IsMemberAsync("bob@example.com", "beta"));
        }

        // Signed in as someone else: told whose invitation it is, and nothing is accepted.
        link = await InviteAsync(admin, "beta", "carol@example.com");
        await using (var context = await SignedInContextAsync(AdminEmail))
        {
            var page = await context.NewPageAsync();
            await page.GotoAsync(link);
            await Assertions.Expect(page.Locator("[data-test=invite-other-account]")).ToContainTextAsync("this invitation is for carol@example.com");
            await Assertions.Expect(page.Locator("[data-test=invite-accept]")).ToHaveCountAsync(0);
            await BrowserFixture.ScreenshotAsync(page, "account-invite-other-account");
        }
    }
}
