using Microsoft.EntityFrameworkCore;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Auth;

/// <summary>Password reset by e-mailed link and password change.</summary>
public abstract class PasswordTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    private const string Address = "forgetful@example.com";
    private const string NewPassword = "Brand-New-Pass-7";
    private const string SameAnswer = "If an account exists for that email address, a password reset link has been sent";

    private async Task<string> RequestResetTokenAsync(string email = Address)
    {
        var reply = (await CookieClient(null).PostJsonAsync("auth/reset-password/request", new { email })).Expect(200);
        Assert.Equal(SameAnswer, reply.Message);
        var mail = await MailAsync(email, "reset");
        var text = mail.TextBody ?? "";
        var query = LinkQuery(text);
        Assert.Equal(email, query["email"]);
        Assert.Contains("http://localhost:3000/auth/reset-password?", text, StringComparison.Ordinal);
        return query["token"];
    }

    [Fact]
    public async Task A_reset_link_sets_a_new_password_and_ends_every_session()
    {
        var first = await SignUpTokenAsync(Address);
        var second = await LoginAsync(Address);
        var token = await RequestResetTokenAsync();
        var stored = await DbAsync(db => db.PasswordResetTokens.Select(t => t.TokenHash).SingleAsync());
        Assert.DoesNotContain(token, stored, StringComparison.Ordinal);

        var weak = (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = Address, token, newPassword = "weak" })).Expect(400);
        Assert.Contains("an uppercase letter", weak.Message, StringComparison.Ordinal);

        (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = Address, token, newPassword = NewPassword })).Expect(200);

        Assert.Equal(BadCredentials, (await CookieClient(null).PostJsonAsync("auth/login", new { email = Address, password = Password })).Expect(401).Message);
        await LoginAsync(Address, NewPassword);
        (await CookieClient(first).GetJsonAsync("user")).Expect(401);
        (await CookieClient(second).GetJsonAsync("user")).Expect(401);

        // The token is single-use, and the owner is told about the change.
        (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = Address, token, newPassword = "Another-Pass-8" })).Expect(400);
        await MailAsync(Address, "password was changed");
    }

    [Fact]
    public async Task A_reset_token_expires_after_an_hour()
    {
        await SignUpTokenAsync(Address);
        var token = await RequestResetTokenAsync();
        Factory.Clock.Advance(TimeSpan.FromHours(1) + TimeSpan.FromSeconds(1));
        var reply = (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = Address, token, newPassword = NewPassword })).Expect(400);
        Assert.Contains("expired", reply.Message, StringComparison.Ordinal);
        await LoginAsync(Address, Password);
    }

    [Fact]
    public async Task A_token_only_works_for_its_own_account()
    {
        await SignUpTokenAsync(Address);
        await SignUpTokenAsync("victim@example.com");
        var token = await RequestResetTokenAsync();
        (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = "victim@example.com", token, newPassword = NewPassword })).Expect(400);
        await LoginAsync("victim@example.com", Password);
    }

    [Fact]
    public async Task An_unknown_address_gets_the_same_answer_and_no_mail()
    {
        await SignUpTokenAsync(Address);
        var known = (await CookieClient(null).PostJsonAsync("auth/reset-password/request", new { email = Address })).Expect(200);
        var unknown = (await CookieClient(null).PostJsonAsync("auth/reset-password/request", new { email = "nobody@example.com" })).Expect(200);
        Assert.Equal(known.Body.ToString(), unknown.Body.ToString());
        await MailAsync(Address, "reset");
        Assert.DoesNotContain(Smtp.Messages, m => m.To.Mailboxes.Any(b => b.Address == "nobody@example.com"));
        Assert.Equal(1, await DbAsync(db => db.PasswordResetTokens.CountAsync()));
    }

    [Fact]
    public async Task Changing_the_password_checks_the_old_one_and_ends_the_other_sessions()
    {
        var current = await SignUpTokenAsync(Address);
        var other = await LoginAsync(Address);
        var client = CookieClient(current);

        var wrong = (await client.PostJsonAsync("auth/change-password", new { oldPassword = "Wrong-Pass-1", newPassword = NewPassword })).Expect(401);
        Assert.Contains("incorrect", wrong.Message, StringComparison.Ordinal);
        var weak = (await client.PostJsonAsync("auth/change-password", new { oldPassword = Password, newPassword = "alllowercase" })).Expect(400);
        Assert.Contains("an uppercase letter", weak.Message, StringComparison.Ordinal);
        Assert.Contains("a digit", weak.Message, StringComparison.Ordinal);
        // Refused changes leave everything as it was.
        (await CookieClient(other).GetJsonAsync("user")).Expect(200);

        (await CookieClient(null).PostJsonAsync("auth/reset-password/request", new { email = Address })).Expect(200);
        var staleToken = LinkQuery((await MailAsync(Address, "reset")).TextBody)["token"];

        (await client.PostJsonAsync("auth/change-password", new { oldPassword = Password, newPassword = NewPassword })).Expect(200);
        (await client.GetJsonAsync("user")).Expect(200);
        // A reset link sent before the change is spent by it.
        (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = Address, token = staleToken, newPassword = "Yet-Another-Pass-9" })).Expect(400);
        (await CookieClient(other).GetJsonAsync("user")).Expect(401);
        (await CookieClient(null).PostJsonAsync("auth/login", new { email = Address, password = Password })).Expect(401);
        await LoginAsync(Address, NewPassword);
    }

    [Fact]
    public async Task Changing_the_password_needs_a_session()
    {
        var reply = (await CookieClient(null).PostJsonAsync("auth/change-password", new { oldPassword = Password, newPassword = NewPassword })).Expect(401);
        Assert.Contains("not signed in", reply.Message, StringComparison.Ordinal);
    }
}

