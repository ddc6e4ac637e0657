using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Microsoft.Data.Sqlite;
using NSec.Cryptography;
using Pangolin.Gerbil.Tests.Infrastructure;
using Pangolin.Protocol;
using Pangolin.Protocol.Gerbil;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Tests;

/// <summary>
/// Our gerbil against our server, both as processes: `dotnet pangolin.dll` on free loopback ports with its SQLite
/// file in a scratch directory, and a userspace gerbil pointed at the server's internal port.
/// </summary>
public sealed class RealServerTests : IAsyncDisposable
{
    private static readonly TimeSpan ServerStart = TimeSpan.FromSeconds(90);
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("gerbil-real-server-");

    /// <summary>The server on free loopback ports; returns it and its internal port.</summary>
    private async Task<(ChildProcess Server, int InternalPort)> StartServerAsync(params string[] settings)
    {
        var (external, integration, @internal) = (Ports.FreeTcp(), Ports.FreeTcp(), Ports.FreeTcp());
        var server = ChildProcess.Start(ChildProcess.PangolinDll, null, _dir.FullName,
            new Dictionary<string, string> { ["DOTNET_ENVIRONMENT"] = "Production", ["Gerbil__ListenPort"] = "0" },
            [
                "--Server:ListenAddress=127.0.0.1", $"--Server:ExternalPort={external}", $"--Server:IntegrationPort={integration}",
                $"--Server:InternalPort={@internal}", $"--App:DashboardUrl=http://127.0.0.1:{external}", .. settings,
            ]);
        await server.WaitForOutputAsync("===================", ServerStart);
        return (server, @internal);
    }

