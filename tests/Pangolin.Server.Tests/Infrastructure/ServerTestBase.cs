namespace Pangolin.Server.Tests.Infrastructure;

/// <summary>One server per test class instance, on SQLite or on a fresh PostgreSQL database.</summary>
public abstract class ServerTestBase(DatabaseKind kind, PostgresServer postgres) : IAsyncLifetime
{
    public const string AdminEmail = "admin@example.com";
    public const string Password = "Correct-Horse-9";

    private PangolinFactory? _factory;

    protected PangolinFactory Factory => _factory ?? throw new InvalidOperationException("not initialized");

    protected DatabaseKind Kind => kind;

    /// <summary>Whether the server listens on real loopback sockets (for clients outside the test host).</summary>
    protected virtual bool Kestrel => false;

    /// <summary>Settings that a test class wants on top of the defaults.</summary>
    protected virtual IDictionary<string, string?> Settings => new Dictionary<string, string?>();

    /// <summary>More host configuration (listeners, services) that a test class wants, applied at every (re)start.</summary>
    protected virtual void ConfigureServer(Microsoft.AspNetCore.Hosting.IWebHostBuilder builder)
    {
    }

    public virtual async ValueTask InitializeAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var connection = kind == DatabaseKind.Postgres ? await postgres.CreateDatabaseAsync() : null;
            _factory = new PangolinFactory(kind, connection, Settings, Kestrel, ConfigureServer);
            // Start: migrations and seeding run here.
            try
            {
                if (Kestrel)
                {
                    _factory.StartServer();
                }
                else
                {
                    _ = _factory.Server;
                }
                return;
            }
            catch (Exception e) when (Kestrel && attempt < 3 && e is ObjectDisposedException or IOException or System.Net.Sockets.SocketException)
            {
                // The factory's ports are found free before Kestrel binds them, and a test starting beside this one
                // may take one in between; its host then stops and disposes itself. A new factory picks new ports.
                try
                {
                    await _factory.DisposeAsync();
                }
                catch (ObjectDisposedException)
                {
                    // already stopped
                }
            }
        }
    }

    public virtual async ValueTask DisposeAsync()
    {
        if (_factory is not null)
        {
            await _factory.DisposeAsync();
        }
        GC.SuppressFinalize(this);
    }

    /// <summary>Stops the server and starts it again on the same data and ports, as an operator's restart would.</summary>
    protected async Task RestartServerAsync()
    {
        var next = Factory.CreateRestart();
        await _factory!.DisposeAsync();
        _factory = next;
        if (Kestrel)
        {
            _factory.StartServer();
        }
        else
        {
            _ = _factory.Server;
        }
    }

    /// <summary>Exchanges the setup token for the server admin and returns a signed-in dashboard client.</summary>
    protected async Task<HttpClient> AdminAsync()
    {
        var client = Factory.DashboardClient();
        if (Factory.SetupToken is { } token)
        {
            (await client.PutJsonAsync("auth/set-server-admin", new { email = AdminEmail, password = Password, setupToken = token })).Expect(200);
        }
        (await client.PostJsonAsync("auth/login", new { email = AdminEmail, password = Password })).Expect(200);
        return client;
    }

    /// <summary>Signs up a new user and returns their signed-in client.</summary>
    protected async Task<HttpClient> SignUpAsync(string email, string password = Password)
    {
        var client = Factory.DashboardClient();
        (await client.PutJsonAsync("auth/signup", new { email, password })).Expect(200);
        return client;
    }

    protected static async Task<string> UserIdAsync(HttpClient client) =>
        (await client.GetJsonAsync("user")).Expect(200).Data.GetProperty("userId").GetString()!;

    protected static async Task CreateOrgAsync(HttpClient client, string orgId) =>
        (await client.PutJsonAsync("org", new { orgId, name = orgId.ToUpperInvariant() })).Expect(201);
}
