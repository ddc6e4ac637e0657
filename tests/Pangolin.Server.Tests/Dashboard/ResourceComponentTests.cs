using System.Net;
using System.Text.Json;
using Bunit;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Server.Apis;
using Pangolin.Server.Dashboard.Shared;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>The resource editor's complex parts as components (bUnit, FakeApi): what they send, and where errors land.</summary>
public sealed class ResourceComponentTests : BunitContext
{
    private readonly FakeApi _api;

    public ResourceComponentTests()
    {
        _api = this.AddDashboard();
    }

    internal static ResourceApi.ResourceDto Resource(int id = 7, bool http = true) => new(
        id, "guid-7", "acme", "app", "App", http ? "app" : null, http ? "app.example.test" : null, http ? "main" : null, true, false, false, http,
        "tcp", http ? null : 7000, false, false, true, false, null, null, true, null, null, null, false, null, http ? "http" : "tcp", false, null, null,
        null, null, new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc));

    private static RuleApi.RuleDto Rule(int id, int priority, string value) => new(id, 7, "ACCEPT", "IP", value, priority, true, null);

    private List<(HttpMethod Method, string Path, JsonElement? Body)> Sent(HttpMethod method) =>
        _api.Requests.Where(r => r.Method == method).ToList();

    /// <summary>The error text MudBlazor shows under the field whose input carries <paramref name="dataTest"/>.</summary>
    private static string FieldError<T>(IRenderedComponent<T> component, string dataTest) where T : Microsoft.AspNetCore.Components.IComponent =>
        component.Find($"[data-test={dataTest}]").Closest(".mud-input-control")?.QuerySelector(".mud-input-helper-text.mud-input-error")?.TextContent.Trim() ?? "";

    /// <summary>A MudSwitch's checkbox, whether the data-test attribute landed on it or on its wrapper.</summary>
    private static AngleSharp.Dom.IElement Switch<T>(IRenderedComponent<T> component, string dataTest) where T : Microsoft.AspNetCore.Components.IComponent
    {
        var element = component.Find($"[data-test={dataTest}]");
        return element.TagName == "INPUT" ? element : element.QuerySelector("input")!;
    }

    [Fact]
    public void Moving_a_rule_by_its_buttons_hands_out_the_same_priorities_in_the_new_order()
    {
        _api.On(HttpMethod.Get, "resource/7/rules?limit=1000", new { rules = new[] { Rule(1, 10, "192.0.2.1"), Rule(2, 20, "192.0.2.2"), Rule(3, 30, "192.0.2.3") } });
        foreach (var id in new[] { 1, 2, 3 })
        {
            _api.On(HttpMethod.Post, $"resource/7/rule/{id}", Rule(id, 0, "x"));
        }
        var rules = Render<ResourceRules>(p => p.Add(r => r.Resource, Resource()));
        rules.WaitForAssertion(() => Assert.Equal(3, rules.FindAll("[data-test=rule]").Count));
        Assert.True(rules.Find("[aria-label='Move rule 1 up']").HasAttribute("disabled"));

        // The third rule goes up one place: it takes the second's priority, and the second takes its.
        rules.Find("[aria-label='Move rule 3 up']").Click();

        rules.WaitForAssertion(() => Assert.Equal(2, Sent(HttpMethod.Post).Count));
        var posts = Sent(HttpMethod.Post).Select(r => (r.Path, r.Body!.Value.GetProperty("priority").GetInt32())).OrderBy(p => p.Path, StringComparer.Ordinal).ToList();
        Assert.Equal([("resource/7/rule/2", 30), ("resource/7/rule/3", 20)], posts);
        // Only the priority: a reorder changes nothing else of a rule.
        Assert.All(Sent(HttpMethod.Post), r => Assert.Single(r.Body!.Value.EnumerateObject()));
    }

    [Fact]
    public void Moving_rules_with_tied_priorities_numbers_them_one_to_n()
    {
        _api.On(HttpMethod.Get, "resource/7/rules?limit=1000", new { rules = new[] { Rule(1, 5, "192.0.2.1"), Rule(2, 5, "192.0.2.2") } });
        _api.On(HttpMethod.Post, "resource/7/rule/1", Rule(1, 0, "x")).On(HttpMethod.Post, "resource/7/rule/2", Rule(2, 0, "x"));
        var rules = Render<ResourceRules>(p => p.Add(r => r.Resource, Resource()));
        rules.WaitForAssertion(() => Assert.Equal(2, rules.FindAll("[data-test=rule]").Count));

        rules.Find("[aria-label='Move rule 1 down']").Click();

        rules.WaitForAssertion(() => Assert.Equal(2, Sent(HttpMethod.Post).Count));
        var posts = Sent(HttpMethod.Post).Select(r => (r.Path, r.Body!.Value.GetProperty("priority").GetInt32())).OrderBy(p => p.Path, StringComparer.Ordinal).ToList();
        Assert.Equal([("resource/7/rule/1", 2), ("resource/7/rule/2", 1)], posts);
    }

    [Fact]
    public void A_rule_value_the_api_rejects_shows_its_message_at_the_value_field()
    {
        _api.On(HttpMethod.Get, "resource/7/rules?limit=1000", new { rules = Array.Empty<RuleApi.RuleDto>() });
        _api.On(HttpMethod.Put, "resource/7/rule", (_, _) => (HttpStatusCode.BadRequest,
            FakeApi.Problem("Validation error: value must be a network in CIDR notation, such as 10.0.0.0/8",
                ("value", "must be a network in CIDR notation, such as 10.0.0.0/8"))));
        var rules = Render<ResourceRules>(p => p.Add(r => r.Resource, Resource()));
        rules.WaitForAssertion(() => rules.Find("[data-test=rules-empty]"));

        rules.Find("[data-test=rule-add]").Click();
        rules.Find("[data-test=rule-value-input]").Change("10.0.0.0/99");
        rules.Find("[data-test=rule-save]").Click();

        rules.WaitForAssertion(() => Assert.Equal("must be a network in CIDR notation, such as 10.0.0.0/8", FieldError(rules, "rule-value-input")));
        var put = Assert.Single(Sent(HttpMethod.Put));
        Assert.Equal("10.0.0.0/99", put.Body!.Value.GetProperty("value").GetString());
        Assert.Equal(1, put.Body!.Value.GetProperty("priority").GetInt32());
        // The other fields have nothing to say, and the form stays open to fix the value.
        Assert.Equal("", FieldError(rules, "rule-action-input"));
        rules.Find("[data-test=rule-editor]");
    }

    [Fact]
    public void The_target_editor_sends_the_target_and_its_health_check()
    {
        var site = new SiteApi.SiteDto(3, "acme", "home", "Home Lab", "local", null, null, null, null, true, null, false, "online", 0, 0, null, null,
            null, null, DateTime.UtcNow);
        _api.On(HttpMethod.Put, "resource/7/target", new { targetId = 11 });
        TargetApi.TargetDto? saved = null;
        var editor = Render<ResourceTargetEditor>(p => p.Add(e => e.ResourceId, 7).Add(e => e.Http, true).Add(e => e.Sites, [site])
            .Add(e => e.Saved, (TargetApi.TargetDto t) => saved = t));

        editor.Find("[data-test=target-ip]").Change("10.0.0.5");
        editor.Find("[data-test=target-port]").Change("3000");
        Assert.Empty(editor.FindAll("[data-test=hc-settings]"));
        Switch(editor, "hc-enabled").Change(true);
        editor.Find("[data-test=hc-path]").Change("/health");
        editor.Find("[data-test=hc-interval]").Change("10");
        editor.Find("[data-test=hc-timeout]").Change("3");
        editor.Find("[data-test=hc-status]").Change("204");
        editor.Find("[data-test=hc-unhealthy-threshold]").Change("2");
        editor.Find("[data-test=target-save]").Click();

        editor.WaitForAssertion(() => Assert.NotNull(saved));
        var body = Assert.Single(Sent(HttpMethod.Put)).Body!.Value;
        Assert.Equal(3, body.GetProperty("siteId").GetInt32());
        Assert.Equal("10.0.0.5", body.GetProperty("ip").GetString());
        Assert.Equal(3000, body.GetProperty("port").GetInt32());
        Assert.Equal("http", body.GetProperty("method").GetString());
        Assert.True(body.GetProperty("hcEnabled").GetBoolean());
        Assert.Equal("http", body.GetProperty("hcMode").GetString());
        Assert.Equal("/health", body.GetProperty("hcPath").GetString());
        Assert.Equal(10, body.GetProperty("hcInterval").GetInt32());
        Assert.Equal(3, body.GetProperty("hcTimeout").GetInt32());
        Assert.Equal(204, body.GetProperty("hcStatus").GetInt32());
        Assert.Equal(2, body.GetProperty("hcUnhealthyThreshold").GetInt32());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("hcHostname").ValueKind);
        // No path match asked for: none sent.
        Assert.Equal(JsonValueKind.Null, body.GetProperty("pathMatchType").ValueKind);
    }

    [Fact]
    public void The_target_editor_without_a_health_check_sends_only_that_it_is_off_and_shows_errors_at_their_fields()
    {
        var site = new SiteApi.SiteDto(3, "acme", "home", "Home Lab", "local", null, null, null, null, true, null, false, "online", 0, 0, null, null,
            null, null, DateTime.UtcNow);
        var target = new TargetApi.TargetDto(11, 7, 3, "10.0.0.5", "http", 3000, null, true, null, null, null, null, 100, true, "/", "http", "http",
            "10.0.0.5", null, 30, 30, 5, null, null, "GET", null, "healthy", null, null, null, "Home Lab", "local", "home");
        _api.On(HttpMethod.Post, "target/11", (_, _) => (HttpStatusCode.BadRequest,
            FakeApi.Problem("Validation error: must be a host name or an IP address at \"ip\"", ("ip", "must be a host name or an IP address"))));
        var editor = Render<ResourceTargetEditor>(p => p.Add(e => e.ResourceId, 7).Add(e => e.Target, target).Add(e => e.Sites, [site]));

        Assert.NotEmpty(editor.FindAll("[data-test=hc-settings]"));
        Switch(editor, "hc-enabled").Change(false);
        editor.Find("[data-test=target-ip]").Change("not a host!");
        editor.Find("[data-test=target-save]").Click();

        editor.WaitForAssertion(() => Assert.Equal("must be a host name or an IP address", FieldError(editor, "target-ip")));
        Assert.Equal("", FieldError(editor, "target-port"));
        var post = Assert.Single(Sent(HttpMethod.Post));
        Assert.Equal("target/11", post.Path);
        Assert.False(post.Body!.Value.GetProperty("hcEnabled").GetBoolean());
        Assert.False(post.Body!.Value.TryGetProperty("hcPath", out _));
        Assert.Equal("not a host!", post.Body!.Value.GetProperty("ip").GetString());
        Assert.Equal(3000, post.Body!.Value.GetProperty("port").GetInt32());
    }

    [Fact]
    public void The_target_editor_sends_the_checks_headers_and_shows_a_rejected_one_at_its_row()
    {
        var site = new SiteApi.SiteDto(3, "acme", "home", "Home Lab", "local", null, null, null, null, true, null, false, "online", 0, 0, null, null,
            null, null, DateTime.UtcNow);
        var target = new TargetApi.TargetDto(11, 7, 3, "10.0.0.5", "http", 3000, null, true, null, null, null, null, 100, true, "/", "http", "http",
            "10.0.0.5", null, 30, 30, 5, [new ResourceApi.HeaderDto("Authorization", "Bearer probe")], null, "GET", null, "healthy", null, null, null,
            "Home Lab", "local", "home");
        _api.On(HttpMethod.Post, "target/11", (_, _) => (HttpStatusCode.BadRequest,
            FakeApi.Problem("Validation error: not a valid header name at \"hcHeaders.1\"", ("hcHeaders.1", "not a valid header name"))));
        var editor = Render<ResourceTargetEditor>(p => p.Add(e => e.ResourceId, 7).Add(e => e.Target, target).Add(e => e.Sites, [site]));

        // The stored header is shown; a second is added with a name the API refuses.
        Assert.Equal("Authorization", editor.Find("[data-test=hc-header-name]").GetAttribute("value"));
        editor.Find("[data-test=hc-header-add]").Click();
        editor.FindAll("[data-test=hc-header-name]")[1].Change("Bad Name");
        editor.FindAll("[data-test=hc-header-value]")[1].Change("x");
        editor.Find("[data-test=target-save]").Click();

        editor.WaitForAssertion(() => Assert.Equal("not a valid header name", editor.FindAll("[data-test=hc-header-name]")[1]
            .Closest(".mud-input-control")?.QuerySelector(".mud-input-helper-text.mud-input-error")?.TextContent.Trim()));
        var headers = Assert.Single(Sent(HttpMethod.Post)).Body!.Value.GetProperty("hcHeaders");
        Assert.Equal([("Authorization", "Bearer probe"), ("Bad Name", "x")],
            headers.EnumerateArray().Select(h => (h.GetProperty("name").GetString(), h.GetProperty("value").GetString())));

        // Removing both clears them (null, not an empty list the API would store).
        editor.Find("[data-test=hc-header-remove]").Click();
        editor.Find("[data-test=hc-header-remove]").Click();
        editor.Find("[data-test=target-save]").Click();
        editor.WaitForAssertion(() => Assert.Equal(2, Sent(HttpMethod.Post).Count));
        Assert.Equal(JsonValueKind.Null, Sent(HttpMethod.Post)[1].Body!.Value.GetProperty("hcHeaders").ValueKind);
    }

    [Fact]
    public void The_general_tab_sends_the_landing_path_with_its_leading_slash()
    {
        _api.On(HttpMethod.Get, "org/acme/domains?limit=1000", new { domains = Array.Empty<object>() })
            .On(HttpMethod.Post, "resource/7", Resource());
        var general = Render<ResourceGeneral>(p => p.Add(g => g.Resource, Resource()).Add(g => g.OrgId, "acme"));

        general.Find("[data-test=general-post-auth-path]").Change("dashboard/home");
        general.Find("[data-test=general-save]").Click();

        general.WaitForAssertion(() => Assert.Single(Sent(HttpMethod.Post)));
        Assert.Equal("/dashboard/home", Sent(HttpMethod.Post)[0].Body!.Value.GetProperty("postAuthPath").GetString());
    }

    private void AccessPolicyAnswers(bool password = false)
    {
        _api.On(HttpMethod.Get, "org/acme/roles?limit=1000", new { roles = new[] { new { roleId = 1, orgId = "acme", isAdmin = true, name = "Admin", orgName = "Acme" },
                new { roleId = 2, orgId = "acme", isAdmin = false, name = "Member", orgName = "Acme" } } })
            .On(HttpMethod.Get, "org/acme/users?limit=1000", new { users = new[] { new { id = "u1", userId = "u1", email = "bob@example.com", type = "internal" } } })
            .On(HttpMethod.Get, "resource/7/roles", new { roles = new[] { new { roleId = 1, name = "Admin", isAdmin = true } } })
            .On(HttpMethod.Get, "resource/7/users", new { users = Array.Empty<object>() })
            .On(HttpMethod.Get, "resource/7/whitelist", new { whitelist = Array.Empty<object>() })
            .On(HttpMethod.Get, "resource/guid-7/auth", new { resourceId = 7, password, pincode = false, headerAuth = false, sso = false });
    }

    [Fact]
    public void The_access_policy_editor_sets_a_password_and_shows_a_rejected_one_at_its_own_field_only()
    {
        AccessPolicyAnswers();
        var calls = 0;
        _api.On(HttpMethod.Post, "resource/7/password", (_, _) => ++calls == 1
            ? (HttpStatusCode.BadRequest, FakeApi.Problem("Validation error: must have at least 4 characters at \"password\"", ("password", "must have at least 4 characters")))
            : (HttpStatusCode.Created, new { }));
        var policy = Render<ResourceAccessPolicy>(p => p.Add(r => r.Resource, Resource()).Add(r => r.OrgId, "acme"));
        policy.WaitForAssertion(() => policy.Find("[data-test=auth-password-input]"));
        Assert.Contains("Not set", policy.Find("[data-test=auth-password-state]").TextContent, StringComparison.Ordinal);

        policy.Find("[data-test=auth-password-input]").Change("abc");
        policy.Find("[data-test=auth-password-set]").Click();
        policy.WaitForAssertion(() => Assert.Equal("must have at least 4 characters", FieldError(policy, "auth-password-input")));
        // Header auth also has a "password" field: the error is not shown there.
        Assert.Equal("", FieldError(policy, "auth-header-password"));

        AccessPolicyAnswers(password: true);
        policy.Find("[data-test=auth-password-input]").Change("open-sesame");
        policy.Find("[data-test=auth-password-set]").Click();
        policy.WaitForAssertion(() => Assert.Contains("Set", policy.Find("[data-test=auth-password-state]").TextContent, StringComparison.Ordinal));
        var sent = Sent(HttpMethod.Post).Where(r => r.Path == "resource/7/password").Select(r => r.Body!.Value.GetProperty("password").GetString()).ToList();
        Assert.Equal(["abc", "open-sesame"], sent);
        Assert.Equal("", FieldError(policy, "auth-password-input"));
        policy.Find("[data-test=auth-password-remove]");
    }

    [Fact]
    public void The_access_policy_editor_turns_on_sso_for_chosen_roles_and_sets_header_auth_and_a_pin()
    {
        AccessPolicyAnswers();
        _api.On(HttpMethod.Post, "resource/7", Resource() with { Sso = true })
            .On(HttpMethod.Post, "resource/7/roles", new { })
            .On(HttpMethod.Post, "resource/7/users", new { })
            .On(HttpMethod.Post, "resource/7/header-auth", new { })
            .On(HttpMethod.Post, "resource/7/pincode", new { });
        var policy = Render<ResourceAccessPolicy>(p => p.Add(r => r.Resource, Resource()).Add(r => r.OrgId, "acme"));
        policy.WaitForAssertion(() => policy.Find("[data-test=auth-sso-switch]"));

        Switch(policy, "auth-sso-switch").Change(true);
        policy.Find("[data-test=auth-sso-save]").Click();
        policy.WaitForAssertion(() => Assert.Single(Sent(HttpMethod.Post), r => r.Path == "resource/7/users"));
        var update = Sent(HttpMethod.Post).Single(r => r.Path == "resource/7");
        Assert.True(update.Body!.Value.GetProperty("sso").GetBoolean());
        var roles = Sent(HttpMethod.Post).Single(r => r.Path == "resource/7/roles").Body!.Value.GetProperty("roleIds");
        Assert.Equal([1], roles.EnumerateArray().Select(e => e.GetInt32()));

        policy.Find("[data-test=auth-header-user]").Change("robot");
        policy.Find("[data-test=auth-header-password]").Change("s3cret-pass");
        policy.Find("[data-test=auth-header-set]").Click();
        policy.WaitForAssertion(() => Assert.Single(Sent(HttpMethod.Post), r => r.Path == "resource/7/header-auth"));
        var header = Sent(HttpMethod.Post).Single(r => r.Path == "resource/7/header-auth").Body!.Value;
        Assert.Equal("robot", header.GetProperty("user").GetString());
        Assert.Equal("s3cret-pass", header.GetProperty("password").GetString());
        Assert.False(header.GetProperty("extendedCompatibility").GetBoolean());

        policy.Find("[data-test=auth-pin-input]").Change("123456");
        policy.Find("[data-test=auth-pin-set]").Click();
        policy.WaitForAssertion(() => Assert.Single(Sent(HttpMethod.Post), r => r.Path == "resource/7/pincode"));
        Assert.Equal("123456", Sent(HttpMethod.Post).Single(r => r.Path == "resource/7/pincode").Body!.Value.GetProperty("pincode").GetString());
    }

    private void DomainAnswers() => _api.On(HttpMethod.Get, "org/acme/domains?limit=1000", new
    {
        domains = new[] { new { domainId = "main", baseDomain = "example.test", verified = true, type = "wildcard" } },
    });

    [Fact]
    public void Creating_an_http_resource_shows_its_address_sends_the_domain_and_opens_the_editor()
    {
        DomainAnswers();
        _api.On(HttpMethod.Put, "org/acme/resource", Resource() with { Name = "Grafana", NiceId = "grafana" });
        var page = Render<Pangolin.Server.Dashboard.Pages.ResourceNew>(p => p.Add(r => r.OrgId, "acme"));
        page.WaitForAssertion(() => page.Find("[data-test=name]"));

        page.Find("[data-test=name]").Change("Grafana");
        page.Find("[data-test=subdomain]").Input("Grafana");
        Assert.Contains("https://grafana.example.test", page.Find("[data-test=full-domain]").TextContent, StringComparison.Ordinal);
        page.Find("[data-test=create]").Click();

        var nav = Services.GetRequiredService<Microsoft.AspNetCore.Components.NavigationManager>();
        page.WaitForAssertion(() => Assert.EndsWith("/org/acme/resources/grafana?tab=targets", nav.Uri, StringComparison.Ordinal));
        var body = Assert.Single(Sent(HttpMethod.Put)).Body!.Value;
        Assert.True(body.GetProperty("http").GetBoolean());
        Assert.Equal("main", body.GetProperty("domainId").GetString());
        Assert.Equal("Grafana", body.GetProperty("subdomain").GetString());
        Assert.False(body.TryGetProperty("proxyPort", out _));
    }

    [Fact]
    public void A_server_that_forbids_raw_resources_says_so_plainly()
    {
        DomainAnswers();
        _api.On(HttpMethod.Put, "org/acme/resource", (_, _) => (HttpStatusCode.BadRequest,
            FakeApi.Problem("Raw TCP/UDP resources are disabled on this server (Flags:AllowRawResources)")));
        var page = Render<Pangolin.Server.Dashboard.Pages.ResourceNew>(p => p.Add(r => r.OrgId, "acme"));
        page.WaitForAssertion(() => page.Find("[data-test=name]"));

        var raw = page.Find("[data-test=kind-raw]");
        (raw.TagName == "INPUT" ? raw : raw.QuerySelector("input")!).Click();
        page.WaitForAssertion(() => page.Find("[data-test=proxy-port]"));
        page.Find("[data-test=name]").Change("Postgres");
        page.Find("[data-test=proxy-port]").Change("5432");
        Assert.Empty(page.FindAll("[data-test=raw-disabled]"));
        page.Find("[data-test=create]").Click();

        page.WaitForAssertion(() => Assert.Contains("does not allow raw TCP/UDP resources", page.Find("[data-test=raw-disabled]").TextContent, StringComparison.Ordinal));
        var body = Assert.Single(Sent(HttpMethod.Put)).Body!.Value;
        Assert.False(body.GetProperty("http").GetBoolean());
        Assert.Equal("tcp", body.GetProperty("protocol").GetString());
        Assert.Equal(5432, body.GetProperty("proxyPort").GetInt32());
    }
}