/// <summary>A server with no SMTP: features that need e-mail say so.</summary>
public abstract class NoEmailPasswordTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    protected override bool WithEmail => false;

    [Fact]
    public async Task A_reset_request_answers_503_and_says_e_mail_is_not_configured()
    {
        await SignUpTokenAsync("someone@example.com");
        foreach (var email in new[] { "someone@example.com", "nobody@example.com" })
        {
            var reply = (await CookieClient(null).PostJsonAsync("auth/reset-password/request", new { email })).Expect(503);
            Assert.Contains("E-mail is not configured", reply.Message, StringComparison.Ordinal);
        }
        Assert.False(await DbAsync(db => db.PasswordResetTokens.AnyAsync()));
    }
}

/// <summary>A server whose SMTP server is down: a reset request must not tell existing accounts apart.</summary>
public abstract class MailServerDownPasswordTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        // A loopback port nothing listens on.
        ["Email:SmtpPort"] = SmtpTestServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    [Fact]
    public async Task A_reset_request_gives_the_same_answer_for_known_and_unknown_addresses()
    {
        await SignUpTokenAsync("someone@example.com");
        var known = await CookieClient(null).PostJsonAsync("auth/reset-password/request", new { email = "someone@example.com" });
        var unknown = await CookieClient(null).PostJsonAsync("auth/reset-password/request", new { email = "nobody@example.com" });
        Assert.Equal(200, unknown.Code);
        Assert.Equal(unknown.Code, known.Code);
        Assert.Equal(unknown.Body.ToString(), known.Body.ToString());
        await WaitForLogAsync("Could not send e-mail 'Reset your Pangolin password'");
    }

    [Fact]
    public async Task Saved_changes_succeed_although_their_notice_cannot_be_sent()
    {
        var client = CookieClient(await SignUpTokenAsync("someone@example.com"));
        var secret = (await client.PostJsonAsync("auth/2fa/request", new { password = Password })).Expect(200).Data.GetProperty("secret").GetString()!;
        var enabled = (await client.PostJsonAsync("auth/2fa/enable", new { code = TotpCode(secret) })).Expect(200).Data;
        Assert.Equal(10, enabled.GetProperty("backupCodes").GetArrayLength());
        NextTotpStep();
        (await client.PostJsonAsync("auth/2fa/disable", new { password = Password, code = TotpCode(secret) })).Expect(200);
        await WaitForLogAsync("Could not send e-mail 'Two-factor authentication disabled'");
    }

    private async Task WaitForLogAsync(string text)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (!Factory.Logs.Any(l => l.Contains(text, StringComparison.Ordinal)))
        {
            Assert.True(DateTime.UtcNow < deadline, $"no log line with: {text}");
            await Task.Delay(50, TestContext.Current.CancellationToken);
        }
    }
}

/// <summary>E-mail verification with the SMTP server down: the account is made and can ask for a new code later.</summary>
public abstract class MailServerDownSignUpTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Email:SmtpPort"] = SmtpTestServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Flags:RequireEmailVerification"] = "true",
    };

    [Fact]
    public async Task Sign_up_succeeds_and_sets_the_session_cookie()
    {
        var reply = (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "someone@example.com", password = Password })).Expect(200);
        Assert.True(reply.Data.GetProperty("emailVerificationRequired").GetBoolean());
        var token = SessionCookie(reply)?.Value.ToString();
        Assert.NotNull(token);
        (await CookieClient(token).GetJsonAsync("user")).Expect(200);
    }
}

public sealed class SqlitePasswordTests(PostgresServer postgres) : PasswordTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresPasswordTests(PostgresServer postgres) : PasswordTests(DatabaseKind.Postgres, postgres);

public sealed class SqliteNoEmailPasswordTests(PostgresServer postgres) : NoEmailPasswordTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresNoEmailPasswordTests(PostgresServer postgres) : NoEmailPasswordTests(DatabaseKind.Postgres, postgres);

public sealed class SqliteMailServerDownSignUpTests(PostgresServer postgres) : MailServerDownSignUpTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresMailServerDownSignUpTests(PostgresServer postgres) : MailServerDownSignUpTests(DatabaseKind.Postgres, postgres);

public sealed class SqliteMailServerDownPasswordTests(PostgresServer postgres) : MailServerDownPasswordTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresMailServerDownPasswordTests(PostgresServer postgres) : MailServerDownPasswordTests(DatabaseKind.Postgres, postgres);
