using Bunit;
using Pangolin.Server.Apis;
using Pangolin.Server.Dashboard.Shared;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The sites table and the newt credentials as components (bUnit): what a person reads in them.</summary>
public sealed class SitesComponentTests : BunitContext
{
    private static readonly DateTime Now = new(2026, 11, 25, 12, 0, 0, DateTimeKind.Utc);

    public SitesComponentTests() => this.AddDashboard();

    private static SiteApi.SiteDto Site(string niceId, string type, bool online, DateTime? lastPing, double mbIn, double mbOut, string? address = null) =>
        new(1, "acme", niceId, niceId.ToUpperInvariant(), type, address, null, null, null, online, lastPing, false, "", mbIn, mbOut, null, null,
            type == "newt" ? "newt1" : null, null, Now);

    [Fact]
    public void The_table_shows_state_chips_last_seen_in_words_and_traffic_in_human_units()
    {
        var table = Render<SitesTable>(p => p
            .Add(t => t.OrgId, "acme")
            .Add(t => t.Now, Now)
            .Add(t => t.Sites, [
                Site("up", "newt", true, Now.AddSeconds(-10), 1536, 0.5, "100.90.128.2/24"),
                Site("down", "newt", false, Now.AddMinutes(-2), 0, 3.25 * 1024 * 1024),
                Site("gone", "newt", false, null, 0, 0),
                Site("home", "local", true, null, 1.0 / 1024, 0),
            ]));

        Assert.Equal("Online", table.Find("[data-test=site-state-up]").TextContent.Trim());
        Assert.Equal("true", table.Find("[data-test=site-state-up]").GetAttribute("data-online"));
        Assert.Contains("mud-chip-color-success", table.Find("[data-test=site-state-up]").ClassName, StringComparison.Ordinal);
        Assert.Equal("Offline", table.Find("[data-test=site-state-down]").TextContent.Trim());
        Assert.DoesNotContain("success", table.Find("[data-test=site-state-down]").ClassName, StringComparison.Ordinal);

        Assert.Equal("just now", table.Find("[data-test=site-last-seen-up]").TextContent);
        var down = table.Find("[data-test=site-last-seen-down]");
        Assert.Equal("2 minutes ago", down.TextContent);
        Assert.Equal("2026-11-25 11:58:00 UTC", down.GetAttribute("title"));
        Assert.Equal("never", table.Find("[data-test=site-last-seen-gone]").TextContent);
        Assert.Equal("—", table.Find("[data-test=site-last-seen-home]").TextContent);

        Assert.Equal("1.5 GB", table.Find("[data-test=site-in-up]").TextContent);
        Assert.Equal("512 KB", table.Find("[data-test=site-out-up]").TextContent);
        Assert.Equal("3.25 TB", table.Find("[data-test=site-out-down]").TextContent);
        Assert.Equal("1 KB", table.Find("[data-test=site-in-home]").TextContent);
        Assert.Equal("0 B", table.Find("[data-test=site-in-gone]").TextContent);
        Assert.Equal("WireGuard", SitesFormat.TypeName("wireguard"));

        var link = table.FindAll("[data-test=site-link]")[0];
        Assert.Equal("/org/acme/sites/up", link.GetAttribute("href"));
        Assert.Contains("100.90.128.2/24", table.Markup, StringComparison.Ordinal);
    }

    [Fact]
    public void An_empty_table_says_what_to_do()
    {
        var table = Render<SitesTable>(p => p.Add(t => t.OrgId, "acme").Add(t => t.Now, Now).Add(t => t.Sites, []));
        Assert.Contains("create one", table.Find("[data-test=no-sites]").TextContent, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(30, "just now")]
    [InlineData(60, "1 minute ago")]
    [InlineData(59 * 60, "59 minutes ago")]
    [InlineData(3 * 3600, "3 hours ago")]
    [InlineData(86400, "1 day ago")]
    [InlineData(10 * 86400, "10 days ago")]
    public void Last_seen_reads_as_words(int secondsAgo, string words) => Assert.Equal(words, SitesFormat.Ago(Now.AddSeconds(-secondsAgo), Now));

    [Fact]
    public void The_credentials_show_the_command_line_with_id_secret_and_endpoint_and_a_copy_button_each()
    {
        JSInterop.SetupVoid("navigator.clipboard.writeText", _ => true);
        var credentials = Render<SitesNewtCredentials>(p => p
            .Add(c => c.NewtId, "abc123def456ghi")
            .Add(c => c.Secret, "s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t")
            .Add(c => c.Endpoint, "https://pangolin.example.com"));

        Assert.Equal("newt --id abc123def456ghi --secret s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t --endpoint https://pangolin.example.com",
            credentials.Find("#newt-command").GetAttribute("value") ?? credentials.Find("#newt-command").TextContent);
        var docker = credentials.Find("#newt-docker");
        var dockerText = docker.GetAttribute("value") ?? docker.TextContent;
        Assert.Contains("NEWT_ID=abc123def456ghi", dockerText, StringComparison.Ordinal);
        Assert.Contains("NEWT_SECRET=s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t", dockerText, StringComparison.Ordinal);
        Assert.Contains("PANGOLIN_ENDPOINT=https://pangolin.example.com", dockerText, StringComparison.Ordinal);
        Assert.Equal("abc123def456ghi", credentials.Find("#newt-id").GetAttribute("value"));
        Assert.Contains("will not be shown again", credentials.Find("[data-test=secret-warning]").TextContent, StringComparison.Ordinal);

        credentials.Find("[data-test=copy-secret]").Click();
        var copied = Assert.Single(JSInterop.Invocations, i => i.Identifier == "navigator.clipboard.writeText");
        Assert.Equal("s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t-s3cr3t", copied.Arguments[0]);
    }
}
