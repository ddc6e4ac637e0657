using System.Text.Json;
using Microsoft.Playwright;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// Resources in a real browser against the real server: list, create, the editor's tabs (general, targets with health
/// checks, authentication, share links, rules with reordering), the org's share links, deleting. Each step is checked
/// in what the page shows and in what the API then reports.
/// </summary>
public sealed class DashboardResourceTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private const string Org = "acme";

    /// <summary>The admin's API client and org "acme" with a local site (resources need a domain, which the org has, and a site).</summary>
    private async Task<(HttpClient Admin, int SiteId)> SeedAsync()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, Org);
        var site = (await admin.PutJsonAsync($"org/{Org}/site", new { name = "Home Lab", type = "local" })).Expect(201).Data;
        return (admin, site.GetProperty("siteId").GetInt32());
    }

    private static async Task<JsonElement> CreateResourceAsync(HttpClient admin, string name, string subdomain) =>
        (await admin.PutJsonAsync($"org/{Org}/resource", new { name, http = true, domainId = "main", subdomain })).Expect(201).Data;

    private static async Task<JsonElement> ResourceAsync(HttpClient admin, string niceId) =>
        (await admin.GetJsonAsync($"org/{Org}/resource/{niceId}")).Expect(200).Data;

    /// <summary>The error MudBlazor shows under the field whose input carries <paramref name="dataTest"/>.</summary>
    private static ILocator FieldError(IPage page, string dataTest) =>
        page.Locator($".mud-input-control:has([data-test={dataTest}]) .mud-input-helper-text.mud-input-error");

    [Fact]
    public async Task An_admin_creates_an_http_resource_edits_its_settings_and_adds_a_target_with_a_health_check()
    {
        var (admin, _) = await SeedAsync();
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, $"/org/{Org}/resources");

        await Assertions.Expect(page.Locator("[data-test=no-resources]")).ToContainTextAsync("No resources yet");
        await BrowserFixture.ScreenshotAsync(page, "resources-list-empty");
        await page.Locator("[data-test=no-resources]").GetByRole(AriaRole.Link, new() { Name = "Create resource" }).ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Create resource", Level = 1 })).ToBeVisibleAsync();
        await WaitInteractiveAsync(page);

        // Nothing named: the API's error shows at the name field.
        await page.Locator("[data-test=create]").ClickAsync();
        await Assertions.Expect(FieldError(page, "name")).ToContainTextAsync("required");

        await page.Locator("[data-test=name]").FillAsync("Grafana");
        await page.Locator("[data-test=subdomain]").FillAsync("grafana");
        await Assertions.Expect(page.Locator("[data-test=full-domain]")).ToContainTextAsync("https://grafana.example.test");
        await BrowserFixture.ScreenshotAsync(page, "resources-new");
        await page.Locator("[data-test=create]").ClickAsync();

        // Straight to the editor's targets.
        await page.WaitForURLAsync($"**/org/{Org}/resources/grafana?tab=targets");
        await Assertions.Expect(page.Locator("[data-test=resource-name]")).ToHaveTextAsync("Grafana");
        await Assertions.Expect(page.Locator("[data-test=no-targets]")).ToBeVisibleAsync();
        var resourceId = (await ResourceAsync(admin, "grafana")).GetProperty("resourceId").GetInt32();

        await page.Locator("[data-test=target-add]").ClickAsync();
        await page.Locator("[data-test=target-ip]").FillAsync("10.0.0.5");
        await page.Locator("[data-test=target-port]").FillAsync("3000");
        await page.Locator("[data-test=hc-enabled]").ClickAsync();
        await page.Locator("[data-test=hc-path]").FillAsync("/healthz");
        await page.Locator("[data-test=hc-interval]").FillAsync("15");
        await page.Locator("[data-test=hc-timeout]").FillAsync("20");
        await page.Locator("[data-test=target-save]").ClickAsync();
        // The API refuses a timeout longer than the interval: said at the timeout field.
        await Assertions.Expect(FieldError(page, "hc-timeout")).ToContainTextAsync("must not exceed hcInterval");
        await page.Locator("[data-test=hc-timeout]").FillAsync("4");
        await page.Locator("[data-test=hc-timeout]").PressAsync("Tab"); // the field's change reaches the circuit before the click
        await BrowserFixture.ScreenshotAsync(page, "resources-edit-target-editor");
        await page.Locator("[data-test=target-save]").ClickAsync();

        await Assertions.Expect(page.Locator("[data-test=target-address]")).ToContainTextAsync("http://10.0.0.5:3000");
        await Assertions.Expect(page.Locator("[data-test=target-health]")).ToContainTextAsync("Checking");
        await BrowserFixture.ScreenshotAsync(page, "resources-edit-targets");
        var target = (await admin.GetJsonAsync($"resource/{resourceId}/targets")).Expect(200).Data.GetProperty("targets")[0];
        Assert.Equal("10.0.0.5", target.GetProperty("ip").GetString());
        Assert.Equal(3000, target.GetProperty("port").GetInt32());
        Assert.True(target.GetProperty("hcEnabled").GetBoolean());
        Assert.Equal("/healthz", target.GetProperty("hcPath").GetString());
        Assert.Equal(15, target.GetProperty("hcInterval").GetInt32());
        Assert.Equal(4, target.GetProperty("hcTimeout").GetInt32());

        // General: rename, sticky sessions, a Host header and a request header; a bad host name first.
        await page.GetByRole(AriaRole.Tab, new() { Name = "General" }).ClickAsync();
        await page.Locator("[data-test=general-name]").FillAsync("Grafana Prod");
        await page.Locator("[data-test=general-sticky]").ClickAsync();
        await page.Locator("[data-test=general-proxy]").GetByText("Proxy settings").ClickAsync();
        await page.Locator("[data-test=general-host-header]").FillAsync("not a host!");
        await page.Locator("[data-test=general-header-add]").ClickAsync();
        await page.Locator("[data-test=general-header-name]").FillAsync("X-Env");
        await page.Locator("[data-test=general-header-value]").FillAsync("prod");
        await page.Locator("[data-test=general-save]").ClickAsync();
        await Assertions.Expect(FieldError(page, "general-host-header")).ToBeVisibleAsync();
        Assert.Equal("Grafana", (await ResourceAsync(admin, "grafana")).GetProperty("name").GetString());

        await page.Locator("[data-test=general-host-header]").FillAsync("grafana.internal");
        await page.Locator("[data-test=general-save]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=resource-name]")).ToHaveTextAsync("Grafana Prod");
        await Assertions.Expect(FieldError(page, "general-host-header")).ToHaveCountAsync(0);
        await BrowserFixture.ScreenshotAsync(page, "resources-edit-general");
        var saved = await ResourceAsync(admin, "grafana");
        Assert.Equal("Grafana Prod", saved.GetProperty("name").GetString());
        Assert.True(saved.GetProperty("stickySession").GetBoolean());
        Assert.Equal("grafana.internal", saved.GetProperty("setHostHeader").GetString());
        var header = Assert.Single(saved.GetProperty("headers").EnumerateArray());
        Assert.Equal("X-Env", header.GetProperty("name").GetString());
        Assert.Equal("prod", header.GetProperty("value").GetString());

        // The list shows it with its address, site and (lack of) protection, and finds it by search.
        await page.GotoAsync($"/org/{Org}/resources");
        await WaitInteractiveAsync(page);
        await Assertions.Expect(page.Locator("[data-test=resource-link]")).ToHaveTextAsync("Grafana Prod");
        await Assertions.Expect(page.Locator("[data-test=resources] [data-test=resource-address]")).ToHaveTextAsync("https://grafana.example.test");
        await Assertions.Expect(page.Locator("[data-test=resources]")).ToContainTextAsync("Home Lab");
        // New HTTP resources use platform sign-in (SSO), as upstream's do.
        await Assertions.Expect(page.Locator("[data-test=resource-access]")).ToHaveTextAsync("SSO");
        await BrowserFixture.ScreenshotAsync(page, "resources-list");
        await page.Locator("[data-test=search]").FillAsync("nothing-like-it");
        await Assertions.Expect(page.Locator("[data-test=resource-link]")).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task A_password_set_in_the_dashboard_protects_the_resource_and_the_list_updates_live()
    {
        var (admin, _) = await SeedAsync();
        var resource = await CreateResourceAsync(admin, "App", "app");
        await using var context = await SignedInContextAsync(AdminEmail);
        var list = await OpenAsync(context, $"/org/{Org}/resources");
        await Assertions.Expect(list.Locator("[data-test=resource-access]")).ToHaveTextAsync("SSO");

        var page = await OpenAsync(context, $"/org/{Org}/resources/app?tab=auth");
        await Assertions.Expect(page.Locator("[data-test=auth-password-state]")).ToHaveTextAsync("Not set");
        await page.Locator("[data-test=auth-password-input]").FillAsync("abc");
        await page.Locator("[data-test=auth-password-set]").ClickAsync();
        await Assertions.Expect(FieldError(page, "auth-password-input")).ToContainTextAsync("must be 4–100 characters long");
        await page.Locator("[data-test=auth-password-input]").FillAsync("open-sesame");
        await page.Locator("[data-test=auth-password-set]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=auth-password-state]")).ToHaveTextAsync("Set");
        await BrowserFixture.ScreenshotAsync(page, "resources-edit-auth");

        var auth = (await admin.GetJsonAsync($"resource/{resource.GetProperty("resourceGuid").GetString()}/auth")).Expect(200).Data;
        Assert.True(auth.GetProperty("password").GetBoolean());
        Assert.False(auth.GetProperty("pincode").GetBoolean());
        // The other tab's list heard of it (DashboardEvents) without a reload.
        await Assertions.Expect(list.Locator("[data-test=resource-access]")).ToHaveTextAsync("SSOPassword");
    }

    [Fact]
    public async Task Rules_are_added_with_errors_at_the_value_and_reordered_by_buttons_and_by_dragging()
    {
        var (admin, _) = await SeedAsync();
        var resourceId = (await CreateResourceAsync(admin, "App", "app")).GetProperty("resourceId").GetInt32();
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, $"/org/{Org}/resources/app?tab=rules");

        await Assertions.Expect(page.Locator("[data-test=rules-empty]")).ToBeVisibleAsync();
        await page.Locator("[data-test=rules-apply]").ClickAsync();
        await Assertions.Expect(page.GetByText("Rules applied")).ToBeVisibleAsync();

        async Task AddAsync(string value)
        {
            await page.Locator("[data-test=rule-add]").ClickAsync();
            await page.Locator("[data-test=rule-value-input]").FillAsync(value);
            await page.Locator("[data-test=rule-save]").ClickAsync();
        }

        await AddAsync("192.0.2.300");
        await Assertions.Expect(FieldError(page, "rule-value-input")).ToHaveTextAsync("must be an IPv4 or IPv6 address");
        await BrowserFixture.ScreenshotAsync(page, "resources-edit-rules-error");
        await page.Locator("[data-test=rule-value-input]").FillAsync("192.0.2.1");
        await page.Locator("[data-test=rule-save]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=rule]")).ToHaveCountAsync(1);
        await AddAsync("192.0.2.2");
        await Assertions.Expect(page.Locator("[data-test=rule]")).ToHaveCountAsync(2);
        await AddAsync("192.0.2.3");
        await Assertions.Expect(page.Locator("[data-test=rule]")).ToHaveCountAsync(3);

        async Task<List<string>> ApiOrderAsync() => (await admin.GetJsonAsync($"resource/{resourceId}/rules")).Expect(200).Data.GetProperty("rules")
            .EnumerateArray().Select(r => r.GetProperty("value").GetString()!).ToList();

        // The page shows a new order at once and saves it after: the API has it a moment later.
        async Task<List<string>> ApiOrderSoonAsync(params string[] expected)
        {
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
            List<string> order;
            while (!(order = await ApiOrderAsync()).SequenceEqual(expected) && DateTime.UtcNow < deadline)
            {
                await Task.Delay(100, TestContext.Current.CancellationToken);
            }
            return order;
        }

        Assert.Equal(["192.0.2.1", "192.0.2.2", "192.0.2.3"], await ApiOrderAsync());
        Assert.True((await ResourceAsync(admin, "app")).GetProperty("applyRules").GetBoolean());

        // Keyboard: focus the third rule's "up" button and press Enter.
        await page.GetByRole(AriaRole.Button, new() { Name = "Move rule 3 up" }).FocusAsync();
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("[data-test=rule-value]")).ToHaveTextAsync(["192.0.2.1", "192.0.2.3", "192.0.2.2"]);
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Move rule 1 up" })).ToBeDisabledAsync();
        // The page shows the new order at once and saves it after: the buttons come back when it is saved.
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Move rule 2 up" })).ToBeEnabledAsync();
        Assert.Equal(["192.0.2.1", "192.0.2.3", "192.0.2.2"], await ApiOrderSoonAsync("192.0.2.1", "192.0.2.3", "192.0.2.2"));
        await BrowserFixture.ScreenshotAsync(page, "resources-edit-rules");

        // Mouse: drag the first rule below the last.
        await page.Locator("[data-test=rule]").Nth(0).DragToAsync(page.Locator("[data-test=rule]").Nth(2));
        await Assertions.Expect(page.Locator("[data-test=rule-value]")).ToHaveTextAsync(["192.0.2.3", "192.0.2.2", "192.0.2.1"]);
        await Assertions.Expect(page.GetByRole(AriaRole.Button, new() { Name = "Move rule 2 up" })).ToBeEnabledAsync();
        Assert.Equal(["192.0.2.3", "192.0.2.2", "192.0.2.1"], await ApiOrderSoonAsync("192.0.2.3", "192.0.2.2", "192.0.2.1"));
    }

    [Fact]
    public async Task A_share_link_is_shown_once_listed_for_the_org_and_revoked_after_confirmation()
    {
        var (admin, _) = await SeedAsync();
        var resourceId = (await CreateResourceAsync(admin, "App", "app")).GetProperty("resourceId").GetInt32();
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, $"/org/{Org}/resources/app?tab=share");

        await Assertions.Expect(page.Locator("[data-test=share-empty]")).ToBeVisibleAsync();
        await page.Locator("[data-test=share-title]").FillAsync("for bob");
        await page.Locator("[data-test=share-amount]").FillAsync("2");
        await page.Locator("[data-test=share-create-button]").ClickAsync();
        var link = await page.Locator("[data-test=share-link]").InputValueAsync();
        Assert.StartsWith("https://app.example.test/?", link, StringComparison.Ordinal);
        await Assertions.Expect(page.Locator("[data-test=share-row-title]")).ToHaveTextAsync("for bob");
        await BrowserFixture.ScreenshotAsync(page, "resources-edit-share");
        var tokens = (await admin.GetJsonAsync($"resource/{resourceId}/access-tokens")).Expect(200).Data.GetProperty("accessTokens");
        var token = Assert.Single(tokens.EnumerateArray());
        Assert.Equal("for bob", token.GetProperty("title").GetString());
        // Two days from the server's clock.
        var expires = DateTimeOffset.FromUnixTimeMilliseconds(token.GetProperty("expiresAt").GetInt64());
        Assert.Equal(Factory.Clock.GetUtcNow().AddDays(2), expires, TimeSpan.FromMinutes(1));
        Assert.Contains(token.GetProperty("accessTokenId").GetString()!, link, StringComparison.Ordinal);

        // The org's page lists it; revoking asks first.
        var org = await OpenAsync(context, $"/org/{Org}/share-links");
        await Assertions.Expect(org.GetByRole(AriaRole.Heading, new() { Name = "Share links", Level = 1 })).ToBeVisibleAsync();
        await Assertions.Expect(org.Locator("[data-test=share-row-title]")).ToHaveTextAsync("for bob");
        await Assertions.Expect(org.Locator("[data-test=share-links]")).ToContainTextAsync("App");
        await BrowserFixture.ScreenshotAsync(org, "share-links");
        await org.Locator("[data-test=share-revoke]").ClickAsync();
        await org.GetByRole(AriaRole.Button, new() { Name = "Cancel" }).ClickAsync();
        await Assertions.Expect(org.Locator("[data-test=share-row-title]")).ToHaveCountAsync(1);
        await org.Locator("[data-test=share-revoke]").ClickAsync();
        await BrowserFixture.ScreenshotAsync(org, "share-links-revoke");
        await org.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Revoke" }).ClickAsync();
        await Assertions.Expect(org.Locator("[data-test=share-empty]")).ToBeVisibleAsync();
        Assert.Equal(0, (await admin.GetJsonAsync($"resource/{resourceId}/access-tokens")).Expect(200).Data.GetProperty("accessTokens").GetArrayLength());
    }

    [Fact]
    public async Task On_a_phone_and_in_the_dark_the_pages_work_and_a_resource_is_deleted_after_typing_its_name()
    {
        var (admin, siteId) = await SeedAsync();
        var resourceId = (await CreateResourceAsync(admin, "App", "app")).GetProperty("resourceId").GetInt32();
        (await admin.PutJsonAsync($"resource/{resourceId}/target", new { siteId, ip = "10.0.0.5", port = 3000, hcEnabled = true })).Expect(201);
        (await admin.PutJsonAsync($"resource/{resourceId}/rule", new { action = "DROP", match = "COUNTRY", value = "DE", priority = 1 })).Expect(201);
        (await admin.PutJsonAsync($"org/{Org}/resource", new { name = "Postgres", http = false, protocol = "tcp", proxyPort = 15432 })).Expect(201);

        await using (var phone = await SignedInContextAsync(AdminEmail, phone: true))
        {
            var page = await OpenAsync(phone, $"/org/{Org}/resources");
            await Assertions.Expect(page.Locator("[data-test=resource-link]")).ToHaveCountAsync(2);
            await Assertions.Expect(page.Locator("[data-test=resources]")).ToContainTextAsync("TCP port 15432");
            await BrowserFixture.ScreenshotAsync(page, "resources-list-phone");
            foreach (var tab in new[] { "general", "targets", "auth", "share", "rules" })
            {
                await page.GotoAsync($"/org/{Org}/resources/app?tab={tab}");
                await WaitInteractiveAsync(page);
                await Assertions.Expect(page.Locator("[data-test=resource-name]")).ToBeVisibleAsync();
                // The tab's data is in: no progress bar left.
                await Assertions.Expect(page.Locator(".mud-progress-linear")).ToHaveCountAsync(0);
                await BrowserFixture.ScreenshotAsync(page, $"resources-edit-{tab}-phone");
            }
        }

        await using var dark = await SignedInContextAsync(AdminEmail, dark: true);
        var edit = await OpenAsync(dark, $"/org/{Org}/resources/app?tab=targets");
        await Assertions.Expect(edit.Locator("[data-test=target-address]")).ToContainTextAsync("10.0.0.5:3000");
        await BrowserFixture.ScreenshotAsync(edit, "resources-edit-targets-dark");
        await edit.GetByRole(AriaRole.Tab, new() { Name = "Rules" }).ClickAsync();
        await Assertions.Expect(edit.Locator("[data-test=rule-value]")).ToHaveTextAsync("DE");
        await BrowserFixture.ScreenshotAsync(edit, "resources-edit-rules-dark");

        // Raw resources have no sign-in tabs.
        var raw = await OpenAsync(dark, $"/org/{Org}/resources/postgres");
        await Assertions.Expect(raw.Locator("[data-test=resource-address]")).ToContainTextAsync("TCP on port 15432");
        await Assertions.Expect(raw.GetByRole(AriaRole.Tab, new() { Name = "Rules" })).ToHaveCountAsync(0);
        await BrowserFixture.ScreenshotAsync(raw, "resources-edit-raw-dark");

        await edit.Locator("[data-test=delete-resource]").ClickAsync();
        var confirm = edit.Locator("[data-test=confirm-ok]");
        await Assertions.Expect(confirm).ToBeDisabledAsync();
        await edit.Locator("#confirm-typed").FillAsync("Ap");
        await Assertions.Expect(confirm).ToBeDisabledAsync();
        await edit.Locator("#confirm-typed").FillAsync("App");
        await BrowserFixture.ScreenshotAsync(edit, "resources-delete-dark");
        await confirm.ClickAsync();
        await edit.WaitForURLAsync($"**/org/{Org}/resources");
        await Assertions.Expect(edit.Locator("[data-test=resource-link]")).ToHaveTextAsync("Postgres");
        (await admin.GetJsonAsync($"org/{Org}/resource/app")).Expect(404);
    }
}
