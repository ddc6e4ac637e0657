using Microsoft.EntityFrameworkCore;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Auth;

/// <summary>Guesses at secrets are limited to 15 per 15 minutes (RateLimits:Secrets), on the fake clock.</summary>
public abstract class SecretRateLimitTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    private const int Budget = 15;
    private static readonly TimeSpan Window = TimeSpan.FromMinutes(15);

    private static void AssertLimited(ApiReply reply)
    {
        reply.Expect(429);
        var retryAfter = reply.Response.Headers.RetryAfter?.Delta;
        Assert.NotNull(retryAfter);
        Assert.InRange(retryAfter.Value, TimeSpan.FromSeconds(1), Window);
        Assert.Matches(@"^Too many attempts; try again in \d+ (minutes|seconds)$", reply.Message);
        Assert.Equal("application/problem+json", reply.Response.Content.Headers.ContentType?.MediaType);
    }

    [Fact]
    public async Task Login_allows_15_attempts_per_address_then_429_until_the_window_passes()
    {
        await SignUpTokenAsync("target@example.com");
        await SignUpTokenAsync("bystander@example.com");
        var client = CookieClient(null);
        for (var i = 0; i < Budget; i++)
        {
            (await client.PostJsonAsync("auth/login", new { email = "target@example.com", password = $"Wrong-Pass-{i}" })).Expect(401);
        }
        var limited = await client.PostJsonAsync("auth/login", new { email = "target@example.com", password = Password });
        AssertLimited(limited);
        Assert.Equal(Window, limited.Response.Headers.RetryAfter!.Delta);
        Assert.Equal("Too many attempts; try again in 15 minutes", limited.Message);
        Assert.Null(SessionCookie(limited));
        // Another spelling of the same address shares the budget; another account does not.
        AssertLimited(await client.PostJsonAsync("auth/login", new { email = "TARGET@Example.COM", password = Password }));
        await LoginAsync("bystander@example.com");

        Factory.Clock.Advance(TimeSpan.FromMinutes(5));
        var later = await client.PostJsonAsync("auth/login", new { email = "target@example.com", password = Password });
        AssertLimited(later);
        Assert.Equal(TimeSpan.FromMinutes(10), later.Response.Headers.RetryAfter!.Delta);
        Assert.Equal("Too many attempts; try again in 10 minutes", later.Message);

        Factory.Clock.Advance(TimeSpan.FromMinutes(10));
        await LoginAsync("target@example.com");
    }

    [Fact]
    public async Task Unknown_addresses_are_limited_like_known_ones()
    {
        var client = CookieClient(null);
        for (var i = 0; i < Budget; i++)
        {
            (await client.PostJsonAsync("auth/login", new { email = "ghost@example.com", password = Password })).Expect(401);
        }
        AssertLimited(await client.PostJsonAsync("auth/login", new { email = "ghost@example.com", password = Password }));
    }

    /// <summary>Sends wrong guesses until the first 429 and returns how many were answered before it.</summary>
    private static async Task<int> GuessUntilLimitedAsync(Func<int, Task<ApiReply>> guess, int refusedStatus)
    {
        for (var i = 0; i <= Budget; i++)
        {
            var reply = await guess(i);
            if (reply.Code == 429)
            {
                AssertLimited(reply);
                return i;
            }
            reply.Expect(refusedStatus);
        }
        Assert.Fail($"no 429 after {Budget + 1} guesses");
        return -1;
    }

    private string WrongCode(string secret, int i)
    {
        var wrong = (100000 + i).ToString(System.Globalization.CultureInfo.InvariantCulture);
        return wrong == TotpCode(secret) ? "999999" : wrong;
    }

    [Fact]
    public async Task Two_factor_codes_are_limited_to_15_guesses_per_window()
    {
        var (secret, _) = await EnableTwoFactorAsync(CookieClient(await SignUpTokenAsync("careful@example.com")));
        var client = CookieClient(null);
        // Enabling checked one code, which counts against the same budget.
        var answered = await GuessUntilLimitedAsync(
            i => client.PostJsonAsync("auth/login", new { email = "careful@example.com", password = Password, code = WrongCode(secret, i) }), 401);
        Assert.Equal(Budget - 1, answered);
        AssertLimited(await client.PostJsonAsync("auth/login", new { email = "careful@example.com", password = Password, code = TotpCode(secret) }));

        Factory.Clock.Advance(Window);
        (await client.PostJsonAsync("auth/login", new { email = "careful@example.com", password = Password, code = TotpCode(secret) })).Expect(200);
    }

    [Fact]
    public async Task Two_factor_codes_on_a_signed_in_session_are_limited_too()
    {
        var session = CookieClient(await SignUpTokenAsync("careful@example.com"));
        var (secret, _) = await EnableTwoFactorAsync(session);
        var answered = await GuessUntilLimitedAsync(
            i => session.PostJsonAsync("auth/2fa/disable", new { password = Password, code = WrongCode(secret, i) }), 401);
        Assert.Equal(Budget - 1, answered);
        AssertLimited(await session.PostJsonAsync("auth/2fa/disable", new { password = Password, code = TotpCode(secret) }));
        Factory.Clock.Advance(Window);
        (await session.PostJsonAsync("auth/2fa/disable", new { password = Password, code = TotpCode(secret) })).Expect(200);
    }

    [Fact]
    public async Task Setup_token_guesses_are_limited_per_client()
    {
        var client = CookieClient(null);
        for (var i = 0; i < Budget; i++)
        {
            (await client.PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = Password, setupToken = $"guess-{i}" })).Expect(400);
        }
        AssertLimited(await client.PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = Password, setupToken = Factory.SetupToken }));
        Assert.False(await DbAsync(db => db.Users.AnyAsync()));

        Factory.Clock.Advance(Window);
        (await client.PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = Password, setupToken = Factory.SetupToken })).Expect(200);
    }

    [Fact]
    public async Task Reset_token_guesses_are_limited_per_address()
    {
        await SignUpTokenAsync("forgetful@example.com");
        var client = CookieClient(null);
        (await client.PostJsonAsync("auth/reset-password/request", new { email = "forgetful@example.com" })).Expect(200);
        var token = LinkQuery((await MailAsync("forgetful@example.com", "reset")).TextBody)["token"];
        for (var i = 0; i < Budget; i++)
        {
            (await client.PostJsonAsync("auth/reset-password", new { email = "forgetful@example.com", token = new string('x', 32), newPassword = "Brand-New-Pass-7" })).Expect(400);
        }
        AssertLimited(await client.PostJsonAsync("auth/reset-password", new { email = "forgetful@example.com", token, newPassword = "Brand-New-Pass-7" }));

        Factory.Clock.Advance(Window);
        (await client.PostJsonAsync("auth/reset-password", new { email = "forgetful@example.com", token, newPassword = "Brand-New-Pass-7" })).Expect(200);
    }

    [Fact]
    public async Task Reset_requests_are_limited_so_nobody_can_flood_an_inbox()
    {
        await SignUpTokenAsync("forgetful@example.com");
        var client = CookieClient(null);
        for (var i = 0; i < Budget; i++)
        {
            (await client.PostJsonAsync("auth/reset-password/request", new { email = "forgetful@example.com" })).Expect(200);
        }
        AssertLimited(await client.PostJsonAsync("auth/reset-password/request", new { email = "forgetful@example.com" }));
        Factory.Clock.Advance(Window);
        (await client.PostJsonAsync("auth/reset-password/request", new { email = "forgetful@example.com" })).Expect(200);
    }

    [Fact]
    public async Task Changing_the_password_is_limited_against_guessing_the_old_one()
    {
        var session = CookieClient(await SignUpTokenAsync("user@example.com"));
        for (var i = 0; i < Budget; i++)
        {
            (await session.PostJsonAsync("auth/change-password", new { oldPassword = $"Wrong-Pass-{i}", newPassword = "Brand-New-Pass-7" })).Expect(401);
        }
        AssertLimited(await session.PostJsonAsync("auth/change-password", new { oldPassword = Password, newPassword = "Brand-New-Pass-7" }));
        Factory.Clock.Advance(Window);
        (await session.PostJsonAsync("auth/change-password", new { oldPassword = Password, newPassword = "Brand-New-Pass-7" })).Expect(200);
    }

    [Fact]
    public async Task Invalid_API_keys_from_one_address_are_limited_and_block_even_a_valid_key_for_the_window()
    {
        var admin = await AdminAsync();
        await CreateOrgAsync(admin, "acme");
        var key = (await admin.PutJsonAsync("org/acme/api-key", new { name = "ci", actionIds = new[] { "listSites" } })).Expect(201).Data;
        var id = key.GetProperty("apiKeyId").GetString()!;
        var bearer = $"{id}.{key.GetProperty("apiKey").GetString()}";
        (await Factory.IntegrationClient(bearer).GetJsonAsync("org/acme/sites")).Expect(200);

        for (var i = 0; i < Budget; i++)
        {
            var guess = i % 2 == 0 ? $"{id}.{new string('x', 48)}" : $"unknownkey{i}.secret";
            var refused = (await Factory.IntegrationClient(guess).GetJsonAsync("org/acme/sites")).Expect(401);
            Assert.Equal("Invalid API key", refused.Message);
        }
        var limited = (await Factory.IntegrationClient(bearer).GetJsonAsync("org/acme/sites")).Expect(429);
        Assert.Contains("Too many invalid API keys", limited.Message, StringComparison.Ordinal);
        (await Factory.IntegrationClient($"{id}.{new string('y', 48)}").GetJsonAsync("org/acme/sites")).Expect(429);

        Factory.Clock.Advance(Window);
        (await Factory.IntegrationClient(bearer).GetJsonAsync("org/acme/sites")).Expect(200);
    }
}

