using System.Text.RegularExpressions;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.WebUtilities;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Net.Http.Headers;
using MimeKit;
using OtpNet;
using Pangolin.Data;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Auth;

/// <summary>
/// A server with a real SMTP server behind it, plus what the sign-in tests share: clients that carry a given session
/// cookie by hand (so expiry is judged by the server's fake clock, not the cookie jar), cookie parsing, database
/// access and TOTP codes on the server's clock.
/// </summary>
public abstract partial class AuthTestBase(DatabaseKind kind, PostgresServer postgres) : ServerTestBase(kind, postgres)
{
    public const string CookieName = "p_session_token";
    public const string BadCredentials = "Username or password is incorrect";

    protected SmtpTestServer Smtp { get; } = new();

    /// <summary>Settings of one test class on top of the SMTP ones.</summary>
    protected virtual IDictionary<string, string?> ExtraSettings => new Dictionary<string, string?>();

    /// <summary>Whether the server gets the SMTP settings (a class can test a server without e-mail).</summary>
    protected virtual bool WithEmail => true;

    protected override IDictionary<string, string?> Settings
    {
        get
        {
            var settings = new Dictionary<string, string?>();
            if (WithEmail)
            {
                settings["Email:SmtpHost"] = "127.0.0.1";
                settings["Email:SmtpPort"] = Smtp.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
                settings["Email:SmtpSecurity"] = "none";
                settings["Email:NoReply"] = "pangolin@example.test";
            }
            foreach (var (key, value) in ExtraSettings)
            {
                settings[key] = value;
            }
            return settings;
        }
    }

    public override async ValueTask DisposeAsync()
    {
        await base.DisposeAsync();
        await Smtp.DisposeAsync();
        GC.SuppressFinalize(this);
    }

    /// <summary>A dashboard client without a cookie jar: it sends exactly the session cookie given (or none).</summary>
    protected HttpClient CookieClient(string? sessionToken, bool csrf = true)
    {
        var client = Factory.CreateClient(new WebApplicationFactoryClientOptions
        {
            BaseAddress = new Uri(PangolinFactory.DashboardBase),
            HandleCookies = false,
            AllowAutoRedirect = false,
        });
        if (csrf)
        {
            client.DefaultRequestHeaders.Add("X-CSRF-Token", "x-csrf-protection");
        }
        if (sessionToken is not null)
        {
            client.DefaultRequestHeaders.Add("Cookie", $"{CookieName}={sessionToken}");
        }
        return client;
    }

    /// <summary>The session cookie a response sets, or null when it sets none.</summary>
    protected static SetCookieHeaderValue? SessionCookie(ApiReply reply)
    {
        if (!reply.Response.Headers.TryGetValues("Set-Cookie", out var values))
        {
            return null;
        }
        return SetCookieHeaderValue.ParseList(values.ToList()).LastOrDefault(c => c.Name == CookieName);
    }

    /// <summary>Logs in with a fresh cookie-less client and returns the session token the server set.</summary>
    protected async Task<string> LoginAsync(string email, string password = Password, string? code = null)
    {
        var reply = (await CookieClient(null).PostJsonAsync("auth/login", new { email, password, code })).Expect(200);
        var cookie = SessionCookie(reply);
        Assert.NotNull(cookie);
        return cookie.Value.ToString();
    }

    /// <summary>Sets up the server admin with the setup token (without signing in).</summary>
    protected async Task SetUpAdminAsync()
    {
        var token = Factory.SetupToken;
        Assert.NotNull(token);
        (await CookieClient(null).PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = Password, setupToken = token })).Expect(200);
    }

    /// <summary>Signs up through the API and returns the session token the sign-up set.</summary>
    protected async Task<string> SignUpTokenAsync(string email, string password = Password)
    {
        var reply = (await CookieClient(null).PutJsonAsync("auth/signup", new { email, password })).Expect(200);
        var cookie = SessionCookie(reply);
        Assert.NotNull(cookie);
        return cookie.Value.ToString();
    }

    protected async Task<T> DbAsync<T>(Func<PangolinDbContext, Task<T>> query)
    {
        await using var scope = Factory.Services.CreateAsyncScope();
        return await query(scope.ServiceProvider.GetRequiredService<PangolinDbContext>());
    }

    /// <summary>The TOTP code for the server's current (fake) time.</summary>
    protected string TotpCode(string secret) =>
        new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp(Factory.Clock.GetUtcNow().UtcDateTime);

    /// <summary>Moves the server's clock to the next 30-second TOTP step.</summary>
    protected void NextTotpStep() => Factory.Clock.Advance(TimeSpan.FromSeconds(30));

    /// <summary>Turns on TOTP for a signed-in client; returns the base32 secret and the backup codes.</summary>
    protected async Task<(string Secret, IReadOnlyList<string> BackupCodes)> EnableTwoFactorAsync(HttpClient client, string password = Password)
    {
        var secret = (await client.PostJsonAsync("auth/2fa/request", new { password })).Expect(200).Data.GetProperty("secret").GetString()!;
        var enabled = (await client.PostJsonAsync("auth/2fa/enable", new { code = TotpCode(secret) })).Expect(200).Data;
        var codes = enabled.GetProperty("backupCodes").EnumerateArray().Select(c => c.GetString()!).ToList();
        // The enabling code's step is used up; the next sign-in needs the next step's code.
        NextTotpStep();
        return (secret, codes);
    }

    /// <summary>The query parameters of the first link in a text.</summary>
    protected static Dictionary<string, string> LinkQuery(string? text)
    {
        var link = LinkPattern().Match(text ?? "");
        Assert.True(link.Success, $"no link in: {text}");
        return QueryHelpers.ParseQuery(new Uri(link.Value).Query).ToDictionary(kv => kv.Key, kv => kv.Value.ToString());
    }

    protected Task<MimeMessage> MailAsync(string to, string subjectPart) =>
        Smtp.WaitForMessageAsync(to, m => (m.Subject ?? "").Contains(subjectPart, StringComparison.OrdinalIgnoreCase));

    protected static async Task<int> RoleIdAsync(HttpClient admin, string orgId, string name)
    {
        var roles = (await admin.GetJsonAsync($"org/{orgId}/roles")).Expect(200).Data.GetProperty("roles");
        return roles.EnumerateArray().First(r => r.GetProperty("name").GetString() == name).GetProperty("roleId").GetInt32();
    }

    [GeneratedRegex(@"https?://\S+")]
    private static partial Regex LinkPattern();
}
