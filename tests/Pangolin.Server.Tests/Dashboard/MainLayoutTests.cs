using Bunit;
using Microsoft.AspNetCore.Components;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Server.Dashboard;
using Pangolin.Server.Dashboard.Layout;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The layout as a component (bUnit): the page's body inside it, and the dark mode switch.</summary>
public sealed class MainLayoutTests : BunitContext
{
    public MainLayoutTests()
    {
        _api = this.AddDashboard(signedIn: false);
    }

    private readonly FakeApi _api;

    [Fact]
    public void Renders_the_page_inside_and_switches_between_light_and_dark()
    {
        RenderFragment body = b => b.AddMarkupContent(0, "<p id=\"page\">the page</p>");
        var layout = Render<MainLayout>(p => p.Add(l => l.Body, body));

        Assert.Equal("the page", layout.Find("main #page").TextContent);
        var toggle = layout.Find("[data-test=theme-toggle]");
        Assert.Equal("Dark mode", toggle.GetAttribute("aria-label"));
        toggle.Click();
        Assert.Equal("Light mode", layout.Find("[data-test=theme-toggle]").GetAttribute("aria-label"));
        layout.Find("[data-test=theme-toggle]").Click();
        Assert.Equal("Dark mode", layout.Find("[data-test=theme-toggle]").GetAttribute("aria-label"));
        // Nobody signed in: nothing to sign out of.
        Assert.Empty(layout.FindAll("[data-test=sign-out]"));
    }
}

public sealed class NavMenuTests : BunitContext
{
    [Fact]
    public async Task A_signed_in_admin_gets_the_org_switcher_the_orgs_pages_and_the_servers()
    {
        var api = this.AddDashboard();
        api.On(HttpMethod.Get, "user", new { userId = "u1", email = "admin@example.com", twoFactorEnabled = false, serverAdmin = true })
            .On(HttpMethod.Get, "user/u1/orgs", new { orgs = new[] { new { orgId = "acme", name = "Acme" }, new { orgId = "beta", name = "Beta" } } });
        await Services.GetRequiredService<DashboardContext>().LoadAsync(Xunit.TestContext.Current.CancellationToken);

        var nav = Render<NavMenu>(p => p.Add(n => n.OrgId, "acme"));

        var links = nav.FindAll("a").Select(a => a.GetAttribute("href")).ToList();
        Assert.Contains("/org/acme/sites", links);
        Assert.Contains("/org/acme/resources", links);
        Assert.Contains("/org/acme/logs", links);
        Assert.Contains("/admin/users", links);
        Assert.NotEmpty(nav.FindAll("[data-test=org-switcher]"));
    }

    [Fact]
    public async Task Outside_an_org_a_member_gets_no_org_pages_and_no_server_pages()
    {
        var api = this.AddDashboard();
        api.On(HttpMethod.Get, "user", new { userId = "u2", email = "bob@example.com", twoFactorEnabled = false, serverAdmin = false })
            .On(HttpMethod.Get, "user/u2/orgs", new { orgs = Array.Empty<object>() });
        await Services.GetRequiredService<DashboardContext>().LoadAsync(Xunit.TestContext.Current.CancellationToken);

        var nav = Render<NavMenu>();

        var links = nav.FindAll("a").Select(a => a.GetAttribute("href")).ToList();
        Assert.Equal(["/orgs/new"], links);
        Assert.Empty(nav.FindAll("[data-test=org-switcher]"));
    }

    [Theory]
    [InlineData("http://h/org/acme/sites", "acme")]
    [InlineData("http://h/org/a%20b/resources/x", "a b")]
    [InlineData("http://h/org", null)]
    [InlineData("http://h/profile", null)]
    public void The_org_comes_from_the_address(string uri, string? orgId) => Assert.Equal(orgId, MainLayout.OrgIdOf(uri));
}
