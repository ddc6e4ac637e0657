using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Auth;

/// <summary>
/// One wrong password tried against many accounts stays under every per-account limit, so failed sign-ins are also
/// counted per client IP (RateLimits:LoginFailuresPerIp); successful sign-ins do not count.
/// </summary>
public abstract class PasswordSprayTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["RateLimits:LoginFailuresPerIp:MaxRequests"] = "5",
        ["RateLimits:LoginFailuresPerIp:WindowMinutes"] = "15",
    };

    [Fact]
    public async Task Failed_sign_ins_across_accounts_are_limited_per_ip_but_successes_are_not()
    {
        await SignUpTokenAsync("real@example.com");
        var client = CookieClient(null);
        for (var i = 0; i < 3; i++)
        {
            await LoginAsync("real@example.com");
        }
        for (var i = 0; i < 5; i++)
        {
            (await client.PostJsonAsync("auth/login", new { email = $"victim{i}@example.com", password = "Summer-2026!" })).Expect(401);
        }
        var limited = (await client.PostJsonAsync("auth/login", new { email = "victim9@example.com", password = "Summer-2026!" })).Expect(429);
        Assert.NotNull(limited.Response.Headers.RetryAfter?.Delta);
        // The right password does not get through either while the address is blocked.
        (await client.PostJsonAsync("auth/login", new { email = "real@example.com", password = Password })).Expect(429);

        Factory.Clock.Advance(TimeSpan.FromMinutes(15));
        await LoginAsync("real@example.com");
    }
}

public sealed class SqlitePasswordSprayTests(PostgresServer postgres) : PasswordSprayTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresPasswordSprayTests(PostgresServer postgres) : PasswordSprayTests(DatabaseKind.Postgres, postgres);
