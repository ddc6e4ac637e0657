using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Pangolin.Data;
using Pangolin.Server.Auth;
using Pangolin.Server.Sites;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// The sites pages in a real browser against the real server: the list (live through DashboardEvents), creating a newt
/// site with its credentials shown once, and a site's page (rename, rotate the secret, delete).
/// </summary>
public sealed class DashboardSitesTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private static ILocator Field(IPage page, string inputId) => page.Locator(".mud-input-control", new() { Has = page.Locator($"#{inputId}") });

    private async Task<T> DbAsync<T>(Func<PangolinDbContext, Task<T>> query)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<PangolinDbContext>());
    }

    [Fact]
    public async Task Creating_a_newt_site_shows_its_id_secret_and_command_once_and_the_list_gets_it()
    {
        using var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, "/org/acme/sites");

        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Sites", Level = 1 })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=no-sites]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "sites-list-empty");

        await page.Locator("[data-test=create-site]").ClickAsync();
        var create = page.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true });
        await Assertions.Expect(create).ToBeEnabledAsync();
        // No name: the API's answer is shown at the field.
        await create.ClickAsync();
        await Assertions.Expect(Field(page, "site-name")).ToContainTextAsync("required");
        await BrowserFixture.ScreenshotAsync(page, "sites-create-error");

        await page.Locator("#site-name").FillAsync("Main office");
        await create.ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=secret-warning]")).ToContainTextAsync("will not be shown again");
        var newtId = await page.Locator("#newt-id").InputValueAsync();
        var secret = await page.Locator("#newt-secret").InputValueAsync();
        var command = await page.Locator("#newt-command").InputValueAsync();
        Assert.Equal($"newt --id {newtId} --secret {secret} --endpoint {BaseUrl}", command);
        Assert.Contains($"NEWT_SECRET={secret}", await page.Locator("#newt-docker").InputValueAsync(), StringComparison.Ordinal);
        await BrowserFixture.ScreenshotAsync(page, "sites-create-credentials");

        // What the page showed is what the server holds: the site with that newt, whose secret is the one shown.
        var site = (await admin.GetJsonAsync("org/acme/sites")).Expect(200).Data.GetProperty("sites")[0];
        Assert.Equal(("Main office", "newt", newtId), (site.GetProperty("name").GetString(), site.GetProperty("type").GetString(), site.GetProperty("newtId").GetString()));
        var hash = await DbAsync(db => db.Newts.Where(n => n.NewtId == newtId).Select(n => n.SecretHash).SingleAsync());
        Assert.True(Secrets.MatchesSha256(secret, hash));

        // The copy button answers (the clipboard may be refused on http; then the text is selected instead).
        await page.Locator("[data-test=copy-command]").ClickAsync();
        await Assertions.Expect(page.Locator(".mud-snackbar")).ToContainTextAsync("ommand line");

        await page.Locator("[data-test=create-site-done]").ClickAsync();
        var niceId = site.GetProperty("niceId").GetString();
        await Assertions.Expect(page.Locator($"[data-test=site-state-{niceId}]")).ToHaveTextAsync("Offline");
        await Assertions.Expect(page.Locator("[data-test=site-link]")).ToHaveTextAsync("Main office");
        // Shown once: the secret is nowhere on the page any more, once the dialog has finished closing (its DOM
        // stays for the closing animation, after the list below it has already updated).
        await Assertions.Expect(page.Locator("#newt-secret")).ToHaveCountAsync(0);
        await Assertions.Expect(page.Locator("[data-test=secret-warning]")).ToHaveCountAsync(0);
        Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);
        await BrowserFixture.ScreenshotAsync(page, "sites-list");
    }

    [Fact]
    public async Task The_list_follows_a_sites_state_and_traffic_live_without_a_reload()
    {
        using var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        var created = (await admin.PutJsonAsync("org/acme/site", new { name = "Warehouse", type = "newt" })).Expect(201).Data;
        var siteId = created.GetProperty("siteId").GetInt32();
        var niceId = created.GetProperty("niceId").GetString();
        (await admin.PutJsonAsync("org/acme/site", new { name = "Server room", type = "local" })).Expect(201);
        await using var context = await SignedInContextAsync(AdminEmail, phone: true);
        var page = await OpenAsync(context, "/org/acme/sites");
        await page.EvaluateAsync("() => window.__sameDocument = true");
        var state = page.Locator($"[data-test=site-state-{niceId}]");
        await Assertions.Expect(state).ToHaveTextAsync("Offline");
        await Assertions.Expect(page.Locator($"[data-test=site-last-seen-{niceId}]")).ToHaveTextAsync("never");

        // The newt connects: the server marks the site online, as the control channel does.
        var ct = TestContext.Current.CancellationToken;
        var presence = Factory.Services.GetRequiredService<SitePresence>();
        await presence.ConnectedAsync(siteId, ct);
        await Assertions.Expect(state).ToHaveTextAsync("Online");
        await Assertions.Expect(page.Locator($"[data-test=site-last-seen-{niceId}]")).ToHaveTextAsync("just now");

        // The exit node reports traffic for the site's key: counted, written, shown.
        const string key = "bTd8a3d5c0Z1cUJ0Wm5PZFVvYk1oZ0hVYXlzSE1pQ2s=";
        await DbAsync(db => db.Sites.Where(s => s.SiteId == siteId).ExecuteUpdateAsync(u => u.SetProperty(s => s.PubKey, key), ct));
        var bandwidth = Factory.Services.GetRequiredService<BandwidthAccumulator>();
        bandwidth.Add(key, megabytesIn: 1.5, megabytesOut: 2048);
        await bandwidth.FlushAsync(ct);
        await Assertions.Expect(page.Locator($"[data-test=site-out-{niceId}]")).ToHaveTextAsync("1.5 MB");
        await Assertions.Expect(page.Locator($"[data-test=site-in-{niceId}]")).ToHaveTextAsync("2 GB");
        await BrowserFixture.ScreenshotAsync(page, "sites-list-phone-online");

        // Two minutes on, the newt goes away: offline, last seen two minutes ago (the exact time on hover).
        Factory.Clock.Advance(TimeSpan.FromMinutes(2));
        await presence.DisconnectedAsync(siteId, ct);
        await Assertions.Expect(state).ToHaveTextAsync("Offline");
        var lastSeen = page.Locator($"[data-test=site-last-seen-{niceId}]");
        await Assertions.Expect(lastSeen).ToHaveTextAsync("2 minutes ago");
        await Assertions.Expect(lastSeen).ToHaveAttributeAsync("title", "2026-11-25 12:00:00 UTC");
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page was reloaded");

        // The API says the same as the page.
        var site = (await admin.GetJsonAsync($"site/{siteId}")).Expect(200).Data;
        Assert.False(site.GetProperty("online").GetBoolean());
        Assert.Equal(1.5, site.GetProperty("megabytesOut").GetDouble());
    }

    [Fact]
    public async Task A_sites_page_renames_rotates_the_secret_and_deletes_after_saying_what_happens_to_its_resources()
    {
        using var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        var created = (await admin.PutJsonAsync("org/acme/site", new { name = "Lab", type = "newt" })).Expect(201).Data;
        var siteId = created.GetProperty("siteId").GetInt32();
        var newtId = created.GetProperty("newtId").GetString()!;
        var oldSecret = created.GetProperty("secret").GetString()!;
        var domainId = (await admin.GetJsonAsync("org/acme/domains")).Expect(200).Data.GetProperty("domains")[0].GetProperty("domainId").GetString();
        var resourceId = (await admin.PutJsonAsync("org/acme/resource", new { name = "Grafana", http = true, protocol = "tcp", domainId, subdomain = "grafana" }))
            .Expect(201).Data.GetProperty("resourceId").GetInt32();
        (await admin.PutJsonAsync($"resource/{resourceId}/target", new { siteId, ip = "10.0.0.5", port = 3000, method = "http" })).Expect(201);
        await using var context = await SignedInContextAsync(AdminEmail, dark: true);
        var page = await OpenAsync(context, $"/org/acme/sites/{created.GetProperty("niceId").GetString()}");
        await page.Locator("[data-test=theme-toggle]").ClickAsync();

        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Lab", Level = 1 })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test=site-resources]")).ToContainTextAsync("Grafana");
        await Assertions.Expect(page.Locator("[data-test=site-newt-id]")).ToHaveTextAsync(newtId);
        await BrowserFixture.ScreenshotAsync(page, "sites-detail-dark");

        // Rename: an empty name is refused at the field, a good one is saved.
        await page.Locator("#site-rename").FillAsync("");
        await page.Locator("[data-test=site-rename-save]").ClickAsync();
        await Assertions.Expect(Field(page, "site-rename")).ToContainTextAsync("must be 1–255 characters");
        await page.Locator("#site-rename").FillAsync("Lab 2");
        await page.Locator("[data-test=site-rename-save]").ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Lab 2", Level = 1 })).ToBeVisibleAsync();
        Assert.Equal("Lab 2", (await admin.GetJsonAsync($"site/{siteId}")).Expect(200).Data.GetProperty("name").GetString());

        // Rotate: asked first; cancelling changes nothing; confirming shows the new secret and its command.
        await page.Locator("[data-test=rotate-secret]").ClickAsync();
        await page.Locator("[data-test=confirm-cancel]").ClickAsync();
        Assert.True(Secrets.MatchesSha256(oldSecret, await DbAsync(db => db.Newts.Where(n => n.NewtId == newtId).Select(n => n.SecretHash).SingleAsync())));
        await page.Locator("[data-test=rotate-secret]").ClickAsync();
        await page.Locator("[data-test=confirm-ok]").ClickAsync();
        var secret = await page.Locator("#newt-secret").InputValueAsync();
        Assert.NotEqual(oldSecret, secret);
        Assert.Contains($"--id {newtId} --secret {secret} --endpoint {BaseUrl}", await page.Locator("#newt-command").InputValueAsync(), StringComparison.Ordinal);
        Assert.True(Secrets.MatchesSha256(secret, await DbAsync(db => db.Newts.Where(n => n.NewtId == newtId).Select(n => n.SecretHash).SingleAsync())));
        await BrowserFixture.ScreenshotAsync(page, "sites-detail-rotated");

        // Delete: the dialog names the resource that loses its target; after it, the list, and the API has no such site.
        await page.Locator("[data-test=delete-site]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=confirm-consequences]")).ToContainTextAsync("1 resource (Grafana)");
        await BrowserFixture.ScreenshotAsync(page, "sites-detail-delete-confirm");
        await page.Locator("[data-test=confirm-ok]").ClickAsync();
        await page.WaitForURLAsync($"{BaseUrl}/org/acme/sites");
        await Assertions.Expect(page.Locator("[data-test=no-sites]")).ToBeVisibleAsync();
        (await admin.GetJsonAsync($"org/acme/site/{created.GetProperty("niceId").GetString()}")).Expect(404);
        (await admin.GetJsonAsync($"resource/{resourceId}")).Expect(200);
    }
}
