using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Playwright;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The domains page in a real browser: adding a domain and its DNS records, live verification and certificate
/// states, restarting, uploading a certificate (errors at the field), deleting.</summary>
public sealed class DashboardDomainsTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private static ILocator Field(IPage page, string inputId) => page.Locator(".mud-input-control", new() { Has = page.Locator($"#{inputId}") });

    private async Task DbAsync(Func<PangolinDbContext, Task> action)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        await action(scope.ServiceProvider.GetRequiredService<PangolinDbContext>());
    }

    [Fact]
    public async Task A_domain_is_added_with_its_records_follows_its_states_live_takes_an_upload_and_is_deleted()
    {
        using var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        await using var context = await SignedInContextAsync(AdminEmail);
        var page = await OpenAsync(context, "/org/acme/domains");
        await page.EvaluateAsync("() => window.__sameDocument = true");

        await Assertions.Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Domains", Level = 1 })).ToBeVisibleAsync();
        await Assertions.Expect(page.Locator("[data-test='domain-state-example.test']")).ToHaveTextAsync("Verified");
        await Assertions.Expect(page.Locator("[data-test=no-certificates]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "domains-list");

        // Add: a name with one label is refused at the field; a good one shows the record to create.
        await page.Locator("[data-test=add-domain]").ClickAsync();
        await page.Locator("#domain-base").FillAsync("localhost");
        await page.Locator("[data-test=add-domain-submit]").ClickAsync();
        await Assertions.Expect(Field(page, "domain-base")).ToContainTextAsync("at least two labels");
        await BrowserFixture.ScreenshotAsync(page, "domains-add-error");
        await page.Locator("#domain-base").FillAsync("apps.example.org");
        await page.Locator("[data-test=add-domain-submit]").ClickAsync();
        var records = page.Locator("[data-test=dns-records]");
        await Assertions.Expect(records).ToContainTextAsync("CNAME");
        await Assertions.Expect(records).ToContainTextAsync("apps.example.org");
        await Assertions.Expect(records).ToContainTextAsync("127.0.0.1");
        await BrowserFixture.ScreenshotAsync(page, "domains-add-records");
        await page.Locator("[data-test=records-done]").ClickAsync();
        var state = page.Locator("[data-test='domain-state-apps.example.org']");
        await Assertions.Expect(state).ToHaveTextAsync("Waiting for DNS");
        var domainId = (await admin.GetJsonAsync("org/acme/domains")).Expect(200).Data.GetProperty("domains").EnumerateArray()
            .Single(d => d.GetProperty("baseDomain").GetString() == "apps.example.org").GetProperty("domainId").GetString()!;

        // Verification gives up, then the person restarts it.
        await DbAsync(db => db.Domains.Where(d => d.DomainId == domainId).ExecuteUpdateAsync(u => u.SetProperty(d => d.Failed, true).SetProperty(d => d.Tries, 5)));
        await Assertions.Expect(state).ToHaveTextAsync("Failed after 5 checks");
        await page.Locator("[data-test='domain-restart-apps.example.org']").ClickAsync();
        await Assertions.Expect(state).ToHaveTextAsync("Waiting for DNS");
        var domain = (await admin.GetJsonAsync($"org/acme/domain/{domainId}")).Expect(200).Data;
        Assert.Equal((false, 0), (domain.GetProperty("failed").GetBoolean(), domain.GetProperty("tries").GetInt32()));

        // The records resolve and an ACME order fails: both show up live.
        await DbAsync(async db =>
        {
            await db.Domains.Where(d => d.DomainId == domainId).ExecuteUpdateAsync(u => u.SetProperty(d => d.Verified, true));
            var now = Factory.Clock.GetUtcNow().UtcDateTime;
            db.Certificates.Add(new Certificate
            {
                Domain = "apps.example.org", DomainId = domainId, Status = CertificateStatus.Failed, Source = CertificateSource.Acme,
                LastError = "urn:ietf:params:acme:error:dns: NXDOMAIN", AttemptCount = 3, CreatedAt = now, UpdatedAt = now,
            });
            await db.SaveChangesAsync();
        });
        await Assertions.Expect(state).ToHaveTextAsync("Verified");
        await Assertions.Expect(page.Locator("[data-test='cert-state-apps.example.org']")).ToHaveTextAsync("Failed");
        await Assertions.Expect(page.Locator("[data-test='cert-error-apps.example.org']")).ToContainTextAsync("NXDOMAIN");
        await BrowserFixture.ScreenshotAsync(page, "domains-certificate-failed");

        // Order again: pending, error cleared, in the page and in the API.
        await page.Locator("[data-test='cert-restart-apps.example.org']").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test='cert-state-apps.example.org']")).ToHaveTextAsync("Pending");
        var acme = (await admin.GetJsonAsync("org/acme/certificates")).Expect(200).Data.GetProperty("certificates")[0];
        Assert.Equal("pending", acme.GetProperty("status").GetString());

        // Upload: a key of another certificate is refused at the key field; the right pair is stored and listed.
        var now = Factory.Clock.GetUtcNow();
        var (chain, key, root) = TestCertificates.Create(["www.apps.example.org"], now.AddDays(-1), now.AddDays(90));
        var (_, otherKey, otherRoot) = TestCertificates.Create(["www.apps.example.org"], now.AddDays(-1), now.AddDays(90));
        root.Dispose();
        otherRoot.Dispose();
        // The toasts fade on the server's clock, frozen here, and cover the top-right button: click it through them.
        await page.Locator("[data-test=upload-certificate]").DispatchEventAsync("click");
        await page.Locator("#upload-name").FillAsync("www.apps.example.org");
        await page.Locator("#upload-certificate").FillAsync(chain);
        await page.Locator("#upload-key").FillAsync(otherKey);
        await page.Locator("[data-test=upload-submit]").ClickAsync();
        await Assertions.Expect(Field(page, "upload-key")).ToContainTextAsync("does not match");
        await page.Locator("#upload-key").FillAsync("not a key");
        await page.Locator("[data-test=upload-submit]").ClickAsync();
        await Assertions.Expect(Field(page, "upload-key")).ToContainTextAsync("must be a PEM private key");
        await BrowserFixture.ScreenshotAsync(page, "domains-upload-error");
        await page.Locator("#upload-key").FillAsync(key);
        await page.Locator("[data-test=upload-submit]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test='cert-state-www.apps.example.org']")).ToHaveTextAsync("Valid");
        await Assertions.Expect(page.Locator("[data-test='cert-expires-www.apps.example.org']")).ToContainTextAsync("in 90 days");
        await Assertions.Expect(page.Locator("[data-test='domain-certs-apps.example.org']")).ToHaveTextAsync("1 pending, 1 valid");
        await BrowserFixture.ScreenshotAsync(page, "domains-certificates");
        var uploaded = (await admin.GetJsonAsync("org/acme/certificates")).Expect(200).Data.GetProperty("certificates").EnumerateArray()
            .Single(c => c.GetProperty("source").GetString() == "uploaded");
        Assert.Equal("www.apps.example.org", uploaded.GetProperty("domain").GetString());

        // Deleting the uploaded certificate, then the domain: asked first each time.
        await page.Locator("[data-test='cert-delete-www.apps.example.org']").DispatchEventAsync("click");
        await page.Locator("[data-test=confirm-ok]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test='cert-state-www.apps.example.org']")).ToHaveCountAsync(0);
        await page.Locator("[data-test='domain-delete-apps.example.org']").DispatchEventAsync("click");
        await Assertions.Expect(page.Locator("[data-test=confirm-message]")).ToContainTextAsync("removed from the organization");
        await page.Locator("[data-test=confirm-ok]").ClickAsync();
        await Assertions.Expect(state).ToHaveCountAsync(0);
        (await admin.GetJsonAsync($"org/acme/domain/{domainId}")).Expect(404);
        Assert.True(await page.EvaluateAsync<bool>("() => window.__sameDocument === true"), "the page was reloaded");
    }

    [Fact]
    public async Task The_domains_page_reads_on_a_phone_in_dark_mode()
    {
        using var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        (await admin.PutJsonAsync("org/acme/domain", new { type = "wildcard", baseDomain = "apps.example.org" })).Expect(201);
        await using var context = await SignedInContextAsync(AdminEmail, phone: true, dark: true);
        var page = await OpenAsync(context, "/org/acme/domains");
        await page.Locator("[data-test=theme-toggle]").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test='domain-state-apps.example.org']")).ToHaveTextAsync("Waiting for DNS");
        await BrowserFixture.ScreenshotAsync(page, "domains-list-phone-dark");
        await page.Locator("[data-test='domain-records-apps.example.org']").ClickAsync();
        await Assertions.Expect(page.Locator("[data-test=dns-records]")).ToContainTextAsync("*.apps.example.org");
        await BrowserFixture.ScreenshotAsync(page, "domains-records-phone-dark");
    }
}
