using System.Text.RegularExpressions;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Auth;

/// <summary>After whole sign-in flows at Debug level, no secret that passed through the server appears in its log.</summary>
public abstract partial class SecretLoggingTests(DatabaseKind kind, PostgresServer postgres) : AuthTestBase(kind, postgres)
{
    protected override IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>
    {
        ["Flags:RequireEmailVerification"] = "true",
    };

    [Fact]
    public async Task No_password_code_token_or_key_secret_is_ever_logged()
    {
        var secrets = new List<(string What, string Value)>();
        const string adminPassword = "Admin-Secret-Pass-1";
        const string userPassword = "User-Secret-Pass-2";
        const string resetPassword = "Reset-Secret-Pass-3";
        const string wrongPassword = "Wrong-Secret-Pass-4";
        secrets.Add(("admin password", adminPassword));
        secrets.Add(("user password", userPassword));
        secrets.Add(("new password", resetPassword));
        secrets.Add(("wrong password", wrongPassword));

        // First run.
        var setupToken = Factory.SetupToken!;
        secrets.Add(("setup token", setupToken));
        (await CookieClient(null).PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = "Guess-" + setupToken[..8] + "!", setupToken = Mangle(setupToken) })).Expect(400);
        (await CookieClient(null).PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = adminPassword, setupToken })).Expect(200);
        var adminSession = await LoginAsync(AdminEmail, adminPassword);
        secrets.Add(("admin session", adminSession));
        var admin = CookieClient(adminSession);
        await CreateOrgAsync(admin, "acme");

        // An API key, used and guessed at.
        var key = (await admin.PutJsonAsync("org/acme/api-key", new { name = "ci", actionIds = new[] { "listSites" } })).Expect(201).Data;
        var keyId = key.GetProperty("apiKeyId").GetString()!;
        var keySecret = key.GetProperty("apiKey").GetString()!;
        secrets.Add(("API key secret", keySecret));
        (await Factory.IntegrationClient($"{keyId}.{keySecret}").GetJsonAsync("org/acme/sites")).Expect(200);
        (await Factory.IntegrationClient($"{keyId}.{Mangle(keySecret)}").GetJsonAsync("org/acme/sites")).Expect(401);

        // An invitation and sign-up with it, and an open sign-up with e-mail verification.
        var member = await RoleIdAsync(admin, "acme", "Member");
        var invite = (await admin.PostJsonAsync("org/acme/create-invite", new { email = "invited@example.com", validHours = 24, roleIds = new[] { member } })).Expect(200).Data;
        var inviteToken = LinkQuery(invite.GetProperty("inviteLink").GetString()!)["token"];
        secrets.Add(("invitation token", inviteToken.Split('-', 2)[1]));
        var invited = (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "invited@example.com", password = userPassword, inviteToken })).Expect(200);
        secrets.Add(("invited session", SessionCookie(invited)!.Value.ToString()));

        var signup = (await CookieClient(null).PutJsonAsync("auth/signup", new { email = "user@example.com", password = userPassword })).Expect(200);
        var userSession = SessionCookie(signup)!.Value.ToString();
        secrets.Add(("user session", userSession));
        var user = CookieClient(userSession);
        var verificationCode = EightDigits().Match((await MailAsync("user@example.com", "verification")).TextBody ?? "").Value;
        secrets.Add(("e-mail verification code", verificationCode));
        (await user.PostJsonAsync("auth/verify-email", new { code = verificationCode })).Expect(200);

        // Wrong logins, then two-factor: enable, wrong code, right code, backup code.
        (await CookieClient(null).PostJsonAsync("auth/login", new { email = "user@example.com", password = wrongPassword })).Expect(401);
        (await CookieClient(null).PostJsonAsync("auth/login", new { email = "nobody@example.com", password = wrongPassword })).Expect(401);
        var (totpSecret, backupCodes) = await EnableTwoFactorAsync(user, userPassword);
        secrets.Add(("TOTP secret", totpSecret));
        secrets.AddRange(backupCodes.Select(c => ("backup code", c)));
        (await CookieClient(null).PostJsonAsync("auth/login", new { email = "user@example.com", password = userPassword, code = TotpCode(totpSecret) == "000000" ? "111111" : "000000" })).Expect(401);
        secrets.Add(("2FA session", await LoginAsync("user@example.com", userPassword, TotpCode(totpSecret))));
        secrets.Add(("backup session", await LoginAsync("user@example.com", userPassword, backupCodes[0])));
        (await CookieClient(null).PostJsonAsync("auth/login", new { email = "user@example.com", password = userPassword, code = backupCodes[0] })).Expect(401);

        // Password reset with the e-mailed token (and two-factor), then a password change.
        (await CookieClient(null).PostJsonAsync("auth/reset-password/request", new { email = "user@example.com" })).Expect(200);
        var resetToken = LinkQuery((await MailAsync("user@example.com", "reset")).TextBody)["token"];
        secrets.Add(("reset token", resetToken));
        (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = "user@example.com", token = Mangle(resetToken), newPassword = resetPassword })).Expect(400);
        NextTotpStep();
        (await CookieClient(null).PostJsonAsync("auth/reset-password", new { email = "user@example.com", token = resetToken, newPassword = resetPassword, code = TotpCode(totpSecret) })).Expect(200);
        NextTotpStep();
        var afterReset = await LoginAsync("user@example.com", resetPassword, TotpCode(totpSecret));
        secrets.Add(("session after reset", afterReset));
        NextTotpStep();
        (await CookieClient(afterReset).PostJsonAsync("auth/change-password", new { oldPassword = resetPassword, newPassword = adminPassword + "x", code = TotpCode(totpSecret) })).Expect(200);
        secrets.Add(("changed password", adminPassword + "x"));

        // A newt site: its secret to get-token (right and wrong), and the token on the WebSocket's URL, where newts
        // carry it (the framework's request log prints URLs with their query).
        var site = (await admin.PutJsonAsync("org/acme/site", new { name = "Lab", type = "newt" })).Expect(201).Data;
        var newtId = site.GetProperty("newtId").GetString()!;
        var newtSecret = site.GetProperty("secret").GetString()!;
        secrets.Add(("newt secret", newtSecret));
        (await CookieClient(null).PostJsonAsync("auth/newt/get-token", new { newtId, secret = Mangle(newtSecret) })).Expect(401);
        var newtToken = (await CookieClient(null).PostJsonAsync("auth/newt/get-token", new { newtId, secret = newtSecret })).Expect(200)
            .Data.GetProperty("token").GetString()!;
        secrets.Add(("newt token", newtToken));
        await CookieClient(null).GetAsync(new Uri($"ws?token={newtToken}&clientType=newt", UriKind.Relative), TestContext.Current.CancellationToken);
        await CookieClient(null).GetAsync(new Uri($"ws?token={Mangle(newtToken)}&clientType=newt", UriKind.Relative), TestContext.Current.CancellationToken);

        // Malformed requests that make the framework log its own complaints.
        await CookieClient(null).SendRawAsync(HttpMethod.Post, "auth/login", "{\"email\":\"user@example.com\",\"password\":\"" + userPassword + "\",");
        await CookieClient(null).SendRawAsync(HttpMethod.Post, "auth/login", "{\"email\":\"user@example.com\",\"password\":\"" + userPassword + "\",\"extra\":1}");
        await CookieClient(null).SendRawAsync(HttpMethod.Post, "auth/login", "{\"email\":\"user@example.com\",\"password\":[\"" + userPassword + "\"]}");

        var logs = Factory.Logs.ToArray();
        Assert.True(logs.Length > 50, $"expected a verbose log, got {logs.Length} lines");
        Assert.Contains(logs, l => l.Contains("Sent e-mail", StringComparison.Ordinal));
        // The request log that replaces the framework's: path without the query.
        Assert.Contains(logs, l => l.Contains("GET /api/v1/ws answered", StringComparison.Ordinal));
        foreach (var (what, value) in secrets)
        {
            Assert.True(value.Length >= 8, $"{what} is too short to search for");
            var hit = logs.FirstOrDefault(l => l.Contains(value, StringComparison.Ordinal));
            Assert.True(hit is null, $"the {what} appears in the log: {hit}");
        }
    }

    private static string Mangle(string secret) => secret[..^1] + (secret[^1] == '0' ? '1' : '0');

    [GeneratedRegex(@"\b\d{8}\b")]
    private static partial Regex EightDigits();
}

public sealed class SqliteSecretLoggingTests(PostgresServer postgres) : SecretLoggingTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresSecretLoggingTests(PostgresServer postgres) : SecretLoggingTests(DatabaseKind.Postgres, postgres);
