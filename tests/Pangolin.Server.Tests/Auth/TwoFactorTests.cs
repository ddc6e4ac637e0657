using Microsoft.EntityFrameworkCore;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Auth;

/// <summary>TOTP two-factor authentication with codes computed by Otp.NET on the server's fake clock.</summary>
public abstract class TwoFactorTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    private const string Address = "careful@example.com";

    private Task<ApiReply> LoginReplyAsync(string? code, string password = Password) =>
        CookieClient(null).PostJsonAsync("auth/login", new { email = Address, password, code });

    [Fact]
    public async Task Requesting_a_secret_returns_base32_and_an_otpauth_uri_and_stores_it_encrypted()
    {
        var client = CookieClient(await SignUpTokenAsync(Address));
        var wrongPassword = (await client.PostJsonAsync("auth/2fa/request", new { password = "Wrong-Pass-1" })).Expect(401);
        Assert.Equal("Password is incorrect", wrongPassword.Message);

        var data = (await client.PostJsonAsync("auth/2fa/request", new { password = Password })).Expect(200).Data;
        var secret = data.GetProperty("secret").GetString()!;
        Assert.Matches("^[A-Z2-7]{32}$", secret);
        var uri = new Uri(data.GetProperty("uri").GetString()!);
        Assert.Equal("otpauth", uri.Scheme);
        Assert.Equal("totp", uri.Host);
        var query = Microsoft.AspNetCore.WebUtilities.QueryHelpers.ParseQuery(uri.Query);
        Assert.Equal(secret, query["secret"].ToString());
        Assert.Equal("Pangolin", query["issuer"].ToString());
        Assert.Contains(Uri.EscapeDataString(Address), uri.AbsoluteUri, StringComparison.Ordinal);

        var stored = await DbAsync(db => db.Users.Where(u => u.Email == Address).Select(u => u.TwoFactorSecret).SingleAsync());
        Assert.NotNull(stored);
        Assert.StartsWith("v1:", stored, StringComparison.Ordinal);
        Assert.DoesNotContain(secret, stored, StringComparison.Ordinal);
        Assert.DoesNotContain(secret.ToLowerInvariant(), stored, StringComparison.Ordinal);
        // Not enabled until a code proves the app has it.
        Assert.False((await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("twoFactorEnabled").GetBoolean());
        (await LoginReplyAsync(null)).Expect(200);
    }

    [Fact]
    public async Task Enabling_needs_a_valid_code_and_returns_10_backup_codes_stored_hashed()
    {
        var client = CookieClient(await SignUpTokenAsync(Address));
        var secret = (await client.PostJsonAsync("auth/2fa/request", new { password = Password })).Expect(200).Data.GetProperty("secret").GetString()!;
        var wrong = TotpCode(secret) == "000000" ? "111111" : "000000";
        (await client.PostJsonAsync("auth/2fa/enable", new { code = wrong })).Expect(400);

        var enabled = (await client.PostJsonAsync("auth/2fa/enable", new { code = TotpCode(secret) })).Expect(200).Data;
        Assert.True(enabled.GetProperty("valid").GetBoolean());
        var codes = enabled.GetProperty("backupCodes").EnumerateArray().Select(c => c.GetString()!).ToList();
        Assert.Equal(10, codes.Count);
        Assert.Equal(10, codes.Distinct().Count());
        Assert.All(codes, c => Assert.Matches("^[a-z0-9]{10}$", c));
        Assert.True((await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("twoFactorEnabled").GetBoolean());

        var hashes = await DbAsync(db => db.TwoFactorBackupCodes.Select(c => c.CodeHash).ToListAsync());
        Assert.Equal(10, hashes.Count);
        Assert.All(hashes, h => Assert.StartsWith("$argon2id$", h, StringComparison.Ordinal));
        Assert.DoesNotContain(hashes, h => codes.Any(c => h.Contains(c, StringComparison.Ordinal)));

        // Requesting a new secret while enabled is refused (it would lock the owner out).
        (await client.PostJsonAsync("auth/2fa/request", new { password = Password })).Expect(400);
        await MailAsync(Address, "Two-factor authentication enabled");
    }

    [Fact]
    public async Task Login_asks_for_the_code_refuses_a_wrong_or_replayed_one_and_accepts_the_next()
    {
        var (secret, _) = await EnableTwoFactorAsync(CookieClient(await SignUpTokenAsync(Address)));

        var asked = (await LoginReplyAsync(null)).Expect(202);
        Assert.True(asked.Data.GetProperty("codeRequested").GetBoolean());
        Assert.Null(SessionCookie(asked));
        // A wrong password still says only that the credentials are wrong.
        Assert.Equal(BadCredentials, (await LoginReplyAsync(null, "Wrong-Pass-1")).Expect(401).Message);

        var code = TotpCode(secret);
        var wrong = (await LoginReplyAsync(code == "000000" ? "111111" : "000000")).Expect(401);
        Assert.Equal("The two-factor code you entered is incorrect", wrong.Message);
        Assert.Null(SessionCookie(wrong));

        var ok = (await LoginReplyAsync(code)).Expect(200);
        Assert.NotNull(SessionCookie(ok));
        var session = SessionCookie(ok)!.Value.ToString();
        (await CookieClient(session).GetJsonAsync("user")).Expect(200);

        // The same code, even within its 30 seconds, is refused.
        (await LoginReplyAsync(code)).Expect(401);
        NextTotpStep();
        (await LoginReplyAsync(TotpCode(secret))).Expect(200);
        // A code from before the last used one is refused too.
        (await LoginReplyAsync(code)).Expect(401);
    }

    [Fact]
    public async Task Concurrent_logins_with_the_same_code_let_only_one_through()
    {
        var (secret, _) = await EnableTwoFactorAsync(CookieClient(await SignUpTokenAsync(Address)));
        var code = TotpCode(secret);
        var replies = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => LoginReplyAsync(code)));
        Assert.Equal(1, replies.Count(r => r.Code == 200));
        Assert.All(replies.Where(r => r.Code != 200), r => r.Expect(401));
    }

    [Fact]
    public async Task A_code_of_the_adjacent_step_is_accepted_for_clock_drift_but_not_two_steps_away()
    {
        var (secret, _) = await EnableTwoFactorAsync(CookieClient(await SignUpTokenAsync(Address)));
        var now = Factory.Clock.GetUtcNow().UtcDateTime;
        var twoAhead = new OtpNet.Totp(OtpNet.Base32Encoding.ToBytes(secret)).ComputeTotp(now.AddSeconds(60));
        if (twoAhead != TotpCode(secret) && twoAhead != new OtpNet.Totp(OtpNet.Base32Encoding.ToBytes(secret)).ComputeTotp(now.AddSeconds(30)))
        {
            (await LoginReplyAsync(twoAhead)).Expect(401);
        }
        var oneAhead = new OtpNet.Totp(OtpNet.Base32Encoding.ToBytes(secret)).ComputeTotp(now.AddSeconds(30));
        (await LoginReplyAsync(oneAhead)).Expect(200);
    }

    [Fact]
    public async Task A_backup_code_works_exactly_once()
    {
        var (_, backup) = await EnableTwoFactorAsync(CookieClient(await SignUpTokenAsync(Address)));
        (await LoginReplyAsync(backup[3].ToUpperInvariant())).Expect(200);
        var again = (await LoginReplyAsync(backup[3])).Expect(401);
        Assert.Equal("The two-factor code you entered is incorrect", again.Message);
        Assert.Equal(9, await DbAsync(db => db.TwoFactorBackupCodes.CountAsync()));
        (await LoginReplyAsync(backup[4])).Expect(200);
    }

    [Fact]
    public async Task Disabling_needs_the_password_and_a_code()
    {
        var client = CookieClient(await SignUpTokenAsync(Address));
        var (secret, _) = await EnableTwoFactorAsync(client);

        (await client.PostJsonAsync("auth/2fa/disable", new { password = "Wrong-Pass-1", code = TotpCode(secret) })).Expect(401);
        var asked = (await client.PostJsonAsync("auth/2fa/disable", new { password = Password })).Expect(202);
        Assert.True(asked.Data.GetProperty("codeRequested").GetBoolean());
        var code = TotpCode(secret);
        (await client.PostJsonAsync("auth/2fa/disable", new { password = Password, code = code == "000000" ? "111111" : "000000" })).Expect(401);
        Assert.True((await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("twoFactorEnabled").GetBoolean());

        (await client.PostJsonAsync("auth/2fa/disable", new { password = Password, code })).Expect(200);
        Assert.False((await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("twoFactorEnabled").GetBoolean());
        Assert.Equal(0, await DbAsync(db => db.TwoFactorBackupCodes.CountAsync()));
        Assert.Null(await DbAsync(db => db.Users.Where(u => u.Email == Address).Select(u => u.TwoFactorSecret).SingleAsync()));
        (await LoginReplyAsync(null)).Expect(200);
        // Anonymous callers cannot reach it at all.
        (await CookieClient(null).PostJsonAsync("auth/2fa/disable", new { password = Password, code })).Expect(401);
    }

    [Fact]
    public async Task Changing_the_password_with_two_factor_needs_a_code()
    {
        var client = CookieClient(await SignUpTokenAsync(Address));
        var (secret, _) = await EnableTwoFactorAsync(client);
        const string next = "Brand-New-Pass-7";
        (await client.PostJsonAsync("auth/change-password", new { oldPassword = Password, newPassword = next })).Expect(202);
        await LoginAsync(Address, Password, TotpCode(secret));
        NextTotpStep();
        (await client.PostJsonAsync("auth/change-password", new { oldPassword = Password, newPassword = next, code = TotpCode(secret) })).Expect(200);
        NextTotpStep();
        await LoginAsync(Address, next, TotpCode(secret));
    }

    [Fact]
    public async Task A_password_reset_with_two_factor_needs_a_code()
    {
        var client = CookieClient(await SignUpTokenAsync(Address));
        var (secret, _) = await EnableTwoFactorAsync(client);
        (await CookieClient(null).PostJsonAsync("auth/reset-password/request", new { email = Address })).Expect(200);
        var token = LinkQuery((await MailAsync(Address, "reset")).TextBody)["token"];
        const string next = "Brand-New-Pass-7";

        var asked = (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = Address, token, newPassword = next })).Expect(202);
        Assert.True(asked.Data.GetProperty("codeRequested").GetBoolean());
        // A mistyped code costs an attempt, not the reset link.
        (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = Address, token, newPassword = next, code = "000000" == TotpCode(secret) ? "111111" : "000000" })).Expect(401);
        (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = Address, token, newPassword = next, code = TotpCode(secret) })).Expect(200);
        (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = Address, token, newPassword = "Yet-Another-Pass-9" })).Expect(400);
        (await client.GetJsonAsync("user")).Expect(401);
        NextTotpStep();
        await LoginAsync(Address, next, TotpCode(secret));
    }

    [Fact]
    public async Task A_server_admin_turns_off_someones_lost_two_factor_which_ends_their_sessions_but_not_their_own()
    {
        await SetUpAdminAsync();
        var admin = CookieClient(await LoginAsync(AdminEmail));
        var client = CookieClient(await SignUpTokenAsync(Address));
        var (secret, _) = await EnableTwoFactorAsync(client);
        var userId = (await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("userId").GetString()!;

        Assert.Contains("can only be turned off here", (await admin.PostJsonAsync($"user/{userId}/2fa", new { twoFactorEnabled = true })).Expect(400).Message, StringComparison.Ordinal);
        (await admin.PostJsonAsync($"user/{userId}/2fa", new { twoFactorEnabled = false })).Expect(200);

        // Off, with its secret and backup codes gone, the user signed out everywhere and told by e-mail.
        var row = await DbAsync(db => db.Users.Where(u => u.UserId == userId).Select(u => new { u.TwoFactorEnabled, u.TwoFactorSecret }).SingleAsync());
        Assert.False(row.TwoFactorEnabled);
        Assert.Null(row.TwoFactorSecret);
        Assert.Equal(0, await DbAsync(db => db.TwoFactorBackupCodes.CountAsync(c => c.UserId == userId)));
        (await client.GetJsonAsync("user")).Expect(401);
        Assert.Contains("administrator turned off", (await MailAsync(Address, "turned off")).TextBody, StringComparison.Ordinal);
        (await LoginReplyAsync(null)).Expect(200);

        // An admin's own second factor: only through the profile, with a code.
        var (adminSecret, _) = await EnableTwoFactorAsync(admin);
        var adminId = (await admin.GetJsonAsync("user")).Expect(200).Data.GetProperty("userId").GetString()!;
        Assert.Contains("on your profile", (await admin.PostJsonAsync($"user/{adminId}/2fa", new { twoFactorEnabled = false })).Expect(403).Message, StringComparison.Ordinal);
        Assert.True(await DbAsync(db => db.Users.Where(u => u.UserId == adminId).Select(u => u.TwoFactorEnabled).SingleAsync()));
        Assert.NotNull(adminSecret);
    }
}

public sealed class SqliteTwoFactorTests(PostgresServer postgres) : TwoFactorTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresTwoFactorTests(PostgresServer postgres) : TwoFactorTests(DatabaseKind.Postgres, postgres);
