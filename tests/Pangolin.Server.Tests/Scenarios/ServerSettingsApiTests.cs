using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Scenarios;

/// <summary>GET /server/settings: what the configuration says, for server admins only, and never a secret.</summary>
public sealed class ServerSettingsApiTests(PostgresServer postgres) : ServerTestBase(DatabaseKind.Sqlite, postgres)
{
    private const string ServerSecret = "server-secret-that-must-never-leak-0123456789";
    private const string SmtpPassword = "smtp-password-that-must-never-leak";

    protected override IDictionary<string, string?> Settings => new Dictionary<string, string?>
    {
        ["Server:Secret"] = ServerSecret,
        ["Email:SmtpHost"] = "smtp.example.test",
        ["Email:SmtpPort"] = "2525",
        ["Email:SmtpUser"] = "mailer",
        ["Email:SmtpPassword"] = SmtpPassword,
        ["Email:NoReply"] = "pangolin@example.test",
        ["Acme:Email"] = "certs@example.test",
        ["Flags:DisableUserCreateOrg"] = "true",
    };

    [Fact]
    public async Task A_server_admin_reads_the_settings_without_any_secret()
    {
        var admin = await AdminAsync();

        var reply = (await admin.GetJsonAsync("server/settings")).Expect(200);

        var data = reply.Data;
        Assert.Equal("http://localhost:3000", data.GetProperty("dashboardUrl").GetString());
        Assert.Equal("sqlite", data.GetProperty("databaseProvider").GetString());
        Assert.True(data.GetProperty("email").GetProperty("configured").GetBoolean());
        Assert.Equal("smtp.example.test", data.GetProperty("email").GetProperty("smtpHost").GetString());
        Assert.Equal(2525, data.GetProperty("email").GetProperty("smtpPort").GetInt32());
        Assert.Equal("certs@example.test", data.GetProperty("acme").GetProperty("email").GetString());
        Assert.True(data.GetProperty("flags").GetProperty("disableUserCreateOrg").GetBoolean());
        Assert.True(data.GetProperty("listen").GetProperty("externalPort").GetInt32() > 0);
        var text = reply.Body.GetRawText();
        Assert.DoesNotContain(ServerSecret, text, StringComparison.Ordinal);
        Assert.DoesNotContain(SmtpPassword, text, StringComparison.Ordinal);
        Assert.DoesNotContain("mailer", text, StringComparison.Ordinal);
        Assert.DoesNotContain("connectionString", text, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task Anyone_else_is_refused_in_words()
    {
        using var _ = await AdminAsync();
        var bob = await SignUpAsync("bob@example.com");

        var reply = (await bob.GetJsonAsync("server/settings")).Expect(403);

        Assert.Contains("server admin", reply.Body.GetProperty("detail").GetString(), StringComparison.Ordinal);
        using var anonymous = Factory.DashboardClient();
        (await anonymous.GetJsonAsync("server/settings")).Expect(401);
    }
}
