using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Playwright;
using Pangolin.Server.Configuration;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>API keys of an organization and of the server: created (the key shown once), given actions, deleted.</summary>
public sealed class DashboardApiKeyTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    [Fact]
    public async Task An_org_key_is_created_shown_once_given_actions_and_deleted()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, "/org/acme/api-keys");
        await Assertions.Expect(page.Locator("[data-test=api-keys-empty]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "admin-api-keys-empty");

        await page.Locator("[data-test=api-key-name]").FillAsync("CI deploys");
        await page.Locator("[data-test=api-key-create]").ClickAsync();

        var secret = page.Locator("[data-test=api-key-secret] input");
        await Assertions.Expect(secret).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("^[^.]+\\..{20,}$"));
        var key = await secret.InputValueAsync();
        var keys = (await admin.GetJsonAsync("org/acme/api-keys")).Expect(200).Data.GetProperty("apiKeys");
        var keyId = Assert.Single(keys.EnumerateArray()).GetProperty("apiKeyId").GetString()!;
        Assert.StartsWith(keyId + ".", key, StringComparison.Ordinal);

        // The new key's actions are open below: it starts with none.
        await Assertions.Expect(page.Locator("[data-test=api-key-actions-panel]")).ToContainTextAsync("Allowed actions of CI deploys");
        await Assertions.Expect(page.Locator("[data-test=actions-count]")).ToContainTextAsync("0 of");
        await AdminUi.SetCheckedAsync(page.Locator("[data-test=action-listSites]"), on: true);
        await AdminUi.SetCheckedAsync(page.Locator("[data-test=action-getSite]"), on: true);
        await BrowserFixture.ScreenshotAsync(page, "admin-api-keys-created");
        await page.Locator("[data-test=actions-save]").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-snackbar", new() { HasText = "Actions saved." })).ToBeVisibleAsync();
        var actions = (await admin.GetJsonAsync($"org/acme/api-key/{keyId}/actions")).Expect(200).Data.GetProperty("actions")
            .EnumerateArray().Select(a => a.GetProperty("actionId").GetString()).Order(StringComparer.Ordinal);
        Assert.Equal(["getSite", "listSites"], actions);

        // The key works with what it was given.
        var integrationPort = Factory.Services.GetRequiredService<IOptions<ServerOptions>>().Value.IntegrationPort;
        using (var client = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{integrationPort}/v1/") })
        {
            client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", key);
            (await client.GetJsonAsync("org/acme/sites")).Expect(200);
            (await client.GetJsonAsync("org/acme/resources")).Expect(403);
        }

        // Shown once: after a reload only its last characters are left.
        await page.ReloadAsync();
        await WaitInteractiveAsync(page);
        await Assertions.Expect(page.Locator("[data-test='api-key-CI deploys']")).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=api-key-secret]")).ToHaveCountAsync(0);
        Assert.DoesNotContain(key, await page.ContentAsync(), StringComparison.Ordinal);

        await page.Locator("[data-test=api-key-delete]").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-dialog")).ToContainTextAsync("CI deploys stop working");
        await page.Locator(".mud-dialog").GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=api-keys-empty]")).ToBeVisibleAsync();
        Assert.Equal(0, (await admin.GetJsonAsync("org/acme/api-keys")).Expect(200).Data.GetProperty("apiKeys").GetArrayLength());
    }

    [Fact]
    public async Task A_server_key_is_created_by_a_server_admin_and_refused_to_others()
    {
        var admin = await AdminAsync();
        await using (var context = await SignedInContextAsync(AdminEmail, phone: true))
        {
            var page = await OpenAsync(context, "/admin/api-keys");
            await page.Locator("[data-test=api-key-name]").FillAsync("Backups");
            await page.Locator("[data-test=api-key-create]").ClickAsync();
            await Assertions.Expect(page.Locator("[data-test=api-key-secret] input")).ToHaveValueAsync(new System.Text.RegularExpressions.Regex("\\."));
            await BrowserFixture.ScreenshotAsync(page, "admin-server-api-keys-phone");
        }
        var keys = (await admin.GetJsonAsync("api-keys")).Expect(200).Data.GetProperty("apiKeys");
        Assert.Equal("Backups", Assert.Single(keys.EnumerateArray()).GetProperty("name").GetString());

        using var _ = await SignUpAsync("bob@example.com");
        await using var bob = await SignedInContextAsync("bob@example.com");
        var refused = await OpenAsync(bob, "/admin/api-keys");
        await Assertions.Expect(refused.Locator("[data-test=not-allowed]")).ToContainTextAsync("server admin");
        await Assertions.Expect(refused.Locator("[data-test=api-key-create]")).ToHaveCountAsync(0);
    }
}
