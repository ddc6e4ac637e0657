using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.EntityFrameworkCore;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Auth;

/// <summary>First run, login and logout, the session cookie, stored sessions, sliding expiry and CSRF.</summary>
public abstract class SignInTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    private const int SessionHours = 24;

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Server:DashboardSessionLengthHours"] = SessionHours.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    [Fact]
    public async Task The_setup_token_makes_exactly_one_server_admin()
    {
        var client = CookieClient(null);
        var token = Factory.SetupToken;
        Assert.NotNull(token);
        Assert.False((await client.GetJsonAsync("auth/initial-setup-complete")).Expect(200).Data.GetProperty("complete").GetBoolean());

        var wrong = (await client.PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = Password, setupToken = token + "x" })).Expect(400);
        Assert.Contains("setup token", wrong.Message, StringComparison.OrdinalIgnoreCase);
        Assert.False((await client.GetJsonAsync("auth/initial-setup-complete")).Expect(200).Data.GetProperty("complete").GetBoolean());

        (await client.PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = Password, setupToken = token })).Expect(200);
        Assert.True((await client.GetJsonAsync("auth/initial-setup-complete")).Expect(200).Data.GetProperty("complete").GetBoolean());

        // The same token again, and a second admin with it: both refused.
        var reused = (await client.PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = Password, setupToken = token })).Expect(400);
        Assert.Contains("already exists", reused.Message, StringComparison.Ordinal);
        (await client.PutJsonAsync("auth/set-server-admin", new { email = "second@example.com", password = Password, setupToken = token })).Expect(400);
        Assert.Equal(1, await DbAsync(db => db.Users.CountAsync(u => u.ServerAdmin)));
        Assert.False(await DbAsync(db => db.Users.AnyAsync(u => u.Email == "second@example.com")));
        Assert.True(await DbAsync(db => db.SetupTokens.AllAsync(t => t.Used)));

        var admin = await LoginAsync(AdminEmail);
        Assert.True((await CookieClient(admin).GetJsonAsync("user")).Expect(200).Data.GetProperty("serverAdmin").GetBoolean());
    }

    [Fact]
    public async Task The_setup_token_must_come_with_a_strong_password()
    {
        var weak = (await CookieClient(null).PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = "password", setupToken = Factory.SetupToken }))
            .Expect(400);
        Assert.Contains("an uppercase letter", weak.Message, StringComparison.Ordinal);
        // A refused attempt does not use the token up.
        await SetUpAdminAsync();
    }

    [Fact]
    public async Task A_wrong_password_and_an_unknown_user_get_the_same_401()
    {
        await SetUpAdminAsync();
        var client = CookieClient(null);
        var wrong = (await client.PostJsonAsync("auth/login", new { email = AdminEmail, password = Password + "x" })).Expect(401);
        var unknown = (await client.PostJsonAsync("auth/login", new { email = "nobody@example.com", password = Password })).Expect(401);
        Assert.Equal(BadCredentials, wrong.Message);
        Assert.Equal(BadCredentials, unknown.Message);
        Assert.Null(SessionCookie(wrong));
        Assert.Null(SessionCookie(unknown));
        Assert.Equal("application/problem+json", wrong.Response.Content.Headers.ContentType?.MediaType);
        // The address is matched case-insensitively.
        await LoginAsync(AdminEmail.ToUpperInvariant());
    }

    [Fact]
    public async Task The_session_cookie_is_HttpOnly_Lax_root_scoped_not_Secure_on_http_and_lasts_the_session_length()
    {
        await SetUpAdminAsync();
        var reply = (await CookieClient(null).PostJsonAsync("auth/login", new { email = AdminEmail, password = Password })).Expect(200);
        Assert.Equal("Logged in successfully", reply.Message);
        var cookie = SessionCookie(reply);
        Assert.NotNull(cookie);
        Assert.True(cookie.HttpOnly);
        Assert.Equal(Microsoft.Net.Http.Headers.SameSiteMode.Lax, cookie.SameSite);
        Assert.Equal("/", cookie.Path.ToString());
        Assert.False(cookie.Secure);
        Assert.Equal(Factory.Clock.GetUtcNow() + TimeSpan.FromHours(SessionHours), cookie.Expires);
        Assert.Equal(40, cookie.Value.Length);
    }

    [Fact]
    public async Task Logout_clears_the_cookie_and_ends_the_session()
    {
        await SetUpAdminAsync();
        var token = await LoginAsync(AdminEmail);
        var client = CookieClient(token);
        (await client.GetJsonAsync("user")).Expect(200);

        var reply = (await client.PostJsonAsync("auth/logout")).Expect(200);
        var cleared = SessionCookie(reply);
        Assert.NotNull(cleared);
        Assert.Equal("", cleared.Value.ToString());
        Assert.True(cleared.Expires < Factory.Clock.GetUtcNow());

        var after = (await CookieClient(token).GetJsonAsync("user")).Expect(401);
        Assert.Contains("not signed in", after.Message, StringComparison.Ordinal);
        Assert.Equal(0, await DbAsync(db => db.Sessions.CountAsync()));
    }

    [Fact]
    public async Task A_signed_in_client_is_told_it_is_already_logged_in_unless_it_forces_a_new_login()
    {
        await SetUpAdminAsync();
        var first = await LoginAsync(AdminEmail);
        var client = CookieClient(first);

        var again = (await client.PostJsonAsync("auth/login", new { email = AdminEmail, password = Password })).Expect(200);
        Assert.Equal("Already logged in", again.Message);
        Assert.Null(SessionCookie(again));
        // The answer does not depend on the password: nothing is checked.
        Assert.Equal("Already logged in", (await client.PostJsonAsync("auth/login", new { email = AdminEmail, password = "wrong" })).Expect(200).Message);

        var forced = (await client.PostJsonAsync("auth/login?forceLogin=true", new { email = AdminEmail, password = Password })).Expect(200);
        Assert.Equal("Logged in successfully", forced.Message);
        var second = SessionCookie(forced)?.Value.ToString();
        Assert.NotNull(second);
        Assert.NotEqual(first, second);
        (await CookieClient(second).GetJsonAsync("user")).Expect(200);
        // The forced login replaces the session it came with.
        (await CookieClient(first).GetJsonAsync("user")).Expect(401);
    }

    [Fact]
    public async Task Sessions_are_stored_as_the_SHA256_of_the_cookie_never_the_cookie_itself()
    {
        await SetUpAdminAsync();
        var token = await LoginAsync(AdminEmail);
        var ids = await DbAsync(db => db.Sessions.Select(s => s.SessionId).ToListAsync());
        var id = Assert.Single(ids);
        var expected = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(token)));
        Assert.Equal(expected, id);
        Assert.DoesNotContain(token, id, StringComparison.Ordinal);

        // Presenting the stored value as a cookie does not sign in.
        (await CookieClient(id).GetJsonAsync("user")).Expect(401);
        (await CookieClient(id[..40]).GetJsonAsync("user")).Expect(401);
    }

    [Fact]
    public async Task A_session_slides_when_used_after_half_its_length_and_expires_when_left_unused()
    {
        await SetUpAdminAsync();
        var start = Factory.Clock.GetUtcNow();
        var token = await LoginAsync(AdminEmail);
        var client = CookieClient(token);

        // Before half the length: no new cookie.
        Factory.Clock.Advance(TimeSpan.FromHours((SessionHours / 2) - 1));
        var early = (await client.GetJsonAsync("user")).Expect(200);
        Assert.Null(SessionCookie(early));

        // After half the length: the same token comes back with a later expiry, and the row moves too.
        Factory.Clock.Advance(TimeSpan.FromHours(2));
        var renewed = (await client.GetJsonAsync("user")).Expect(200);
        var cookie = SessionCookie(renewed);
        Assert.NotNull(cookie);
        Assert.Equal(token, cookie.Value.ToString());
        Assert.Equal(Factory.Clock.GetUtcNow() + TimeSpan.FromHours(SessionHours), cookie.Expires);
        Assert.True(cookie.Expires > start + TimeSpan.FromHours(SessionHours));
        var stored = await DbAsync(db => db.Sessions.Select(s => s.ExpiresAt).SingleAsync());
        Assert.Equal(cookie.Expires!.Value.UtcDateTime, DateTime.SpecifyKind(stored, DateTimeKind.Utc));

        // Past the original expiry it still works, because it slid.
        Factory.Clock.Advance(TimeSpan.FromHours(SessionHours / 2));
        Assert.True(Factory.Clock.GetUtcNow() > start + TimeSpan.FromHours(SessionHours));
        (await client.GetJsonAsync("user")).Expect(200);

        // A full length without use: rejected, the stale cookie is cleared and the row is gone.
        Factory.Clock.Advance(TimeSpan.FromHours(SessionHours) + TimeSpan.FromMinutes(1));
        var expired = (await client.GetJsonAsync("user")).Expect(401);
        Assert.Equal("", SessionCookie(expired)?.Value.ToString());
        Assert.Equal(0, await DbAsync(db => db.Sessions.CountAsync()));
    }

    [Fact]
    public async Task State_changes_on_the_dashboard_API_need_the_CSRF_header_reads_do_not()
    {
        await SetUpAdminAsync();
        var token = await LoginAsync(AdminEmail);
        var noHeader = CookieClient(token, csrf: false);

        (await noHeader.GetJsonAsync("user")).Expect(200);
        (await noHeader.GetJsonAsync("auth/initial-setup-complete")).Expect(200);

        var missing = (await noHeader.PutJsonAsync("org", new { orgId = "acme", name = "Acme" })).Expect(403);
        Assert.Equal("CSRF token missing or invalid", missing.Message);
        var logout = (await noHeader.PostJsonAsync("auth/logout")).Expect(403);
        Assert.Equal("CSRF token missing or invalid", logout.Message);
        // Even an anonymous login needs it, so a cross-site form cannot sign a victim in to the attacker's account.
        (await CookieClient(null, csrf: false).PostJsonAsync("auth/login", new { email = AdminEmail, password = Password })).Expect(403);

        var wrongValue = CookieClient(token, csrf: false);
        wrongValue.DefaultRequestHeaders.Add("X-CSRF-Token", "something-else");
        Assert.Equal("CSRF token missing or invalid", (await wrongValue.PutJsonAsync("org", new { orgId = "acme", name = "Acme" })).Expect(403).Message);
        Assert.Equal("CSRF token missing or invalid", (await wrongValue.DeleteJsonAsync("org/acme")).Expect(403).Message);
        Assert.False(await DbAsync(db => db.Orgs.AnyAsync(o => o.OrgId == "acme")));
        // The session survived the refused logout.
        (await noHeader.GetJsonAsync("user")).Expect(200);

        await CreateOrgAsync(CookieClient(token), "acme");
    }

    [Fact]
    public async Task The_integration_API_needs_no_CSRF_header()
    {
        await SetUpAdminAsync();
        var admin = CookieClient(await LoginAsync(AdminEmail));
        await CreateOrgAsync(admin, "acme");
        var key = (await admin.PutJsonAsync("org/acme/api-key", new { name = "ci", actionIds = new[] { "createSite", "listSites" } })).Expect(201).Data;
        var bearer = $"{key.GetProperty("apiKeyId").GetString()}.{key.GetProperty("apiKey").GetString()}";

        var integration = Factory.IntegrationClient(bearer);
        Assert.False(integration.DefaultRequestHeaders.Contains("X-CSRF-Token"));
        var site = (await integration.PutJsonAsync("org/acme/site", new { name = "Home Lab", type = "local" })).Expect(201);
        Assert.Equal(JsonValueKind.Number, site.Data.GetProperty("siteId").ValueKind);
    }

    [Fact]
    public async Task A_malformed_or_unknown_cookie_is_anonymous_not_an_error()
    {
        await SetUpAdminAsync();
        foreach (var value in new[] { "x", new string('a', 40), new string('a', 400) })
        {
            var reply = (await CookieClient(value).GetJsonAsync("user")).Expect(401);
            Assert.Equal(StatusCodes.Status401Unauthorized, reply.Code);
        }
        // A public endpoint still answers with a stale cookie.
        (await CookieClient(new string('b', 40)).PostJsonAsync("auth/login", new { email = AdminEmail, password = Password })).Expect(200);
    }
}

public sealed class SqliteSignInTests(PostgresServer postgres) : SignInTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresSignInTests(PostgresServer postgres) : SignInTests(DatabaseKind.Postgres, postgres);
