using Microsoft.EntityFrameworkCore;
using Microsoft.EntityFrameworkCore.Design;

namespace Pangolin.Data.Postgres;

/// <summary>Lets `dotnet ef migrations add` build the context for PostgreSQL without a server.</summary>
internal sealed class DesignTimeFactory : IDesignTimeDbContextFactory<PangolinDbContext>
{
    public PangolinDbContext CreateDbContext(string[] args)
    {
        var options = new DbContextOptionsBuilder<PangolinDbContext>();
        PostgresProvider.Configure(options, "Host=localhost;Database=pangolin_design");
        return new PangolinDbContext(options.Options);
    }
}
