using System.Net;
using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Pangolin.Data.Entities;
using Pangolin.Server.Edge;
using Pangolin.Server.Tests.ControlChannel;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Edge;

/// <summary>
/// Signing in to a resource as a browser does it, across the two hosts: the edge sends the browser to the sign-in
/// page on the dashboard with the way back; the page's form (password, PIN, e-mail code, platform account) answers
/// with a 303 to the resource's own address carrying a single-use request token; the edge exchanges it for a
/// host-scoped session cookie and redirects to the clean address. Cookies are handled by hand here, per host, as a
/// browser keeps them.
/// </summary>
public abstract partial class ResourceSignInTests(DatabaseKind kind, PostgresServer postgres) : NewtTestBase(kind, postgres)
{
    private const string RequestParam = "resource_session_request_param";
    // Generous: reloads take a moment more on a loaded machine, and timing is not what these tests are about.
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(15);
    private readonly SmtpTestServer _smtp = new();

    protected override bool Kestrel => true;

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Email:SmtpHost"] = "127.0.0.1",
        ["Email:SmtpPort"] = _smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Email:SmtpSecurity"] = "none",
        ["Email:NoReply"] = "pangolin@example.test",
    };

    private static CancellationToken Ct => TestContext.Current.CancellationToken;

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await _smtp.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public async Task A_password_sign_in_goes_through_the_page_and_back_to_the_address_asked_for_and_signs_out()
    {
        await using var backend = await HeaderBackend.StartAsync();
        var resource = await PublishAsync("Wiki", backend);
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false })).Expect(200);
        (await Admin.PostJsonAsync($"resource/{resource}/password", new { password = "open sesame" })).Expect(201);
        using var browser = new Browser(Factory);
        await EdgeSeesAsync("wiki.example.test", p => p.HasPassword && !p.Sso);

        // The edge: not signed in, so to the sign-in page with the whole address to come back to.
        var toSignIn = await EventuallyRedirectedAsync(browser, "wiki.example.test", "/docs/page?x=1");
        Assert.StartsWith($"http://127.0.0.1:{Factory.ExternalPort}/auth/resource/", toSignIn, StringComparison.Ordinal);
        Assert.EndsWith("?redirect=" + Uri.EscapeDataString("http://wiki.example.test/docs/page?x=1"), toSignIn, StringComparison.Ordinal);

        // The page offers the password and nothing else; a wrong one is refused next to its field.
        var page = await browser.GetPageAsync(toSignIn);
        Assert.Contains("name=\"password\"", page.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("name=\"pincode\"", page.Html, StringComparison.Ordinal);
        Assert.Equal("http://wiki.example.test/docs/page?x=1", page.Redirect);
        var wrong = await browser.PostFormAsync(page, "password", new() { ["password"] = "open says me" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
        Assert.Contains("That password is not right.", wrong.Html, StringComparison.Ordinal);

        // The right one: back to the address asked for, with a request token.
        var right = await browser.PostFormAsync(page, "password", new() { ["password"] = "open sesame" });
        Assert.Equal(HttpStatusCode.SeeOther, right.Status);
        var back = new Uri(right.Location!);
        Assert.Equal("wiki.example.test", back.Host);
        Assert.StartsWith($"/docs/page?x=1&{RequestParam}=", back.PathAndQuery, StringComparison.Ordinal);

        // The edge exchanges it for its own cookie and the clean address; the token works once.
        var cookie = await browser.ExchangeAsync(back);
        Assert.StartsWith("p_session_token_s=", cookie, StringComparison.Ordinal);
        var (status, body) = await browser.EdgeAsync("wiki.example.test", "/docs/page?x=1", cookie);
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains("path=/docs/page", body, StringComparison.Ordinal);
        Assert.DoesNotContain(RequestParam, body, StringComparison.Ordinal);
        Assert.DoesNotContain("p_session_token", body, StringComparison.Ordinal); // the cookie is not forwarded
        using var replay = await browser.EdgeResponseAsync("wiki.example.test", back.PathAndQuery);
        Assert.Equal(HttpStatusCode.Found, replay.StatusCode);
        Assert.Contains("/auth/resource/", replay.Headers.Location!.OriginalString, StringComparison.Ordinal);
        Assert.False(replay.Headers.Contains("Set-Cookie"));

        // Signing out there ends the session, not only the cookie.
        using (var signOut = await browser.EdgeResponseAsync("wiki.example.test", "/__pangolin/sign-out", cookie))
        {
            Assert.Equal(HttpStatusCode.OK, signOut.StatusCode);
            Assert.Contains("expires=Thu, 01 Jan 1970", signOut.Headers.GetValues("Set-Cookie").Single(), StringComparison.OrdinalIgnoreCase);
        }
        Assert.Equal(HttpStatusCode.Found, (await browser.EdgeAsync("wiki.example.test", "/", cookie)).Status);
        Assert.Equal(0, backend.Requests(r => r.Contains("path=/__pangolin", StringComparison.Ordinal)));
    }

    [Fact]
    public async Task A_pin_through_the_api_opens_its_resource_only_and_a_new_pin_ends_its_sessions()
    {
        await using var backend = await HeaderBackend.StartAsync();
        var pinned = await PublishAsync("Pinned", backend);
        var other = await PublishAsync("Elsewhere", backend);
        (await Admin.PostJsonAsync($"resource/{pinned}", new { sso = false })).Expect(200);
        (await Admin.PostJsonAsync($"resource/{pinned}/pincode", new { pincode = "123456" })).Expect(201);
        using var browser = new Browser(Factory);
        await EdgeSeesAsync("pinned.example.test", p => p.HasPincode && !p.Sso);
        await EdgeSeesAsync("elsewhere.example.test", p => p.Sso);
        var anonymous = Factory.DashboardClient();

        Assert.Equal("Incorrect PIN", (await anonymous.PostJsonAsync($"auth/resource/{pinned}/pincode", new { pincode = "654321" })).Expect(401).Message);
        Assert.Equal("Resource has no pincode protection", (await anonymous.PostJsonAsync($"auth/resource/{other}/pincode", new { pincode = "123456" })).Expect(400).Message);
        var token = (await anonymous.PostJsonAsync($"auth/resource/{pinned}/pincode", new { pincode = "123456" })).Expect(200).Data.GetProperty("session").GetString()!;

        // Taken to another resource's host, the token is worth nothing there (and stays unused for its own).
        using (var elsewhere = await browser.EdgeResponseAsync("elsewhere.example.test", $"/?{RequestParam}={token}"))
        {
            Assert.Equal(HttpStatusCode.Found, elsewhere.StatusCode);
            Assert.False(elsewhere.Headers.Contains("Set-Cookie"));
        }
        var cookie = await browser.ExchangeAsync(new Uri($"http://pinned.example.test/?{RequestParam}={token}"));
        Assert.Equal(HttpStatusCode.OK, (await browser.EdgeAsync("pinned.example.test", "/", cookie)).Status);
        Assert.Equal(HttpStatusCode.Found, (await browser.EdgeAsync("elsewhere.example.test", "/", cookie)).Status);

        // A new PIN is a new secret: what the old one opened is closed once the 5 s session memory has passed.
        (await Admin.PostJsonAsync($"resource/{pinned}/pincode", new { pincode = "777777" })).Expect(201);
        Factory.Clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(HttpStatusCode.Found, (await browser.EdgeAsync("pinned.example.test", "/", cookie)).Status);
    }

    [Fact]
    public async Task An_email_code_goes_only_to_listed_addresses_works_once_and_opens_the_resource()
    {
        await using var backend = await HeaderBackend.StartAsync();
        var resource = await PublishAsync("Family", backend);
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false, emailWhitelistEnabled = true })).Expect(200);
        (await Admin.PostJsonAsync($"resource/{resource}/whitelist", new { emails = new[] { "guest@example.com", "*@friends.example" } })).Expect(200);
        using var browser = new Browser(Factory);
        await EdgeSeesAsync("family.example.test", p => p.EmailWhitelist && !p.Sso);
        var page = await browser.GetPageAsync(await EventuallyRedirectedAsync(browser, "family.example.test", "/album"));
        Assert.Contains("Send me a code", page.Html, StringComparison.Ordinal);

        // Not on the list: the same answer, and no mail.
        var stranger = await browser.PostFormAsync(page, "whitelist", new() { ["email"] = "stranger@example.com" });
        Assert.Equal(HttpStatusCode.OK, stranger.Status);
        Assert.Contains("a code is on its way", stranger.Html, StringComparison.Ordinal);

        var sent = await browser.PostFormAsync(page, "whitelist", new() { ["email"] = "Pal@Friends.example" });
        Assert.Contains("a code is on its way", sent.Html, StringComparison.Ordinal);
        Assert.Contains("name=\"otp\"", sent.Html, StringComparison.Ordinal);
        var mail = await _smtp.WaitForMessageAsync("pal@friends.example");
        var code = EightDigits().Match(mail.TextBody ?? "").Value;
        Assert.Equal(ResourceSignIn.OtpDigits, code.Length);
        Assert.DoesNotContain(_smtp.Messages, m => m.To.ToString().Contains("stranger", StringComparison.Ordinal));

        var wrong = await browser.PostFormAsync(page, "whitelist", new() { ["email"] = "pal@friends.example", ["otp"] = code == "00000000" ? "11111111" : "00000000" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
        Assert.Contains("That code is wrong or has expired.", wrong.Html, StringComparison.Ordinal);
        var right = await browser.PostFormAsync(page, "whitelist", new() { ["email"] = "pal@friends.example", ["otp"] = code });
        Assert.Equal(HttpStatusCode.SeeOther, right.Status);
        var cookie = await browser.ExchangeAsync(new Uri(right.Location!));
        Assert.Equal(HttpStatusCode.OK, (await browser.EdgeAsync("family.example.test", "/album", cookie)).Status);

        // Single use.
        var again = await browser.PostFormAsync(page, "whitelist", new() { ["email"] = "pal@friends.example", ["otp"] = code });
        Assert.Equal(HttpStatusCode.Unauthorized, again.Status);

        // Taken off the list: the session ends with the entry.
        (await Admin.PostJsonAsync($"resource/{resource}/whitelist", new { emails = new[] { "guest@example.com" } })).Expect(200);
        Factory.Clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(HttpStatusCode.Found, (await browser.EdgeAsync("family.example.test", "/album", cookie)).Status);
    }

    [Fact]
    public async Task A_platform_user_with_access_goes_straight_through_with_their_identity_and_one_without_is_told_so()
    {
        await using var backend = await HeaderBackend.StartAsync();
        var resource = await PublishAsync("Team", backend);
        using var browser = new Browser(Factory);
        var toSignIn = await EventuallyRedirectedAsync(browser, "team.example.test", "/board");

        // Not signed in to the dashboard: the page offers the account sign-in (SSO is on by default).
        var page = await browser.GetPageAsync(toSignIn);
        Assert.Contains("action=\"/auth/resource/", page.Html, StringComparison.Ordinal);
        Assert.Contains("/login\"", page.Html, StringComparison.Ordinal);

        // Signing in there: back to the resource with a token tied to the new dashboard session.
        var signedIn = await browser.PostFormAsync(page, "login", new() { ["email"] = AdminEmail, ["password"] = Password });
        Assert.Equal(HttpStatusCode.SeeOther, signedIn.Status);
        var dashboardCookie = signedIn.Cookies["p_session_token"];
        var cookie = await browser.ExchangeAsync(new Uri(signedIn.Location!));
        var (status, body) = await browser.EdgeAsync("team.example.test", "/board", cookie, ("Remote-User", "forged"));
        Assert.Equal(HttpStatusCode.OK, status);
        Assert.Contains($"remote-email={AdminEmail}", body, StringComparison.Ordinal);
        Assert.Contains("remote-role=Admin", body, StringComparison.Ordinal);
        Assert.DoesNotContain("remote-user=forged", body, StringComparison.Ordinal);
        Assert.Matches("remote-user=[^\\n]+", body);

        // The request log names who it was.
        var adminId = await UserIdAsync(Admin);
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            var log = (await Admin.GetJsonAsync($"org/acme/logs/request?resourceId={resource}&actorId={adminId}")).Expect(200).Data.GetProperty("log");
            if (log.EnumerateArray().Any(e => e.GetProperty("path").GetString() == "/board" && e.GetProperty("actor").GetString() == AdminEmail && e.GetProperty("action").GetBoolean()))
            {
                break;
            }
            Assert.True(watch.Elapsed < Patience, "the platform user's request is not in the request log with their name");
            await Task.Delay(100, Ct);
        }

        // Already signed in to the dashboard: the page sends the browser straight back.
        var again = await browser.GetRawAsync(toSignIn, $"p_session_token={dashboardCookie}");
        Assert.Equal(HttpStatusCode.SeeOther, again.StatusCode);
        Assert.Contains($"{RequestParam}=", again.Headers.Location!.OriginalString, StringComparison.Ordinal);

        // Someone outside the org: told, not let in.
        var bob = await SignUpAsync("bob@example.com");
        var bobPage = await browser.PostFormAsync(page, "login", new() { ["email"] = "bob@example.com", ["password"] = Password });
        Assert.Equal(HttpStatusCode.Unauthorized, bobPage.Status);
        Assert.Contains("Your account has no access to this resource.", bobPage.Html, StringComparison.Ordinal);
        var bobCookie = bobPage.Cookies["p_session_token"];
        var told = await browser.GetRawAsync(toSignIn, $"p_session_token={bobCookie}");
        Assert.Equal(HttpStatusCode.OK, told.StatusCode);
        Assert.Contains("which has no access to this resource", await told.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);
        Assert.Equal("You do not have access to this resource", (await bob.PostJsonAsync($"resource/{resource}/get-exchange-token", new { })).Expect(403).Message);

        // The API's way for a signed-in user: a request token from get-exchange-token.
        var apiToken = (await Admin.PostJsonAsync($"resource/{resource}/get-exchange-token", new { })).Expect(200).Data.GetProperty("requestToken").GetString()!;
        await browser.ExchangeAsync(new Uri($"http://team.example.test/?{RequestParam}={apiToken}"));

        // Signing out of the dashboard ends the resource session it made.
        using (var logout = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{Factory.ExternalPort}/api/v1/auth/logout"))
        {
            logout.Headers.Add("Cookie", $"p_session_token={dashboardCookie}");
            logout.Headers.Add("X-CSRF-Token", "x-csrf-protection");
            (await browser.Http.SendAsync(logout, Ct)).EnsureSuccessStatusCode();
        }
        Factory.Clock.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal(HttpStatusCode.Found, (await browser.EdgeAsync("team.example.test", "/board", cookie)).Status);
    }

    [Fact]
    public async Task A_platform_user_with_two_factor_gives_the_code_in_a_second_step_that_never_holds_the_password()
    {
        await using var backend = await HeaderBackend.StartAsync();
        await PublishAsync("Team", backend);
        string Code(string secret) => Pangolin.Server.Auth.TwoFactor.Code(secret, Factory.Clock.GetUtcNow().UtcDateTime);
        var secret = (await Admin.PostJsonAsync("auth/2fa/request", new { password = Password })).Expect(200).Data.GetProperty("secret").GetString()!;
        (await Admin.PostJsonAsync("auth/2fa/enable", new { code = Code(secret) })).Expect(200);
        Factory.Clock.Advance(TimeSpan.FromSeconds(30)); // the enabling code's step is spent
        using var browser = new Browser(Factory);
        var page = await browser.GetPageAsync(await EventuallyRedirectedAsync(browser, "team.example.test", "/board"));

        // The password is right: the page asks for the code and carries a ticket, not the password.
        var codeStep = await browser.PostFormAsync(page, "login", new() { ["email"] = AdminEmail, ["password"] = Password });
        Assert.Equal(HttpStatusCode.OK, codeStep.Status);
        Assert.Contains("id=\"login-code\"", codeStep.Html, StringComparison.Ordinal);
        Assert.DoesNotContain("id=\"login-password\"", codeStep.Html, StringComparison.Ordinal);
        Assert.DoesNotContain(Password, codeStep.Html, StringComparison.Ordinal);
        var ticket = Browser.Hidden(codeStep.Html, "ticket");

        // A wrong code keeps the step; a forged ticket does not stand in for the password.
        var wrong = await browser.PostFormAsync(page, "login", new() { ["email"] = AdminEmail, ["ticket"] = ticket, ["code"] = "000000" });
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.Status);
        Assert.Equal(ticket, Browser.Hidden(wrong.Html, "ticket"));
        var forged = await browser.PostFormAsync(page, "login", new() { ["email"] = AdminEmail, ["ticket"] = ticket[..^2] + "xx", ["code"] = Code(secret) });
        Assert.Equal(HttpStatusCode.Unauthorized, forged.Status);
        Assert.Contains("took too long", forged.Html, StringComparison.Ordinal);
        Assert.Contains("id=\"login-password\"", forged.Html, StringComparison.Ordinal);
        Assert.Null(forged.Location);
        // Someone else's e-mail with this ticket: the ticket belongs to one account.
        await SignUpAsync("bob@example.com");
        var otherUser = await browser.PostFormAsync(page, "login", new() { ["email"] = "bob@example.com", ["ticket"] = ticket, ["code"] = Code(secret) });
        Assert.Equal(HttpStatusCode.Unauthorized, otherUser.Status);

        // The right code with the ticket signs in.
        var signedIn = await browser.PostFormAsync(page, "login", new() { ["email"] = AdminEmail, ["ticket"] = ticket, ["code"] = Code(secret) });
        Assert.Equal(HttpStatusCode.SeeOther, signedIn.Status);
        Assert.Contains($"{RequestParam}=", signedIn.Location, StringComparison.Ordinal);

        // A ticket lasts minutes, not longer.
        var late = await browser.PostFormAsync(page, "login", new() { ["email"] = AdminEmail, ["password"] = Password });
        var lateTicket = Browser.Hidden(late.Html, "ticket");
        Factory.Clock.Advance(Pangolin.Server.Auth.AuthApi.SecondStepLifetime + TimeSpan.FromSeconds(1));
        page = await browser.GetPageAsync(page.Url);
        var expired = await browser.PostFormAsync(page, "login", new() { ["email"] = AdminEmail, ["ticket"] = lateTicket, ["code"] = Code(secret) });
        Assert.Equal(HttpStatusCode.Unauthorized, expired.Status);
        Assert.Contains("took too long", expired.Html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_share_link_page_leads_to_its_resource_and_a_bad_link_says_so()
    {
        await using var backend = await HeaderBackend.StartAsync();
        var resource = await PublishAsync("Shared", backend);
        var link = (await Admin.PostJsonAsync($"resource/{resource}/access-token", new { title = "for Ann" })).Expect(201).Data;
        var full = $"{link.GetProperty("accessTokenId").GetString()}.{link.GetProperty("accessToken").GetString()}";
        using var browser = new Browser(Factory);
        await EventuallyRedirectedAsync(browser, "shared.example.test", "/");

        var opened = await browser.GetRawAsync($"http://127.0.0.1:{Factory.ExternalPort}/s/{full}");
        Assert.Equal(HttpStatusCode.SeeOther, opened.StatusCode);
        var cookie = await browser.ExchangeAsync(opened.Headers.Location!);
        Assert.Equal(HttpStatusCode.OK, (await browser.EdgeAsync("shared.example.test", "/", cookie)).Status);

        var bad = await browser.GetRawAsync($"http://127.0.0.1:{Factory.ExternalPort}/s/{full}x");
        Assert.Equal(HttpStatusCode.NotFound, bad.StatusCode);
        Assert.Contains("This link does not work", await bad.Content.ReadAsStringAsync(Ct), StringComparison.Ordinal);

        // Through the API as upstream's share-link page calls it.
        var reply = (await Factory.DashboardClient().PostJsonAsync("auth/access-token", new { accessToken = full })).Expect(200).Data;
        Assert.Equal("https://shared.example.test/", reply.GetProperty("redirectUrl").GetString());
        Assert.False(string.IsNullOrEmpty(reply.GetProperty("session").GetString()));
        var info = (await Factory.DashboardClient().GetJsonAsync($"resource/{await GuidAsync(resource)}/auth")).Expect(200).Data;
        Assert.True(info.GetProperty("sso").GetBoolean());
        Assert.False(info.GetProperty("password").GetBoolean());
        Assert.Equal("shared.example.test", info.GetProperty("fullDomain").GetString());
        Assert.Equal("Resource not found", (await Factory.DashboardClient().GetJsonAsync("resource/no-such-guid/auth")).Expect(404).Message);
    }

    [Theory]
    [InlineData("https://evil.example/")]
    [InlineData("//evil.example/")]
    [InlineData("/\\evil.example/")]
    [InlineData("javascript:alert(1)")]
    [InlineData("http://gate.example.test@evil.example/")]
    [InlineData("http://gate.example.test.evil.example/")]
    [InlineData("http://evil.example\\@gate.example.test/")]
    [InlineData("data:text/html,<script>alert(1)</script>")]
    public async Task The_sign_in_page_never_sends_a_browser_or_its_token_to_another_host(string redirect)
    {
        await using var backend = await HeaderBackend.StartAsync();
        var resource = await PublishAsync("Gate", backend);
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false })).Expect(200);
        (await Admin.PostJsonAsync($"resource/{resource}/password", new { password = "open sesame" })).Expect(201);
        using var browser = new Browser(Factory);
        await EdgeSeesAsync("gate.example.test", p => p.HasPassword && !p.Sso);
        var guid = await GuidAsync(resource);

        var page = await browser.GetPageAsync($"http://127.0.0.1:{Factory.ExternalPort}/auth/resource/{guid}?redirect={Uri.EscapeDataString(redirect)}");
        Assert.Equal("https://gate.example.test/", page.Redirect); // the resource's own address instead
        var signedIn = await browser.PostFormAsync(page with { Redirect = redirect }, "password", new() { ["password"] = "open sesame" });
        Assert.Equal(HttpStatusCode.SeeOther, signedIn.Status);
        Assert.Equal("gate.example.test", new Uri(signedIn.Location!).Host);
    }

    [Fact]
    public async Task A_form_posted_without_the_pages_token_is_refused_and_guessing_is_limited()
    {
        await using var backend = await HeaderBackend.StartAsync();
        var resource = await PublishAsync("Vault", backend);
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false })).Expect(200);
        (await Admin.PostJsonAsync($"resource/{resource}/password", new { password = "open sesame" })).Expect(201);
        using var browser = new Browser(Factory);
        await EdgeSeesAsync("vault.example.test", p => p.HasPassword && !p.Sso);
        var page = await browser.GetPageAsync(await EventuallyRedirectedAsync(browser, "vault.example.test", "/"));

        // Another site's form: no token, or a token for another cookie.
        var forged = await browser.PostFormAsync(page with { FormToken = "" }, "password", new() { ["password"] = "open sesame" });
        Assert.Equal(HttpStatusCode.BadRequest, forged.Status);
        Assert.Contains("The form has expired", forged.Html, StringComparison.Ordinal);
        var otherBrowser = new Browser(Factory);
        var otherPage = await otherBrowser.GetPageAsync(page.Url);
        var mixed = await browser.PostFormAsync(page with { FormToken = otherPage.FormToken }, "password", new() { ["password"] = "open sesame" });
        Assert.Equal(HttpStatusCode.BadRequest, mixed.Status);
        otherBrowser.Dispose();

        // Fifteen wrong guesses from one address (RateLimits:Secrets): then even the right one waits.
        for (var i = 0; i < 15; i++)
        {
            Assert.Equal(HttpStatusCode.Unauthorized, (await browser.PostFormAsync(page, "password", new() { ["password"] = $"guess {i}" })).Status);
        }
        var limited = await browser.PostFormAsync(page, "password", new() { ["password"] = "open sesame" });
        Assert.Equal(HttpStatusCode.TooManyRequests, limited.Status);
        Assert.Contains("Too many attempts", limited.Html, StringComparison.Ordinal);
        Assert.Equal(429, (await Factory.DashboardClient().PostJsonAsync($"auth/resource/{resource}/password", new { password = "open sesame" })).Code);
    }

    private async Task<int> PublishAsync(string name, HeaderBackend backend)
    {
        var site = (await Admin.PutJsonAsync("org/acme/site", new { name = $"Here {name}", type = "local" })).Expect(201).Data.GetProperty("siteId").GetInt32();
        var resource = await CreateResourceAsync(name);
        await CreateTargetAsync(resource, site, "127.0.0.1", backend.Port);
        return resource;
    }

    private async Task<string> GuidAsync(int resource) =>
        (await Admin.GetJsonAsync($"resource/{resource}")).Expect(200).Data.GetProperty("resourceGuid").GetString()!;

    /// <summary>Waits for the edge's routes to show a change made through the API (they reload a moment after it).</summary>
    private async Task EdgeSeesAsync(string host, Func<Pangolin.Edge.EdgeAccessPolicy, bool> policy)
    {
        var source = Factory.Services.GetRequiredService<Pangolin.Edge.IEdgeConfigSource>();
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (source.Current.HttpResources.FirstOrDefault(r => r.Host == host) is not { } resource || !policy(resource.Access))
        {
            Assert.True(watch.Elapsed < Patience, $"the edge did not see the change to {host} within {Patience.TotalSeconds} s");
            await Task.Delay(20, Ct);
        }
    }

    /// <summary>Waits for the edge to know the resource (routes follow the API within a moment) and returns its sign-in redirect.</summary>
    private static async Task<string> EventuallyRedirectedAsync(Browser browser, string host, string path)
    {
        var watch = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            using var response = await browser.EdgeResponseAsync(host, path);
            if (response.StatusCode == HttpStatusCode.Found && response.Headers.Location!.OriginalString.Contains("/auth/resource/", StringComparison.Ordinal))
            {
                return response.Headers.Location.OriginalString;
            }
            Assert.True(watch.Elapsed < Patience, $"{host} did not redirect to its sign-in page within {Patience.TotalSeconds} s (last: {(int)response.StatusCode})");
            await Task.Delay(20, Ct);
        }
    }

    [GeneratedRegex(@"\b\d{8}\b")]
    private static partial Regex EightDigits();

    private sealed record SignInPage(string Url, string Html, string FormToken, string Redirect, string FormCookie);

    private sealed record FormResult(HttpStatusCode Status, string Html, string? Location, Dictionary<string, string> Cookies);

    /// <summary>A browser's view of the two hosts: no automatic redirects, cookies kept by hand per host.</summary>
    private sealed partial class Browser(PangolinFactory factory) : IDisposable
    {
        public HttpClient Http { get; } = new(new HttpClientHandler { UseCookies = false, AllowAutoRedirect = false });

        public async Task<SignInPage> GetPageAsync(string url)
        {
            using var response = await GetRawAsync(url);
            var html = await response.Content.ReadAsStringAsync(Ct);
            Assert.True(response.StatusCode == HttpStatusCode.OK, $"{(int)response.StatusCode}: {html}");
            var cookie = SetCookies(response).GetValueOrDefault("p_signin_form") ?? "";
            return new SignInPage(url, html, Hidden(html, "form_token"), WebUtility.HtmlDecode(Hidden(html, "redirect")), cookie);
        }

        public async Task<HttpResponseMessage> GetRawAsync(string url, string? cookie = null)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (cookie is not null)
            {
                request.Headers.Add("Cookie", cookie);
            }
            return await Http.SendAsync(request, Ct);
        }

        public async Task<FormResult> PostFormAsync(SignInPage page, string method, Dictionary<string, string> fields)
        {
            var action = new Uri(new Uri(page.Url), Regex.Match(page.Html, $"action=\"([^\"]*/{method})\"").Groups[1].Value);
            Assert.EndsWith("/" + method, action.AbsolutePath, StringComparison.Ordinal);
            fields["form_token"] = page.FormToken;
            fields["redirect"] = page.Redirect;
            using var request = new HttpRequestMessage(HttpMethod.Post, action) { Content = new FormUrlEncodedContent(fields) };
            request.Headers.Add("Cookie", $"p_signin_form={page.FormCookie}");
            using var response = await Http.SendAsync(request, Ct);
            return new FormResult(response.StatusCode, await response.Content.ReadAsStringAsync(Ct), response.Headers.Location?.OriginalString, SetCookies(response));
        }

        /// <summary>Follows the sign-in's way back on the edge: the token is exchanged for a cookie, and the address comes back clean.</summary>
        public async Task<string> ExchangeAsync(Uri back)
        {
            using var response = await EdgeResponseAsync(back.Host, back.PathAndQuery);
            Assert.Equal(HttpStatusCode.Found, response.StatusCode);
            Assert.DoesNotContain(RequestParam, response.Headers.Location!.OriginalString, StringComparison.Ordinal);
            Assert.StartsWith("/", response.Headers.Location.OriginalString, StringComparison.Ordinal);
            var setCookie = response.Headers.GetValues("Set-Cookie").Single();
            Assert.Contains("httponly", setCookie, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain("domain=", setCookie, StringComparison.OrdinalIgnoreCase);
            return setCookie.Split(';')[0];
        }

        public async Task<HttpResponseMessage> EdgeResponseAsync(string host, string pathAndQuery, string? cookie = null, params (string Name, string Value)[] headers)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, $"http://127.0.0.1:{factory.EdgePort}{pathAndQuery}");
            request.Headers.Host = host;
            if (cookie is not null)
            {
                request.Headers.Add("Cookie", cookie);
            }
            foreach (var (name, value) in headers)
            {
                request.Headers.TryAddWithoutValidation(name, value);
            }
            return await Http.SendAsync(request, Ct);
        }

        public async Task<(HttpStatusCode Status, string Body)> EdgeAsync(string host, string pathAndQuery, string? cookie = null, params (string Name, string Value)[] headers)
        {
            using var response = await EdgeResponseAsync(host, pathAndQuery, cookie, headers);
            return (response.StatusCode, await response.Content.ReadAsStringAsync(Ct));
        }

        public void Dispose() => Http.Dispose();

        private static Dictionary<string, string> SetCookies(HttpResponseMessage response) =>
            (response.Headers.TryGetValues("Set-Cookie", out var values) ? values : [])
                .Select(v => v.Split(';')[0].Split('=', 2))
                .ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "", StringComparer.Ordinal);

        public static string Hidden(string html, string name)
        {
            var match = Regex.Match(html, $"name=\"{name}\" value=\"([^\"]*)\"");
            Assert.True(match.Success, $"no hidden field {name} in: {html}");
            return match.Groups[1].Value;
        }
    }

    /// <summary>A backend that answers with the path and the identity headers it received, one per line.</summary>
    private sealed class HeaderBackend : IAsyncDisposable
    {
        private readonly WebApplication _app;
        private readonly System.Collections.Concurrent.ConcurrentQueue<string> _seen = new();

        private HeaderBackend(WebApplication app) => _app = app;

        public int Port => new Uri(_app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First()).Port;

        public int Requests(Func<string, bool> match) => _seen.Count(match);

        public static async Task<HeaderBackend> StartAsync()
        {
            var builder = WebApplication.CreateSlimBuilder();
            builder.Logging.ClearProviders();
            builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0));
            var app = builder.Build();
            var backend = new HeaderBackend(app);
            app.Run(context =>
            {
                var request = context.Request;
                var lines = new List<string> { $"path={request.Path}{request.QueryString}" };
                foreach (var name in new[] { "Remote-User", "Remote-Email", "Remote-Name", "Remote-Role", "Cookie" })
                {
                    if (request.Headers.TryGetValue(name, out var value))
                    {
                        lines.Add($"{name.ToLowerInvariant()}={value}");
                    }
                }
                var text = string.Join('\n', lines);
                backend._seen.Enqueue(text);
                return context.Response.WriteAsync(text);
            });
            await app.StartAsync();
            return backend;
        }

        public async ValueTask DisposeAsync()
        {
            await _app.StopAsync();
            await _app.DisposeAsync();
        }
    }
}

