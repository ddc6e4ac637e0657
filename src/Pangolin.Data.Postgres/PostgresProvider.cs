using Microsoft.EntityFrameworkCore;

namespace Pangolin.Data.Postgres;

/// <summary>Configures the context for PostgreSQL with the migrations in this assembly.</summary>
public static class PostgresProvider
{
    public static DbContextOptionsBuilder Configure(DbContextOptionsBuilder options, string connectionString)
    {
        ArgumentNullException.ThrowIfNull(options);
        return options
            .UseNpgsql(connectionString, o => o.MigrationsAssembly(typeof(PostgresProvider).Assembly.GetName().Name))
            .UseSnakeCaseNamingConvention();
    }
}
