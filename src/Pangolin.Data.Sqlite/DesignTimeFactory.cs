using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Pangolin.Data.Sqlite;

/// <summary>Lets `dotnet ef migrations add` build the context for SQLite without the server.</summary>
internal sealed class DesignTimeFactory : IDesignTimeDbContextFactory<PangolinDbContext>
{
    public PangolinDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<PangolinDbContext>();
        SqliteProvider.Configure(options, "Data Source=design-time.db");
        return new PangolinDbContext(options.Options);
    }
}
