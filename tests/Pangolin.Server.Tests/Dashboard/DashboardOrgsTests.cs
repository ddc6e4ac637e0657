using Microsoft.Playwright;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>Organizations in a real browser: creating one (id from the name, a taken id told at the field), renaming, deleting.</summary>
public sealed class DashboardOrgsTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private static ILocator Field(IPage page, string inputId) => page.Locator(".mud-input-control", new() { Has = page.Locator($"#{inputId}") });

    [Fact]
    public async Task Creating_an_org_suggests_its_id_tells_a_taken_id_at_the_field_and_opens_its_sites()
    {
        using var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme-corp");
        await using var context = await SignedInContextAsync(AdminEmail, dark: true);
        var page = await OpenAsync(context, "/orgs/new");
        await page.Locator("[data-test=theme-toggle]").ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "New organization", Level = 1 })).ToBeVisibleAsync();

        await page.GetByLabel("Name").First.FillAsync("Acme Corp");
        await Assertions.Expect(page.Locator("#org-id")).ToHaveValueAsync("acme-corp");
        await page.Locator("[data-test=org-create]").ClickAsync();
        await Assertions.Expect(Field(page, "org-id")).ToContainTextAsync("already exists");
        await BrowserFixture.ScreenshotAsync(page, "orgs-new-taken-dark");

        // An invalid id: the API's rule, at the field.
        await page.Locator("#org-id").FillAsync("Acme Corp!");
        await page.Locator("[data-test=org-create]").ClickAsync();
        await Assertions.Expect(Field(page, "org-id")).ToContainTextAsync("lowercase");

        // Once edited by hand, the id no longer follows the name.
        await page.Locator("#org-id").FillAsync("acme-eu");
        await page.Locator("#org-name").FillAsync("Acme Europe");
        await Assertions.Expect(page.Locator("#org-id")).ToHaveValueAsync("acme-eu");
        await page.Locator("[data-test=org-create]").ClickAsync();
        await page.WaitForURLAsync($"{BaseUrl}/org/acme-eu/sites");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Sites", Level = 1 })).ToBeVisibleAsync();
        // The navigation knows the new org at once (the context was refreshed).
        await Assertions.Expect(page.Locator("[data-test=org-switcher]")).ToContainTextAsync("Acme Europe");
        var org = (await admin.GetJsonAsync("org/acme-eu")).Expect(200).Data.GetProperty("org");
        Assert.Equal("Acme Europe", org.GetProperty("name").GetString());
    }

    [Fact]
    public async Task Settings_rename_the_org_and_delete_it_only_after_its_id_is_typed()
    {
        using var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await using var context = await SignedInContextAsync(AdminEmail, phone: true);
        var page = await OpenAsync(context, "/org/acme/settings");
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Organization settings", Level = 1 })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("#org-rename")).ToHaveValueAsync("ACME");
        await BrowserFixture.ScreenshotAsync(page, "orgs-settings-phone");

        await page.Locator("#org-rename").FillAsync("");
        await page.Locator("[data-test=org-rename-save]").ClickAsync();
        await Assertions.Expect(Field(page, "org-rename")).ToContainTextAsync("must be 1–255 characters");
        await page.Locator("#org-rename").FillAsync("Acme Inc");
        await page.Locator("[data-test=org-rename-save]").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-snackbar")).ToContainTextAsync("renamed");
        Assert.Equal("Acme Inc", (await admin.GetJsonAsync("org/acme")).Expect(200).Data.GetProperty("org").GetProperty("name").GetString());

        await page.Locator("[data-test=org-delete]").ClickAsync();
        var ok = page.Locator("[data-test=confirm-ok]");
        await Assertions.Expect(ok).ToBeDisabledAsync();
        await page.Locator("#confirm-typed").FillAsync("acm");
        await Assertions.Expect(ok).ToBeDisabledAsync();
        await page.Locator("#confirm-typed").FillAsync("acme");
        await Assertions.Expect(ok).ToBeEnabledAsync();
        await BrowserFixture.ScreenshotAsync(page, "orgs-settings-delete-confirm-phone");
        await ok.ClickAsync();
        await page.WaitForURLAsync($"{BaseUrl}/");
        await Assertions.Expect(page.Locator("[data-test=no-orgs]")).ToBeVisibleAsync();
        (await admin.GetJsonAsync("org/acme")).Expect(404);
    }
}
