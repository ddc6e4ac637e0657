using System.Text.Json;
using System.Text.RegularExpressions;
using Microsoft.EntityFrameworkCore;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Auth;

/// <summary>Flags:RequireEmailVerification: an 8-digit code by real SMTP, checked by the server.</summary>
public abstract partial class EmailVerificationTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    private const string Address = "verify@example.com";

    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Flags:RequireEmailVerification"] = "true",
    };

    private async Task<(HttpClient Client, string Code)> SignUpAndReadCodeAsync()
    {
        var reply = (await CookieClient(null).PutJsonAsync("auth/signup", new { email = Address, password = Password })).Expect(200);
        Assert.True(reply.Data.GetProperty("emailVerificationRequired").GetBoolean());
        var client = CookieClient(SessionCookie(reply)!.Value.ToString());
        var mail = await MailAsync(Address, "verification");
        Assert.Equal("pangolin@example.test", mail.From.Mailboxes.Single().Address);
        var match = EightDigits().Match(mail.TextBody ?? "");
        Assert.True(match.Success, mail.TextBody);
        return (client, match.Value);
    }

    [Fact]
    public async Task Sign_up_sends_an_8_digit_code_and_the_right_code_verifies_the_address()
    {
        var (client, code) = await SignUpAndReadCodeAsync();
        Assert.False((await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("emailVerified").GetBoolean());
        var before = (await CookieClient(null).PostJsonAsync("auth/login", new { email = Address, password = Password })).Expect(200);
        Assert.True(before.Data.GetProperty("emailVerificationRequired").GetBoolean());

        var wrong = code == "00000000" ? "11111111" : "00000000";
        var refused = (await client.PostJsonAsync("auth/verify-email", new { code = wrong })).Expect(400);
        Assert.Equal("Invalid or expired verification code", refused.Message);
        Assert.False((await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("emailVerified").GetBoolean());

        (await client.PostJsonAsync("auth/verify-email", new { code })).Expect(200).Data.GetProperty("valid").GetBoolean();
        Assert.True((await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("emailVerified").GetBoolean());

        var after = (await CookieClient(null).PostJsonAsync("auth/login", new { email = Address, password = Password })).Expect(200);
        Assert.True(after.Data.ValueKind == JsonValueKind.Null
            || !after.Data.TryGetProperty("emailVerificationRequired", out var flag) || flag.ValueKind != JsonValueKind.True, after.ToString());
        Assert.Equal("Logged in successfully", after.Message);
    }

    [Fact]
    public async Task The_code_is_stored_hashed_and_expires_after_15_minutes()
    {
        var (client, code) = await SignUpAndReadCodeAsync();
        var stored = await DbAsync(db => db.EmailVerificationCodes.Select(c => c.CodeHash).SingleAsync());
        Assert.StartsWith("$argon2id$", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(code, stored, StringComparison.Ordinal);

        Factory.Clock.Advance(TimeSpan.FromMinutes(15) + TimeSpan.FromSeconds(1));
        (await client.PostJsonAsync("auth/verify-email", new { code })).Expect(400);

        // A new code replaces the old one and works.
        (await client.PostJsonAsync("auth/verify-email/request")).Expect(200);
        var mail = await Smtp.WaitForMessageAsync(Address, m => EightDigits().Match(m.TextBody ?? "").Value != code);
        var fresh = EightDigits().Match(mail.TextBody ?? "").Value;
        (await client.PostJsonAsync("auth/verify-email", new { code = fresh })).Expect(200);
        Assert.True((await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("emailVerified").GetBoolean());
    }

    [Fact]
    public async Task Wrong_codes_are_rate_limited_per_user()
    {
        var (client, code) = await SignUpAndReadCodeAsync();
        var wrong = code == "00000000" ? "11111111" : "00000000";
        for (var i = 0; i < 15; i++)
        {
            (await client.PostJsonAsync("auth/verify-email", new { code = wrong })).Expect(400);
        }
        var limited = (await client.PostJsonAsync("auth/verify-email", new { code })).Expect(429);
        Assert.NotNull(limited.Response.Headers.RetryAfter);
        Assert.Contains("try again in", limited.Message, StringComparison.Ordinal);

        // The window has passed (and with it the code's lifetime): a new code works.
        Factory.Clock.Advance(TimeSpan.FromMinutes(15));
        (await client.PostJsonAsync("auth/verify-email/request")).Expect(200);
        var mail = await Smtp.WaitForMessageAsync(Address, m => EightDigits().Match(m.TextBody ?? "").Value != code);
        (await client.PostJsonAsync("auth/verify-email", new { code = EightDigits().Match(mail.TextBody ?? "").Value })).Expect(200);
    }

    [GeneratedRegex(@"\b\d{8}\b")]
    private static partial Regex EightDigits();
}

public sealed class SqliteEmailVerificationTests(PostgresServer postgres) : EmailVerificationTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresEmailVerificationTests(PostgresServer postgres) : EmailVerificationTests(DatabaseKind.Postgres, postgres);
