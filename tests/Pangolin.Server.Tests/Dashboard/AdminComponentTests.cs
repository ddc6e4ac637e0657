using Bunit;
using Pangolin.Server.Dashboard.Shared;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The request log's filter bar (bUnit): the query it builds from what a person enters, and back.</summary>
public sealed class AdminRequestLogFilterBarTests : BunitContext
{
    public AdminRequestLogFilterBarTests() => this.AddDashboard();

    [Fact]
    public void Apply_hands_over_the_filters_as_the_apis_query()
    {
        AdminRequestLogFilter? applied = null;
        var bar = Render<AdminRequestLogFilterBar>(p => p
            .Add(b => b.Filter, new AdminRequestLogFilter { Allowed = false, Method = "POST" })
            .Add(b => b.OnApply, f => applied = f));

        bar.Find("[data-test=filter-from]").Change("2026-12-01T08:30");
        bar.Find("[data-test=filter-ip]").Change(" 203.0.113.9 ");
        bar.Find("[data-test=filter-host]").Change("app.example.test");
        bar.Find("[data-test=filter-path]").Change("/a b");
        bar.Find("[data-test=filter-user]").Change("someone@example.com");
        bar.Find("form").Submit();

        Assert.NotNull(applied);
        Assert.Equal("timeStart=2026-12-01T08%3A30%3A00Z&action=false&ip=203.0.113.9&host=app.example.test&path=%2Fa%20b&method=POST&actor=someone%40example.com",
            applied.ToQuery());
    }

    [Fact]
    public void Clear_hands_over_no_filters_at_all()
    {
        AdminRequestLogFilter? applied = null;
        var bar = Render<AdminRequestLogFilterBar>(p => p
            .Add(b => b.Filter, AdminRequestLogFilter.Parse("?action=true&reason=204&host=x.test"))
            .Add(b => b.OnApply, f => applied = f));
        Assert.Equal("x.test", bar.Find("[data-test=filter-host]").GetAttribute("value"));

        bar.Find("[data-test=filter-clear]").Click();

        Assert.NotNull(applied);
        Assert.True(applied.IsEmpty);
        Assert.Equal("", applied.ToQuery());
    }

    [Theory]
    [InlineData("timeStart=2026-12-01T08%3A30%3A00Z&timeEnd=2026-12-02T00%3A00%3A00Z&resourceId=7&action=false&reason=204&ip=1.2.3.4&host=h.test&path=%2Fx&method=GET&actor=u1")]
    [InlineData("action=true")]
    [InlineData("")]
    public void An_address_query_reads_back_to_the_same_query(string query) =>
        Assert.Equal(query, AdminRequestLogFilter.Parse("?" + query).ToQuery());

    [Fact]
    public void Malformed_values_in_the_address_are_ignored() =>
        Assert.Equal("host=h.test", AdminRequestLogFilter.Parse("?action=maybe&resourceId=x&timeStart=yesterday&host=h.test").ToQuery());
}

/// <summary>The actions editor (bUnit): what it reads, and exactly what it sends when saved.</summary>
public sealed class AdminActionEditorTests : BunitContext
{
    private readonly FakeApi _api;

    public AdminActionEditorTests()
    {
        _api = this.AddDashboard();
        _api.On(HttpMethod.Get, "role/7/actions", new { actions = new[] { new { actionId = "getOrg" }, new { actionId = "listSites" } } })
            .On(HttpMethod.Post, "role/7/actions", new { });
    }

    [Fact]
    public void Checked_and_unchecked_actions_and_a_whole_group_are_sent_as_the_new_list()
    {
        var editor = Render<AdminActionEditor>(p => p.Add(e => e.Path, "role/7/actions"));
        editor.WaitForElement("[data-test=actions-count]");
        Assert.StartsWith("2 of", editor.Find("[data-test=actions-count]").TextContent.Trim(), StringComparison.Ordinal);
        Assert.True(editor.Find("[data-test=actions-save]").HasAttribute("disabled"));
        Assert.Contains("List sites", editor.Markup, StringComparison.Ordinal);

        editor.Find("[data-test=action-viewLogs]").Change(true);
        editor.Find("[data-test=action-listSites]").Change(false);
        editor.Find("[data-test='group-Share links']").Change(true);
        editor.Find("[data-test=actions-save]").Click();

        var post = Assert.Single(_api.Requests, r => r.Method == HttpMethod.Post);
        Assert.Equal("role/7/actions", post.Path);
        var sent = post.Body!.Value.GetProperty("actionIds").EnumerateArray().Select(a => a.GetString()).ToList();
        Assert.Equal(["deleteAcessToken", "generateAccessToken", "getOrg", "listAccessTokens", "viewLogs"], sent);
        editor.WaitForAssertion(() => Assert.True(editor.Find("[data-test=actions-save]").HasAttribute("disabled")));
    }

    [Fact]
    public void A_read_only_list_shows_why_and_offers_no_save()
    {
        var editor = Render<AdminActionEditor>(p => p.Add(e => e.Path, "role/7/actions").Add(e => e.ReadOnlyText, "Admin holds every action."));
        editor.WaitForElement("[data-test=actions-readonly]");

        Assert.Empty(editor.FindAll("[data-test=actions-save]"));
        Assert.True(editor.Find("[data-test=action-viewLogs]").HasAttribute("disabled"));
        Assert.DoesNotContain(_api.Requests, r => r.Method == HttpMethod.Post);
    }

    [Theory]
    [InlineData("listResourceRoles", "List resource roles")]
    [InlineData("getOrg", "Get organization")]
    [InlineData("listIdpOrgs", "List identity provider organizations")]
    [InlineData("createApiKey", "Create API key")]
    [InlineData("getDNSRecords", "Get DNS records")]
    public void Action_ids_read_as_words(string actionId, string name) => Assert.Equal(name, AdminActionCatalog.Name(actionId));

    [Fact]
    public void Every_known_action_is_in_exactly_one_group()
    {
        var grouped = AdminActionCatalog.Groups().SelectMany(g => g.Actions).ToList();
        Assert.Equal(Pangolin.Server.Auth.ActionIds.All.Order(StringComparer.Ordinal), grouped.Order(StringComparer.Ordinal));
        Assert.DoesNotContain(AdminActionCatalog.Groups(), g => g.Name == "Other");
    }
}
