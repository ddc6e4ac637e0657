using System.Collections.Concurrent;
using System.Net.Http.Headers;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;
using Pangolin.Server.Operations;

namespace Pangolin.Server.Tests.Infrastructure;

public enum DatabaseKind
{
    Sqlite,
    Postgres,
}

/// <summary>
/// The real server pipeline in memory (WebApplicationFactory) on a real database: a SQLite file in a temporary
/// folder, or a fresh database on the test PostgreSQL server. Time is a <see cref="FakeTimeProvider"/>; every log
/// line is captured so tests can check that no secret is ever logged.
/// </summary>
public sealed class PangolinFactory : WebApplicationFactory<Program>
{
    public const string DashboardBase = "http://localhost:3000/api/v1/";
    public const string IntegrationBase = "http://localhost:3003/v1/";

    private readonly Dictionary<string, string?> _settings;
    private readonly Action<IWebHostBuilder>? _configure;

    // configure: more host configuration (listeners, services), applied at every start, restarts included.
    public PangolinFactory(DatabaseKind kind, string? postgresConnectionString = null, IDictionary<string, string?>? settings = null, bool kestrel = false, Action<IWebHostBuilder>? configure = null)
    {
        Kind = kind;
        _configure = configure;
        UsesKestrel = kestrel;
        DataDirectory = Path.Combine(Path.GetTempPath(), "pangolin-test-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(DataDirectory);
        _settings = new Dictionary<string, string?>
        {
            ["App:DataDirectory"] = DataDirectory,
            ["App:DashboardUrl"] = "http://localhost:3000",
            ["Database:Provider"] = kind == DatabaseKind.Postgres ? "postgres" : "sqlite",
            ["Database:ConnectionString"] = postgresConnectionString,
            ["Domains:main:BaseDomain"] = "example.test",
            // Tests run side by side: each embedded exit node takes a free UDP port.
            ["Gerbil:ListenPort"] = "0",
            // Raw resources open their proxy ports on loopback only.
            ["Edge:RawResources:BindAddress"] = "127.0.0.1",
            // Servers run side by side: no HTTPS listener (and no redirect to it) unless a test asks for one.
            ["Edge:HttpsPort"] = "0",
            ["Logging:LogLevel:Default"] = "Debug",
            ["Logging:LogLevel:Microsoft.EntityFrameworkCore"] = "Information",
            ["Logging:LogLevel:Microsoft.AspNetCore"] = "Debug",
        };
        if (kestrel)
        {
            // Real sockets on loopback, for clients outside the test host (a newt): free ports, the exit node on 127.0.0.1.
            ExternalPort = SmtpTestServer.FreePort();
            _settings["Server:ListenAddress"] = "127.0.0.1";
            _settings["Server:InternalListenAddress"] = "127.0.0.1";
            _settings["Server:ExternalPort"] = ExternalPort.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _settings["Server:InternalPort"] = SmtpTestServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
            _settings["Server:IntegrationPort"] = SmtpTestServer.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
            _settings["App:DashboardUrl"] = $"http://127.0.0.1:{ExternalPort}";
            EdgePort = SmtpTestServer.FreePort();
            _settings["Edge:HttpPort"] = EdgePort.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _settings["Gerbil:BaseEndpoint"] = "127.0.0.1";
            // A fixed port, as in production: a restarted server's exit node is where the newts' tunnels point.
            using (var probe = new System.Net.Sockets.UdpClient(0))
            {
                _settings["Gerbil:ListenPort"] = ((System.Net.IPEndPoint)probe.Client.LocalEndPoint!).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }
            UseKestrel();
        }
        foreach (var (key, value) in settings ?? new Dictionary<string, string?>())
        {
            _settings[key] = value;
        }
    }

    /// <summary>The same server again (a restart): same settings, ports and data folder, which the new factory now owns.</summary>
    public PangolinFactory CreateRestart()
    {
        var next = new PangolinFactory(this);
        _ownsData = false;
        return next;
    }

    private PangolinFactory(PangolinFactory previous)
    {
        Kind = previous.Kind;
        _configure = previous._configure;
        UsesKestrel = previous.UsesKestrel;
        ExternalPort = previous.ExternalPort;
        EdgePort = previous.EdgePort;
        DataDirectory = previous.DataDirectory;
        _settings = new Dictionary<string, string?>(previous._settings);
        Clock.SetUtcNow(previous.Clock.GetUtcNow());
        if (UsesKestrel)
        {
            UseKestrel();
        }
    }

    private bool _ownsData = true;

    /// <summary>Served by Kestrel on real loopback ports (<see cref="ExternalPort"/>) instead of the in-memory test server.</summary>
    public bool UsesKestrel { get; }

    public int ExternalPort { get; } = 3000;

    /// <summary>The edge's plain-HTTP port (Kestrel only).</summary>
    public int EdgePort { get; }

    /// <summary>The dashboard's URL as clients dial it.</summary>
    public Uri Endpoint => new($"http://{(UsesKestrel ? "127.0.0.1" : "localhost")}:{ExternalPort}");

    public DatabaseKind Kind { get; }

    public string DataDirectory { get; }

    public FakeTimeProvider Clock { get; } = new(new DateTimeOffset(2026, 11, 25, 12, 0, 0, TimeSpan.Zero));

    public ConcurrentQueue<string> Logs { get; } = new();

    public string? SetupToken => Services.GetRequiredService<SetupState>().SetupToken;

    protected override void ConfigureWebHost(IWebHostBuilder builder)
    {
        foreach (var (key, value) in _settings)
        {
            builder.UseSetting(key, value);
        }
        builder.ConfigureServices(services =>
        {
            services.RemoveAll<TimeProvider>();
            services.AddSingleton<TimeProvider>(Clock);
            services.AddSingleton<IStartupFilter, ListenerPortFilter>();
            services.AddLogging(l => l.AddProvider(new CaptureLoggerProvider(Logs)));
        });
        _configure?.Invoke(builder);
    }

    /// <summary>A dashboard client: cookies kept, the CSRF header sent.</summary>
    public HttpClient DashboardClient(bool csrf = true)
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { BaseAddress = new Uri(Endpoint, "/api/v1/"), HandleCookies = true, AllowAutoRedirect = false });
        if (csrf)
        {
            client.DefaultRequestHeaders.Add("X-CSRF-Token", "x-csrf-protection");
        }
        return client;
    }

    /// <summary>An integration API client with an optional API key.</summary>
    public HttpClient IntegrationClient(string? apiKey)
    {
        var client = CreateClient(new WebApplicationFactoryClientOptions { BaseAddress = new Uri(IntegrationBase), HandleCookies = false, AllowAutoRedirect = false });
        if (apiKey is not null)
        {
            client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        }
        return client;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            // PANGOLIN_TEST_LOGS=<folder> keeps every server's log for debugging a failed test.
            if (Environment.GetEnvironmentVariable("PANGOLIN_TEST_LOGS") is { Length: > 0 } folder)
            {
                Directory.CreateDirectory(folder);
                File.WriteAllLines(Path.Combine(folder, $"{Kind}-{Path.GetFileName(DataDirectory)}-{Guid.NewGuid().ToString("N")[..6]}.log"), Logs);
            }
            Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
            try
            {
                if (_ownsData)
                {
                    Directory.Delete(DataDirectory, recursive: true);
                }
            }
            catch (IOException)
            {
            }
        }
    }

    /// <summary>The in-memory test server has no sockets; take the listener port from the request's Host, as Kestrel would.</summary>
    private sealed class ListenerPortFilter : IStartupFilter
    {
        public Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> Configure(Action<Microsoft.AspNetCore.Builder.IApplicationBuilder> next) => app =>
        {
            app.Use(nextMiddleware => context =>
            {
                context.Connection.LocalPort = context.Request.Host.Port ?? 80;
                context.Connection.RemoteIpAddress ??= System.Net.IPAddress.Loopback;
                return nextMiddleware(context);
            });
            next(app);
        };
    }

    private sealed class CaptureLoggerProvider(ConcurrentQueue<string> sink) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new CaptureLogger(categoryName, sink);

        public void Dispose()
        {
        }

        private sealed class CaptureLogger(string category, ConcurrentQueue<string> sink) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state)
                where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
            {
                var line = $"{logLevel} {category}: {formatter(state, exception)}";
                if (state is IEnumerable<KeyValuePair<string, object?>> values)
                {
                    line += " | " + string.Join(", ", values.Select(v => $"{v.Key}={v.Value}"));
                }
                sink.Enqueue(exception is null ? line : line + " " + exception);
            }
        }
    }
}
