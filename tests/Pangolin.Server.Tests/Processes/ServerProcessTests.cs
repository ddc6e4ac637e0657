using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Pangolin.Server.Tests.Infrastructure;

namespace Pangolin.Server.Tests.Processes;

/// <summary>One real `pangolin` process on free loopback ports, shared by the tests of a class.</summary>
public sealed class RunningServer : IAsyncLifetime
{
    public string Dir { get; } = Directory.CreateTempSubdirectory("pangolin-process-").FullName;
    public int External { get; } = SmtpTestServer.FreePort();
    public int Integration { get; } = SmtpTestServer.FreePort();
    public int Internal { get; } = SmtpTestServer.FreePort();
    public ServerProcess? Process { get; private set; }

    public async ValueTask InitializeAsync()
    {
        Process = ServerProcess.Start(Dir, "--Server:ListenAddress=127.0.0.1", $"--Server:ExternalPort={External}",
            $"--Server:IntegrationPort={Integration}", $"--Server:InternalPort={Internal}", $"--App:DashboardUrl=http://127.0.0.1:{External}");
        await Process.WaitForOutputAsync("===================");
    }

    public async ValueTask DisposeAsync()
    {
        if (Process is not null)
        {
            await Process.DisposeAsync();
        }
        Directory.Delete(Dir, recursive: true);
    }
}

/// <summary>The real program on real sockets: it starts on its embedded defaults, prints where it listens and the setup token, and keeps each API on its port.</summary>
public sealed class ServerProcessTests(RunningServer running) : IClassFixture<RunningServer>
{
    private readonly string _dir = running.Dir;
    private readonly int _external = running.External;
    private readonly int _integration = running.Integration;
    private readonly int _internal = running.Internal;
    private readonly ServerProcess? _server = running.Process;