public sealed class ResourceRedirectTests
{
    private static Resource Resource(string domain, bool ssl = true) =>
        new() { ResourceGuid = "g", OrgId = "o", NiceId = "n", Name = "R", FullDomain = domain, Ssl = ssl };

    [Theory]
    [InlineData("app.example.com", "https://app.example.com/x?y=1#z", true)]
    [InlineData("app.example.com", "http://APP.example.com:8080/", true)]
    [InlineData("app.example.com", "https://evil.example/", false)]
    [InlineData("app.example.com", "//app.example.com/", false)]
    [InlineData("app.example.com", "/relative", false)]
    [InlineData("app.example.com", "https://app.example.com@evil.example/", false)]
    [InlineData("app.example.com", "https://user:pw@app.example.com/", false)]
    [InlineData("app.example.com", "https://app.example.com.evil.example/", false)]
    [InlineData("app.example.com", "javascript://app.example.com/%0aalert(1)", false)]
    [InlineData("app.example.com", "ftp://app.example.com/", false)]
    [InlineData("*.example.com", "https://one.example.com/", true)]
    [InlineData("*.example.com", "https://two.one.example.com/", false)]
    [InlineData("*.example.com", "https://example.com/", false)]
    [InlineData("*.example.com", "https://evilexample.com/", false)]
    public void Only_the_resources_own_host_is_a_redirect_target(string domain, string redirect, bool allowed) =>
        Assert.Equal(allowed, ResourceSignIn.SafeRedirect(Resource(domain), redirect) is not null);

