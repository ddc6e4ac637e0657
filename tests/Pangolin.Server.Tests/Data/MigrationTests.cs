using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Infrastructure;
using Microsoft.EntityFrameworkCore.Migrations;
using Microsoft.Extensions.DependencyInjection;
using Pangolin.Data;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;
using Pangolin.Server.Data;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Data;

/// <summary>Migrations: complete for the model, and an old database upgrades in place without losing a row.</summary>
public abstract class MigrationTests(DatabaseKind kind, PostgresServer postgres)
{
    private const string FirstMigration = "Initial";

    private static readonly string[] CountedTables =
    [
        "users", "orgs", "roles", "role_actions", "user_orgs", "user_org_roles", "sites", "newts", "resources", "targets",
        "target_health_checks", "resource_rules", "resource_passwords", "api_keys", "api_key_orgs", "api_key_actions",
        "org_domains", "sessions", "action_audit_logs", "user_invites",
    ];

    [Fact]
    public async Task Every_model_change_has_a_migration()
    {
        await using var db = await NewContextAsync(await NewDatabaseAsync());
        Assert.False(db.Database.HasPendingModelChanges(), $"the model has changes without a {kind} migration: run 'dotnet ef migrations add' for Pangolin.Data.{kind}");
    }

    [Fact]
    public async Task A_database_made_by_the_first_migration_upgrades_to_the_latest_without_losing_a_row()
    {
        await using var factory = await NewFactoryAsync();
        var connection = kind == DatabaseKind.Postgres ? factory.PostgresConnectionString! : $"Data Source={Path.Combine(factory.Server0.DataDirectory, "pangolin.db")}";
        var hasher = new PasswordHasher();
        var passwordHash = await hasher.HashAsync("Old-Database-1");
        const string apiSecret = "0123456789abcdefghijABCDEFGHIJ0123456789abcdefgh";

        Dictionary<string, long> before;
        await using (var old = await NewContextAsync(connection))
        {
            await old.GetService<IMigrator>().MigrateAsync(FirstMigration);
            Assert.Equal([FirstMigration], (await old.Database.GetAppliedMigrationsAsync()).Select(m => m[15..]));
            await SeedWithRawSqlAsync(old, passwordHash, Secrets.Sha256Hex(apiSecret));
            before = await CountAsync(old);
        }

        var server = factory.Server0;
        _ = server.Server; // start: the server migrates the old database

        await using (var scope = server.Services.CreateAsyncScope())
        {
            var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
            Assert.Empty(await db.Database.GetPendingMigrationsAsync());
            var after = await CountAsync(db);
            foreach (var table in CountedTables)
            {
                // Start-up links the configured domains to every org, so org_domains may grow; nothing may shrink.
                var same = table == "org_domains" ? after[table] >= before[table] : after[table] == before[table];
                Assert.True(same, $"{table}: {before[table]} rows before the upgrade, {after[table]} after");
            }
            Assert.Equal("Old Org", (await db.Orgs.SingleAsync()).Name);
            Assert.Equal(0, await db.RequestAuditLogs.CountAsync()); // the table the later migration added
        }

        // The old rows work through the API: the user signs in and the key lists the org's resources.
        var client = server.DashboardClient();
        (await client.PostJsonAsync("auth/login", new { email = "old@example.com", password = "Old-Database-1" })).Expect(200);
        var orgs = (await client.GetJsonAsync("user/olduser0000001/orgs")).Expect(200);
        Assert.Equal("old", orgs.Data.GetProperty("orgs")[0].GetProperty("orgId").GetString());
        var listed = (await server.IntegrationClient($"oldkey000000001.{apiSecret}").GetJsonAsync("org/old/resources")).Expect(200);
        var resource = Assert.Single(listed.Data.GetProperty("resources").EnumerateArray());
        Assert.Equal("app.old.example.test", resource.GetProperty("fullDomain").GetString());
        Assert.True(resource.GetProperty("password").GetBoolean());
        Assert.Equal(1, resource.GetProperty("targets").GetArrayLength());

        if (kind == DatabaseKind.Sqlite)
        {
            // SQLite is copied aside before migrating; the copy holds the old rows under the old schema.
            var backup = Assert.Single(Directory.GetFiles(Path.Combine(server.DataDirectory, "backups"), "*.db"));
            Assert.Contains("before-", Path.GetFileName(backup), StringComparison.Ordinal);
            await using var copy = await NewContextAsync($"Data Source={backup}");
            Assert.Equal([FirstMigration], (await copy.Database.GetAppliedMigrationsAsync()).Select(m => m[15..]));
            Assert.Equal(before["users"], (await CountAsync(copy))["users"]);
        }
    }

