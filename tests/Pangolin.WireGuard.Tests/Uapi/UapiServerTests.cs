using System.Net.Sockets;
using System.Runtime.Versioning;
using System.Text;
using Pangolin.WireGuard.Configuration;
using Pangolin.WireGuard.Tests.Infrastructure;
using Pangolin.WireGuard.Uapi;

namespace Pangolin.WireGuard.Tests.Uapi;

/// <summary>The socket, its lifetime and its bounds, through raw connections.</summary>
[SupportedOSPlatform("linux")]
public sealed class UapiServerTests : IDisposable
{
    private static readonly TimeSpan Within = TimeSpan.FromSeconds(10);
    private readonly UapiScratch _scratch = new();
    private readonly InMemoryDevice _device = new();

    public void Dispose() => _scratch.Dispose();

    private UapiServer Start(UapiServerOptions? options = null, CapturingLogger? logger = null) =>
        UapiServer.Start(_scratch.Interface, _device, options ?? new UapiServerOptions(), logger);

    private UapiServerOptions InScratch(string sub = "run") => new() { SocketDirectory = Path.Combine(_scratch.Directory, sub) };

    [Fact]
    public async Task The_socket_is_owner_only_in_a_0755_directory_created_if_missing()
    {
        var options = InScratch("a/wireguard");
        await using var server = Start(options);
        Assert.Equal(Path.Combine(options.SocketDirectory, _scratch.Interface + ".sock"), server.SocketPath);
        Assert.Equal((UnixFileMode)Convert.ToInt32("755", 8), File.GetUnixFileMode(options.SocketDirectory));
        Assert.Equal((UnixFileMode)Convert.ToInt32("700", 8), File.GetUnixFileMode(server.SocketPath));
    }

