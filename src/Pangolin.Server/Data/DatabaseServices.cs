using Microsoft.Data.Sqlite;
using Microsoft.EntityFrameworkCore;
using Microsoft.Extensions.Options;
using Pangolin.Data;
using Pangolin.Data.Postgres;
using Pangolin.Data.Sqlite;
using Pangolin.Server.Configuration;
using Pangolin.Server.Edge;

namespace Pangolin.Server.Data;

public static class DatabaseServices
{
    public static IServiceCollection AddPangolinDatabase(this IServiceCollection services)
    {
        services.AddSingleton<EdgeChangeSignal>();
        services.AddDbContextPool<PangolinDbContext>((sp, options) =>
        {
            var database = sp.GetRequiredService<IOptions<DatabaseOptions>>().Value;
            var app = sp.GetRequiredService<IOptions<AppOptions>>().Value;
            Configure(options, database, app);
            options.AddInterceptors(sp.GetRequiredService<EdgeChangeSignal>());
        });
        return services;
    }

    public static void Configure(DbContextOptionsBuilder options, DatabaseOptions database, AppOptions app)
    {
        ArgumentNullException.ThrowIfNull(database);
        if (database.Provider == "postgres")
        {
            PostgresProvider.Configure(options, database.ConnectionString!);
        }
        else
        {
            SqliteProvider.Configure(options, SqliteConnectionString(database, app));
        }
    }

    /// <summary>The configured SQLite connection string, or the default file under the data folder.</summary>
    public static string SqliteConnectionString(DatabaseOptions database, AppOptions app)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(app);
        if (!string.IsNullOrWhiteSpace(database.ConnectionString))
        {
            return database.ConnectionString;
        }
        return new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(app.DataDirectory, "pangolin.db"),
            DefaultTimeout = 30,
        }.ToString();
    }

    /// <summary>A context outside the web host (admin CLI, tests), configured from the same options.</summary>
    public static PangolinDbContext CreateContext(DatabaseOptions database, AppOptions app)
    {
        var options = new DbContextOptionsBuilder<PangolinDbContext>();
        Configure(options, database, app);
        return new PangolinDbContext(options.Options);
    }
}