    [Fact]
    public async Task Starting_twice_applies_nothing_the_second_time_and_takes_no_backup()
    {
        await using var factory = await NewFactoryAsync();
        _ = factory.Server0.Server;
        await using var scope = factory.Server0.Services.CreateAsyncScope();
        var db = scope.ServiceProvider.GetRequiredService<PangolinDbContext>();
        var initializer = new DatabaseInitializer(db,
            new DatabaseOptions { Provider = kind == DatabaseKind.Postgres ? "postgres" : "sqlite", ConnectionString = db.Database.GetConnectionString() },
            new DomainsOptions(), new SecretProtector(new string('s', 32)), TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        Assert.Empty(await initializer.MigrateAsync(CancellationToken.None));
        Assert.False(Directory.Exists(Path.Combine(factory.Server0.DataDirectory, "backups")));
    }

    private async Task<string> NewDatabaseAsync() => kind == DatabaseKind.Postgres
        ? await postgres.CreateDatabaseAsync()
        : $"Data Source={Path.Combine(Path.GetTempPath(), "pangolin-migrate-" + Guid.NewGuid().ToString("N")[..8] + ".db")}";

    private async Task<Harness> NewFactoryAsync()
    {
        var connection = kind == DatabaseKind.Postgres ? await postgres.CreateDatabaseAsync() : null;
        return new Harness(new PangolinFactory(kind, connection), connection);
    }

    private async Task<PangolinDbContext> NewContextAsync(string connectionString)
    {
        var options = new DbContextOptionsBuilder<PangolinDbContext>();
        DatabaseServices.Configure(options, new DatabaseOptions
        {
            Provider = kind == DatabaseKind.Postgres ? "postgres" : "sqlite",
            ConnectionString = connectionString,
        }, new AppOptions());
        var db = new PangolinDbContext(options.Options);
        await Task.CompletedTask;
        return db;
    }

    private static async Task<Dictionary<string, long>> CountAsync(PangolinDbContext db)
    {
        var counts = new Dictionary<string, long>();
        var connection = db.Database.GetDbConnection();
        if (connection.State != System.Data.ConnectionState.Open)
        {
            await db.Database.OpenConnectionAsync();
        }
        foreach (var table in CountedTables)
        {
            await using var command = connection.CreateCommand();
            command.CommandText = $"SELECT count(*) FROM {table}";
            counts[table] = Convert.ToInt64(await command.ExecuteScalarAsync(), System.Globalization.CultureInfo.InvariantCulture);
        }
        return counts;
    }

    /// <summary>Rows written as the first schema had them (raw SQL, so later model changes cannot hide a loss).</summary>
    private static async Task SeedWithRawSqlAsync(PangolinDbContext db, string passwordHash, string apiKeyHash)
    {
        var now = new DateTime(2026, 1, 2, 3, 4, 5, DateTimeKind.Utc);
        var later = now.AddYears(5);
        var d = db.Database;
        await d.ExecuteSqlAsync($"INSERT INTO actions (action_id, name) VALUES ('listResources', 'listResources')");
        await d.ExecuteSqlAsync($"INSERT INTO users (user_id, email, username, type, password_hash, two_factor_enabled, two_factor_setup_requested, email_verified, server_admin, date_created) VALUES ('olduser0000001', 'old@example.com', 'old@example.com', 'internal', {passwordHash}, {false}, {false}, {true}, {true}, {now})");
        await d.ExecuteSqlAsync($"INSERT INTO users (user_id, email, type, two_factor_enabled, two_factor_setup_requested, email_verified, server_admin, date_created) VALUES ('olduser0000002', 'second@example.com', 'internal', {false}, {false}, {false}, {false}, {now})");
        await d.ExecuteSqlAsync($"INSERT INTO orgs (org_id, name, subnet, utility_subnet, created_at, require_two_factor) VALUES ('old', 'Old Org', '100.90.128.0/24', '100.96.128.0/24', {now}, {false})");
        await d.ExecuteSqlAsync($"INSERT INTO roles (role_id, org_id, is_admin, name, require_device_approval) VALUES (1, 'old', {true}, 'Admin', {false})");
        await d.ExecuteSqlAsync($"INSERT INTO roles (role_id, org_id, is_admin, name, require_device_approval) VALUES (2, 'old', {false}, 'Member', {false})");
        await d.ExecuteSqlAsync($"INSERT INTO role_actions (role_id, action_id, org_id) VALUES (2, 'listResources', 'old')");
        await d.ExecuteSqlAsync($"INSERT INTO user_orgs (user_id, org_id, is_owner, auto_provisioned, joined_at) VALUES ('olduser0000001', 'old', {true}, {false}, {now})");
        await d.ExecuteSqlAsync($"INSERT INTO user_org_roles (user_id, org_id, role_id) VALUES ('olduser0000001', 'old', 1)");
        await d.ExecuteSqlAsync($"INSERT INTO domains (domain_id, base_domain, config_managed, type, verified, failed, tries, prefer_wildcard_cert, created_at) VALUES ('olddomain', 'old.example.test', {false}, 'wildcard', {true}, {false}, 0, {false}, {now})");
        await d.ExecuteSqlAsync($"INSERT INTO org_domains (org_id, domain_id) VALUES ('old', 'olddomain')");
        await d.ExecuteSqlAsync($"INSERT INTO sites (site_id, org_id, nice_id, name, type, online, docker_socket_enabled, status, megabytes_in, megabytes_out, created_at) VALUES (1, 'old', 'old-site', 'Old Site', 'newt', {false}, {false}, 'approved', 12.5, 3.25, {now})");
        await d.ExecuteSqlAsync($"INSERT INTO newts (newt_id, secret_hash, date_created, site_id) VALUES ('oldnewt00000001', 'hash', {now}, 1)");
        await d.ExecuteSqlAsync($"INSERT INTO resources (resource_id, resource_guid, org_id, nice_id, name, subdomain, full_domain, domain_id, ssl, block_access, sso, http, protocol, email_whitelist_enabled, apply_rules, enabled, sticky_session, enable_proxy, proxy_protocol, mode, maintenance_mode_enabled, created_at) VALUES (1, '11111111-2222-3333-4444-555555555555', 'old', 'app', 'App', 'app', 'app.old.example.test', 'olddomain', {true}, {false}, {true}, {true}, 'tcp', {false}, {false}, {true}, {false}, {true}, {false}, 'http', {false}, {now})");
        await d.ExecuteSqlAsync($"INSERT INTO targets (target_id, resource_id, site_id, ip, method, port, enabled, priority) VALUES (1, 1, 1, '10.0.0.5', 'http', 8080, {true}, 100)");
        await d.ExecuteSqlAsync($"INSERT INTO target_health_checks (target_health_check_id, target_id, hc_enabled, hc_health) VALUES (1, 1, {false}, 'unknown')");
        await d.ExecuteSqlAsync($"INSERT INTO resource_rules (rule_id, resource_id, enabled, priority, action, match, value) VALUES (1, 1, {true}, 1, 'ACCEPT', 'CIDR', '10.0.0.0/8')");
        await d.ExecuteSqlAsync($"INSERT INTO resource_passwords (password_id, resource_id, password_hash) VALUES (1, 1, {passwordHash})");
        await d.ExecuteSqlAsync($"INSERT INTO api_keys (api_key_id, name, api_key_hash, last_chars, created_at, is_root) VALUES ('oldkey000000001', 'old key', {apiKeyHash}, 'efgh', {now}, {false})");
        await d.ExecuteSqlAsync($"INSERT INTO api_key_orgs (api_key_id, org_id) VALUES ('oldkey000000001', 'old')");
        await d.ExecuteSqlAsync($"INSERT INTO api_key_actions (api_key_id, action_id) VALUES ('oldkey000000001', 'listResources')");
        await d.ExecuteSqlAsync($"INSERT INTO sessions (session_id, user_id, expires_at, created_at) VALUES ('oldsessionhash', 'olduser0000001', {later}, {now})");
        await d.ExecuteSqlAsync($"INSERT INTO action_audit_logs (timestamp, org_id, actor_type, actor_id, action, status) VALUES ({now}, 'old', 'user', 'olduser0000001', 'createOrg', 201)");
        await d.ExecuteSqlAsync($"INSERT INTO user_invites (invite_id, org_id, email, token_hash, expires_at, created_at) VALUES ('oldinvite1', 'old', 'invitee@example.com', 'hash', {later}, {now})");
        if (db.Database.IsNpgsql())
        {
            // Explicit ids do not advance PostgreSQL identity sequences; a real old database's would have been.
            foreach (var (table, column) in new[] { ("roles", "role_id"), ("sites", "site_id"), ("resources", "resource_id"), ("targets", "target_id"), ("target_health_checks", "target_health_check_id"), ("resource_rules", "rule_id"), ("resource_passwords", "password_id") })
            {
#pragma warning disable EF1002 // table and column names are constants above
                await d.ExecuteSqlRawAsync($"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT max({column}) FROM {table}))");
#pragma warning restore EF1002
            }
        }
    }

    /// <summary>A factory whose database the test prepares before the server starts.</summary>
    private sealed class Harness(PangolinFactory server, string? postgresConnectionString) : IAsyncDisposable
    {
        public PangolinFactory Server0 { get; } = server;

        public string? PostgresConnectionString { get; } = postgresConnectionString;

        public ValueTask DisposeAsync() => Server0.DisposeAsync();
    }
}

public sealed class SqliteMigrationTests(PostgresServer postgres) : MigrationTests(DatabaseKind.Sqlite, postgres);

public sealed class PostgresMigrationTests(PostgresServer postgres) : MigrationTests(DatabaseKind.Postgres, postgres);
