using System.Text.RegularExpressions;
using Microsoft.Playwright;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>Users, invitations and roles of an organization, driven in the browser and checked through the API.</summary>
public sealed partial class DashboardAccessTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private static ILocator Dialog(IPage page) => page.Locator(".mud-dialog");

    private static async Task<int> RoleIdAsync(HttpClient admin, string name)
    {
        var roles = (await admin.GetJsonAsync("org/acme/roles")).Expect(200).Data.GetProperty("roles");
        return roles.EnumerateArray().Single(r => r.GetProperty("name").GetString() == name).GetProperty("roleId").GetInt32();
    }

    [Fact]
    public async Task A_members_roles_are_changed_and_the_api_reports_them_and_the_owner_cannot_be_removed()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        (await admin.PutJsonAsync("org/acme/role", new { name = "Viewers", description = "Read only" })).Expect(201);
        var bob = await SignUpAsync("bob@example.com");
        var bobId = await UserIdAsync(bob);
        (await admin.PutJsonAsync("org/acme/user", new { email = "bob@example.com", roleIds = new[] { await RoleIdAsync(admin, "Member") } })).Expect(201);
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, "/org/acme/users");

        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Users", Level = 1 })).ToBeVisibleAsync();
        var bobRow = page.Locator("tr", new() { Has = page.Locator("[data-test='user-bob@example.com']") });
        await Assertions.Expect(bobRow.Locator("[data-test=user-roles]")).ToHaveTextAsync("Member");
        await Assertions.Expect(page.Locator("tr", new() { Has = page.Locator($"[data-test='user-{AdminEmail}']") }).Locator("[data-test=owner-badge]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "admin-users");

        await bobRow.Locator("[data-test=change-roles]").ClickAsync();
        await Assertions.Expect(Dialog(page)).ToContainTextAsync("Roles of bob@example.com");
        await AdminUi.SetCheckedAsync(Dialog(page).Locator("[data-test=role-Viewers]"), on: true);
        await AdminUi.SetCheckedAsync(Dialog(page).Locator("[data-test=role-Member]"), on: false);
        await BrowserFixture.ScreenshotAsync(page, "admin-users-roles-dialog");
        await Dialog(page).Locator("[data-test=roles-save]").ClickAsync();

        await Assertions.Expect(bobRow.Locator("[data-test=user-roles]")).ToHaveTextAsync("Viewers");
        var roles = (await admin.GetJsonAsync($"org/acme/user/{bobId}")).Expect(200).Data.GetProperty("roles");
        Assert.Equal(["Viewers"], roles.EnumerateArray().Select(r => r.GetProperty("name").GetString()));

        // The owner: the API refuses, and the page says why.
        await page.Locator("tr", new() { Has = page.Locator($"[data-test='user-{AdminEmail}']") }).Locator("[data-test=remove-user]").ClickAsync();
        await Dialog(page).GetByRole(AriaRole.Button, new() { Name = "Remove" }).ClickAsync();
        await Assertions.Expect(page.Locator(".mud-snackbar", new() { HasText = "owner cannot be removed" })).ToBeVisibleAsync();
        (await admin.GetJsonAsync($"org/acme/user/{await UserIdAsync(admin)}")).Expect(200);

        // Bob is removed after the confirmation.
        await bobRow.Locator("[data-test=remove-user]").ClickAsync();
        await Assertions.Expect(Dialog(page)).ToContainTextAsync("bob@example.com loses access");
        await Dialog(page).GetByRole(AriaRole.Button, new() { Name = "Remove" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-test='user-bob@example.com']")).ToHaveCountAsync(0);
        (await admin.GetJsonAsync($"org/acme/user/{bobId}")).Expect(404);
    }

    [Fact]
    public async Task The_users_page_at_phone_size_in_dark_mode()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await using var context = await SignedInContextAsync(AdminEmail, phone: true, dark: true);
        var page = await OpenAsync(context, "/org/acme/users");
        await AdminUi.DarkAsync(page);
        await Assertions.Expect(page.Locator($"[data-test='user-{AdminEmail}']")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "admin-users-phone-dark");
    }

    [Fact]
    public async Task An_invitation_is_created_shown_once_listed_and_revoked()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, "/org/acme/invitations");
        await Assertions.Expect(page.Locator("[data-test=invitations-empty]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "admin-invitations-empty");

        // Not an address: the API's complaint sits at the field.
        await page.Locator("[data-test=invite-email]").FillAsync("carol");
        await page.Locator("[data-test=invite-submit]").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-input-control", new() { Has = page.Locator("[data-test=invite-email]") })).ToContainTextAsync("e-mail address");
        await BrowserFixture.ScreenshotAsync(page, "admin-invitations-field-error");

        await page.Locator("[data-test=invite-email]").FillAsync("carol@example.com");
        await page.Locator("[data-test=invite-submit]").ClickAsync();

        var link = page.Locator("[data-test=invite-link] input");
        await Assertions.Expect(link).ToHaveValueAsync(new Regex("/invite\\?token=.+&email=carol%40example.com$"));
        await Assertions.Expect(page.Locator("[data-test=invite-link] [data-test=secret-note]")).ToContainTextAsync("No e-mail was sent");
        await Assertions.Expect(page.Locator("[data-test='invitation-carol@example.com']")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "admin-invitations-created");
        var listed = (await admin.GetJsonAsync("org/acme/invitations")).Expect(200).Data.GetProperty("invitations");
        var invitation = Assert.Single(listed.EnumerateArray());
        Assert.Equal("carol@example.com", invitation.GetProperty("email").GetString());
        Assert.Equal("Member", invitation.GetProperty("roleName").GetString());

        // A second invitation for the same address offers to replace the first.
        await page.Locator("[data-test=invite-email]").FillAsync("carol@example.com");
        await page.Locator("[data-test=invite-submit]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=invite-exists]")).ToBeVisibleAsync();

        // Reloaded, the link is gone for good.
        await page.ReloadAsync();
        await WaitInteractiveAsync(page);
        await Assertions.Expect(page.Locator("[data-test='invitation-carol@example.com']")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=invite-link]")).ToHaveCountAsync(0);

        await page.Locator("[data-test=revoke-invitation]").ClickAsync();
        await Assertions.Expect(Dialog(page)).ToContainTextAsync("carol@example.com stops working");
        await Dialog(page).GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=invitations-empty]")).ToBeVisibleAsync();
        Assert.Equal(0, (await admin.GetJsonAsync("org/acme/invitations")).Expect(200).Data.GetProperty("invitations").GetArrayLength());
    }

    [Fact]
    public async Task A_roles_actions_are_saved_and_the_api_reports_them()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, "/org/acme/roles");
        await Assertions.Expect(page.Locator("[data-test=role-row-Admin]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "admin-roles");

        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("Auditors");
        await page.GetByLabel("Description (optional)").FillAsync("Read the logs");
        await page.Locator("[data-test=role-create]").ClickAsync();
        await page.WaitForURLAsync(new Regex("/org/acme/roles/\\d+$"));
        var roleId = int.Parse(page.Url[(page.Url.LastIndexOf('/') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Role Auditors", Level = 1 })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=actions-count]")).ToContainTextAsync("5 of");

        // Logs on, the resources' defaults off, and the whole Sites group on.
        await AdminUi.SetCheckedAsync(page.Locator("[data-test=action-viewLogs]"), on: true);
        await AdminUi.SetCheckedAsync(page.Locator("[data-test=action-getResource]"), on: false);
        await AdminUi.SetCheckedAsync(page.Locator("[data-test=action-listResources]"), on: false);
        await AdminUi.SetCheckedAsync(page.Locator("[data-test=group-Sites]"), on: true);
        await BrowserFixture.ScreenshotAsync(page, "admin-role-actions");
        await page.Locator("[data-test=actions-save]").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-snackbar", new() { HasText = "Actions saved." })).ToBeVisibleAsync();

        var saved = (await admin.GetJsonAsync($"role/{roleId}/actions")).Expect(200).Data.GetProperty("actions")
            .EnumerateArray().Select(a => a.GetProperty("actionId").GetString()).Order(StringComparer.Ordinal).ToList();
        string[] expected =
        [
            "createNewt", "createSite", "deleteSite", "getOrg", "getSite", "getSiteResource", "listSiteResources", "listSiteRoles", "listSites",
            "reGenerateSecret", "resetSiteBandwidth", "restartSite", "updateSite", "viewLogs",
        ];
        Assert.Equal(expected.Order(StringComparer.Ordinal), saved);

        // Back on the list, the role can be deleted; its members move to the chosen role.
        await page.GetByRole(AriaRole.Link, new() { Name = "Roles" }).First.ClickAsync();
        await page.Locator("tr", new() { Has = page.Locator("[data-test=role-row-Auditors]") }).Locator("[data-test=role-delete]").ClickAsync();
        await Assertions.Expect(Dialog(page)).ToContainTextAsync("Delete the role Auditors?");
        await BrowserFixture.ScreenshotAsync(page, "admin-roles-delete");
        await Dialog(page).Locator("[data-test=role-delete-confirm]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=role-row-Auditors]")).ToHaveCountAsync(0);
        var left = (await admin.GetJsonAsync("org/acme/roles")).Expect(200).Data.GetProperty("roles");
        Assert.DoesNotContain(left.EnumerateArray(), r => r.GetProperty("roleId").GetInt32() == roleId);
    }
}
