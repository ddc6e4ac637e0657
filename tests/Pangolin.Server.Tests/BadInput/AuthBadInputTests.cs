using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.BadInput;

/// <summary>Bad input to /auth/*: sign-in, sign-up, setup, passwords, two-factor and e-mail verification.</summary>
public abstract class AuthBadInputTests(DatabaseKind kind, PostgresServer postgres) : BadInputTestBase(kind, postgres)
{
    [Fact]
    public async Task Sign_in_and_sign_up_name_each_bad_field_and_never_fail_with_500()
    {
        var admin = await AdminAsync();
        var anonymous = Factory.DashboardClient();

        Problem(await RawAsync(anonymous, HttpMethod.Post, "auth/login", "{\"email\":\"a@example.com\","), 400, "not valid JSON");
        Problem(await EmptyAsync(anonymous, HttpMethod.Post, "auth/login"), 400, "A JSON request body is required", "application/json");
        Problem(await RawAsync(anonymous, HttpMethod.Post, "auth/login", "email=a@example.com&password=x", "application/x-www-form-urlencoded"),
            415, "must be JSON", "Content-Type: application/json");
        Problem(await anonymous.PostJsonAsync("auth/login", new { email = AdminEmail, password = Password, remember = true }), 400, "unknown field \"remember\"");
        Problem(await RawAsync(anonymous, HttpMethod.Post, "auth/login", $"{{\"Email\":\"{AdminEmail}\",\"password\":\"{Password}\"}}"), 400, "unknown field \"Email\"");
        Problem(await anonymous.PostJsonAsync("auth/login", new { email = AdminEmail }), 400, "is required at \"password\"");
        Problem(await anonymous.PostJsonAsync("auth/login", new { email = 5, password = Password }), 400, "expected a string at \"email\"");
        Problem(await anonymous.PostJsonAsync("auth/login", new { email = AdminEmail, password = (string?)null }), 400, "is required at \"password\"");
        Problem(await anonymous.PostJsonAsync("auth/login", new { email = "not-an-email", password = Password }), 400, "e-mail address", "\"email\"");
        Problem(await anonymous.PostJsonAsync("auth/login?forceLogin=maybe", new { email = AdminEmail, password = Password }),
            400, "\"forceLogin\" must be true or false");

        Problem(await anonymous.PutJsonAsync("auth/signup", new { email = "new@example.com" }), 400, "is required at \"password\"");
        Problem(await anonymous.PutJsonAsync("auth/signup", new { email = "new@example", password = Password }), 400, "e-mail address", "\"email\"");
        Problem(await anonymous.PutJsonAsync("auth/signup", new { email = "new@example.com", password = "short" }), 400, "at least 8 characters");
        Problem(await anonymous.PutJsonAsync("auth/signup", new { email = "new@example.com", password = Password, marketingEmailConsent = "yes" }),
            400, "expected true or false at \"marketingEmailConsent\"");
        Problem(await anonymous.PutJsonAsync("auth/signup", new { email = AdminEmail, password = Password }), 409, "already exists");

        Problem(await anonymous.PutJsonAsync("auth/set-server-admin", new { }), 400,
            "is required at \"email\"", "is required at \"password\"", "is required at \"setupToken\"");
        Problem(await anonymous.PutJsonAsync("auth/set-server-admin", new { email = "second@example.com", password = Password, setupToken = "x" }),
            400, "Server admin already exists");

        // The signed-in endpoints validate their bodies the same way.
        Problem(await admin.PostJsonAsync("auth/change-password", new { }), 400, "is required at \"oldPassword\"", "is required at \"newPassword\"");
        Problem(await admin.PostJsonAsync("auth/change-password", new { oldPassword = 1, newPassword = Password }), 400, "expected a string at \"oldPassword\"");
        Problem(await admin.PostJsonAsync("auth/change-password", new { oldPassword = Password, newPassword = "weak" }), 400, "at least 8 characters");
        Problem(await admin.PostJsonAsync("auth/2fa/enable", new { }), 400, "is required at \"code\"");
        Problem(await admin.PostJsonAsync("auth/2fa/request", new { password = new[] { Password } }), 400, "expected a string at \"password\"");
        Problem(await admin.PostJsonAsync("auth/2fa/disable", new { }), 400, "is required at \"password\"");
        Problem(await admin.PostJsonAsync("auth/verify-email", new { code = (string?)null }), 400, "is required at \"code\"");
        Problem(await anonymous.PostJsonAsync("auth/reset-password/request", new { email = "nope" }), 400, "e-mail address", "\"email\"");
        Problem(await anonymous.PostJsonAsync("auth/reset-password", new { }), 400,
            "is required at \"email\"", "is required at \"token\"", "is required at \"newPassword\"");
        Problem(await anonymous.PostJsonAsync("auth/reset-password", new { email = AdminEmail, token = "nope", newPassword = Password }),
            400, "Invalid or expired password reset token");
        AssertNoUnhandledExceptions();
    }
}

public sealed class SqliteAuthBadInputTests(PostgresServer postgres) : AuthBadInputTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresAuthBadInputTests(PostgresServer postgres) : AuthBadInputTests(DatabaseKind.Postgres, postgres);
