using Microsoft.EntityFrameworkCore;

namespace Pangolin.Data.Sqlite;

/// <summary>Configures the context for SQLite with the migrations in this assembly.</summary>
public static class SqliteProvider
{
    public static DbContextOptionsBuilder Configure(DbContextOptionsBuilder options, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options
            .UseSqlite(connectionString, o => o.MigrationsAssembly(typeof(SqliteProvider).Assembly.GetName().Name))
            .UseSnakeCaseNamingConvention();
    }
}
