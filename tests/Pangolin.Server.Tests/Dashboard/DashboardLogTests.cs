using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Pangolin.Edge.Badger;
using Pangolin.Server.Edge;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The request log: decisions written as the edge writes them, filtered in the page, the filters kept in the address.</summary>
public sealed class DashboardLogTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private async Task SeedAsync(HttpClient admin)
    {
        var writer = Factory.Services.GetRequiredService<RequestLogWriter>();
        var now = Factory.Clock.GetUtcNow();
        for (var i = 0; i < 5; i++)
        {
            var allowed = i < 3;
            writer.Record(new AccessDecision(now.AddSeconds(i), ResourceId: 7, OrgId: "acme", Allowed: allowed,
                Reason: allowed ? AccessReason.ValidSession : AccessReason.NoSession, Ip: $"203.0.113.{i + 1}", Country: allowed ? "NL" : "US",
                UserAgent: "curl/8.0", Scheme: "https", Host: "app.example.test", Path: allowed ? $"/page/{i}" : "/secret", Method: "GET", Query: null,
                ActorType: allowed ? "user" : null, Actor: allowed ? "someone@example.com" : null, ActorId: allowed ? "user-1" : null));
        }
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while ((await admin.GetJsonAsync("org/acme/logs/request")).Expect(200).Data.GetProperty("log").GetArrayLength() < 5)
        {
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(15), "the log was not written");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }

    [Fact]
    public async Task Filtering_by_decision_shows_only_those_and_the_address_shares_the_view()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await SeedAsync(admin);
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, "/org/acme/logs");
        var decisions = page.Locator("[data-test=request-log] [data-test=log-decision]");
        await Assertions.Expect(decisions).ToHaveCountAsync(5);
        await BrowserFixture.ScreenshotAsync(page, "admin-logs");

        await AdminUi.SelectAsync(page, "filter-decision", "Denied");
        await page.Locator("[data-test=filter-apply]").ClickAsync();

        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/org/acme/logs\\?action=false$"));
        await Assertions.Expect(decisions).ToHaveCountAsync(2);
        foreach (var cell in await decisions.AllAsync())
        {
            await Assertions.Expect(cell).ToContainTextAsync("Denied");
            await Assertions.Expect(cell).ToContainTextAsync("Not signed in");
        }
        await BrowserFixture.ScreenshotAsync(page, "admin-logs-denied");

        // A row's details.
        await page.Locator("[data-test=log-details]").First.ClickAsync();
        await Assertions.Expect(page.Locator(".mud-dialog")).ToContainTextAsync("https://app.example.test/secret");
        await Assertions.Expect(page.Locator(".mud-dialog")).ToContainTextAsync("curl/8.0");
        await BrowserFixture.ScreenshotAsync(page, "admin-logs-detail");
        await page.Locator("[data-test=log-detail-close]").ClickAsync();

        // The link opens the same view elsewhere, here at phone size with a second filter.
        await using var phone = await SignedInContextAsync(AdminEmail, phone: true);
        var shared = await OpenAsync(phone, "/org/acme/logs?action=true&ip=203.0.113.2");
        await Assertions.Expect(shared.Locator("[data-test=request-log] [data-test=log-decision]")).ToHaveCountAsync(1);
        await Assertions.Expect(shared.Locator("[data-test=filter-ip]")).ToHaveValueAsync("203.0.113.2");
        await BrowserFixture.ScreenshotAsync(shared, "admin-logs-filters-phone");

        // Cleared: everything again.
        await page.Locator("[data-test=filter-clear]").ClickAsync();
        await page.WaitForURLAsync(new System.Text.RegularExpressions.Regex("/org/acme/logs$"));
        await Assertions.Expect(decisions).ToHaveCountAsync(5);
    }

    [Fact]
    public async Task The_action_log_lists_what_was_changed()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        (await admin.PutJsonAsync("org/acme/role", new { name = "Viewers" })).Expect(201);
        await using var context = await SignedInContextAsync(AdminEmail, dark: true);
        var page = await OpenAsync(context, "/org/acme/logs");
        await page.GetByRole(AriaRole.Tab, new() { Name = "Actions" }).ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=action-log]")).ToContainTextAsync("Create role");
        await AdminUi.DarkAsync(page);
        await BrowserFixture.ScreenshotAsync(page, "admin-logs-actions-dark");
    }
}
