using System.Net;
using System.Net.Http.Json;
using Pangolin.Gerbil.Tests.Infrastructure;
using Pangolin.Protocol;
using Pangolin.Protocol.Gerbil;
using Pangolin.WireGuard.Configuration;

namespace Pangolin.Gerbil.Tests;

/// <summary>gerbil.dll as a process against the fake server: the command line, the key file, exit codes and signals.</summary>
public sealed class GerbilProcessTests : IAsyncLifetime
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("gerbil-process-");
    private FakeControlServer _control = null!;

    public async ValueTask InitializeAsync() => _control = await FakeControlServer.StartAsync();

    private string KeyPath => Path.Combine(_dir.FullName, "key");

    /// <summary>A userspace gerbil on free ports; the fake tells it which UDP port to listen on.</summary>
    private ChildProcess StartGerbil(out int apiPort, out int udpPort, params string[] extra)
    {
        apiPort = Ports.FreeTcp();
        udpPort = Ports.FreeUdp();
        _control.Config = _control.Config with { ListenPort = udpPort };
        return ChildProcess.StartGerbil(null, ["--remote-config", _control.BaseUrl.ToString(), "--mode", "userspace",
            "--reachable-at", $"http://127.0.0.1:{apiPort}", "--listen-port", udpPort.ToString(System.Globalization.CultureInfo.InvariantCulture), .. extra]);
    }

    [Fact]
    public async Task A_key_file_is_created_with_mode_0600_and_the_next_run_registers_with_the_same_key()
    {
        string firstKey;
        await using (var first = StartGerbil(out _, out _, "--generate-and-save-key-to", KeyPath))
        {
            await first.WaitForOutputAsync("Exit node up");
            first.Terminate();
            Assert.Equal(0, await first.WaitForExitAsync());
            firstKey = Assert.Single(_control.GetConfigCalls).Body.PublicKey;
        }
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(KeyPath));
        Assert.Equal(KeyFile.LoadOrCreate(KeyPath, out _).PublicKey().ToBase64(), firstKey);

        await using var second = StartGerbil(out _, out _, "--generate-and-save-key-to", KeyPath);
        await second.WaitForOutputAsync("Exit node up");

        Assert.Equal(firstKey, _control.GetConfigCalls[^1].Body.PublicKey);
        Assert.Contains(second.Stdout, l => l.Contains("Private key read", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_world_readable_key_file_is_refused_with_one_line_and_exit_2()
    {
        File.WriteAllText(KeyPath, WgKey.GeneratePrivate().ToBase64());
        File.SetUnixFileMode(KeyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);

        await using var gerbil = StartGerbil(out _, out _, "--generate-and-save-key-to", KeyPath);

        Assert.Equal(2, await gerbil.WaitForExitAsync());
        var message = Assert.Single(gerbil.Stderr, l => l.Length > 0);
        Assert.Equal($"gerbil: key file {KeyPath} is accessible by group or others (mode 0644); chmod 600 it", message);
        Assert.Empty(_control.GetConfigCalls);
    }

    [Fact]
    public async Task A_bad_flag_is_one_line_and_exit_2()
    {
        await using var gerbil = ChildProcess.StartGerbil(null, "--remote-config", _control.BaseUrl.ToString(), "--mode", "kernel");

        Assert.Equal(2, await gerbil.WaitForExitAsync());
        Assert.Equal("gerbil: --mode: \"kernel\" is not tun or userspace", Assert.Single(gerbil.Stderr, l => l.Length > 0));
        Assert.DoesNotContain(gerbil.Stdout, l => l.Length > 0);
    }

    [Fact]
    public async Task A_port_already_taken_for_the_API_is_one_line_and_exit_1()
    {
        using var taken = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        taken.Start();
        var port = ((IPEndPoint)taken.LocalEndpoint).Port;

        await using var gerbil = ChildProcess.StartGerbil(null, "--remote-config", _control.BaseUrl.ToString(), "--mode", "userspace",
            "--reachable-at", $"http://127.0.0.1:{port}");

        Assert.Equal(1, await gerbil.WaitForExitAsync());
        Assert.StartsWith("gerbil: cannot start the peer API: ", Assert.Single(gerbil.Stderr, l => l.Length > 0), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Configured_by_upstreams_environment_alone_it_serves_sites_and_on_SIGTERM_sends_a_last_report_and_exits_0()
    {
        var apiPort = Ports.FreeTcp();
        var udpPort = Ports.FreeUdp();
        _control.Config = _control.Config with { ListenPort = udpPort };
        await using var gerbil = ChildProcess.StartGerbil(new Dictionary<string, string>
        {
            // Upstream's legacy form of the URL, with the route on the end.
            ["REMOTE_CONFIG"] = _control.BaseUrl + "/gerbil/get-config",
            ["REACHABLE_AT"] = $"http://127.0.0.1:{apiPort}",
            ["GENERATE_AND_SAVE_KEY_TO"] = KeyPath,
            ["LOG_LEVEL"] = "DEBUG",
        }, "--mode", "userspace");
        await gerbil.WaitForOutputAsync("Exit node up");
        var call = Assert.Single(_control.GetConfigCalls);
        Assert.Equal($"http://127.0.0.1:{apiPort}", call.Body.ReachableAt);
        Assert.Equal(51820, call.Body.ListenPort);
        var nodeKey = WgKey.FromBase64(call.Body.PublicKey);

        await using var site = Site.Dial(nodeKey, udpPort, IPAddress.Parse("100.89.138.1"), IPAddress.Parse("100.89.138.4"));
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{apiPort}") };
        using (var added = await http.PostAsJsonAsync("/peer", new GerbilPeer { PublicKey = site.PublicKey.ToBase64(), AllowedIps = [site.Block] },
            ProtocolJsonContext.Default.GerbilPeer, TestContext.Current.CancellationToken))
        {
            Assert.Equal(HttpStatusCode.Created, added.StatusCode);
        }
        Assert.True(await site.ReachesNodeAsync(Site.Within), "the site did not reach gerbil\n" + gerbil.Output());

        gerbil.Terminate();

        Assert.Equal(0, await gerbil.WaitForExitAsync());
        var last = Assert.Single(_control.AcceptedBandwidth, b => b.PublicKey == site.PublicKey.ToBase64());
        Assert.True(last.BytesIn > 0 && last.BytesOut > 0, $"in {last.BytesIn} MB, out {last.BytesOut} MB");
        Assert.Contains(gerbil.Stdout, l => l.Contains("Stopped", StringComparison.Ordinal));
    }

    [Fact]
    public async Task SIGTERM_while_the_server_is_still_refusing_get_config_exits_0()
    {
        _control.RefuseGetConfig(int.MaxValue);
        await using var gerbil = StartGerbil(out _, out _);
        Assert.True(await WireGuard.Tests.Infrastructure.Eventually.TrueAsync(() => _control.GetConfigCalls.Count >= 1, ChildProcess.Within),
            gerbil.Output());

        gerbil.Terminate();

        Assert.Equal(0, await gerbil.WaitForExitAsync());
    }

    public async ValueTask DisposeAsync()
    {
        await _control.DisposeAsync();
        _dir.Delete(recursive: true);
    }
}
