using System.Globalization;
using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Pangolin.Data;
using Pangolin.Data.Entities;
using Pangolin.Server.Auth;
using Pangolin.Server.Configuration;

namespace Pangolin.Server.Data;

/// <summary>
/// Brings the database to the current schema and seeds what the code relies on. SQLite files are copied aside
/// (with SQLite's online backup) before any migration runs; each migration runs in a transaction, and EF Core's
/// migration lock keeps two starting servers from migrating at once.
/// </summary>
public sealed partial class DatabaseInitializer(
    PangolinDbContext db,
    DatabaseOptions database,
    DomainsOptions domains,
    SecretProtector protector,
    TimeProvider time,
    ILogger logger)
{
    internal const string SecretCheckKey = "server-secret-check";

    /// <summary>Applies pending migrations (after a backup) and returns the migrations applied.</summary>
    public async Task<IReadOnlyList<string>> MigrateAsync(CancellationToken cancellationToken)
    {
        if (database.Provider == "sqlite")
        {
            PrepareSqliteFile();
        }
        var pending = (await db.Database.GetPendingMigrationsAsync(cancellationToken)).ToList();
        if (pending.Count == 0)
        {
            return [];
        }
        if (database.Provider == "sqlite" && database.BackupBeforeMigrate)
        {
            var backup = await BackupSqliteAsync(pending[0], cancellationToken);
            if (backup is not null)
            {
                LogBackup(logger, backup);
            }
        }
        var names = string.Join(", ", pending);
        LogMigrating(logger, pending.Count, names);
        await db.Database.MigrateAsync(cancellationToken);
        if (database.Provider == "sqlite")
        {
            // WAL lets readers proceed during a write; the setting is stored in the file.
            await db.Database.ExecuteSqlRawAsync("PRAGMA journal_mode=WAL;", cancellationToken);
        }
        return pending;
    }

    /// <summary>Seeds action ids, config-managed domains and the server secret check.</summary>
    public async Task SeedAsync(CancellationToken cancellationToken)
    {
        var known = await db.Actions.Select(a => a.ActionId).ToListAsync(cancellationToken);
        foreach (var action in ActionIds.All.Except(known, StringComparer.Ordinal))
        {
            db.Actions.Add(new ActionDefinition { ActionId = action, Name = action });
        }

        var now = time.GetUtcNow().UtcDateTime;
        var existingDomains = await db.Domains.ToDictionaryAsync(d => d.DomainId, cancellationToken);
        foreach (var (id, configured) in domains.Domains)
        {
            var baseDomain = configured.BaseDomain.ToLowerInvariant();
            if (existingDomains.TryGetValue(id, out var domain))
            {
                domain.BaseDomain = baseDomain;
                domain.CertResolver = configured.CertResolver;
                domain.PreferWildcardCert = configured.PreferWildcardCert;
                domain.ConfigManaged = true;
                domain.Verified = true;
            }
            else if (existingDomains.Values.FirstOrDefault(d => d.BaseDomain == baseDomain) is { } taken)
            {
                // An org already added this domain; handing it to every org would leak it, so the entry is skipped.
                LogDomainTaken(logger, id, baseDomain, taken.DomainId);
            }
            else
            {
                db.Domains.Add(new Domain
                {
                    DomainId = id,
                    BaseDomain = baseDomain,
                    ConfigManaged = true,
                    Type = "wildcard",
                    Verified = true,
                    CertResolver = configured.CertResolver,
                    PreferWildcardCert = configured.PreferWildcardCert,
                    CreatedAt = now,
                });
            }
        }
        await db.SaveChangesAsync(cancellationToken);

        // Every org may use every config-managed domain.
        var configIds = domains.Domains.Keys.ToList();
        if (configIds.Count > 0)
        {
            var orgIds = await db.Orgs.Select(o => o.OrgId).ToListAsync(cancellationToken);
            var linked = (await db.OrgDomains.Where(od => configIds.Contains(od.DomainId)).Select(od => new { od.OrgId, od.DomainId }).ToListAsync(cancellationToken))
                .Select(l => (l.OrgId, l.DomainId));
            var wanted = orgIds.SelectMany(o => configIds, (o, d) => (OrgId: o, DomainId: d));
            foreach (var link in wanted.Except(linked))
            {
                db.OrgDomains.Add(new OrgDomain { OrgId = link.OrgId, DomainId = link.DomainId });
            }
            await db.SaveChangesAsync(cancellationToken);
        }

        var check = await db.ServerSettings.FirstOrDefaultAsync(s => s.Key == SecretCheckKey, cancellationToken);
        if (check is null)
        {
            db.ServerSettings.Add(new ServerSetting { Key = SecretCheckKey, Value = protector.CheckValue() });
            await db.SaveChangesAsync(cancellationToken);
        }
        else if (!protector.Verifies(check.Value))
        {
            throw new InvalidOperationException(
                "The server secret does not match the one this database was set up with. Restore the old secret, or change it with 'pangolin admin rotate-server-secret --old <old> --new <new>'.");
        }
    }

    /// <summary>While no server admin exists, replaces any unused setup token with a new one and returns it.</summary>
    public async Task<string?> IssueSetupTokenIfNeededAsync(CancellationToken cancellationToken)
    {
        if (await db.Users.AnyAsync(u => u.ServerAdmin, cancellationToken))
        {
            return null;
        }
        await db.SetupTokens.Where(t => !t.Used).ExecuteDeleteAsync(cancellationToken);
        var token = Secrets.Token(32);
        db.SetupTokens.Add(new SetupToken
        {
            TokenId = Secrets.Id(15),
            TokenHash = Secrets.Sha256Hex(token),
            DateCreated = time.GetUtcNow().UtcDateTime,
        });
        await db.SaveChangesAsync(cancellationToken);
        return token;
    }

    private void PrepareSqliteFile()
    {
        var builder = new SqliteConnectionStringBuilder(db.Database.GetConnectionString());
        if (builder.DataSource is { Length: > 0 } file && file != ":memory:" && builder.Mode != SqliteOpenMode.Memory)
        {
            var directory = Path.GetDirectoryName(Path.GetFullPath(file));
            if (directory is not null)
            {
                Directory.CreateDirectory(directory);
            }
        }
    }

    private async Task<string?> BackupSqliteAsync(string firstPending, CancellationToken cancellationToken)
    {
        var builder = new SqliteConnectionStringBuilder(db.Database.GetConnectionString());
        var file = builder.DataSource;
        if (string.IsNullOrEmpty(file) || file == ":memory:" || !File.Exists(file) || new FileInfo(file).Length == 0)
        {
            return null; // a new database has nothing to lose
        }
        var applied = await db.Database.GetAppliedMigrationsAsync(cancellationToken);
        if (!applied.Any() && !await HasTablesAsync(builder.ToString(), cancellationToken))
        {
            return null;
        }
        var directory = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(file))!, "backups");
        Directory.CreateDirectory(directory);
        var stamp = time.GetUtcNow().ToString("yyyyMMdd'T'HHmmss'Z'", CultureInfo.InvariantCulture);
        var target = Path.Combine(directory, $"{Path.GetFileNameWithoutExtension(file)}-{stamp}-before-{firstPending}.db");
        await using var source = new SqliteConnection(builder.ToString());
        await using var destination = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = target }.ToString());
        await source.OpenAsync(cancellationToken);
        await destination.OpenAsync(cancellationToken);
        source.BackupDatabase(destination);
        return target;
    }

    private static async Task<bool> HasTablesAsync(string connectionString, CancellationToken cancellationToken)
    {
        await using var connection = new SqliteConnection(connectionString);
        await connection.OpenAsync(cancellationToken);
        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM sqlite_master WHERE type = 'table'";
        return Convert.ToInt64(await command.ExecuteScalarAsync(cancellationToken), CultureInfo.InvariantCulture) > 0;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Configured domain {Id} ({BaseDomain}) is skipped: an organization already uses it as domain {Existing}")]
    private static partial void LogDomainTaken(ILogger logger, string id, string baseDomain, string existing);

    [LoggerMessage(Level = LogLevel.Information, Message = "Backed up the SQLite database to {Backup} before migrating")]
    private static partial void LogBackup(ILogger logger, string backup);

    [LoggerMessage(Level = LogLevel.Information, Message = "Applying {Count} database migration(s): {Migrations}")]
    private static partial void LogMigrating(ILogger logger, int count, string migrations);
}