/// <summary>The blanket limits per client IP and path, configured small.</summary>
public abstract class RequestRateLimitTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["RateLimits:Auth:MaxRequests"] = "5",
        ["RateLimits:Auth:WindowMinutes"] = "1",
        ["RateLimits:Global:MaxRequests"] = "8",
        ["RateLimits:Global:WindowMinutes"] = "1",
    };

    [Fact]
    public async Task Auth_requests_are_limited_per_path()
    {
        var client = CookieClient(null);
        for (var i = 0; i < 5; i++)
        {
            (await client.GetJsonAsync("auth/initial-setup-complete")).Expect(200);
        }
        var limited = (await client.GetJsonAsync("auth/initial-setup-complete")).Expect(429);
        Assert.NotNull(limited.Response.Headers.RetryAfter?.Delta);
        Assert.Contains("try again in", limited.Message, StringComparison.Ordinal);
        // Another spelling of the same path is the same path.
        (await client.GetJsonAsync("AUTH/Initial-Setup-Complete")).Expect(429);
        (await client.GetJsonAsync("auth/initial-setup-complete/")).Expect(429);

        // Another auth path has its own budget.
        (await client.PostJsonAsync("auth/login", new { email = "nobody@example.com", password = Password })).Expect(401);

        Factory.Clock.Advance(TimeSpan.FromMinutes(1));
        (await client.GetJsonAsync("auth/initial-setup-complete")).Expect(200);
    }

    [Fact]
    public async Task Login_attempts_across_many_addresses_hit_the_auth_limit()
    {
        var client = CookieClient(null);
        for (var i = 0; i < 5; i++)
        {
            (await client.PostJsonAsync("auth/login", new { email = $"user{i}@example.com", password = Password })).Expect(401);
        }
        (await client.PostJsonAsync("auth/login", new { email = "user99@example.com", password = Password })).Expect(429);
    }

    [Fact]
    public async Task Other_API_requests_have_the_global_limit()
    {
        await SetUpAdminAsync();
        var admin = CookieClient(await LoginAsync(AdminEmail));
        for (var i = 0; i < 8; i++)
        {
            (await admin.GetJsonAsync("user")).Expect(200);
        }
        var limited = (await admin.GetJsonAsync("user")).Expect(429);
        Assert.NotNull(limited.Response.Headers.RetryAfter?.Delta);
        (await admin.GetJsonAsync("orgs")).Expect(200);
        // Unauthenticated and integration requests count as well.
        for (var i = 0; i < 8; i++)
        {
            (await Factory.IntegrationClient(null).GetJsonAsync("orgs")).Expect(401);
        }
        (await Factory.IntegrationClient(null).GetJsonAsync("orgs")).Expect(429);

        Factory.Clock.Advance(TimeSpan.FromMinutes(1));
        (await admin.GetJsonAsync("user")).Expect(200);
    }
}

public sealed class SqliteSecretRateLimitTests(PostgresServer postgres) : SecretRateLimitTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresSecretRateLimitTests(PostgresServer postgres) : SecretRateLimitTests(DatabaseKind.Postgres, postgres);

public sealed class SqliteRequestRateLimitTests(PostgresServer postgres) : RequestRateLimitTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresRequestRateLimitTests(PostgresServer postgres) : RequestRateLimitTests(DatabaseKind.Postgres, postgres);
