using System.Text;
using System.Text.Json;
using Microsoft.Playwright;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Dashboard;

/// <summary>
/// Every page of the dashboard checked for accessibility in Debian's Chromium: axe-core's WCAG 2.1 A and AA rules (names,
/// labels, contrast, landmarks, ARIA) in light and dark mode, and a walk by the Tab key alone, which must reach every
/// control on the page, never get stuck, and show where the focus is.
/// </summary>
public sealed class DashboardAccessibilityTests(PostgresServer postgres, BrowserFixture browser) : DashboardTestBase(postgres, browser)
{
    private const string Org = "acme";

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        // The e-mail code form shows on a resource's sign-in page only when mail can be sent; nothing is sent here.
        ["Email:SmtpHost"] = "127.0.0.1",
        ["Email:SmtpPort"] = "2525",
        ["Email:SmtpSecurity"] = "none",
        ["Email:NoReply"] = "pangolin@example.test",
    };

    /// <summary>An org with something on every page: sites, resources with every access method and rules, a role, an
    /// invitation, a member, keys and share links. Returns the pages to check and the protected resource's GUID.</summary>
    private async Task<(string[] Pages, string ResourceGuid, string InvitePath)> SeedAsync()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, Org);
        var site = (await admin.PutJsonAsync($"org/{Org}/site", new { name = "Home Lab", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var newt = (await admin.PutJsonAsync($"org/{Org}/site", new { name = "Warehouse", type = "newt" })).Expect(201).Data.GetProperty("niceId").GetString()!;
        var wiki = (await admin.PutJsonAsync($"org/{Org}/resource", new { name = "Wiki", http = true, domainId = "main", subdomain = "wiki" })).Expect(201).Data;
        var wikiId = wiki.GetProperty("resourceId").GetInt32();
        (await admin.PutJsonAsync($"resource/{wikiId}/target", new { siteId = site, ip = "10.0.0.5", port = 3000, method = "http", hcEnabled = true })).Expect(201);
        (await admin.PostJsonAsync($"resource/{wikiId}/password", new { password = "open sesame" })).Expect(201);
        (await admin.PostJsonAsync($"resource/{wikiId}/pincode", new { pincode = "123456" })).Expect(201);
        (await admin.PostJsonAsync($"resource/{wikiId}", new { emailWhitelistEnabled = true })).Expect(200);
        (await admin.PostJsonAsync($"resource/{wikiId}/whitelist", new { emails = new[] { "guest@example.com" } })).Expect(200);
        (await admin.PutJsonAsync($"resource/{wikiId}/rule", new { action = "ACCEPT", match = "PATH", value = "/public/*", priority = 1 })).Expect(201);
        (await admin.PutJsonAsync($"resource/{wikiId}/rule", new { action = "DROP", match = "CIDR", value = "203.0.113.0/24", priority = 2 })).Expect(201);
        (await admin.PostJsonAsync($"resource/{wikiId}/access-token", new { title = "for Bob" })).Expect(201);
        (await admin.PutJsonAsync($"org/{Org}/resource", new { name = "Postgres", http = false, protocol = "tcp", proxyPort = 15432 })).Expect(201);
        var role = (await admin.PutJsonAsync($"org/{Org}/role", new { name = "Viewers", description = "Read only" })).Expect(201).Data.GetProperty("roleId").GetInt32();
        var invite = (await admin.PostJsonAsync($"org/{Org}/create-invite", new { email = "carol@example.com", validHours = 24, roleIds = new[] { role } }))
            .Expect(200).Data.GetProperty("inviteLink").GetString()!;
        using var bob = await SignUpAsync("bob@example.com");
        (await admin.PutJsonAsync($"org/{Org}/user", new { email = "bob@example.com", roleIds = new[] { role } })).Expect(201);
        (await admin.PutJsonAsync($"org/{Org}/api-key", new { name = "ci", actionIds = new[] { "listSites" } })).Expect(201);
        var guid = (await admin.GetJsonAsync($"resource/{wikiId}")).Expect(200).Data.GetProperty("resourceGuid").GetString()!;
        var wikiNiceId = wiki.GetProperty("niceId").GetString()!;

        string[] pages =
        [
            "/", "/profile", "/orgs/new",
            $"/org/{Org}/sites", $"/org/{Org}/sites/{newt}",
            $"/org/{Org}/resources", $"/org/{Org}/resources/new",
            .. new[] { "general", "targets", "auth", "share", "rules" }.Select(tab => $"/org/{Org}/resources/{wikiNiceId}?tab={tab}"),
            $"/org/{Org}/share-links", $"/org/{Org}/domains", $"/org/{Org}/users", $"/org/{Org}/invitations",
            $"/org/{Org}/roles", $"/org/{Org}/roles/{role}", $"/org/{Org}/api-keys", $"/org/{Org}/logs", $"/org/{Org}/settings",
            "/admin/users", "/admin/api-keys", "/admin/settings",
        ];
        return (pages, guid, new Uri(invite).PathAndQuery);
    }

    [Fact]
    public async Task The_audit_reports_what_axe_finds_on_a_page_with_known_faults()
    {
        await using var context = await Browser.NewContextAsync(BaseUrl);
        var page = await context.NewPageAsync();
        await page.SetContentAsync("""
            <html lang="en"><head><title>Faults</title></head><body><main>
            <img src="data:image/gif;base64,R0lGODlhAQABAAAAACw=">
            <button></button>
            <p style="color:#777;background:#888">hard to read</p>
            </main></body></html>
            """);
        var problems = new StringBuilder();
        await AxeAudit.AuditAsync(page, "faults", problems);
        var report = problems.ToString();
        Assert.Contains("faults: image-alt (critical)", report, StringComparison.Ordinal);
        Assert.Contains("faults: button-name (critical)", report, StringComparison.Ordinal);
        Assert.Contains("faults: color-contrast (serious)", report, StringComparison.Ordinal);

        // Asked for one rule, it runs that one alone; on a clean page it reports nothing.
        problems.Clear();
        await AxeAudit.AuditAsync(page, "faults", problems, ["color-contrast"]);
        Assert.DoesNotContain("image-alt", problems.ToString(), StringComparison.Ordinal);
        Assert.Contains("color-contrast", problems.ToString(), StringComparison.Ordinal);
        await page.SetContentAsync("""<html lang="en"><head><title>Fine</title></head><body><main><h1>Fine</h1></main></body></html>""");
        problems.Clear();
        await AxeAudit.AuditAsync(page, "fine", problems);
        Assert.Equal("", problems.ToString());
    }

    [Fact]
    public async Task Every_signed_in_page_passes_axe_core_wcag_aa_in_light_and_dark_mode()
    {
        var (pages, _, _) = await SeedAsync();
        var problems = new StringBuilder();
        foreach (var dark in new[] { false, true })
        {
            await using var context = await SignedInContextAsync(AdminEmail, dark: dark);
            foreach (var path in pages)
            {
                var page = await OpenAsync(context, path);
                // Dark here is the browser's preference, which the layout follows once its circuit is up.
                await Assertions.Expect(page.Locator("[data-test=theme-toggle]")).ToHaveAttributeAsync("aria-label", dark ? "Light mode" : "Dark mode");
                await AuditAsync(page, $"{path} ({(dark ? "dark" : "light")})", problems);
                await page.CloseAsync();
            }
        }
        Assert.True(problems.Length == 0, problems.ToString());
    }

    [Fact]
    public async Task The_signed_out_pages_and_a_resources_sign_in_page_pass_axe_core_wcag_aa()
    {
        var problems = new StringBuilder();
        await using (var fresh = await Browser.NewContextAsync(BaseUrl))
        {
            // Before set-up: the set-up page.
            var page = await fresh.NewPageAsync();
            await page.GotoAsync("/setup");
            await Assertions.Expect(page.Locator("form")).ToBeVisibleAsync();
            await AuditAsync(page, "/setup", problems);
        }

        var (_, guid, invite) = await SeedAsync();
        foreach (var dark in new[] { false, true })
        {
            await using var context = await Browser.NewContextAsync(BaseUrl, dark: dark);
            // Static pages have no circuit to ask the browser: they follow the choice kept in the theme cookie.
            await context.AddCookiesAsync([new Cookie { Name = Pangolin.Server.Dashboard.DashboardTheme.Cookie, Value = dark ? "dark" : "light", Url = BaseUrl }]);
            foreach (var path in new[] { "/auth/login", "/auth/reset-password", invite, $"/auth/resource/{guid}", "/s/not-a-share-link" })
            {
                var page = await context.NewPageAsync();
                await page.GotoAsync(path);
                await Assertions.Expect(page.Locator("h1")).ToBeVisibleAsync();
                await AuditAsync(page, $"{path} ({(dark ? "dark" : "light")})", problems);
                await page.CloseAsync();
            }
        }
        Assert.True(problems.Length == 0, problems.ToString());
    }

    [Fact]
    public async Task Every_signed_in_page_can_be_walked_with_the_tab_key_alone()
    {
        var (pages, _, _) = await SeedAsync();
        await using var context = await SignedInContextAsync(AdminEmail);
        var problems = new StringBuilder();
        foreach (var path in pages)
        {
            var page = await OpenAsync(context, path);
            var walk = await KeyboardWalk.RunAsync(page);
            walk.Report(path, problems);
            await page.CloseAsync();
        }
        Assert.True(problems.Length == 0, problems.ToString());
    }

    [Fact]
    public async Task A_keyboard_user_signs_in_creates_a_site_and_copies_nothing_by_mouse()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, Org);
        await using var context = await Browser.NewContextAsync(BaseUrl);
        var page = await context.NewPageAsync();
        await page.GotoAsync("/auth/login");

        // The page puts the focus on its heading: the first Tab is the first field.
        await page.Keyboard.PressAsync("Tab");
        await Assertions.Expect(page.Locator("#email")).ToBeFocusedAsync();
        await page.Keyboard.TypeAsync(AdminEmail);
        await page.Keyboard.PressAsync("Tab");
        await page.Keyboard.TypeAsync(Password);
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForURLAsync(url => !url.Contains("/auth/login", StringComparison.Ordinal));

        await page.GotoAsync($"/org/{Org}/sites");
        await WaitInteractiveAsync(page);
        await KeyboardWalk.TabToAsync(page, "[data-test=create-site]");
        await page.Keyboard.PressAsync("Enter");
        // The dialog takes the focus to its first field: type the name and submit with Enter.
        await Assertions.Expect(page.Locator("#site-name")).ToBeFocusedAsync();
        await page.Keyboard.TypeAsync("Keyboard office");
        await Assertions.Expect(page.Locator("#site-name")).ToHaveValueAsync("Keyboard office");
        await page.Keyboard.PressAsync("Enter");
        await Assertions.Expect(page.Locator("[data-test=secret-warning]")).ToBeVisibleAsync();
        await BrowserFixture.ScreenshotAsync(page, "a11y-keyboard-site-created");
        // Escape closes the dialog, and the new site is in the list.
        await page.Keyboard.PressAsync("Escape");
        await Assertions.Expect(page.Locator(".mud-dialog")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByRole(AriaRole.Cell, new() { Name = "Keyboard office" })).ToBeVisibleAsync();
        var sites = (await admin.GetJsonAsync($"org/{Org}/sites")).Expect(200).Data.GetProperty("sites");
        Assert.Equal(["Keyboard office"], sites.EnumerateArray().Select(s => s.GetProperty("name").GetString()));
    }

    private static Task AuditAsync(IPage page, string label, StringBuilder problems) => AxeAudit.AuditAsync(page, label, problems);

    /// <summary>
    /// Presses Tab from the top of a page until the focus comes round again, noting each element it lands on: its
    /// description, whether it is visible, and whether anything about it or the box around it looks different from
    /// when it is not focused (so that a sighted keyboard user can see where they are). Then lists the visible,
    /// enabled controls that no Tab reached.
    /// </summary>
    private sealed record KeyboardWalk(List<KeyboardWalk.Stop> Stops, List<string> Unreached, bool Stuck)
    {
        private const int MaxSteps = 250;

        public sealed record Stop(string Element, bool Visible, bool ShowsFocus);

        /// <summary>Presses Tab until the focused element matches <paramref name="selector"/>.</summary>
        public static async Task TabToAsync(IPage page, string selector)
        {
            for (var i = 0; i < MaxSteps; i++)
            {
                await page.Keyboard.PressAsync("Tab");
                if (await page.EvaluateAsync<bool>("s => document.activeElement?.matches(s) ?? false", selector))
                {
                    return;
                }
            }
            Assert.Fail($"Tab never reached {selector}");
        }

        public static async Task<KeyboardWalk> RunAsync(IPage page)
        {
            // Transitions would make a style read just after blur still show the focused look.
            await page.AddStyleTagAsync(new() { Content = "*, *::before, *::after { transition: none !important; animation: none !important; }" });
            // From the top of the document, as after a reload, not from the heading the page focused. A page that is
            // still loading moves the focus to its heading when it arrives: start again until the focus stays put.
            for (var attempt = 0; ; attempt++)
            {
                await page.EvaluateAsync("""
                    () => {
                      window.__walked = new Set();
                      document.getElementById('__walk_start')?.remove();
                      const start = document.createElement('span');
                      start.tabIndex = -1;
                      start.id = '__walk_start';
                      document.body.prepend(start);
                      start.focus();
                    }
                    """);
                await Task.Delay(300, TestContext.Current.CancellationToken);
                if (await page.EvaluateAsync<bool>("() => document.activeElement?.id === '__walk_start'"))
                {
                    break;
                }
                Assert.True(attempt < 20, "the page keeps moving the focus by itself");
            }
            var stops = new List<Stop>();
            var stuck = false;
            var same = 0;
            for (var i = 0; i < MaxSteps; i++)
            {
                await page.Keyboard.PressAsync("Tab");
                var step = await page.EvaluateAsync<JsonElement>(StepScript);
                var state = step.GetProperty("state").GetString();
                if (state == "none" || state == "again")
                {
                    break;
                }
                if (state == "same")
                {
                    // A date field takes several Tabs for its parts (day, month, year, time); a trap takes them all.
                    if (++same > 10)
                    {
                        stuck = true;
                        break;
                    }
                    continue;
                }
                same = 0;
                stops.Add(new Stop(step.GetProperty("element").GetString()!, step.GetProperty("visible").GetBoolean(), step.GetProperty("showsFocus").GetBoolean()));
            }
            var unreached = await page.EvaluateAsync<string[]>(UnreachedScript);
            return new KeyboardWalk(stops, [.. unreached], stuck);
        }

        public void Report(string path, StringBuilder problems)
        {
            if (Stops.Count == 0)
            {
                problems.AppendLine($"{path}: Tab reaches nothing");
            }
            else if (!Stops[0].Element.Contains("Skip to content", StringComparison.Ordinal))
            {
                problems.AppendLine($"{path}: the first Tab lands on {Stops[0].Element}, not on the skip link");
            }
            if (Stuck)
            {
                problems.AppendLine($"{path}: the focus stays on {Stops.LastOrDefault()?.Element} when Tab is pressed");
            }
            foreach (var stop in Stops.Where(s => !s.Visible))
            {
                problems.AppendLine($"{path}: the focus lands on something not visible: {stop.Element}");
            }
            foreach (var stop in Stops.Where(s => s.Visible && !s.ShowsFocus))
            {
                problems.AppendLine($"{path}: no visible focus on {stop.Element}");
            }
            foreach (var element in Unreached)
            {
                problems.AppendLine($"{path}: Tab never reaches {element}");
            }
        }

        private const string Describe = """
            const describe = el => {
              const name = (el.getAttribute('aria-label') || el.labels?.[0]?.textContent || el.textContent || el.getAttribute('placeholder') || '').trim().replace(/\s+/g, ' ').slice(0, 40);
              const test = el.closest('[data-test]')?.getAttribute('data-test');
              return `<${el.tagName.toLowerCase()}${el.id ? '#' + el.id : ''}${el.getAttribute('role') ? ' role=' + el.getAttribute('role') : ''}${test ? ' in [data-test=' + test + ']' : ''}> "${name}"`;
            };
            """;

        // What a focused element and the three boxes around it look like, pseudo-elements included: a focus
        // indicator may be the element's outline, a parent's border (MudBlazor's outlined fields) or an ::after bar.
        private const string StepScript = "() => {" + Describe + """
              const el = document.activeElement;
              document.getElementById('__walk_start')?.remove();
              if (!el || el === document.body || el === document.documentElement) return { state: 'none' };
              if (window.__last === el) return { state: 'same' };
              if (window.__walked.has(el)) return { state: 'again' };
              window.__walked.add(el);
              window.__last = el;
              const props = ['outline-style', 'outline-width', 'outline-color', 'box-shadow', 'border-top-color', 'border-bottom-color',
                             'border-bottom-width', 'background-color', 'color', 'transform', 'opacity', 'text-decoration-line', 'top'];
              const look = () => {
                const parts = [];
                for (let node = el, depth = 0; node && depth < 4; node = node.parentElement, depth++) {
                  for (const pseudo of [null, '::before', '::after']) {
                    const style = getComputedStyle(node, pseudo);
                    parts.push(props.map(p => style.getPropertyValue(p)).join('|'));
                  }
                }
                return parts.join('/');
              };
              const focused = look();
              const rect = el.getBoundingClientRect();
              const style = getComputedStyle(el);
              const visible = rect.width > 0 && rect.height > 0 && style.visibility !== 'hidden';
              el.blur();
              const unfocused = look();
              el.focus();
              return { state: 'new', element: describe(el), visible, showsFocus: focused !== unfocused };
            }
            """;

        private const string UnreachedScript = "() => {" + Describe + """
              const candidates = document.querySelectorAll('a[href], button, input, select, textarea, [tabindex]');
              const missed = [];
              for (const el of candidates) {
                if (window.__walked.has(el) || el.disabled || el.type === 'hidden') continue;
                if (el.getAttribute('tabindex') === '-1' || el.closest('[inert], [aria-hidden=true]')) continue;
                const rect = el.getBoundingClientRect();
                const style = getComputedStyle(el);
                if (rect.width === 0 || rect.height === 0 || style.visibility === 'hidden' || style.display === 'none') continue;
                // One stop per radio group is the keyboard's rule; arrows move within it.
                if (el.type === 'radio' && [...document.querySelectorAll(`input[type=radio][name="${el.name}"]`)].some(r => window.__walked.has(r))) continue;
                // A control drawn by its label (a MudBlazor check box's hidden input) is reached through the input.
                if ([...window.__walked].some(w => w.contains(el) || el.contains(w))) continue;
                missed.push(describe(el));
              }
              return missed;
            }
            """;
    }
}
