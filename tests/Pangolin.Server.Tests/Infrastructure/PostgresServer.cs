using System.Diagnostics;
using System.Globalization;
using Npgsql;

namespace Pangolin.Server.Tests.Infrastructure;

/// <summary>
/// A throwaway PostgreSQL cluster started with Debian's initdb and pg_ctl on a loopback port, shared by the test
/// assembly; each test gets its own database. As root, the cluster runs as the 'postgres' user (initdb refuses root).
/// </summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private string _dataDir = "";
    private string _binDir = "";
    private bool _asPostgresUser;

    public int Port { get; private set; }

    public string AdminConnectionString => $"Host=127.0.0.1;Port={Port};Username=postgres;Database=postgres;Pooling=false;Timeout=15";

    public async ValueTask InitializeAsync()
    {
        _binDir = FindBinDir();
        _asPostgresUser = Environment.UserName == "root";
        var root = Path.Combine(Path.GetTempPath(), "pangolin-pg-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(root);
        _dataDir = Path.Combine(root, "data");
        if (_asPostgresUser)
        {
            await RunAsync("chown", $"postgres {root}", asPostgres: false);
        }
        Port = SmtpTestServer.FreePort();
        await RunAsync(Path.Combine(_binDir, "initdb"), $"-D {_dataDir} -U postgres --auth=trust --encoding=UTF8 --no-instructions", _asPostgresUser);
        var options = $"-p {Port} -h 127.0.0.1 -k {root} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400";
        await RunAsync(Path.Combine(_binDir, "pg_ctl"), $"-D {_dataDir} -l {Path.Combine(root, "log")} -w -t 60 -o \"{options}\" start", _asPostgresUser);
    }

    /// <summary>A new, empty database and its connection string.</summary>
    public async Task<string> CreateDatabaseAsync()
    {
        var name = "pangolin_" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = new NpgsqlConnection(AdminConnectionString);
        await connection.OpenAsync();
        await using var command = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await command.ExecuteNonQueryAsync();
        // Idle connections close within seconds: every test has its own database and so its own pool, and pools of
        // finished tests would otherwise hold their connections for Npgsql's default 5 minutes and exhaust the server.
        return $"Host=127.0.0.1;Port={Port};Username=postgres;Database={name};Timeout=15;Connection Idle Lifetime=2;Connection Pruning Interval=1";
    }

    public async ValueTask DisposeAsync()
    {
        if (_dataDir.Length > 0 && Directory.Exists(_dataDir))
        {
            try
            {
                await RunAsync(Path.Combine(_binDir, "pg_ctl"), $"-D {_dataDir} -m immediate -w stop", _asPostgresUser);
            }
            finally
            {
                Directory.Delete(Path.GetDirectoryName(_dataDir)!, recursive: true);
            }
        }
    }

    private static string FindBinDir()
    {
        IEnumerable<string> candidates = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Select(d => Path.Combine(d, "bin"))
                .OrderByDescending(d => int.TryParse(Path.GetFileName(Path.GetDirectoryName(d)), NumberStyles.None, CultureInfo.InvariantCulture, out var v) ? v : 0)
            : [];
        return candidates.FirstOrDefault(d => File.Exists(Path.Combine(d, "initdb")))
            ?? throw new InvalidOperationException("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin; install the 'postgresql' package (.ci/run does)");
    }

    private static async Task RunAsync(string file, string arguments, bool asPostgres)
    {
        var start = asPostgres
            ? new ProcessStartInfo("runuser", $"-u postgres -- {file} {arguments}")
            : new ProcessStartInfo(file, arguments);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        start.WorkingDirectory = "/tmp";
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(120));
        if (process.ExitCode != 0)
        {
            throw new InvalidOperationException($"{file} {arguments} failed ({process.ExitCode}): {await stderr}{await stdout}");
        }
    }
}