    [Fact]
    public async Task The_server_registers_the_gerbil_in_exit_nodes_and_accepts_its_bandwidth_report()
    {
        var (server, @internal) = await StartServerAsync();
        await using var serverScope = server;

        var keyPath = Path.Combine(_dir.FullName, "gerbil.key");
        var nodeKey = KeyFile.LoadOrCreate(keyPath, out _).PublicKey();
        var (apiPort, udpPort) = (Ports.FreeTcp(), Ports.FreeUdp());
        await using var gerbil = ChildProcess.StartGerbil(null, "--remote-config", $"http://127.0.0.1:{@internal}/api/v1", "--mode", "userspace",
            "--reachable-at", $"http://127.0.0.1:{apiPort}", "--listen-port", udpPort.ToString(CultureInfo.InvariantCulture),
            "--endpoint", "127.0.0.1", "--generate-and-save-key-to", keyPath, "--log-level", "DEBUG");
        await gerbil.WaitForOutputAsync("Exit node up");

        var row = ReadExitNode(nodeKey);
        Assert.True(row is not null, "exit_nodes has no row for the gerbil's key\n" + gerbil.Output());
        Assert.Equal($"http://127.0.0.1:{apiPort}", row.ReachableAt);
        Assert.Equal("127.0.0.1", row.Endpoint);
        Assert.Equal(udpPort, row.ListenPort);
        Assert.True(row.Online);
        Assert.Equal("gerbil", row.Type);
        Assert.EndsWith(".1/24", row.Address, StringComparison.Ordinal);
        Assert.Contains($"address {row.Address}", string.Join('\n', gerbil.Stdout), StringComparison.Ordinal);

        // The server would add the site's peer when a newt registers on this node; the test does it the same way.
        var nodeAddress = IPAddress.Parse(row.Address.Split('/')[0]);
        var siteAddress = new IPAddress(nodeAddress.GetAddressBytes()[..3].Append((byte)4).ToArray());
        await using var site = Site.Dial(nodeKey, udpPort, nodeAddress, siteAddress);
        using var http = new HttpClient { BaseAddress = new Uri(row.ReachableAt!) };
        using (var added = await http.PostAsJsonAsync("/peer", new GerbilPeer { PublicKey = site.PublicKey.ToBase64(), AllowedIps = [site.Block] },
            ProtocolJsonContext.Default.GerbilPeer, TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }
        Assert.True(await site.ReachesNodeAsync(Site.Within), "the site did not reach the gerbil\n" + gerbil.Output());

        // SIGTERM sends the last report at once rather than after up to 10 s.
        gerbil.Terminate();
        Assert.Equal(0, await gerbil.WaitForExitAsync());
        Assert.True(gerbil.Stdout.Any(l => l.Contains("Bandwidth reported for 1 peers", StringComparison.Ordinal)),
            "the server did not accept the report\n" + gerbil.Output() + "\n" + server.Output());
        Assert.DoesNotContain(gerbil.Stdout, l => l.Contains("Bandwidth report to", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_gerbil_with_the_servers_signing_key_and_token_comes_up_and_one_with_another_key_does_not()
    {
        using var signing = Key.Create(SignatureAlgorithm.Ed25519, new KeyCreationParameters { ExportPolicy = KeyExportPolicies.AllowPlaintextExport });
        const string Token = "real-server-and-gerbil-control-token-0123";
        var (server, @internal) = await StartServerAsync(
            $"--Gerbil:ConfigSigningKey={Convert.ToBase64String(signing.Export(KeyBlobFormat.RawPrivateKey))}", $"--Gerbil:ControlApiToken={Token}");
        await using var serverScope = server;
        var publicKey = Convert.ToBase64String(signing.PublicKey.Export(KeyBlobFormat.RawPublicKey));
        await server.WaitForOutputAsync("REMOTE_CONFIG_SIGNING_KEY=" + publicKey);

        ChildProcess Gerbil(string signingKey, int apiPort) => ChildProcess.StartGerbil(
            new Dictionary<string, string> { ["REMOTE_CONFIG_SIGNING_KEY"] = signingKey, ["CONTROL_API_TOKEN"] = Token },
            "--remote-config", $"http://127.0.0.1:{@internal}/api/v1", "--mode", "userspace", "--reachable-at", $"http://127.0.0.1:{apiPort}",
            "--listen-port", Ports.FreeUdp().ToString(CultureInfo.InvariantCulture), "--endpoint", "127.0.0.1", "--log-level", "DEBUG");

        var otherKey = Convert.ToBase64String(Key.Create(SignatureAlgorithm.Ed25519).PublicKey.Export(KeyBlobFormat.RawPublicKey));
        await using (var misled = Gerbil(otherKey, Ports.FreeTcp()))
        {
            await misled.WaitForOutputAsync("X-Gerbil-Config-Signature is not REMOTE_CONFIG_SIGNING_KEY's signature of its body");
            Assert.DoesNotContain(misled.Stdout, l => l.Contains("Exit node up", StringComparison.Ordinal));
        }

        var apiPort = Ports.FreeTcp();
        await using var gerbil = Gerbil(publicKey, apiPort);
        await gerbil.WaitForOutputAsync("Exit node up");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{apiPort}") };
        var site = new GerbilPeer { PublicKey = WgKey.GeneratePrivate().PublicKey().ToBase64(), AllowedIps = ["100.89.138.4/30"] };
        using (var refused = await http.PostAsJsonAsync("/peer", site, ProtocolJsonContext.Default.GerbilPeer, TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }
        using var request = new HttpRequestMessage(HttpMethod.Post, "/peer") { Content = JsonContent.Create(site, ProtocolJsonContext.Default.GerbilPeer) };
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        using var added = await http.SendAsync(request, TestContext.Current.CancellationToken);
        Assert.Equal(HttpStatusCode.Created, added.StatusCode);
    }

    private sealed record ExitNodeRow(string Address, string? ReachableAt, string Endpoint, int ListenPort, bool Online, string Type);

    private ExitNodeRow? ReadExitNode(WgKey publicKey)
    {
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = Path.Combine(_dir.FullName, "data", "pangolin.db"),
            Mode = SqliteOpenMode.ReadOnly,
            Pooling = false,
        };
        using var connection = new SqliteConnection(builder.ToString());
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT address, reachable_at, endpoint, listen_port, online, type FROM exit_nodes WHERE public_key = $key";
        command.Parameters.AddWithValue("$key", publicKey.ToBase64());
        using var reader = command.ExecuteReader();
        return reader.Read()
            ? new ExitNodeRow(reader.GetString(0), reader.IsDBNull(1) ? null : reader.GetString(1), reader.GetString(2), reader.GetInt32(3),
                reader.GetBoolean(4), reader.GetString(5))
            : null;
    }

    public ValueTask DisposeAsync()
    {
        _dir.Delete(recursive: true);
        return ValueTask.CompletedTask;
    }
}