    [Fact]
    public async Task It_starts_on_sqlite_under_the_working_directory_and_prints_its_address_and_a_setup_token()
    {
        Assert.Contains($"dashboard and API at http://127.0.0.1:{_external}", _server!.Stdout, StringComparison.Ordinal);
        Assert.Contains("SETUP TOKEN", _server.Stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(_dir, "data", "pangolin.db")), "the SQLite file lives in ./data");
        Assert.True(File.Exists(Path.Combine(_dir, "data", "server-secret")));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_dir, "data", "server-secret")));
        }

        using var http = new HttpClient();
        var token = _server.Stdout.Split('\n').SkipWhile(l => !l.Contains("SETUP TOKEN", StringComparison.Ordinal)).Skip(1).First().Trim();
        using var setup = new HttpRequestMessage(HttpMethod.Put, $"http://127.0.0.1:{_external}/api/v1/auth/set-server-admin")
        {
            Content = JsonContent.Create(new { email = "root@example.com", password = "Process-Test-1", setupToken = token }),
        };
        setup.Headers.Add("X-CSRF-Token", "x-csrf-protection");
        using var response = await http.SendAsync(setup);
        Assert.True(response.StatusCode == HttpStatusCode.OK, $"{response.StatusCode}: {await response.Content.ReadAsStringAsync()} (token '{token}')");
    }

    [Fact]
    public async Task Health_endpoints_answer_on_every_listener()
    {
        using var http = new HttpClient();
        foreach (var port in new[] { _external, _integration, _internal })
        {
            Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{port}/healthz")).StatusCode);
            var ready = await http.GetAsync($"http://127.0.0.1:{port}/readyz");
            Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
            Assert.Equal("Healthy", await ready.Content.ReadAsStringAsync());
        }
    }

    [Fact]
    public async Task Each_api_answers_only_on_its_own_port()
    {
        using var http = new HttpClient();
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{_external}/api/v1/")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync($"http://127.0.0.1:{_integration}/v1/")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://127.0.0.1:{_external}/v1/orgs")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://127.0.0.1:{_integration}/api/v1/user")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://127.0.0.1:{_internal}/api/v1/user")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await http.GetAsync($"http://127.0.0.1:{_internal}/v1/orgs")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await http.GetAsync($"http://127.0.0.1:{_integration}/v1/orgs")).StatusCode);
    }

    [Fact]
    public async Task The_api_reference_and_openapi_document_are_served_on_the_integration_port()
    {
        using var http = new HttpClient();
        var doc = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{_integration}/v1/openapi.json")).RootElement;
        Assert.StartsWith("3.", doc.GetProperty("openapi").GetString(), StringComparison.Ordinal);
        Assert.True(doc.GetProperty("paths").TryGetProperty("/v1/org/{orgId}/resources", out _));
        Assert.Equal("bearer", doc.GetProperty("components").GetProperty("securitySchemes").GetProperty("apiKey").GetProperty("scheme").GetString());
        var optionalInt = doc.GetProperty("components").GetProperty("schemas").GetProperty("OptionalOfint").GetProperty("type").GetRawText();
        Assert.Contains("integer", optionalInt, StringComparison.Ordinal);
        Assert.DoesNotContain("string", optionalInt, StringComparison.Ordinal); // numbers are strict

        // The reference page and its script are served locally: no CDN is needed (or reachable) to browse it.
        var page = await http.GetAsync($"http://127.0.0.1:{_integration}/v1/docs/");
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains("text/html", page.Content.Headers.ContentType?.MediaType, StringComparison.Ordinal);
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("scalar.js", html, StringComparison.Ordinal);
        Assert.DoesNotContain("cdn.", html, StringComparison.OrdinalIgnoreCase);
        var script = await http.GetAsync($"http://127.0.0.1:{_integration}/v1/docs/scalar.js");
        Assert.Equal(HttpStatusCode.OK, script.StatusCode);
        Assert.True((await script.Content.ReadAsByteArrayAsync()).Length > 100_000);
        var dashboard = JsonDocument.Parse(await http.GetStringAsync($"http://127.0.0.1:{_external}/api/v1/openapi/dashboard.json")).RootElement;
        Assert.True(dashboard.GetProperty("paths").TryGetProperty("/api/v1/auth/login", out _));
    }

    [Fact]
    public async Task The_admin_cli_works_on_the_database_of_the_running_server()
    {
        using var http = new HttpClient();
        using var signup = new HttpRequestMessage(HttpMethod.Put, $"http://127.0.0.1:{_external}/api/v1/auth/signup")
        {
            Content = JsonContent.Create(new { email = "ops@example.com", password = "Signed-Up-Pass-1" }),
        };
        signup.Headers.Add("X-CSRF-Token", "x-csrf-protection");
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(signup)).StatusCode);

        // While the server runs (SQLite in WAL mode), the CLI changes the user's password.
        var (exit, stdout, stderr) = await ServerProcess.RunAsync(_dir, "Cli-While-Running-1", "admin", "reset-password", "--email", "ops@example.com", "--password", "-");
        Assert.True(exit == 0, stderr);
        Assert.Contains("ops@example.com", stdout, StringComparison.Ordinal);
        (exit, stdout, stderr) = await ServerProcess.RunAsync(_dir, null, "admin", "list-users");
        Assert.True(exit == 0, stderr);
        Assert.Contains("ops@example.com", stdout, StringComparison.Ordinal);

        using var login = new HttpRequestMessage(HttpMethod.Post, $"http://127.0.0.1:{_external}/api/v1/auth/login")
        {
            Content = JsonContent.Create(new { email = "ops@example.com", password = "Cli-While-Running-1" }),
        };
        login.Headers.Add("X-CSRF-Token", "x-csrf-protection");
        Assert.Equal(HttpStatusCode.OK, (await http.SendAsync(login)).StatusCode);

        (exit, _, stderr) = await ServerProcess.RunAsync(_dir, null, "admin", "disable-2fa", "--email", "ghost@example.com");
        Assert.Equal(1, exit);
        Assert.Equal("pangolin admin: no user with the e-mail ghost@example.com", stderr.Trim());
    }
}