    [Theory]
    [InlineData("https://a.example/x", "https://a.example/x?p=T")]
    [InlineData("https://a.example/x?y=1", "https://a.example/x?y=1&p=T")]
    [InlineData("https://a.example/x?y=1#frag", "https://a.example/x?y=1&p=T#frag")]
    public void The_request_token_is_appended_before_any_fragment(string url, string expected) =>
        Assert.Equal(expected, ResourceSignIn.WithRequestToken(url, "p", "T"));
}

public sealed class SqliteResourceSignInTests(PostgresServer postgres) : ResourceSignInTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresResourceSignInTests(PostgresServer postgres) : ResourceSignInTests(DatabaseKind.Postgres, postgres);

/// <summary>A server without e-mail: asking for a one-time code is refused plainly (503), for every address alike.</summary>
public sealed class ResourceSignInWithoutEmailTests(PostgresServer postgres) : NewtTestBase(DatabaseKind.Sqlite, postgres)
{
    [Fact]
    public async Task A_code_request_says_that_no_e_mail_can_be_sent_whoever_asks()
    {
        var resource = await CreateResourceAsync("Family");
        (await Admin.PostJsonAsync($"resource/{resource}", new { sso = false, emailWhitelistEnabled = true })).Expect(200);
        (await Admin.PostJsonAsync($"resource/{resource}/whitelist", new { emails = new[] { "guest@example.com" } })).Expect(200);
        using var visitor = Factory.DashboardClient();
        foreach (var address in new[] { "guest@example.com", "stranger@example.com" })
        {
            var reply = await visitor.PostJsonAsync($"auth/resource/{resource}/whitelist", new { email = address });
            reply.Expect(503);
            Assert.Contains("E-mail is not configured", reply.Message, StringComparison.Ordinal);
        }
    }
}
