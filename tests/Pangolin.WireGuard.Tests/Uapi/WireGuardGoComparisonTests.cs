using System.Diagnostics;
using System.Runtime.Versioning;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Tests.Infrastructure;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.WireGuard.Tests.Uapi;

/// <summary>
/// The same `wg` commands sent to Debian's wireguard-go (in a network namespace of its own, on a real TUN device) and
/// to our server: the raw get=1 answers must be the same text, and malformed requests the same errno.
/// </summary>
[SupportedOSPlatform("linux")]
public sealed class WireGuardGoComparisonTests : IAsyncLifetime
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);
    private readonly UapiScratch _ours = new();
    private readonly UapiScratch _theirs = new();
    private readonly InMemoryDevice _device = new();
    private string Namespace => _theirs.Interface + "ns";
    private WireGuardGoProcess? _wireguardGo;
    private UapiServer? _server;

    public async ValueTask InitializeAsync()
    {
        await RunAsync("ip", "netns", "add", Namespace);
        _wireguardGo = await WireGuardGoProcess.StartAsync(Namespace, _theirs.Interface);
        _server = UapiServer.Start(_ours.Interface, _device);
    }

    public async ValueTask DisposeAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
        if (_wireguardGo is not null)
        {
            await _wireguardGo.DisposeAsync();
        }
        await RunAsync("ip", "netns", "del", Namespace);
        _ours.Dispose();
        _theirs.Dispose();
    }

    private static async Task RunAsync(string file, params string[] args)
    {
        using var process = Process.Start(file, args);
        using var timeout = new CancellationTokenSource(Within);
        await process.WaitForExitAsync(timeout.Token);
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {process.ExitCode}");
    }

    private static async Task<string> GetAsync(string interfaceName)
    {
        await using var client = await RawUapiClient.ConnectAsync(Path.Combine(UapiServerOptions.DefaultSocketDirectory, interfaceName + ".sock"));
        await client.SendAsync("get=1\n\n");
        return await client.ReadAnswerAsync() ?? throw new InvalidOperationException("no answer");
    }

    /// <summary>wireguard-go lists peers in Go map order (random); compare with the peer blocks sorted.</summary>
    private static string Canonical(string answer)
    {
        const string End = "errno=0\n\n";
        Assert.EndsWith(End, answer, StringComparison.Ordinal);
        var blocks = answer[..^End.Length].Split("public_key=");
        return blocks[0] + string.Concat(blocks[1..].Order(StringComparer.Ordinal).Select(b => "public_key=" + b)) + End;
    }

    private async Task BothAsync(params string[] args)
    {
        await Wg.OkAsync([args[0], _ours.Interface, .. args[1..]]);
        await Wg.OkAsync([args[0], _theirs.Interface, .. args[1..]]);
    }

    [Fact]
    public async Task The_same_wg_commands_give_the_same_get_answer_as_wireguard_go()
    {
        var key = _ours.WriteFile("device.key", WgKey.GeneratePrivate().ToBase64());
        var psk = _ours.WriteFile("psk", WgKey.GeneratePreshared().ToBase64());
        var peers = await Task.WhenAll(Enumerable.Range(0, 3).Select(_ => Wg.PublicKeyAsync(WgKey.GeneratePrivate().ToBase64())));

        await BothAsync("set", "private-key", key, "listen-port", "51820", "fwmark", "0x1234",
            "peer", peers[0], "preshared-key", psk, "endpoint", "192.0.2.1:51820", "persistent-keepalive", "25",
            "allowed-ips", "10.0.0.1/24,fd00::/64,192.168.0.0/16",
            "peer", peers[1], "endpoint", "[2001:db8::1]:443", "allowed-ips", "10.1.0.0/16,192.168.0.0/16");
        await BothAsync("set", "peer", peers[2], "allowed-ips", "10.2.0.0/16");
        await BothAsync("set", "peer", peers[2], "remove");
        await BothAsync("set", "peer", peers[0], "persistent-keepalive", "off", "allowed-ips", "10.0.0.0/24,fd00::/64");

        var ours = await GetAsync(_ours.Interface);
        Assert.Equal(Canonical(await GetAsync(_theirs.Interface)), Canonical(ours));
        // The answer is not trivially equal: two peers, the moved allowed IP, the masked one, both endpoints.
        Assert.Equal(2, ours.Split("public_key=").Length - 1);
        Assert.Contains("endpoint=[2001:db8::1]:443\n", ours, StringComparison.Ordinal);
        Assert.Contains("allowed_ip=10.0.0.0/24\n", ours, StringComparison.Ordinal);
        Assert.Equal(1, ours.Split("allowed_ip=192.168.0.0/16").Length - 1);
    }

    [Theory]
    [InlineData("set=1\nbogus=1\n\n")]
    [InlineData("set=1\nlisten_port\n\n")]
    [InlineData("set=1\nlisten_port=65536\n\n")]
    [InlineData("set=1\nfwmark=0x1\n\n")]
    [InlineData("set=1\nreplace_peers=false\n\n")]
    [InlineData("set=1\nendpoint=192.0.2.1:1\n\n")]
    [InlineData("set=1\nprivate_key=abc\n\n")]
    [InlineData("set=1\npublic_key=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\nendpoint=192.0.2.1\n\n")]
    [InlineData("set=1\npublic_key=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\nallowed_ip=10.0.0.0/33\n\n")]
    [InlineData("set=1\npublic_key=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\nprotocol_version=2\n\n")]
    [InlineData("set=1\npublic_key=" + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + "\nlisten_port=1\n\n")]
    [InlineData("set=1\nlisten_port=1\r\n\n")]
    [InlineData("get=1\nx\n\n")]
    public async Task A_request_gets_the_same_errno_as_from_wireguard_go(string request)
    {
        async Task<string?> AnswerAsync(string interfaceName)
        {
            await using var client = await RawUapiClient.ConnectAsync(Path.Combine(UapiServerOptions.DefaultSocketDirectory, interfaceName + ".sock"));
            await client.SendAsync(request);
            return await client.ReadAnswerAsync();
        }
        var theirs = await AnswerAsync(_theirs.Interface);
        Assert.StartsWith("errno=", theirs, StringComparison.Ordinal);
        Assert.Equal(theirs, await AnswerAsync(_ours.Interface));
    }
}