    [Fact]
    public async Task Operations_on_one_connection_are_answered_in_order_until_end_of_stream()
    {
        await using var server = Start(InScratch());
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("set=1\nlisten_port=7\n\nget=1\n\nset=1\nfwmark=9\n\nget=1\n\n");
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());
        Assert.Equal("listen_port=7\nerrno=0\n\n", await client.ReadAnswerAsync());
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());
        Assert.Equal("listen_port=7\nfwmark=9\nerrno=0\n\n", await client.ReadAnswerAsync());
    }

    [Fact]
    public async Task An_unknown_key_answers_einval_applies_nothing_and_the_connection_stays_usable()
    {
        await using var server = Start(InScratch());
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("set=1\nlisten_port=5\nbogus=1\nfwmark=3\n\n");
        Assert.Equal("errno=-22\n\n", await client.ReadAnswerAsync());
        Assert.Equal(0, _device.ConfigureCount);
        await client.SendAsync("get=1\n\n");
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());
    }

    [Fact]
    public async Task A_line_without_equals_answers_eproto_as_wireguard_go_does()
    {
        await using var server = Start(InScratch());
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("set=1\nlisten_port\n\n");
        Assert.Equal("errno=-71\n\n", await client.ReadAnswerAsync());
    }

    [Fact]
    public async Task Unknown_operations_and_a_get_with_trailing_lines_answer_einval_and_keep_the_connection()
    {
        await using var server = Start(InScratch());
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("get=2\n\n");
        Assert.Equal("errno=-22\n\n", await client.ReadAnswerAsync());
        await client.SendAsync("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        Assert.Equal("errno=-22\n\n", await client.ReadAnswerAsync());
        await client.SendAsync("get=1\nlisten_port=1\n\n");
        Assert.Equal("errno=-22\n\n", await client.ReadAnswerAsync());
        await client.SendAsync("\n");
        Assert.Equal("errno=-22\n\n", await client.ReadAnswerAsync());
        await client.SendAsync("get=1\n\n");
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());
    }

    [Fact]
    public async Task A_device_refusal_answers_its_errno_and_a_device_bug_answers_enoano()
    {
        _device.Refuse = u => u.ListenPort switch
        {
            1 => new ConfigurationException("taken", ConfigurationException.AddressInUse),
            2 => throw new InvalidOperationException("device bug"),
            _ => null,
        };
        await using var server = Start(InScratch());
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("set=1\nlisten_port=1\n\n");
        Assert.Equal("errno=-98\n\n", await client.ReadAnswerAsync());
        await client.SendAsync("set=1\nlisten_port=2\n\n");
        Assert.Equal("errno=-55\n\n", await client.ReadAnswerAsync());
        await client.SendAsync("set=1\nlisten_port=3\n\n");
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());
    }

    [Fact]
    public async Task An_over_long_line_is_skipped_without_being_kept_answered_einval_and_the_connection_stays_usable()
    {
        await using var server = Start(InScratch());
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("set=1\nlisten_port=" + new string('1', 1 << 20) + "\n\n");
        Assert.Equal("errno=-22\n\n", await client.ReadAnswerAsync());
        await client.SendAsync(new string('x', 100_000) + "\n\n");
        Assert.Equal("errno=-22\n\n", await client.ReadAnswerAsync());
        await client.SendAsync("set=1\nlisten_port=6\n\n");
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());
        Assert.Equal(6, _device.GetConfiguration().ListenPort);
    }

    [Fact]
    public async Task A_request_over_the_size_bound_answers_e2big_and_applies_nothing()
    {
        var options = new UapiServerOptions { SocketDirectory = InScratch().SocketDirectory, MaxRequestBytes = 4096 };
        await using var server = Start(options);
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        var request = new StringBuilder("set=1\n").Append("public_key=").Append('a', 64).Append('\n');
        for (var i = 0; i < 1000; i++)
        {
            request.Append("allowed_ip=10.").Append(i / 256).Append('.').Append(i % 256).Append(".0/24\n");
        }
        await client.SendAsync(request.Append('\n').ToString());
        Assert.Equal("errno=-7\n\n", await client.ReadAnswerAsync());
        Assert.Equal(0, _device.ConfigureCount);

        // Under the bound, the same kind of request goes through on the same connection.
        await client.SendAsync($"set=1\npublic_key={new string('a', 64)}\nallowed_ip=10.0.0.0/24\n\n");
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());
    }

    [Fact]
    public async Task A_request_cut_short_by_end_of_stream_is_not_applied()
    {
        await using var server = Start(InScratch());
        var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("set=1\nlisten_port=9\n");
        await client.DisposeAsync();
        Assert.True(await Eventually.TrueAsync(() => server.ConnectionCount == 0, Within));
        Assert.Equal(0, _device.ConfigureCount);
    }

    [Fact]
    public async Task An_idle_connection_is_closed_after_the_idle_timeout()
    {
        var options = new UapiServerOptions { SocketDirectory = InScratch().SocketDirectory, IdleTimeout = TimeSpan.FromMilliseconds(200) };
        await using var server = Start(options);
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("get=1\n\n");
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());
        Assert.True(await client.ClosedByServerAsync(Within));
    }

    [Fact]
    public async Task A_trickled_request_is_cut_off_after_the_request_timeout()
    {
        var options = new UapiServerOptions { SocketDirectory = InScratch().SocketDirectory, RequestTimeout = TimeSpan.FromMilliseconds(300) };
        await using var server = Start(options);
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("set=1\n");
        Assert.True(await client.ClosedByServerAsync(Within));
        Assert.Equal(0, _device.ConfigureCount);
    }

    [Fact]
    public async Task Connections_over_the_limit_are_closed_and_others_are_served_once_a_slot_frees()
    {
        var options = new UapiServerOptions { SocketDirectory = InScratch().SocketDirectory, MaxConnections = 2 };
        await using var server = Start(options);
        var first = await RawUapiClient.ConnectAsync(server.SocketPath);
        await using var second = await RawUapiClient.ConnectAsync(server.SocketPath);
        Assert.True(await Eventually.TrueAsync(() => server.ConnectionCount == 2, Within));

        await using (var third = await RawUapiClient.ConnectAsync(server.SocketPath))
        {
            Assert.True(await third.ClosedByServerAsync(Within));
        }

        await first.DisposeAsync();
        Assert.True(await Eventually.TrueAsync(() => server.ConnectionCount == 1, Within));
        await using var fourth = await RawUapiClient.ConnectAsync(server.SocketPath);
        await fourth.SendAsync("get=1\n\n");
        Assert.Equal("errno=0\n\n", await fourth.ReadAnswerAsync());
    }

    [Fact]
    public async Task Start_refuses_a_socket_another_server_answers_on()
    {
        var options = InScratch();
        await using var server = Start(options);
        var error = Assert.Throws<IOException>(() => UapiServer.Start(_scratch.Interface, new InMemoryDevice(), options));
        Assert.Contains("in use", error.Message, StringComparison.Ordinal);

        // The first server is untouched.
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("get=1\n\n");
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());
    }

    [Fact]
    public async Task Start_replaces_a_stale_socket_left_by_a_dead_process()
    {
        var options = InScratch();
        Directory.CreateDirectory(options.SocketDirectory);
        var path = Path.Combine(options.SocketDirectory, _scratch.Interface + ".sock");
        // .NET unlinks the path a socket was bound to when it closes; a process that dies does not. Bind elsewhere
        // and move the socket file into place, so that it outlives its socket as a crashed server's would.
        var elsewhere = Path.Combine(_scratch.Directory, "dead.sock");
        using (var dead = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
        {
            dead.Bind(new UnixDomainSocketEndPoint(elsewhere));
            dead.Listen();
            File.Move(elsewhere, path);
        }
        Assert.True(File.Exists(path), "the stale socket file should outlive its socket");
        var probe = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        using (probe)
        {
            Assert.Equal(SocketError.ConnectionRefused,
                Assert.Throws<SocketException>(() => probe.Connect(new UnixDomainSocketEndPoint(path))).SocketErrorCode);
        }

        await using var server = Start(options);
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("get=1\n\n");
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());
    }

    [Fact]
    public async Task Dispose_closes_open_connections_and_removes_the_socket()
    {
        var server = Start(InScratch());
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        await client.SendAsync("get=1\n\n");
        Assert.Equal("errno=0\n\n", await client.ReadAnswerAsync());

        await server.DisposeAsync();
        Assert.False(File.Exists(server.SocketPath));
        Assert.True(await client.ClosedByServerAsync(Within));
        await Assert.ThrowsAsync<SocketException>(() => RawUapiClient.ConnectAsync(server.SocketPath));
        await server.DisposeAsync();
    }

    [Theory]
    [InlineData("")]
    [InlineData("a/b")]
    [InlineData("..")]
    [InlineData("name with space")]
    [InlineData("sixteen-chars-xx")]
    public void Start_rejects_names_wg_could_not_address(string name)
    {
        Assert.ThrowsAny<ArgumentException>(() => UapiServer.Start(name, _device, InScratch()));
    }

    [Fact]
    public async Task Logs_never_contain_a_key()
    {
        var logger = new CapturingLogger();
        _device.Refuse = u => u.ListenPort == 1 ? new ConfigurationException("refused", ConfigurationException.AddressInUse) : null;
        await using var server = Start(InScratch(), logger);
        var privateKey = WgKey.GeneratePrivate();
        var psk = WgKey.GeneratePreshared();
        var peer = WgKey.GeneratePrivate();
        await using var client = await RawUapiClient.ConnectAsync(server.SocketPath);
        var requests = new[]
        {
            $"set=1\nprivate_key={privateKey.ToHex()}\npublic_key={peer.ToHex()}\npreshared_key={psk.ToHex()}\n\n",
            $"set=1\nprivate_key={privateKey.ToHex()}\nlisten_port=1\n\n",
            $"set=1\nprivate_key={privateKey.ToBase64()}\n\n",
            $"set=1\n{privateKey.ToBase64()}\n\n",
            $"set=1\n{privateKey.ToHex()}=1\n\n",
            $"set=1\nlisten_port={privateKey.ToBase64()}\n\n",
            $"set=1\npublic_key={peer.ToHex()}\npreshared_key={psk.ToHex()}x\n\n",
            $"set=1\npublic_key={peer.ToHex()}\nendpoint={psk.ToBase64()}\n\n",
            $"{privateKey.ToHex()}\n\n",
            $"{privateKey.ToBase64()}\n\n",
            "get=1\n\n",
        };
        foreach (var request in requests)
        {
            await client.SendAsync(request);
            Assert.NotNull(await client.ReadAnswerAsync());
        }

        var log = string.Join('\n', logger.Lines);
        Assert.Contains("errno 22", log, StringComparison.Ordinal);
        foreach (var key in new[] { privateKey, psk })
        {
            Assert.DoesNotContain(key.ToHex()[..12], log, StringComparison.OrdinalIgnoreCase);
            Assert.DoesNotContain(key.ToBase64()[..12], log, StringComparison.Ordinal);
        }
    }
}
