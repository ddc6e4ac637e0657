using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.DependencyInjection;
using OtpNet;
using Pangolin.Data;
using Pangolin.Server.Auth;
using Pangolin.Server.Cli;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Cli;

/// <summary>`pangolin admin …` works on the server's database while the server runs, with one-line errors.</summary>
public abstract class AdminCliTests(DatabaseKind kind, PostgresServer postgres) : ServerTestBase(kind, postgres)
{
    private async Task<(int Exit, string Out, string Err)> CliAsync(string? stdin, params string[] args)
    {
        var target = Kind == DatabaseKind.Postgres
            ? new[] { "--provider", "postgres", "--connection-string", ConnectionString, "--data-dir", Factory.DataDirectory }
            : ["--data-dir", Factory.DataDirectory];
        using var output = new StringWriter();
        using var error = new StringWriter();
        var exit = await AdminCli.RunAsync([.. args, .. target], output, error, new StringReader(stdin ?? ""));
        return (exit, output.ToString(), error.ToString());
    }

    private string ConnectionString
    {
        get
        {
            using var scope = Factory.Services.CreateScope();
            return scope.ServiceProvider.GetRequiredService<PangolinDbContext>().Database.GetConnectionString()!;
        }
    }

    [Fact]
    public async Task Set_admin_credentials_creates_the_admin_on_a_new_server_and_ends_the_setup_token()
    {
        var token = Factory.SetupToken!;
        var (exit, output, error) = await CliAsync(null, "set-admin-credentials", "--email", "Boss@Example.com", "--password", "Cli-Admin-Pass-1");
        Assert.True(exit == 0, error);
        Assert.Contains("boss@example.com", output, StringComparison.Ordinal);

        var client = Factory.DashboardClient();
        (await client.PostJsonAsync("auth/login", new { email = "boss@example.com", password = "Cli-Admin-Pass-1" })).Expect(200);
        Assert.True((await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("serverAdmin").GetBoolean());
        (await Factory.DashboardClient().PutJsonAsync("auth/set-server-admin", new { email = "x@example.com", password = Password, setupToken = token })).Expect(400);

        // Run again: the same admin gets a new password (read from standard input) and loses its sessions.
        (exit, _, error) = await CliAsync("Cli-Admin-Pass-2", "set-admin-credentials", "--email", "boss@example.com", "--password", "-");
        Assert.True(exit == 0, error);
        (await client.GetJsonAsync("user")).Expect(401);
        (await Factory.DashboardClient().PostJsonAsync("auth/login", new { email = "boss@example.com", password = "Cli-Admin-Pass-2" })).Expect(200);
    }

    [Fact]
    public async Task Reset_password_disable_2fa_and_list_users_act_on_the_running_servers_users()
    {
        await AdminAsync();
        var user = await SignUpAsync("user@example.com");
        var secret = (await user.PostJsonAsync("auth/2fa/request", new { password = Password })).Expect(200).Data.GetProperty("secret").GetString()!;
        var code = new Totp(Base32Encoding.ToBytes(secret)).ComputeTotp(Factory.Clock.GetUtcNow().UtcDateTime);
        (await user.PostJsonAsync("auth/2fa/enable", new { code })).Expect(200);

        var (exit, output, error) = await CliAsync(null, "list-users");
        Assert.True(exit == 0, error);
        Assert.Contains("user@example.com", output, StringComparison.Ordinal);
        Assert.Contains("2 user(s)", output, StringComparison.Ordinal);
        Assert.Matches(@"user@example\.com\s+internal\s+no\s+on", output);

        (exit, _, error) = await CliAsync(null, "disable-2fa", "--email", "user@example.com");
        Assert.True(exit == 0, error);
        (exit, _, error) = await CliAsync(null, "reset-password", "--email", "USER@example.com", "--password", "Reset-By-Cli-3");
        Assert.True(exit == 0, error);
        (await user.GetJsonAsync("user")).Expect(401); // sessions ended
        var login = (await Factory.DashboardClient().PostJsonAsync("auth/login", new { email = "user@example.com", password = "Reset-By-Cli-3" })).Expect(200);
        Assert.Equal("Logged in successfully", login.Message); // no code requested: 2FA is off
    }

    [Fact]
    public async Task Rotating_the_server_secret_re_encrypts_stored_secrets()
    {
        await AdminAsync();
        var user = await SignUpAsync("user@example.com");
        var secret = (await user.PostJsonAsync("auth/2fa/request", new { password = Password })).Expect(200).Data.GetProperty("secret").GetString()!;
        const string next = "a-brand-new-server-secret-of-at-least-32-chars";
        var old = Kind == DatabaseKind.Sqlite ? (await File.ReadAllTextAsync(Path.Combine(Factory.DataDirectory, "server-secret"))).Trim() : null;

        var (exit, output, error) = Kind == DatabaseKind.Sqlite
            ? await CliAsync(null, "rotate-server-secret", "--new", next)
            : await CliAsync(null, "rotate-server-secret", "--new", next, "--old", (await File.ReadAllTextAsync(Path.Combine(Factory.DataDirectory, "server-secret"))).Trim());
        Assert.True(exit == 0, error);
        Assert.Contains("rotated", output, StringComparison.Ordinal);

        await using var scope = Factory.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var stored = await db.Users.Where(u => u.Email == "user@example.com").Select(u => u.TwoFactorSecret).SingleAsync();
        Assert.Equal(secret, new SecretProtector(next).Unprotect(stored!));
        if (Kind == DatabaseKind.Sqlite)
        {
            Assert.Equal(next, (await File.ReadAllTextAsync(Path.Combine(Factory.DataDirectory, "server-secret"))).Trim());
            Assert.ThrowsAny<System.Security.Cryptography.CryptographicException>(() => new SecretProtector(old!).Unprotect(stored!));
        }

        // The old secret no longer matches the data: a command run with it is refused in one line.
        (exit, _, error) = await CliAsync(null, "rotate-server-secret", "--old", "the-wrong-secret-the-wrong-secret-123", "--new", next);
        Assert.Equal(1, exit);
        Assert.StartsWith("pangolin admin: the current server secret does not match", error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Bad_input_gets_one_line_and_a_non_zero_exit()
    {
        await AdminAsync();
        var (exit, _, error) = await CliAsync(null, "reset-password", "--email", "nobody@example.com", "--password", "Whatever-Pass-1");
        Assert.Equal(1, exit);
        Assert.Equal("pangolin admin: no user with the e-mail nobody@example.com", error.Trim());

        (exit, _, error) = await CliAsync(null, "reset-password", "--email", AdminEmail, "--password", "weak");
        Assert.Equal(1, exit);
        Assert.StartsWith("pangolin admin: Your password must meet the following conditions", error.Trim(), StringComparison.Ordinal);
        Assert.Single(error.Trim().Split('\n'));

        (exit, _, error) = await CliAsync(null, "reset-password", "--password", "Whatever-Pass-1");
        Assert.NotEqual(0, exit);
        Assert.Contains("--email", error, StringComparison.Ordinal);

        (exit, _, error) = await CliAsync(null, "rotate-server-secret", "--new", "short");
        Assert.Equal(1, exit);
        Assert.Contains("at least 32 characters", error, StringComparison.Ordinal);

        (exit, _, error) = await CliAsync(null, "frobnicate");
        Assert.NotEqual(0, exit);
    }
}

public sealed class SqliteAdminCliTests(PostgresServer postgres) : AdminCliTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresAdminCliTests(PostgresServer postgres) : AdminCliTests(DatabaseKind.Postgres, postgres);
